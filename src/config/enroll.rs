//! `[enroll]`: live enrollment at a camera (`rollcall enroll --camera`).

use serde::{Deserialize, Serialize};

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
