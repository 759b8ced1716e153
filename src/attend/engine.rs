//! The attendance engine: frames in, decisions out.
//!
//! Per camera, faces are tracked; each track is decided from its best few frames: live over
//! several frames (passive anti-spoofing fused with how its landmarks moved), then matched
//! open-set (threshold and margin, a quality-weighted vote agreeing with its mean embedding).
//! A live, recognised track in a class session becomes at most one attendance event per person
//! per session per room, guarded in the store so a restart cannot repeat it. A spoof becomes an
//! alert, final for its track. Nothing here writes an image.
//!
//! A lesson is not a doorway: a student sits in view for the whole session and looks up only
//! now and then. So a track judged unknown stays open while it lasts and is matched again when
//! a clearly better frame arrives (at most about once a second, see
//! [`crate::attend::decide::look_again`]); a track waiting for a live frame keeps waiting; and
//! when the room's session changes, every track but a spoof is opened again for the new one.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use opencv::core::Mat;
use serde::Serialize;

use crate::attend::decide::{
    FrameVote, LiveCall, LiveEvidence, LiveVerdict, Look, MIN_COMPARE_PX, OpenSet, SIZE_BANDS, Unrecognised,
    assessable, big_enough, judge_liveness, look_again, mean, tally, unknown_now,
};
use crate::attend::episode::{self, Episodes};
use crate::attend::held::{Held, Pending, StoreHealth};
use crate::attend::matching::{Candidates, Gallery, SharedGallery};
use crate::attend::scan::{self, Scan};
use crate::attend::session::{SharedTimetable, Timetable};
use crate::attend::track::{KeptFrame, Standing, Track, TrackReport, Tracker, TrackerSettings, push_recent};
use crate::config::TimetableError;
use crate::config::{Config, LivenessConfig, RecognizeConfig, Unassessed};
use crate::event::{Alert, AlertKind, AttendanceEvent, LivenessBasis, new_id};
use crate::store::{Store, StoreError};
use crate::vision::analyze::FaceAnalyzer;
use crate::vision::detect::BBox;
use crate::vision::embed::{CompareError, Embedding};
use crate::vision::landmarks::eye_openness;
use crate::vision::liveness::{blinked, landmark_motion};
use crate::vision::model::ModelError;

/// Why the engine could not go on.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Matching against the gallery failed (an embedding of the wrong length or recognizer).
    #[error("matching against the gallery failed: {0}")]
    Matching(#[from] CompareError),
    /// The timetable is inconsistent.
    #[error(transparent)]
    Timetable(#[from] TimetableError),
}

/// What became of a track.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A new attendance event, recorded.
    Attendance(AttendanceEvent),
    /// Recognised, but already marked for this session in this room.
    AlreadyMarked {
        /// Who.
        person_id: String,
        /// The session occurrence or day.
        once_key: String,
    },
    /// Recognised outside every session, and the timetable says to ignore that.
    OutsideSession {
        /// Who.
        person_id: String,
    },
    /// Not recognised (a stranger, or too close a call).
    Unknown {
        /// Camera.
        camera_id: String,
        /// The best candidate and similarity, for the log.
        best: Option<(String, f32)>,
        /// Frames seen.
        frames: u32,
    },
    /// Judged a presentation attack; the alert was recorded.
    Spoof(Alert),
    /// Judged a presentation attack at the place of an alert still open
    /// ([`crate::attend::episode`]): counted in that alert, no new one.
    SpoofRepeated {
        /// Camera.
        camera_id: String,
        /// The episode's alert.
        alert_id: String,
        /// Spoof tracks in the episode now.
        tracks: u32,
    },
    /// The track ended without evidence of liveness either way (its face too small or too
    /// blurred, or its scores disagreeing): no attendance and no alert.
    NotAssessed {
        /// Camera.
        camera_id: String,
        /// Frames seen.
        frames: u32,
        /// Frames whose liveness could be assessed.
        assessed: usize,
    },
    /// An alert about the device itself (the store failed and recovered), recorded.
    Alert(Alert),
    /// The track ended without a frame big enough to compare with the gallery: seen, too small
    /// to recognise. No guess, no attendance; counted per camera, so an admin knows how many
    /// students the camera cannot serve.
    TooSmall {
        /// Camera.
        camera_id: String,
        /// Frames seen.
        frames: u32,
        /// The largest the face was, pixels.
        largest_px: f32,
    },
}

/// What the liveness step of a decision says.
enum LiveStep {
    /// Go on to recognition with this verdict (`None`: not assessed, and the config allows that).
    Go(Option<LiveVerdict>),
    /// The track stops here: `None` to wait for more frames, or the spoof alert's or the
    /// not-assessed outcome.
    Stop(Option<Outcome>),
}

