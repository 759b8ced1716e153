//! `[liveness]`: when a face counts as live rather than a photo or a screen.

use serde::Deserialize;

use super::{Problem, UNIT, in_unit_range, out_of_range};

/// The fused live score at or above which a face is live unless the config says otherwise,
/// calibrated on rollcall's own detector boxes (docs/calibration.md tells how).
pub const DEFAULT_LIVE_THRESHOLD: f32 = 0.4;

/// Under this passive score a track can be a spoof; between it and the threshold it is doubtful.
/// Over the shared spoof samples, the highest a still one scores is 0.23 (image_F1).
pub const DEFAULT_SPOOF_BELOW: f32 = 0.25;

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
    /// A track is a spoof on its passive score alone only when its frames score under this.
    /// Between it and `threshold` the score is doubtful: no attendance under `require`, and no
    /// alert. Printed photos and screens score 0.00 to 0.23, a real speaker in a starved
    /// broadcast 0.26 to 0.34 (docs/calibration.md, "Doubtful scores").
    pub spoof_below: f32,
    /// Landmarks that changed shape by at least this much (eye distances: speech, expression)
    /// moved as a real face does...
    pub nonrigid_min_deformation: f32,
    /// ...and add this to a doubtful or live score. A score under `spoof_below` gets nothing: a
    /// video replayed on a phone moves too, and its passive score still decides.
    pub nonrigid_bonus: f32,
    /// A recognised face whose liveness could not be assessed (too small or blurred on every
    /// frame): `require` marks no attendance until a live frame is seen, `allow` marks it with
    /// `"liveness": null` for the backend to review.
    pub unassessed: Unassessed,
    /// Spoof verdicts at the place of an earlier one on the same camera, within this many
    /// seconds of its latest, are one episode: one alert, whose count grows (see
    /// `attend::episode`).
    pub alert_episode_s: f64,
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
            spoof_below: DEFAULT_SPOOF_BELOW,
            nonrigid_min_deformation: 0.03,
            nonrigid_bonus: 0.1,
            unassessed: Unassessed::Require,
            alert_episode_s: 600.0,
        }
    }
}

impl LivenessConfig {
    /// The window of a spoof episode.
    pub fn alert_episode(&self) -> chrono::Duration {
        chrono::Duration::milliseconds((self.alert_episode_s * 1000.0) as i64)
    }

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
            ("nonrigid_min_deformation", self.nonrigid_min_deformation, 100.0),
            ("nonrigid_bonus", self.nonrigid_bonus, 1.0),
        ] {
            problems.extend(out_of_range("liveness", key, v.into(), 0.0, max));
        }
        problems.extend(out_of_range(
            "liveness",
            "alert_episode_s",
            self.alert_episode_s,
            0.0,
            86_400.0,
        ));
        // Above the threshold every failing track would be a spoof again: no doubtful band.
        // The bound as the admin wrote it (0.4, not the f32's 0.4000000059604645).
        let threshold = self.threshold.to_string().parse().unwrap_or(f64::from(self.threshold));
        problems.extend(out_of_range(
            "liveness",
            "spoof_below",
            self.spoof_below.into(),
            0.0,
            threshold,
        ));
        // A shape change counted as rigid and as live at once would both penalise and lift.
        if self.nonrigid_min_deformation <= self.rigid_max_deformation {
            problems.push(Problem::new(
                "liveness",
                "nonrigid_min_deformation",
                format!(
                    "{} must be more than rigid_max_deformation ({}): a face cannot move both like a flat picture and like a live one",
                    self.nonrigid_min_deformation, self.rigid_max_deformation
                ),
            ));
        }
        problems
    }
}
