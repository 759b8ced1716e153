//! `[track]`: how a face is followed from frame to frame.

use serde::Deserialize;

use super::{Problem, out_of_range};

/// Tracking faces across frames.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrackConfig {
    /// Minimum overlap to continue a track.
    pub iou_threshold: f32,
    /// A track ends after being unseen this long, seconds.
    pub max_unseen_s: f64,
    /// Best frames kept (and at most embedded) per track.
    pub best_frames: usize,
    /// Face-thumbnail correlation below which a detection is someone else, even in the same place.
    pub min_likeness: f32,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            iou_threshold: 0.3,
            max_unseen_s: 1.5,
            best_frames: 5,
            min_likeness: 0.7,
        }
    }
}

impl TrackConfig {
    /// What is wrong with the section's values.
    pub(super) fn problems(&self) -> Vec<Problem> {
        [
            out_of_range("track", "iou_threshold", self.iou_threshold.into(), 0.0, 1.0),
            out_of_range("track", "max_unseen_s", self.max_unseen_s, 0.0, 3600.0),
            out_of_range("track", "min_likeness", self.min_likeness.into(), -1.0, 1.0),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