/// Counters for benchmarks and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct EngineStats {
    /// Frames processed.
    pub frames: u64,
    /// Of those, frames searched whole (the others only around their tracked faces).
    pub full_passes: u64,
    /// Faces detected over all frames (what embedding every face would have cost).
    pub faces: u64,
    /// Recognizer runs actually made (one per kept frame, at most).
    pub embeddings: u64,
    /// Tracks decided.
    pub decisions: u64,
    /// Tracks decided after they were seen to blink (with the 106-point model configured).
    pub blinked: u64,
}

/// The engine and everything it holds.
pub struct Engine {
    analyzer: FaceAnalyzer,
    /// Shared with the roster sync, which swaps in new rosters while the engine runs.
    gallery: SharedGallery,
    /// This box's id, stamped on every event.
    device: String,
    /// Shared with the sync, which may replace it with the backend's.
    timetable: SharedTimetable,
    store: Store,
    recognize: RecognizeConfig,
    liveness: LivenessConfig,
    tracker_settings: TrackerSettings,
    trackers: HashMap<String, Tracker>,
    stats: EngineStats,
    /// Wall time from each decided track's first frame to its decision, and whether it was
    /// recognised (the most recent 1024).
    latencies: std::collections::VecDeque<(std::time::Duration, bool)>,
    /// Decisions the store has not taken yet.
    held: Held,
    /// The session (or day) each camera's room was in at its last frame: when it changes, the
    /// camera's tracks are opened again.
    rounds: HashMap<String, Option<String>>,
    /// Reports of ended tracks, kept only when asked for (`rollcall eval`).
    reports: Option<Vec<TrackReport>>,
    /// Time between full passes over a camera's frame (see [`crate::attend::scan`]).
    full_pass_interval: chrono::Duration,
    /// Each camera's last full pass, and whether its last frame lost a tracked face.
    last_scans: HashMap<String, scan::Last>,
    /// Tracks per camera that ended seen but too small to recognise.
    too_small: HashMap<String, u64>,
    /// Each configured camera's `unassessed`: its own, or `[liveness] unassessed`.
    unassessed: HashMap<String, Unassessed>,
    /// Open spoof episodes: one alert per attack at one place.
    spoof_episodes: Episodes,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("stats", &self.stats).finish()
    }
}

/// Each configured camera's `unassessed`, its own or the `[liveness]` one.
fn cameras_unassessed(config: &Config) -> HashMap<String, Unassessed> {
    config
        .cameras
        .iter()
        .map(|c| (c.id.clone(), config.unassessed_for(&c.id)))
        .collect()
}

/// Passive liveness samples a track collects at most: enough to average out one odd frame.
const LIVENESS_SAMPLES: usize = 6;

