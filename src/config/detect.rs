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
    /// Ignore faces whose shorter side is below this many pixels. The detector's box of a face
    /// 20 px wide can be a pixel or two smaller, so the default keeps every face of 20 px.
    pub min_face_px: f32,
    /// Letterbox every frame into exactly this `[width, height]` (multiples of 32), as the
    /// reference implementations do, instead of searching it at its own resolution: cheaper, but
    /// a face loses pixels in proportion (a 24 px face of a 1920 px frame in a 640 input is 8 px
    /// and is never found). For models of free input size; a fixed one takes only its own.
    pub input_size: Option<[u32; 2]>,
    /// Seconds between full passes over a camera's frame; the frames between search only the
    /// regions around the faces already tracked. 0: a full pass on every analysed frame.
    pub full_pass_interval_s: f64,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            score_threshold: None,
            nms_threshold: None,
            min_face_px: 16.0,
            input_size: None,
            full_pass_interval_s: 1.0,
        }
    }
}

impl DetectConfig {
    /// Time between full passes.
    pub fn full_pass_interval(&self) -> chrono::Duration {
        chrono::Duration::milliseconds((self.full_pass_interval_s * 1000.0) as i64)
    }

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
            "full_pass_interval_s",
            self.full_pass_interval_s,
            0.0,
            3600.0,
        ));
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
