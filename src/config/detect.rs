//! `[detect]`: how faces are found in a frame.

use serde::Deserialize;

use super::{Problem, UNIT, in_unit_range, out_of_range};

/// Face detection.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Minimum detector score; default per model (YuNet 0.6, SCRFD 0.5).
    pub score_threshold: Option<f32>,
    /// NMS IoU threshold; default per model.
    pub nms_threshold: Option<f32>,
    /// Ignore faces whose shorter side is below this many pixels.
    pub min_face_px: f32,
    /// Detector input `[width, height]` for models with a free input size (SCRFD); multiples of 32.
    pub input_size: Option<[u32; 2]>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            score_threshold: None,
            nms_threshold: None,
            min_face_px: 20.0,
            input_size: None,
        }
    }
}

impl DetectConfig {
    /// What is wrong with the section's values.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let bad = |key, problem: String| Problem::new("detect", key, problem);
        if let Some(v) = self.score_threshold.filter(|v| !in_unit_range(*v)) {
            problems.push(bad("score_threshold", format!("{v} {UNIT}")));
        }
        if let Some(v) = self.nms_threshold.filter(|v| !in_unit_range(*v)) {
            problems.push(bad("nms_threshold", format!("{v} {UNIT}")));
        }
        if self.min_face_px.is_nan() || self.min_face_px < 0.0 {
            problems.push(bad("min_face_px", "must be zero or more".into()));
        }
        if let Some([w, h]) = self.input_size
            && (w == 0 || h == 0 || !w.is_multiple_of(32) || !h.is_multiple_of(32))
        {
            problems.push(bad(
                "input_size",
                format!("[{w}, {h}]: both must be positive multiples of 32"),
            ));
        }
        problems.extend(out_of_range(
            "detect",
            "min_face_px",
            self.min_face_px.into(),
            0.0,
            10_000.0,
        ));
        problems
    }
}
