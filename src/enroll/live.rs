//! Live enrollment at a camera: the student is guided through a few head poses (straight, left,
//! right), and only a live face that really turns, and stays the same person throughout, is
//! enrolled. Nothing but the chosen embeddings leaves this module: no frame, no crop.
//!
//! Why poses: a photo or a screen held to the camera can be moved, tilted and scaled, but it
//! cannot turn its head. The yaw read from the landmarks only changes when the face turns in
//! depth, so a flat picture never reaches a turn; and its landmarks move as one rigid plane,
//! which [`landmark_motion`] measures, so the refusal can say why.

use crate::shutdown::Shutdown;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use opencv::core::Mat;
use opencv::prelude::*;
use serde::Serialize;

use crate::config::{EnrollConfig, LivenessConfig, Pose};
use crate::vision::analyze::{AnalyzedFace, FaceAnalyzer};
use crate::vision::detect::Landmarks;
use crate::vision::embed::{Embedding, l2_normalise};
use crate::vision::landmarks::eye_openness;
use crate::vision::liveness::{Motion, landmark_motion};
use crate::vision::model::ModelError;

/// The nose tip sits about half an eye distance in front of the eyes, so a head turned by
/// `yaw` moves it sideways by `0.5 * tan(yaw)` eye distances: the inverse gives degrees from the
/// five landmarks alone.
const NOSE_DEPTH: f32 = 0.5;

/// Faces closer than this share of the frame to its edge do not count.
const EDGE_MARGIN: f32 = 0.02;

/// A second face at least this share of the largest one's size is another person at the camera.
const OTHER_FACE_SHARE: f32 = 0.75;

/// Head yaw in degrees from the five landmarks: positive when the nose points to the image's
/// right, which is the student's left on an unmirrored camera.
pub fn yaw_degrees(landmarks: &Landmarks) -> f32 {
    let [le, re, nose, ..] = *landmarks;
    let (dx, dy) = (re[0] - le[0], re[1] - le[1]);
    let eye2 = (dx * dx + dy * dy).max(1.0);
    let mid = ((le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0);
    let offset = ((nose[0] - mid.0) * dx + (nose[1] - mid.1) * dy) / eye2;
    (offset / NOSE_DEPTH).atan().to_degrees()
}

impl Pose {
    /// What the student is asked to do.
    pub fn prompt(&self) -> &'static str {
        match self {
            Pose::Straight => "Look straight at the camera",
            Pose::Left => "Slowly turn your head to your left",
            Pose::Right => "Slowly turn your head to your right",
        }
    }
}

/// What live enrollment tells the person at the camera (or a kiosk UI, as JSON lines).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Guidance {
    /// Do this now.
    Step {
        /// The pose asked for.
        step: Pose,
        /// What to say.
        prompt: &'static str,
        /// Poses done so far.
        done: usize,
        /// Poses in all.
        of: usize,
    },
    /// The pose is being held.
    Holding {
        /// The pose.
        step: Pose,
        /// Frames held so far.
        held: u32,
        /// Frames needed.
        needed: u32,
    },
    /// A pose is done.
    StepDone {
        /// The pose.
        step: Pose,
    },
    /// Something to fix before anything can count.
    Hint {
        /// What to say.
        message: String,
    },
}

/// Why a live enrollment did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LiveEnrollError {
    /// The time ran out; the message says what was missing and, where it shows, why.
    #[error("{0}")]
    TimedOut(String),
    /// The face changed identity part-way.
    #[error(
        "a different face appeared part-way (similarity {similarity:.2} to the first, needs {needed:.2}); \
         enrollment aborted: one person only, from start to end"
    )]
    DifferentPerson { similarity: f32, needed: f32 },
    /// Every pose was reached, but the face moved as one flat plane.
    #[error(
        "the face moved like a flat picture (landmarks travelled {travel:.2} eye distances but deformed only \
         {deformation:.3}): a photo or a screen cannot be enrolled"
    )]
    Flat { travel: f32, deformation: f32 },
    /// The camera stopped giving frames.
    #[error("the camera gave no frame for {0} s")]
    NoFrames(u64),
    /// Interrupted (Ctrl-C).
    #[error("cancelled; nothing was enrolled")]
    Cancelled,
    /// A model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// What a finished guided capture gives: one template per pose (the best-quality frame of it)
/// and, if configured, their mean.
#[derive(Debug, Clone)]
pub struct Captured {
    /// (pose, embedding, quality), in the configured order of the poses.
    pub templates: Vec<(Pose, Embedding, f32)>,
    /// Mean of the pose templates, unit length.
    pub mean: Option<Embedding>,
    /// Landmark motion over the whole capture.
    pub motion: Motion,
    /// Lowest live score among the frames that counted.
    pub lowest_live: f32,
}

