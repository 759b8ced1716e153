//! `[liveness]`: when a face counts as live rather than a photo or a screen.

use serde::Deserialize;

use super::{Problem, UNIT, in_unit_range, out_of_range};

/// The fused live score at or above which a face is live unless the config says otherwise,
/// calibrated on rollcall's own detector boxes (docs/calibration.md tells how).
pub const DEFAULT_LIVE_THRESHOLD: f32 = 0.4;

/// Passive anti-spoofing.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LivenessConfig {
    /// Fused live score at or above which a face is live.
    pub threshold: f32,
    /// Frames with a liveness score a track needs before it counts as live.
    pub min_frames: u32,
    /// Motion check: a track that travels at least this far (eye distances)...
    pub rigid_min_travel: f32,
    /// ...while its landmarks deform less than this (eye distances) moved like a flat picture.
    pub rigid_max_deformation: f32,
    /// Subtracted from the track's live score when it moved like a flat picture.
    pub rigid_penalty: f32,
    /// A recognised face whose liveness could not be assessed (too small or blurred on every
    /// frame): `require` marks no attendance until a live frame is seen, `allow` marks it with
    /// `"liveness": null` for the backend to review.
    pub unassessed: Unassessed,
}

/// What a recognised track without a liveness verdict gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unassessed {
    /// No attendance until a live frame is seen.
    #[default]
    Require,
    /// Attendance, marked as not assessed.
    Allow,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            threshold: DEFAULT_LIVE_THRESHOLD,
            min_frames: 3,
            rigid_min_travel: 0.3,
            rigid_max_deformation: 0.02,
            rigid_penalty: 0.3,
            unassessed: Unassessed::Require,
        }
    }
}

impl LivenessConfig {
    /// What is wrong with the section's values.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if !in_unit_range(self.threshold) {
            problems.push(Problem::new(
                "liveness",
                "threshold",
                format!("{} {UNIT}", self.threshold),
            ));
        }
        for (key, v, max) in [
            ("rigid_min_travel", self.rigid_min_travel, 100.0),
            ("rigid_max_deformation", self.rigid_max_deformation, 100.0),
            ("rigid_penalty", self.rigid_penalty, 1.0),
        ] {
            problems.extend(out_of_range("liveness", key, v.into(), 0.0, max));
        }
        problems
    }
}
