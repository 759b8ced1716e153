//! `[enroll]`: live enrollment at a camera (`rollcall enroll --camera`).

use serde::{Deserialize, Serialize};

use super::{Problem, out_of_range};

/// One pose of the guided sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pose {
    /// Facing the camera.
    Straight,
    /// Head turned to the student's left.
    Left,
    /// Head turned to the student's right.
    Right,
}

/// The guided capture.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnrollConfig {
    /// Poses asked for, in order (any order is accepted; the prompt follows this one).
    pub steps: Vec<Pose>,
    /// Straight means a yaw within this many degrees.
    pub straight_max_deg: f32,
    /// A turn means a yaw of at least this many degrees.
    pub turn_min_deg: f32,
    /// Consecutive live frames a pose must be held.
    pub hold_frames: u32,
    /// Give up after this many seconds.
    pub timeout_s: f64,
    /// Smallest face accepted, pixels (shorter side).
    pub min_face_px: f32,
    /// Store the mean of the steps' embeddings as one more template.
    pub keep_mean: bool,
    /// The camera's picture is mirrored (a selfie view): swaps left and right.
    pub mirrored: bool,
    /// With `[models] landmarks` set: the eye opening (outline height over width; about 0.3
    /// open, under 0.2 mid-blink) straight frames need.
    pub eyes_open_min: f32,
}

impl Default for EnrollConfig {
    fn default() -> Self {
        EnrollConfig {
            steps: vec![Pose::Straight, Pose::Left, Pose::Right],
            straight_max_deg: 5.0,
            turn_min_deg: 15.0,
            hold_frames: 5,
            timeout_s: 60.0,
            min_face_px: 80.0,
            keep_mean: true,
            mirrored: false,
            eyes_open_min: 0.2,
        }
    }
}

impl EnrollConfig {
    /// What is wrong with the section's values.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.steps.is_empty() || self.hold_frames == 0 || self.timeout_s <= 0.0 {
            problems.push(Problem::new(
                "enroll",
                "steps",
                "steps must name at least one pose, hold_frames and timeout_s must be positive".to_string(),
            ));
        }
        if !(0.0 <= self.straight_max_deg && self.straight_max_deg < self.turn_min_deg) {
            problems.push(Problem::new(
                "enroll",
                "straight_max_deg",
                format!(
                    "{} must be at least 0 and below turn_min_deg ({})",
                    self.straight_max_deg, self.turn_min_deg
                ),
            ));
        }
        for (key, v, max) in [
            ("timeout_s", self.timeout_s, 86_400.0),
            ("turn_min_deg", self.turn_min_deg.into(), 90.0),
            ("min_face_px", self.min_face_px.into(), 10_000.0),
            ("eyes_open_min", self.eyes_open_min.into(), 1.0),
        ] {
            problems.extend(out_of_range("enroll", key, v, 0.0, max));
        }
        problems
    }
}