impl Captured {
    /// The templates to save: one per pose, and the mean (if any) at the best pose's quality.
    pub fn to_save(&self) -> Vec<(Embedding, f32)> {
        let mut templates: Vec<(Embedding, f32)> = self.templates.iter().map(|(_, e, q)| (e.clone(), *q)).collect();
        if let Some(mean) = &self.mean {
            let q = templates.iter().map(|t| t.1).fold(0.0, f32::max);
            templates.push((mean.clone(), q));
        }
        templates
    }
}

/// The best frame seen so far for a pose.
struct Best {
    embedding: Embedding,
    quality: f32,
}

/// A guided capture in progress.
pub struct LiveEnrollment<'a> {
    analyzer: &'a mut FaceAnalyzer,
    settings: EnrollConfig,
    live_threshold: f32,
    rigid_min_travel: f32,
    rigid_max_deformation: f32,
    /// Poses done, with their best frame.
    done: HashMap<Pose, Best>,
    /// The pose being held and for how many frames.
    holding: Option<(Pose, u32)>,
    /// The best frame of the hold in progress.
    pending: Option<(Pose, Best)>,
    /// The first live embedding: everything after must be the same person.
    reference: Option<Embedding>,
    /// Landmarks of every face that counted, for the flat-picture check.
    track: Vec<Landmarks>,
    lowest_live: f32,
    /// Counts for the timeout message.
    seen_faces: u32,
    not_live: u32,
    eyes_closed: u32,
    /// Yaw of the last `hold_frames` counted frames, to report the largest turn held, not the
    /// largest single-frame reading (landmarks jitter by several degrees).
    recent_yaw: std::collections::VecDeque<f32>,
    max_held_yaw: f32,
}

