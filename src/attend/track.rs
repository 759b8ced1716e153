//! Tracks: the same face followed across a camera's frames, so a person walking in is one
//! decision from their best few frames, not one per frame.
//!
//! Association is greedy on IoU between each track's predicted box (last box moved by its
//! velocity) and each detection, with a fallback for fast movers (centre within one face size,
//! similar size), among detections that look like one of the track's recent faces (someone else
//! in the same place is a new track). A track survives missed detections until it has been
//! unseen for `max_unseen`. Two tracks fed in turn at one place are one face seen two ways, and
//! are folded into one ([`Tracker::join_doubles`]).

use chrono::{DateTime, Duration, Utc};
use opencv::core::Mat;

use crate::attend::decide::Look;
use crate::vision::analyze::Observation;
use crate::vision::detect::{BBox, Landmarks};
use crate::vision::embed::Embedding;

/// Tracking settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerSettings {
    /// Minimum IoU between a prediction and a detection to continue a track.
    pub iou_threshold: f32,
    /// A track ends after being unseen this long.
    pub max_unseen: Duration,
    /// How many best frames (by quality) a track keeps for recognition.
    pub best_frames: usize,
    /// A detection whose face thumbnail correlates less than this with every one of the track's
    /// recent ones ([`RECENT_THUMBS`]) is someone else: a new track, even at the same place.
    pub min_likeness: f32,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        TrackerSettings {
            iou_threshold: 0.3,
            max_unseen: Duration::milliseconds(1500),
            best_frames: 5,
            min_likeness: 0.7,
        }
    }
}

/// Normalised cross-correlation of two thumbnails (1 when either is missing: no evidence).
pub fn likeness(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 1.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Thumbnails of its latest faces a track compares a detection with. One is not enough: a
/// still face's thumbnail wavers with the detector's landmarks and the stream's noise (down to
/// 0.6 from one frame to the next on a still class at 1080p), so a track compared with its last
/// face alone split in two. Different people stay as far from each of them as from one.
pub const RECENT_THUMBS: usize = 5;

/// Overlap of two tracks' latest boxes from which they are at one place (see
/// [`Tracker::join_doubles`]).
const DOUBLE_IOU: f32 = 0.5;

/// A frame a track keeps for recognition.
#[derive(Debug)]
pub struct KeptFrame {
    /// Quality of the frame.
    pub quality: f32,
    /// The face's shorter side, frame pixels: small faces need stronger matches.
    pub face_px: f32,
    /// Aligned crop.
    pub aligned: Mat,
    /// Its embedding, once computed (each kept frame is embedded at most once).
    pub embedding: Option<Embedding>,
}

/// Where a track's decision stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// Not decided yet: matched on every frame until it is, or until `max_frames`.
    Open,
    /// Judged unknown (and reported once); matched again only on a clearly better frame.
    Unknown(Look),
    /// Recognised as this person: final until the room's session changes, when the track is
    /// opened again so a student who stays for the next lesson is marked in it too.
    Recognised(String),
    /// Judged a presentation attack: final for the track, so a held photo cannot retry.
    Spoof,
    /// Ended without evidence of liveness either way.
    NotAssessed,
    /// Ended without a frame big enough to compare with the gallery
    /// ([`crate::attend::decide::MIN_COMPARE_PX`]): seen, too small to recognise.
    TooSmall,
}

impl Standing {
    /// Nothing more is asked of the track (its frames still follow it).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Standing::Recognised(_) | Standing::Spoof | Standing::NotAssessed | Standing::TooSmall
        )
    }

    /// Its name in reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Standing::Open => "undecided",
            Standing::Unknown(_) => "unknown",
            Standing::Recognised(_) => "recognised",
            Standing::Spoof => "spoof",
            Standing::NotAssessed => "not_assessed",
            Standing::TooSmall => "too_small",
        }
    }
}

/// Frames of landmarks and eye openings a track keeps for its motion and blink cues: the last
/// 10 to 20 seconds at 5 fps, so a lesson-long track costs the same as a short one.
pub const CUE_WINDOW: usize = 50;

/// Appends `item`, dropping the oldest `CUE_WINDOW` once twice that many are held.
pub fn push_recent<T>(items: &mut Vec<T>, item: T) {
    if items.len() >= 2 * CUE_WINDOW {
        items.drain(..CUE_WINDOW);
    }
    items.push(item);
}

