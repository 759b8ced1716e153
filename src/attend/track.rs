//! Tracks: the same face followed across a camera's frames, so a person walking in is one
//! decision from their best few frames, not one per frame.
//!
//! Association is greedy on IoU between each track's predicted box (last box moved by its
//! velocity) and each detection, with a fallback for fast movers (centre within one face size,
//! similar size); a track
//! survives missed detections until it has been unseen for `max_unseen`.

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
    /// A detection whose face thumbnail correlates less than this with the track's last one is
    /// someone else: a new track, even at the same place.
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
    /// The latest face's thumbnail.
    last_thumb: Vec<f32>,
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
        self.last_thumb = obs.thumb;
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
                if near && likeness(&t.last_thumb, &o.thumb) >= self.settings.min_likeness {
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
                        last_thumb: Vec::new(),
                    };
                    self.next_id += 1;
                    track.absorb(at, obs, keep);
                    ids.push(track.id);
                    self.tracks.push(track);
                }
            }
        }
        ids
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

    #[test]
    fn two_people_side_by_side_are_two_tracks() {
        let mut tr = Tracker::new(TrackerSettings::default());
        let a = tr.update(t(0), vec![obs(100.0, 0.5), obs(400.0, 0.5)]);
        let b = tr.update(t(200), vec![obs(405.0, 0.5), obs(104.0, 0.5)]);
        assert_eq!(a, vec![b[1], b[0]]);
        assert_eq!(tr.len(), 2);
    }
}