impl<'a> LiveEnrollment<'a> {
    /// Live enrollment using `analyzer` (which must run anti-spoofing) with these settings.
    pub fn new(
        analyzer: &'a mut FaceAnalyzer,
        settings: &EnrollConfig,
        liveness: &LivenessConfig,
    ) -> LiveEnrollment<'a> {
        LiveEnrollment {
            analyzer,
            settings: settings.clone(),
            live_threshold: liveness.threshold,
            rigid_min_travel: liveness.rigid_min_travel,
            rigid_max_deformation: liveness.rigid_max_deformation,
            done: HashMap::new(),
            holding: None,
            pending: None,
            reference: None,
            track: Vec::new(),
            lowest_live: 1.0,
            seen_faces: 0,
            not_live: 0,
            eyes_closed: 0,
            recent_yaw: std::collections::VecDeque::new(),
            max_held_yaw: 0.0,
        }
    }

    fn next_step(&self) -> Option<Pose> {
        self.settings.steps.iter().copied().find(|p| !self.done.contains_key(p))
    }

    fn step_guidance(&self) -> Option<Guidance> {
        self.next_step().map(|step| Guidance::Step {
            step,
            prompt: step.prompt(),
            done: self.done.len(),
            of: self.settings.steps.len(),
        })
    }

    /// The pose a yaw counts as, if any.
    fn pose_of(&self, yaw: f32) -> Option<Pose> {
        let yaw = if self.settings.mirrored { -yaw } else { yaw };
        if yaw.abs() <= self.settings.straight_max_deg {
            Some(Pose::Straight)
        } else if yaw >= self.settings.turn_min_deg {
            Some(Pose::Left)
        } else if yaw <= -self.settings.turn_min_deg {
            Some(Pose::Right)
        } else {
            None
        }
    }

    /// Runs the guided capture on `frames` (each `None` is a wait that gave no frame), telling
    /// `guide` what to say, until every pose is done, time runs out, or `cancel` is set.
    pub fn run(
        &mut self,
        mut frames: impl FnMut() -> Option<Mat>,
        guide: &mut dyn FnMut(&Guidance),
        cancel: &Shutdown,
    ) -> Result<Captured, LiveEnrollError> {
        let deadline = Instant::now() + Duration::from_secs_f64(self.settings.timeout_s);
        let mut last_frame = Instant::now();
        if let Some(g) = self.step_guidance() {
            guide(&g);
        }
        let mut last_hint: Option<String> = None;
        loop {
            if cancel.is_triggered() {
                return Err(LiveEnrollError::Cancelled);
            }
            if Instant::now() >= deadline {
                return Err(LiveEnrollError::TimedOut(self.why_not_done()));
            }
            let Some(frame) = frames() else {
                if last_frame.elapsed() > Duration::from_secs(10) {
                    return Err(LiveEnrollError::NoFrames(10));
                }
                continue;
            };
            last_frame = Instant::now();
            let hint = self.observe(&frame, guide)?;
            if hint != last_hint {
                if let Some(message) = &hint {
                    guide(&Guidance::Hint {
                        message: message.clone(),
                    });
                }
                last_hint = hint;
            }
            if self.next_step().is_none() {
                return self.finish();
            }
        }
    }

    /// Takes one frame; returns a hint when the frame could not count.
    fn observe(&mut self, frame: &Mat, guide: &mut dyn FnMut(&Guidance)) -> Result<Option<String>, LiveEnrollError> {
        let analysis = self.analyzer.analyze(frame)?;
        let face = match the_one_face(frame, analysis.faces) {
            Ok(face) => face,
            Err(hint) => {
                self.holding = None;
                return Ok(Some(hint.into()));
            }
        };
        self.seen_faces += 1;
        if face.quality.size_px < self.settings.min_face_px {
            self.holding = None;
            return Ok(Some("Come a little closer to the camera".into()));
        }
        let live = face.liveness.as_ref().map_or(0.0, |l| l.score);
        if live < self.live_threshold {
            self.not_live += 1;
            self.holding = None;
            return Ok(Some("The face does not look live: no photos or screens".into()));
        }
        match &self.reference {
            None => self.reference = Some(face.embedding.clone()),
            Some(first) => {
                let similarity = first.similarity(&face.embedding).unwrap_or(-1.0);
                let needed = self.analyzer.recognizer().threshold();
                if similarity < needed {
                    return Err(LiveEnrollError::DifferentPerson { similarity, needed });
                }
            }
        }
        self.lowest_live = self.lowest_live.min(live);
        self.track.push(face.face.landmarks);
        let yaw = yaw_degrees(&face.face.landmarks);
        self.note_yaw(yaw);
        let Some(pose) = self.pose_of(yaw).filter(|p| self.settings.steps.contains(p)) else {
            self.holding = None;
            return Ok(None);
        };
        if pose == Pose::Straight
            && !self.done.contains_key(&pose)
            && let Some(points) = self.analyzer.dense_landmarks(frame, &face.face.bbox)?
            && eye_openness(&points, &face.face.landmarks) < self.settings.eyes_open_min
        {
            self.eyes_closed += 1;
            self.holding = None;
            return Ok(Some("Keep your eyes open and look at the camera".into()));
        }
        let held = match self.holding {
            Some((p, n)) if p == pose => n + 1,
            _ => 1,
        };
        self.holding = Some((pose, held));
        if !self.done.contains_key(&pose) {
            self.keep_best(pose, &face);
            guide(&Guidance::Holding {
                step: pose,
                held,
                needed: self.settings.hold_frames,
            });
            if held >= self.settings.hold_frames
                && let Some((_, best)) = self.pending.take()
            {
                self.done.insert(pose, best);
                guide(&Guidance::StepDone { step: pose });
                if let Some(g) = self.step_guidance() {
                    guide(&g);
                }
            }
        }
        Ok(None)
    }

    /// Remembers `yaw`, and the largest turn held steady (one side) over the last `hold_frames`.
    fn note_yaw(&mut self, yaw: f32) {
        self.recent_yaw.push_back(yaw);
        if self.recent_yaw.len() > self.settings.hold_frames as usize {
            self.recent_yaw.pop_front();
        }
        if self.recent_yaw.len() == self.settings.hold_frames as usize {
            let (lo, hi) = self
                .recent_yaw
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), y| (lo.min(*y), hi.max(*y)));
            let held = if lo > 0.0 {
                lo
            } else if hi < 0.0 {
                -hi
            } else {
                0.0
            };
            self.max_held_yaw = self.max_held_yaw.max(held);
        }
    }

    /// Keeps the best-quality frame of the hold in progress.
    fn keep_best(&mut self, pose: Pose, face: &AnalyzedFace) {
        let better = match &self.pending {
            Some((p, best)) if *p == pose => face.quality.score > best.quality,
            _ => true,
        };
        if better {
            self.pending = Some((
                pose,
                Best {
                    embedding: face.embedding.clone(),
                    quality: face.quality.score,
                },
            ));
        }
    }

    /// Every pose is done: the flat-picture check, then the templates.
    fn finish(&mut self) -> Result<Captured, LiveEnrollError> {
        let motion = landmark_motion(&self.track);
        if motion.looks_rigid(self.rigid_min_travel, self.rigid_max_deformation) {
            return Err(LiveEnrollError::Flat {
                travel: motion.travel,
                deformation: motion.deformation,
            });
        }
        let mut templates = Vec::new();
        for pose in &self.settings.steps {
            if let Some(best) = self.done.remove(pose) {
                templates.push((*pose, best.embedding, best.quality));
            }
        }
        let mean = match templates.first() {
            Some((_, first, _)) if self.settings.keep_mean && templates.len() > 1 => {
                let mut sum = vec![0.0f32; first.vector.len()];
                for (_, e, _) in &templates {
                    sum.iter_mut().zip(&e.vector).for_each(|(s, v)| *s += v);
                }
                l2_normalise(&mut sum);
                Some(Embedding {
                    recognizer: first.recognizer.clone(),
                    vector: sum,
                })
            }
            _ => None,
        };
        Ok(Captured {
            templates,
            mean,
            motion,
            lowest_live: self.lowest_live,
        })
    }

    /// The timeout message: what is missing and, as far as the frames show, why.
    fn why_not_done(&self) -> String {
        let missing: Vec<&str> = self
            .settings
            .steps
            .iter()
            .filter(|p| !self.done.contains_key(p))
            .map(|p| match p {
                Pose::Straight => "look straight",
                Pose::Left => "turn left",
                Pose::Right => "turn right",
            })
            .collect();
        let secs = self.settings.timeout_s;
        let mut why = format!("not enrolled: no {} within {secs:.0} s", missing.join(", "));
        if self.seen_faces == 0 {
            why += "; no face was seen";
            return why;
        }
        if self.not_live * 2 > self.seen_faces {
            why += "; the face did not look live (a photo or a screen?)";
            return why;
        }
        if missing.contains(&"look straight") && self.eyes_closed > 0 {
            why += &format!(
                "; the eyes looked closed in {} frames facing the camera (opening under {:.2})",
                self.eyes_closed, self.settings.eyes_open_min
            );
        }
        let motion = landmark_motion(&self.track);
        let turns_missing = missing.iter().any(|m| m.starts_with("turn"));
        if turns_missing && motion.looks_rigid(self.rigid_min_travel, self.rigid_max_deformation) {
            why += &format!(
                "; the face moved like a flat picture (travelled {:.2} eye distances, deformed {:.3}):                  a photo or a screen cannot turn its head",
                motion.travel, motion.deformation
            );
        } else if turns_missing {
            why += &format!(
                "; the head never turned far enough (at most {:.0} degrees held for {} frames, {:.0} needed){}",
                self.max_held_yaw,
                self.settings.hold_frames,
                self.settings.turn_min_deg,
                if motion.travel < 0.05 {
                    ": the face did not move at all, as a photo would not"
                } else {
                    ""
                }
            );
        }
        why
    }
}