impl Engine {
    /// Builds the engine: the roster of the analyzer's recognizer is loaded from the store.
    pub fn new(config: &Config, analyzer: FaceAnalyzer, store: Store) -> Result<Engine, EngineError> {
        let recognizer = analyzer.recognizer();
        let gallery = SharedGallery::new(Gallery::load_for_search(
            &store,
            recognizer.id(),
            recognizer.dim(),
            config.recognize.int8_search_above,
        )?);
        Ok(Engine {
            timetable: match store.timetable()? {
                Some((version, synced)) => SharedTimetable::new(Timetable::new(&synced)?, version),
                None => SharedTimetable::new(Timetable::new(&config.timetable)?, 0),
            },
            recognize: config.recognize.clone(),
            liveness: config.liveness.clone(),
            tracker_settings: TrackerSettings {
                iou_threshold: config.track.iou_threshold,
                max_unseen: chrono::Duration::milliseconds((config.track.max_unseen_s * 1000.0) as i64),
                best_frames: config.track.best_frames.max(1),
                min_likeness: config.track.min_likeness,
            },
            trackers: HashMap::new(),
            stats: EngineStats::default(),
            latencies: std::collections::VecDeque::new(),
            held: Held::new(),
            rounds: HashMap::new(),
            reports: None,
            full_pass_interval: config.detect.full_pass_interval(),
            last_scans: HashMap::new(),
            too_small: HashMap::new(),
            unassessed: cameras_unassessed(config),
            spoof_episodes: Episodes::new(config.liveness.alert_episode(), analyzer.recognizer().threshold()),
            analyzer,
            gallery,
            device: config.device.id(),
            store,
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Tracks of `camera` that ended seen but too small to recognise, since the engine started.
    pub fn too_small(&self, camera: &str) -> u64 {
        self.too_small.get(camera).copied().unwrap_or(0)
    }

    /// Wall time from first frame to decision of the most recently decided tracks, with whether
    /// each was recognised as an enrolled person.
    pub fn decision_latencies(&self) -> Vec<(std::time::Duration, bool)> {
        self.latencies.iter().copied().collect()
    }

    /// Keeps a report of every track that ends from now on, for [`Engine::take_reports`]. Off
    /// in the daemon, where nobody would read them.
    pub fn keep_reports(&mut self) {
        self.reports.get_or_insert_with(Vec::new);
    }

    /// The reports of the tracks ended since the last call.
    pub fn take_reports(&mut self) -> Vec<TrackReport> {
        self.reports.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Gives a track its verdict, at its latest frame, saying why.
    fn settle(&mut self, track: &mut Track, standing: Standing, why: String) {
        let recognised = matches!(standing, Standing::Recognised(_));
        track.standing = standing;
        track.verdict = Some((track.last_seen, why));
        self.stats.decisions += 1;
        self.stats.blinked += u64::from(blinked(&track.eyes));
        if self.latencies.len() == 1024 {
            self.latencies.pop_front();
        }
        self.latencies
            .push_back(((Utc::now() - track.opened_at).to_std().unwrap_or_default(), recognised));
    }

    /// The gallery in use now.
    pub fn gallery(&self) -> Arc<Gallery> {
        self.gallery.current()
    }

    /// A handle through which a timetable from the backend replaces the one in use.
    pub fn shared_timetable(&self) -> SharedTimetable {
        self.timetable.clone()
    }

    /// A handle through which a new roster replaces the gallery while the engine runs.
    pub fn shared_gallery(&self) -> SharedGallery {
        self.gallery.clone()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How the store is doing: `failing` while decisions are held for it.
    pub fn store_health(&self) -> StoreHealth {
        self.held.health()
    }

    /// Removes everyone neither seen nor re-enrolled since `cutoff` (`[store]
    /// template_retention_days`), audits each removal, and puts the smaller gallery in use at
    /// once: a person whose templates are gone is matched no more. Returns who was removed.
    pub fn expire_unseen(&mut self, cutoff: DateTime<Utc>) -> Result<Vec<String>, EngineError> {
        let unseen = self.store.unseen_since(cutoff)?;
        for person in &unseen {
            self.store.remove_person(person)?;
            let detail = format!("neither seen nor re-enrolled since {}", cutoff.format("%Y-%m-%d"));
            self.store
                .audit(&self.device, crate::event::AuditAction::Expire, person, &detail)?;
        }
        if !unseen.is_empty() {
            let recognizer = self.analyzer.recognizer();
            self.gallery.replace(Gallery::load_for_search(
                &self.store,
                recognizer.id(),
                recognizer.dim(),
                self.recognize.int8_search_above,
            )?);
        }
        Ok(unseen)
    }

    /// Writes the store refused since the engine started.
    pub fn store_write_failures(&self) -> u64 {
        self.held.write_failures()
    }

    /// The models' stage timings since the last call (see [`crate::vision::analyze::StageClock`]).
    pub fn take_stage_times(&mut self) -> Vec<(crate::vision::analyze::Stage, std::time::Duration)> {
        self.analyzer.take_stage_times()
    }

    /// Writes a decision, or holds it when the store fails (or older ones still wait). Returns
    /// its outcome once it is committed.
    fn commit(&mut self, pending: Pending) -> Option<Outcome> {
        if self.held.is_waiting() {
            self.held.hold(pending, None);
            return None;
        }
        match self.write(&pending) {
            Ok(outcome) => Some(outcome),
            Err(e) => {
                tracing::error!(error = %e, "the store refused a decision; it is held and retried");
                self.held.hold(pending, Some(crate::untrusted::summary(&e.to_string())));
                None
            }
        }
    }

    fn write(&self, pending: &Pending) -> Result<Outcome, StoreError> {
        match pending {
            Pending::Attendance { event, once_key } => {
                if self.store.record_attendance(event, once_key)? {
                    tracing::info!(camera = event.camera_id, room = event.room, person = %event.person_id, session = ?event.session_id, status = event.status.as_str(), similarity = event.similarity, liveness = event.liveness, "attendance");
                    Ok(Outcome::Attendance(event.clone()))
                } else {
                    Ok(Outcome::AlreadyMarked {
                        person_id: event.person_id.clone(),
                        once_key: once_key.clone(),
                    })
                }
            }
            Pending::Alert(alert) => {
                self.store.record_alert(alert)?;
                Ok(match alert.kind {
                    AlertKind::Spoof => Outcome::Spoof(alert.clone()),
                    _ => Outcome::Alert(alert.clone()),
                })
            }
        }
    }

    /// Records an alert about the device (a camera down or back), through the same hold and
    /// retry as decisions: it is not lost when the store fails. Returns its outcome once
    /// recorded.
    pub fn raise(&mut self, alert: Alert) -> Option<Outcome> {
        self.commit(Pending::Alert(alert))
    }

    /// Writes the decisions held for the store, oldest first, when their retry is due; returns
    /// the outcomes of those now committed. When the last is written after a failure, a
    /// `store_failed` alert says how long and how many.
    pub fn retry_held(&mut self) -> Vec<Outcome> {
        let mut out = Vec::new();
        while let Some(pending) = self.held.due().cloned() {
            match self.write(&pending) {
                Ok(outcome) => {
                    out.push(outcome);
                    if let Some(r) = self.held.written() {
                        let detail = format!(
                            "the store failed from {} to {} ({}); {} decisions were held and are now recorded with their original times",
                            r.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            r.error,
                            r.held
                        );
                        tracing::warn!(%detail, "store recovered");
                        let alert = Alert::raise(AlertKind::StoreFailed, &self.device, detail);
                        out.extend(self.commit(Pending::Alert(alert)));
                    }
                }
                Err(e) => {
                    self.held.failed(crate::untrusted::summary(&e.to_string()));
                    break;
                }
            }
        }
        out
    }

    /// Takes everything still held (the daemon is stopping and the store never recovered).
    pub fn abandon_held(&mut self) -> Vec<Pending> {
        self.held.drain()
    }

    /// Processes one frame of `camera` (watching `room`) captured at `at`. The outcomes include
    /// those of held decisions the store took meanwhile.
    pub fn process(
        &mut self,
        camera: &str,
        room: &str,
        image: &Mat,
        at: DateTime<Utc>,
    ) -> Result<Vec<Outcome>, EngineError> {
        let retried = self.retry_held();
        let tracked = self
            .trackers
            .get(camera)
            .map(|t| t.predicted_boxes(at))
            .unwrap_or_default();
        let last = self.last_scans.get(camera).copied().unwrap_or_default();
        let boxes = tracked.iter().map(|&(_, b)| b).collect();
        let (observations, around) = match scan::plan(last, at, self.full_pass_interval, boxes) {
            Scan::Full => {
                let last = scan::Last {
                    full: Some(at),
                    lost_a_face: false,
                };
                self.last_scans.insert(camera.to_string(), last);
                self.stats.full_passes += 1;
                (self.analyzer.observe(image)?, false)
            }
            Scan::Around(boxes) => (self.analyzer.observe_around(image, &boxes)?, true),
        };
        self.stats.frames += 1;
        self.stats.faces += observations.len() as u64;
        let settings = self.tracker_settings;
        let mut tracker = self.trackers.remove(camera).unwrap_or_else(|| Tracker::new(settings));
        let faces: Vec<_> = observations
            .iter()
            .map(|o| (o.face.bbox, o.face.landmarks, o.face.score, o.quality))
            .collect();
        let ids = tracker.update(at, observations);
        if around && let Some(last) = self.last_scans.get_mut(camera) {
            // A tracked face not found again: someone moved away or the scene changed, so the
            // next frame looks at the whole picture.
            let searched: Vec<u64> = tracked.iter().map(|&(id, _)| id).collect();
            last.lost_a_face = scan::lost_a_face(&searched, &ids);
        }
        self.follow_session(&mut tracker, camera, room, at);
        let mut outcomes = retried;
        let result = (|| {
            // Passive liveness only for tracks still undecided: a seated class costs detection
            // only. A small or blurred face's score is no evidence either way: not sampled. The
            // faces sampled are scored together, in one run of each model.
            let sampled: Vec<usize> = (0..ids.len())
                .filter(|&i| {
                    let (_, _, _, quality) = &faces[i];
                    tracker.get(ids[i]).is_some_and(|t| {
                        !t.standing.is_final()
                            && t.liveness.len() < LIVENESS_SAMPLES
                            && assessable(quality.size_px, quality.sharpness)
                    })
                })
                .collect();
            let boxes: Vec<BBox> = sampled.iter().map(|&i| faces[i].0).collect();
            if let Some(scores) = self.analyzer.live_scores(image, &boxes)? {
                for (&i, score) in sampled.iter().zip(scores) {
                    let (_, _, detection, quality) = &faces[i];
                    if let Some(track) = tracker.get_mut(ids[i]) {
                        track.liveness.push(score);
                        track.liveness_px.push(quality.size_px);
                        track.liveness_detection.push(*detection);
                    }
                }
            }
            for (&id, (bbox, five, _, _)) in ids.iter().zip(&faces) {
                let Some(track) = tracker.get_mut(id).filter(|t| !t.standing.is_final()) else {
                    continue;
                };
                // Eyes on every frame until the decision: a blink is brief, and a track that
                // waits for one (see `decide`) must be watched for it.
                if let Some(points) = self.analyzer.dense_landmarks(image, bbox)? {
                    push_recent(&mut track.eyes, eye_openness(&points, five));
                }
            }
            // The tracks due now are judged first; those that go on to be matched have their
            // kept frames embedded together, in runs of several faces, then are matched.
            let mut ready = Vec::new();
            for id in ids {
                if let Some(track) = tracker.get_mut(id).filter(|t| self.due(t)) {
                    match self.before_matching(track, camera, room, false) {
                        LiveStep::Go(live) => ready.push((id, live)),
                        LiveStep::Stop(stop) => outcomes.extend(stop),
                    }
                }
            }
            let mut matching: Vec<&mut Track> = tracker
                .tracks_mut()
                .filter(|t| ready.iter().any(|&(id, _)| id == t.id))
                .collect();
            self.embed_kept(&mut matching)?;
            for (id, live) in ready {
                if let Some(track) = tracker.get_mut(id) {
                    outcomes.extend(self.match_track(track, camera, room, false, live)?);
                }
            }
            for track in tracker.expire(at) {
                outcomes.extend(self.end(track, camera, room)?);
            }
            Ok(())
        })();
        self.trackers.insert(camera.to_string(), tracker);
        result.map(|()| outcomes)
    }

    /// Ends every track of `camera` (end of a clip, shutdown) and decides those that can be.
    pub fn finish(&mut self, camera: &str, room: &str) -> Result<Vec<Outcome>, EngineError> {
        let mut outcomes = Vec::new();
        let tracks = self.trackers.get_mut(camera).map(|t| t.drain()).unwrap_or_default();
        for track in tracks {
            outcomes.extend(self.end(track, camera, room)?);
        }
        Ok(outcomes)
    }

    /// Takes the cameras' own settings of a reloaded config (their `unassessed`).
    pub fn follow_cameras(&mut self, config: &Config) {
        self.unassessed = cameras_unassessed(config);
    }

    /// What a recognised face without a liveness verdict gets on `camera`.
    fn unassessed_on(&self, camera: &str) -> Unassessed {
        self.unassessed.get(camera).copied().unwrap_or(self.liveness.unassessed)
    }

    /// Whether a track is to be decided (or, judged unknown, matched again) on this frame.
    fn due(&self, track: &Track) -> bool {
        track.frames >= self.recognize.min_frames
            && match &track.standing {
                Standing::Open => true,
                Standing::Unknown(last) => look_again(last, track.last_seen, track.best_quality()),
                _ => false,
            }
    }

    /// A track has ended: its last chance to be decided, and its report.
    fn end(&mut self, mut track: Track, camera: &str, room: &str) -> Result<Option<Outcome>, EngineError> {
        let outcome = if track.standing == Standing::Open && track.frames >= self.recognize.min_frames {
            self.decide(&mut track, camera, room, true)?
        } else {
            None
        };
        if let Some(reports) = &mut self.reports {
            reports.push(track.report(camera));
        }
        Ok(outcome)
    }

    /// Opens `camera`'s tracks again when its room's session (or day) changes, so a student who
    /// stays for the next lesson, or sat down before this one began, is marked in it. A spoof
    /// stays final.
    fn follow_session(&mut self, tracker: &mut Tracker, camera: &str, room: &str, at: DateTime<Utc>) {
        let round = self.timetable.current().place(room, at).map(|p| p.once_key);
        let last = self.rounds.insert(camera.to_string(), round.clone());
        if last.is_none_or(|last| last == round) {
            return;
        }
        for track in tracker.tracks_mut().filter(|t| t.standing != Standing::Spoof) {
            track.standing = Standing::Open;
            track.opened_at = at;
        }
    }

    /// Tries to decide a track; `final_call` when no more frames will come. The rules are in
    /// [`crate::attend::decide`]; this gathers their evidence and acts on their verdicts.
    fn decide(
        &mut self,
        track: &mut Track,
        camera: &str,
        room: &str,
        final_call: bool,
    ) -> Result<Option<Outcome>, EngineError> {
        match self.before_matching(track, camera, room, final_call) {
            LiveStep::Go(live) => {
                self.embed_kept(&mut [track])?;
                self.match_track(track, camera, room, final_call, live)
            }
            LiveStep::Stop(stop) => Ok(stop),
        }
    }

    /// The steps of a decision that need no embedding: whether the face was ever big enough to
    /// compare, and the liveness verdict.
    fn before_matching(&mut self, track: &mut Track, camera: &str, room: &str, final_call: bool) -> LiveStep {
        // Too few pixels to tell students apart: no guess, and no model time on it.
        if !big_enough(track.best.iter().map(|k| k.face_px)) {
            return LiveStep::Stop(final_call.then(|| self.too_small_to_recognise(track, camera)));
        }
        self.judge_live(track, camera, room, final_call)
    }

    /// The rest of a decision, once the kept frames are embedded: the match against the gallery
    /// and what follows from it.
    fn match_track(
        &mut self,
        track: &mut Track,
        camera: &str,
        room: &str,
        final_call: bool,
        live: Option<LiveVerdict>,
    ) -> Result<Option<Outcome>, EngineError> {
        let group = if self.recognize.per_class {
            self.timetable
                .current()
                .session_at(room, track.opened_at)
                .and_then(|s| s.group)
        } else {
            None
        };
        track.looks += 1;
        let gallery = self.gallery.current();
        let (frames, overall) = self.candidates(&gallery, track, group.as_deref())?;
        let rules = OpenSet {
            pair_threshold: self.analyzer.recognizer().threshold(),
            margin: self.recognize.margin,
            vote_share: self.recognize.vote_share,
            people: gallery.people_among(group.as_deref()),
            size_bands: &SIZE_BANDS,
        };
        let Some(person_id) = tally(&frames, &overall, &rules) else {
            return Ok(self.unrecognised(track, camera, final_call, overall.best, &rules));
        };
        let why = format!(
            "similarity {:.3} and margin {:.3} over {} kept frames (threshold {:.3} for {} people)",
            overall.best.as_ref().map_or(0.0, |b| b.1),
            overall.margin(),
            frames.len(),
            rules.threshold(),
            rules.people
        );
        self.settle(track, Standing::Recognised(person_id.clone()), why);
        let Some(place) = self.timetable.current().place(room, track.opened_at) else {
            tracing::info!(camera, room, person = %person_id, "recognised outside any session; ignored");
            return Ok(Some(Outcome::OutsideSession { person_id }));
        };
        let event = AttendanceEvent {
            event_id: new_id(),
            person_id: person_id.clone(),
            camera_id: camera.to_string(),
            room: room.to_string(),
            session_id: place.session.as_ref().map(|s| s.occurrence.clone()),
            status: place.status,
            first_seen: track.opened_at,
            decided_at: Utc::now(),
            similarity: overall.best.as_ref().map_or(0.0, |b| b.1),
            margin: overall.margin(),
            liveness: live.map(|l| l.score.min(1.0)),
            liveness_basis: match live {
                None => LivenessBasis::NotAssessed,
                Some(_) if self.analyzer.antispoof().is_some() => LivenessBasis::Passive,
                Some(_) => LivenessBasis::Off,
            },
            frames: track.frames,
            recognizer: self.analyzer.recognizer().id().to_string(),
            device: self.device.clone(),
            roster_version: gallery.version(),
        };
        tracing::debug!(camera, room, person = %person_id, blinked = live.is_some_and(|l| l.blinked), "recognised");
        Ok(self.commit(Pending::Attendance {
            event,
            once_key: place.once_key,
        }))
    }

    /// A track that ended without a frame big enough to compare: counted for its camera.
    fn too_small_to_recognise(&mut self, track: &mut Track, camera: &str) -> Outcome {
        let why = format!(
            "seen, too small to recognise: no kept frame showed the face at {MIN_COMPARE_PX} px or more (largest {:.0} px)",
            track.face_px.1
        );
        self.settle(track, Standing::TooSmall, why);
        *self.too_small.entry(camera.to_string()).or_default() += 1;
        tracing::info!(
            camera,
            frames = track.frames,
            largest_px = track.face_px.1,
            "face too small to recognise"
        );
        Outcome::TooSmall {
            camera_id: camera.to_string(),
            frames: track.frames,
            largest_px: track.face_px.1,
        }
    }

    /// The liveness step of a decision: the verdict to go on with, or why the track stops here.
    fn judge_live(&mut self, track: &mut Track, camera: &str, room: &str, final_call: bool) -> LiveStep {
        let evidence = LiveEvidence {
            passive: self.analyzer.antispoof().is_some(),
            out_of_frames: track.frames >= self.recognize.max_frames,
            scores: &track.liveness,
            detections: &track.liveness_detection,
            sure_face_score: self.analyzer.detector().sure_face_score(),
            samples_full: track.liveness.len() >= LIVENESS_SAMPLES,
            motion: landmark_motion(&track.landmarks),
            blinked: blinked(&track.eyes),
            eyes_watched: self.analyzer.has_dense_landmarks(),
            final_call,
        };
        match judge_liveness(&evidence, &self.liveness) {
            LiveCall::Wait => LiveStep::Stop(None),
            LiveCall::Spoof(verdict) => {
                let look = self.look_of(track);
                let seen = episode::Sighting {
                    place: track.last_box(),
                    look: look.as_deref(),
                    at: track.last_seen,
                };
                self.spoof_step(track, &verdict, &seen, camera, room)
            }
            LiveCall::Live(verdict) => LiveStep::Go(Some(verdict)),
            // `allow`: recognised faces are marked without a verdict, for the backend to review.
            LiveCall::NotAssessed if self.unassessed_on(camera) == Unassessed::Allow => LiveStep::Go(None),
            // `require`: no attendance until a live frame is seen, so a lesson-long track waits.
            LiveCall::NotAssessed if !final_call => LiveStep::Stop(None),
            LiveCall::NotAssessed => {
                // Never an alert without a spoof verdict either.
                let why = if track.liveness.len() as u32 >= self.liveness.min_frames {
                    format!(
                        "doubtful: live score {:.2} over {} frames, neither live (from {:.2}) nor clearly a spoof (under {:.2})",
                        mean(&track.liveness),
                        track.liveness.len(),
                        self.liveness.threshold,
                        self.liveness.spoof_below
                    )
                } else {
                    format!(
                        "{} of {} frames showed the face well enough to assess its liveness (40 px and sharp), without a verdict",
                        track.liveness.len(),
                        track.frames
                    )
                };
                self.settle(track, Standing::NotAssessed, why);
                tracing::info!(
                    camera,
                    room,
                    frames = track.frames,
                    assessed = track.liveness.len(),
                    "liveness not assessed: too few frames showed the face well enough"
                );
                LiveStep::Stop(Some(Outcome::NotAssessed {
                    camera_id: camera.to_string(),
                    frames: track.frames,
                    assessed: track.liveness.len(),
                }))
            }
        }
    }

    /// A track no person won: unknown now (reported once; it stays open for a better look), or
    /// `None` while more frames may still decide it (see [`unknown_now`]).
    fn unrecognised(
        &mut self,
        track: &mut Track,
        camera: &str,
        final_call: bool,
        best: Option<(String, f32)>,
        rules: &OpenSet,
    ) -> Option<Outcome> {
        let look = Look {
            at: track.last_seen,
            best_quality: track.best_quality(),
        };
        if let Standing::Unknown(_) = track.standing {
            track.standing = Standing::Unknown(look);
            return None;
        }
        let unrecognised = Unrecognised {
            final_call,
            frames: track.frames,
            max_frames: self.recognize.max_frames,
            mean_quality: mean(&track.best.iter().map(|k| k.quality).collect::<Vec<_>>()),
            best_similarity: best.as_ref().map(|b| b.1),
            threshold: rules.pair_threshold,
        };
        if !unknown_now(&unrecognised) {
            return None;
        }
        let why = match &best {
            Some((_, s)) => format!(
                "best similarity {s:.3}, not a confident vote (threshold {:.3}, margin {:.3}, for {} people)",
                rules.threshold(),
                rules.margin,
                rules.people
            ),
            None => "nobody enrolled to match".to_string(),
        };
        self.settle(track, Standing::Unknown(look), why);
        tracing::info!(camera, frames = track.frames, best = ?best, "unknown face");
        Some(Outcome::Unknown {
            camera_id: camera.to_string(),
            best,
            frames: track.frames,
        })
    }

    /// A spoof verdict: the alert of a new episode, or a count in the open one it repeats.
    fn spoof_step(
        &mut self,
        track: &mut Track,
        verdict: &LiveVerdict,
        seen: &episode::Sighting<'_>,
        camera: &str,
        room: &str,
    ) -> LiveStep {
        match self.spoof_episodes.place(camera, seen) {
            episode::Verdict::New => {
                let alert = self.spoof_alert(track, verdict, camera, room);
                self.settle(track, Standing::Spoof, alert.detail.clone());
                tracing::warn!(camera, room, detail = %alert.detail, "spoof alert");
                self.spoof_episodes.open(camera, &alert.event_id, seen);
                LiveStep::Stop(self.commit(Pending::Alert(alert)))
            }
            episode::Verdict::Repeat { alert_id, count } => {
                let why = format!(
                    "presentation attack suspected again at this place (live score {:.2}): track {count} of the episode of alert {alert_id}",
                    verdict.score
                );
                self.settle(track, Standing::Spoof, why);
                tracing::info!(camera, room, alert = alert_id, tracks = count, "spoof repeated");
                // The count is what the alert's reader sees later; the alert itself went out.
                if let Err(e) = self.store.count_alert_tracks(&alert_id, count) {
                    tracing::warn!(error = %e, alert = alert_id, "could not count a repeated spoof in its alert");
                }
                LiveStep::Stop(Some(Outcome::SpoofRepeated {
                    camera_id: camera.to_string(),
                    alert_id,
                    tracks: count,
                }))
            }
        }
    }

    /// The embedding of a track's best kept frame, for telling one spoofed face from another
    /// ([`crate::attend::episode`]); `None` when it cannot be made.
    fn look_of(&mut self, track: &mut Track) -> Option<Vec<f32>> {
        let best = track.best.first_mut()?;
        if best.embedding.is_none() {
            match self.analyzer.embed(std::slice::from_ref(&best.aligned)) {
                Ok(mut e) => {
                    self.stats.embeddings += 1;
                    best.embedding = e.pop();
                }
                Err(e) => tracing::warn!(error = %e, "could not embed a spoofed face to tell it from others"),
            }
        }
        best.embedding.as_ref().map(|e| e.vector.clone())
    }

    /// The alert for a track judged a presentation attack, with the evidence in its detail.
    fn spoof_alert(&self, track: &Track, verdict: &LiveVerdict, camera: &str, room: &str) -> Alert {
        let detail = format!(
            "presentation attack suspected: live score {:.2} over {} frames (threshold {:.2}; frame scores {}; faces {:.0} to {:.0} px, detected at {:.2} or more); landmarks travelled {:.2} and deformed {:.3} eye distances",
            verdict.score,
            track.liveness.len(),
            self.liveness.threshold,
            track
                .liveness
                .iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(" "),
            track.liveness_px.iter().copied().fold(f32::INFINITY, f32::min),
            track.liveness_px.iter().copied().fold(0.0, f32::max),
            track.liveness_detection.iter().copied().fold(1.0, f32::min),
            verdict.motion.travel,
            verdict.motion.deformation
        );
        Alert {
            at: track.last_seen,
            ..Alert::raise(AlertKind::Spoof, &self.device, detail).on_camera(camera, room)
        }
    }

    /// Embeds the kept frames of `tracks` that have no embedding yet, all in one call (runs of
    /// several faces where the model takes them): a track's frames are embedded only when it is
    /// about to be matched, and never twice.
    fn embed_kept(&mut self, tracks: &mut [&mut Track]) -> Result<(), EngineError> {
        let pending: Vec<(usize, usize)> = tracks
            .iter()
            .enumerate()
            .flat_map(|(t, track)| {
                (0..track.best.len())
                    .filter(|&k| track.best[k].embedding.is_none())
                    .map(move |k| (t, k))
            })
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let crops: Vec<Mat> = pending
            .iter()
            .map(|&(t, k)| tracks[t].best[k].aligned.clone())
            .collect();
        let embeddings = self.analyzer.embed(&crops)?;
        self.stats.embeddings += embeddings.len() as u64;
        for ((t, k), e) in pending.into_iter().zip(embeddings) {
            tracks[t].best[k].embedding = Some(e);
        }
        Ok(())
    }

    /// The gallery's candidates for each kept frame (with its quality and face size), and for
    /// their quality-weighted mean embedding, among `group` when sessions name one.
    fn candidates(
        &self,
        gallery: &Gallery,
        track: &Track,
        group: Option<&str>,
    ) -> Result<(Vec<FrameVote>, Candidates), EngineError> {
        let kept: Vec<&KeptFrame> = track.best.iter().filter(|k| k.embedding.is_some()).collect();
        let frames: Vec<(f32, &Embedding)> = kept
            .iter()
            .filter_map(|k| Some((k.quality, k.embedding.as_ref()?)))
            .collect();
        let (each, overall) = gallery.track_candidates(&frames, group, self.recognize.person_score)?;
        let votes = kept
            .iter()
            .zip(each)
            .map(|(k, candidates)| FrameVote {
                quality: k.quality,
                face_px: k.face_px,
                candidates,
            })
            .collect();
        Ok((votes, overall))
    }
}