/// One followed face.
#[derive(Debug)]
pub struct Track {
    /// Unique within the tracker.
    pub id: u64,
    /// First frame time.
    pub first_seen: DateTime<Utc>,
    /// Latest frame time.
    pub last_seen: DateTime<Utc>,
    /// Frames observed.
    pub frames: u32,
    /// The best frames by quality, best first.
    pub best: Vec<KeptFrame>,
    /// Per-frame passive liveness scores.
    pub liveness: Vec<f32>,
    /// Face sizes of the frames behind `liveness`, for the evidence an alert carries.
    pub liveness_px: Vec<f32>,
    /// Detector scores of the frames behind `liveness`: only sure faces make a spoof.
    pub liveness_detection: Vec<f32>,
    /// Recent landmarks (frame pixels), for motion-based liveness (see [`CUE_WINDOW`]).
    pub landmarks: Vec<Landmarks>,
    /// Recent eye openings until the decision, when the 106-point model is configured.
    pub eyes: Vec<f32>,
    /// Where its decision stands.
    pub standing: Standing,
    /// When its current decision began: its first frame, or the start of a new session it
    /// stayed into. Sessions and lateness are placed by this time.
    pub opened_at: DateTime<Utc>,
    /// Frame time of its latest verdict, and why, for evaluation reports.
    pub verdict: Option<(DateTime<Utc>, String)>,
    /// Times it was matched against the gallery.
    pub looks: u32,
    /// Smallest and largest face seen (shorter side, frame pixels).
    pub face_px: (f32, f32),
    last_box: BBox,
    /// Box centre velocity, pixels per second.
    velocity: (f32, f32),
    /// The latest faces' thumbnails, oldest first (at most [`RECENT_THUMBS`]).
    recent_thumbs: std::collections::VecDeque<Vec<f32>>,
}

/// What became of one track, for `rollcall eval`: plain data, in frame time.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrackReport {
    /// Camera.
    pub camera_id: String,
    /// Track id, unique per camera.
    pub track: u64,
    /// First frame time.
    pub first_seen: DateTime<Utc>,
    /// Last frame time.
    pub last_seen: DateTime<Utc>,
    /// Frames seen.
    pub frames: u32,
    /// Smallest and largest face (shorter side, frame pixels).
    pub face_px: (f32, f32),
    /// Centre of its last face box (frame pixels): where in the picture it was.
    pub centre: (f32, f32),
    /// recognised, unknown, spoof, not_assessed or undecided.
    pub verdict: &'static str,
    /// Who, when recognised.
    pub person_id: Option<String>,
    /// Frame time of the verdict.
    pub decided_at: Option<DateTime<Utc>>,
    /// Why, in words.
    pub why: String,
    /// Times it was matched against the gallery.
    pub looks: u32,
}

impl Track {
    /// Its report, as it stands.
    pub fn report(&self, camera: &str) -> TrackReport {
        TrackReport {
            camera_id: camera.to_string(),
            track: self.id,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            frames: self.frames,
            face_px: self.face_px,
            centre: (
                (self.last_box.x1 + self.last_box.x2) / 2.0,
                (self.last_box.y1 + self.last_box.y2) / 2.0,
            ),
            verdict: self.standing.as_str(),
            person_id: match &self.standing {
                Standing::Recognised(p) => Some(p.clone()),
                _ => None,
            },
            decided_at: self.verdict.as_ref().map(|v| v.0),
            why: self.verdict.as_ref().map_or_else(
                || "too few frames to decide (fewer than [recognize] min_frames)".to_string(),
                |v| v.1.clone(),
            ),
            looks: self.looks,
        }
    }

    /// Quality of its best kept frame (0 before any).
    pub fn best_quality(&self) -> f32 {
        self.best.first().map_or(0.0, |k| k.quality)
    }

    fn predicted(&self, at: DateTime<Utc>) -> BBox {
        let dt = (at - self.last_seen).num_milliseconds() as f32 / 1000.0;
        let (dx, dy) = (self.velocity.0 * dt, self.velocity.1 * dt);
        BBox {
            x1: self.last_box.x1 + dx,
            y1: self.last_box.y1 + dy,
            x2: self.last_box.x2 + dx,
            y2: self.last_box.y2 + dy,
        }
    }

    /// The latest face box.
    pub fn last_box(&self) -> BBox {
        self.last_box
    }