/// The student's face in `frame`, or the hint that says why the frame cannot count: no face,
/// someone else close enough to be taken for the student, or a face cut by the frame's edge.
fn the_one_face(frame: &Mat, mut faces: Vec<AnalyzedFace>) -> Result<AnalyzedFace, &'static str> {
    faces.sort_by(|a, b| b.quality.size_px.total_cmp(&a.quality.size_px));
    let Some(largest) = faces.first().map(|f| f.quality.size_px) else {
        return Err("No face seen: stand in front of the camera");
    };
    // Small faces far behind do not make the capture ambiguous.
    if faces
        .iter()
        .skip(1)
        .any(|f| f.quality.size_px >= OTHER_FACE_SHARE * largest)
    {
        return Err("More than one face: only the student in front of the camera, please");
    }
    let face = faces.remove(0);
    // Landmarks of a face cut by the frame's edge are guesses, and guesses look like turns.
    let margin = EDGE_MARGIN * frame.cols().min(frame.rows()) as f32;
    let b = &face.face.bbox;
    if b.x1 < margin || b.y1 < margin || b.x2 > frame.cols() as f32 - margin || b.y2 > frame.rows() as f32 - margin {
        return Err("Keep your whole face in the picture");
    }
    Ok(face)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaw_reads_degrees_from_the_nose_and_its_sign_names_the_side() {
        // Eyes 60 px apart; the nose on the midline is frontal.
        let frontal: Landmarks = [
            [100.0, 100.0],
            [160.0, 100.0],
            [130.0, 130.0],
            [110.0, 150.0],
            [150.0, 150.0],
        ];
        assert!(yaw_degrees(&frontal).abs() < 0.01);
        // Nose 15 px (a quarter eye distance) toward the image's right: atan(0.25 / 0.5) = 26.6 degrees.
        let mut turned = frontal;
        turned[2][0] += 15.0;
        assert!((yaw_degrees(&turned) - 26.57).abs() < 0.1);
        // A flat picture squeezed sideways keeps its yaw: the offset and the eye distance shrink alike.
        let squeezed = turned.map(|[x, y]| [x * 0.7, y]);
        assert!((yaw_degrees(&squeezed) - yaw_degrees(&turned)).abs() < 0.01);
    }
}