    /// Takes in the frames of `young`, a younger track of the same face (see
    /// [`Tracker::join_doubles`]). Its landmarks and eye openings are left out: interleaved with
    /// this track's own, the jump between two views would read as motion.
    fn fold_in(&mut self, young: Track, keep: usize) {
        if young.last_seen > self.last_seen {
            (self.last_seen, self.last_box) = (young.last_seen, young.last_box);
        }
        self.frames += young.frames;
        self.looks += young.looks;
        self.face_px = (self.face_px.0.min(young.face_px.0), self.face_px.1.max(young.face_px.1));
        self.liveness.extend(young.liveness);
        self.liveness_px.extend(young.liveness_px);
        self.liveness_detection.extend(young.liveness_detection);
        self.best.extend(young.best);
        self.best.sort_by(|a, b| b.quality.total_cmp(&a.quality));
        self.best.truncate(keep);
        // Both looks, newest first from each, so the face is followed whichever view finds it.
        let (mut mine, mut theirs) = (std::mem::take(&mut self.recent_thumbs), young.recent_thumbs);
        while self.recent_thumbs.len() < RECENT_THUMBS && !(mine.is_empty() && theirs.is_empty()) {
            for side in [&mut mine, &mut theirs] {
                if self.recent_thumbs.len() < RECENT_THUMBS
                    && let Some(t) = side.pop_back()
                {
                    self.recent_thumbs.push_front(t);
                }
            }
        }
    }

    /// How like its recent faces `thumb` is: the best [`likeness`] (1 before any face).
    fn likeness_to(&self, thumb: &[f32]) -> f32 {
        self.recent_thumbs
            .iter()
            .map(|t| likeness(t, thumb))
            .reduce(f32::max)
            .unwrap_or(1.0)
    }

    fn absorb(&mut self, at: DateTime<Utc>, obs: Observation, keep: usize) {
        let dt = (at - self.last_seen).num_milliseconds() as f32 / 1000.0;
        let centre = |b: &BBox| ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
        if dt > 0.0 {
            let (a, b) = (centre(&self.last_box), centre(&obs.face.bbox));
            // Smoothed: one noisy box should not throw the prediction.
            self.velocity = (
                0.5 * self.velocity.0 + 0.5 * (b.0 - a.0) / dt,
                0.5 * self.velocity.1 + 0.5 * (b.1 - a.1) / dt,
            );
        }
        self.last_box = obs.face.bbox;
        if self.recent_thumbs.len() >= RECENT_THUMBS {
            self.recent_thumbs.pop_front();
        }
        self.recent_thumbs.push_back(obs.thumb);
        self.last_seen = at;
        self.frames += 1;
        push_recent(&mut self.landmarks, obs.face.landmarks);
        let size = obs.quality.size_px;
        self.face_px = (self.face_px.0.min(size), self.face_px.1.max(size));

        if self.best.len() < keep || self.best.last().is_some_and(|k| k.quality < obs.quality.score) {
            let kept = KeptFrame {
                quality: obs.quality.score,
                face_px: obs.quality.size_px,
                aligned: obs.aligned,
                embedding: None,
            };
            let pos = self
                .best
                .iter()
                .position(|k| k.quality < kept.quality)
                .unwrap_or(self.best.len());
            self.best.insert(pos, kept);
            self.best.truncate(keep);
        }
    }
}

/// All live tracks of one camera.
#[derive(Debug, Default)]
pub struct Tracker {
    settings: TrackerSettings,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    /// A tracker with `settings`.
    pub fn new(settings: TrackerSettings) -> Tracker {
        Tracker {
            settings,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Where each live track's face is expected at `at`, by track id: where a frame between
    /// full passes is searched.
    pub fn predicted_boxes(&self, at: DateTime<Utc>) -> Vec<(u64, BBox)> {
        self.tracks.iter().map(|t| (t.id, t.predicted(at))).collect()
    }

    /// Adds one frame's observations; returns the ids of the tracks they went to.
    pub fn update(&mut self, at: DateTime<Utc>, observations: Vec<Observation>) -> Vec<u64> {
        // Candidate pairs, best overlap first; each track and detection is used once.
        let mut pairs = Vec::new();
        for (ti, t) in self.tracks.iter().enumerate() {
            let p = t.predicted(at);
            let size = p.width().max(p.height()).max(1.0);
            for (oi, o) in observations.iter().enumerate() {
                let iou = p.iou(&o.face.bbox);
                let (pc, oc) = (
                    ((p.x1 + p.x2) / 2.0, (p.y1 + p.y2) / 2.0),
                    (
                        (o.face.bbox.x1 + o.face.bbox.x2) / 2.0,
                        (o.face.bbox.y1 + o.face.bbox.y2) / 2.0,
                    ),
                );
                let dist = ((pc.0 - oc.0).powi(2) + (pc.1 - oc.1).powi(2)).sqrt() / size;
                let scale = o.face.bbox.width().max(1.0) / p.width().max(1.0);
                let similar_size = (0.67..1.5).contains(&scale);
                let near = iou >= self.settings.iou_threshold || (dist < 1.0 && similar_size);
                if near && t.likeness_to(&o.thumb) >= self.settings.min_likeness {
                    pairs.push((iou - dist, ti, oi));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_used = vec![false; self.tracks.len()];
        let mut target: Vec<Option<usize>> = vec![None; observations.len()];
        for (_, ti, oi) in pairs {
            if !track_used[ti] && target[oi].is_none() {
                track_used[ti] = true;
                target[oi] = Some(ti);
            }
        }
        let keep = self.settings.best_frames;
        let mut ids = Vec::with_capacity(observations.len());
        for (obs, t) in observations.into_iter().zip(target) {
            match t {
                Some(ti) => {
                    self.tracks[ti].absorb(at, obs, keep);
                    ids.push(self.tracks[ti].id);
                }
                None => {
                    let mut track = Track {
                        id: self.next_id,
                        first_seen: at,
                        last_seen: at,
                        frames: 0,
                        best: Vec::new(),
                        liveness: Vec::new(),
                        liveness_px: Vec::new(),
                        liveness_detection: Vec::new(),
                        eyes: Vec::new(),
                        landmarks: Vec::new(),
                        standing: Standing::Open,
                        opened_at: at,
                        verdict: None,
                        looks: 0,
                        face_px: (f32::INFINITY, 0.0),
                        last_box: obs.face.bbox,
                        velocity: (0.0, 0.0),
                        recent_thumbs: Default::default(),
                    };
                    self.next_id += 1;
                    track.absorb(at, obs, keep);
                    ids.push(track.id);
                    self.tracks.push(track);
                }
            }
        }
        for (young, older) in self.join_doubles(at) {
            for id in ids.iter_mut().filter(|id| **id == young) {
                *id = older;
            }
        }
        ids
    }

    /// Folds each track that doubles an older one into it: two tracks at one place that both
    /// got a face since the younger began. Two people are never found in one place in turn, so
    /// they are one face that the detector saw two ways (a face on the border between two
    /// views, a box that wavers), and its thumbnails too far apart to follow it as one. Left
    /// alone, the two would take its frames in turn for as long as it sat there, each a
    /// recognizer's work and a possible alert. Someone who takes the place of someone else who
    /// has gone is no double: the older track is not seen again.
    ///
    /// The younger is folded in only while it is undecided or unknown, so no decision is lost;
    /// the older then knows both looks and takes the face's frames from both views. Returns the
    /// (younger, older) ids folded.
    fn join_doubles(&mut self, at: DateTime<Utc>) -> Vec<(u64, u64)> {
        let recent = |t: &Track| at - t.last_seen <= self.settings.max_unseen;
        let mut folded = Vec::new();
        let mut i = 0;
        while i < self.tracks.len() {
            let young = &self.tracks[i];
            let older = self.tracks.iter().position(|o| {
                o.first_seen < young.first_seen
                    && o.last_seen > young.first_seen
                    && recent(o)
                    && recent(young)
                    && o.last_box.iou(&young.last_box) >= DOUBLE_IOU
            });
            let foldable = matches!(young.standing, Standing::Open | Standing::Unknown(_));
            match older {
                Some(o) if foldable => {
                    let young = self.tracks.remove(i);
                    let o = if o > i { o - 1 } else { o };
                    folded.push((young.id, self.tracks[o].id));
                    self.tracks[o].fold_in(young, self.settings.best_frames);
                }
                _ => i += 1,
            }
        }
        folded
    }

    /// Removes and returns the tracks unseen since `at - max_unseen`.
    pub fn expire(&mut self, at: DateTime<Utc>) -> Vec<Track> {
        let limit = self.settings.max_unseen;
        let (ended, live): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.tracks)
            .into_iter()
            .partition(|t| at - t.last_seen > limit);
        self.tracks = live;
        ended
    }

    /// Removes and returns every track (end of stream, shutdown).
    pub fn drain(&mut self) -> Vec<Track> {
        std::mem::take(&mut self.tracks)
    }

    /// Every live track.
    pub fn tracks_mut(&mut self) -> impl Iterator<Item = &mut Track> {
        self.tracks.iter_mut()
    }

    /// A live track by id, to read.
    pub fn get(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// A live track by id.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Track> {
        self.tracks.iter_mut().find(|t| t.id == id)
    }

    /// Number of live tracks.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// True when no track is live.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::detect::Face;
    use crate::vision::quality::Quality;
    use opencv::core::{CV_8UC3, Scalar};

    fn obs(x: f32, q: f32) -> Observation {
        let face = Face {
            bbox: BBox {
                x1: x,
                y1: 100.0,
                x2: x + 80.0,
                y2: 190.0,
            },
            score: 0.9,
            landmarks: [[x + 20.0, 130.0]; 5],
        };
        Observation {
            face,
            quality: Quality {
                score: q,
                size_px: 80.0,
                sharpness: 100.0,
                yaw: 0.0,
                roll: 0.0,
            },

            aligned: Mat::new_rows_cols_with_default(2, 2, CV_8UC3, Scalar::all(0.0)).unwrap(),
            thumb: Vec::new(),
        }
    }

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn a_walking_face_is_one_track_through_missed_detections() {
        let mut tr = Tracker::new(TrackerSettings::default());
        let mut ids = Vec::new();
        for i in 0..10 {
            if i == 4 || i == 5 {
                continue; // two missed detections
            }
            // 60 px per frame at 5 fps: faster than IoU alone would follow.
            ids.extend(tr.update(t(i * 200), vec![obs(100.0 + 60.0 * i as f32, 0.5 + i as f32 / 100.0)]));
        }
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
        let track = tr.get_mut(ids[0]).unwrap();
        assert_eq!(track.frames, 8);
        assert_eq!(track.best.len(), 5);
        assert!(track.best.windows(2).all(|w| w[0].quality >= w[1].quality));
        assert!((track.best[0].quality - 0.59).abs() < 1e-6);
        assert!(tr.expire(t(9 * 200 + 1000)).is_empty());
        assert_eq!(tr.expire(t(9 * 200 + 1600)).len(), 1);
    }

    /// A unit thumbnail at `degrees` in a plane: likeness between two is the angle's cosine.
    fn thumb(degrees: f32) -> Vec<f32> {
        let r = degrees.to_radians();
        vec![r.cos(), r.sin()]
    }

    #[test]
    fn a_still_face_whose_look_wavers_stays_one_track_and_a_newcomer_in_its_place_does_not() {
        let mut tr = Tracker::new(TrackerSettings::default());
        let at = |degrees: f32| Observation {
            thumb: thumb(degrees),
            ..obs(100.0, 0.5)
        };
        // 35 then -20 degrees: 0.57 from the face before, 0.94 from the one before that.
        let ids: Vec<u64> = [(0, 0.0), (1, 35.0), (2, -20.0), (3, 30.0)]
            .into_iter()
            .flat_map(|(i, d)| tr.update(t(i * 200), vec![at(d)]))
            .collect();
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
        // Someone else in the same place: at most 0.57 from any of its recent looks.
        let newcomer = tr.update(t(800), vec![at(90.0)]);
        assert_ne!(newcomer, vec![ids[0]]);
    }

    #[test]
    fn a_face_seen_two_ways_in_turn_is_folded_into_one_track() {
        let mut tr = Tracker::new(TrackerSettings::default());
        let at = |degrees: f32, q: f32| Observation {
            thumb: thumb(degrees),
            ..obs(100.0, q)
        };
        // Two looks 0.5 apart, in turn: the second starts a track of its own at first.
        let ids: Vec<u64> = (0..10)
            .flat_map(|i| {
                tr.update(
                    t(i * 200),
                    vec![at(if i % 2 == 0 { 0.0 } else { 60.0 }, 0.5 + i as f32 / 100.0)],
                )
            })
            .collect();
        assert_ne!(ids[1], ids[0]);
        assert!(
            ids[2..].iter().all(|&id| id == ids[0]),
            "the frames go to one track: {ids:?}"
        );
        assert_eq!(tr.len(), 1);
        let track = tr.get_mut(ids[0]).unwrap();
        assert_eq!(track.frames, 10, "the younger track's frame is kept");
        assert!((track.best[0].quality - 0.59).abs() < 1e-6);
        // Someone who takes the place of someone gone for good stays someone else.
        let mut tr = Tracker::new(TrackerSettings::default());
        let first = tr.update(t(0), vec![at(0.0, 0.5)]);
        let then: Vec<u64> = (1..5)
            .flat_map(|i| tr.update(t(i * 200), vec![at(90.0, 0.5)]))
            .collect();
        assert!(then.iter().all(|&id| id != first[0]), "{then:?}");
        assert_eq!(tr.len(), 2);
    }

    #[test]
    fn two_people_side_by_side_are_two_tracks() {
        let mut tr = Tracker::new(TrackerSettings::default());
        let a = tr.update(t(0), vec![obs(100.0, 0.5), obs(400.0, 0.5)]);
        let b = tr.update(t(200), vec![obs(405.0, 0.5), obs(104.0, 0.5)]);
        assert_eq!(a, vec![b[1], b[0]]);
        assert_eq!(tr.len(), 2);
    }
}
