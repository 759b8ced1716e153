//! `[images]`: limits on photos read from disk.

use serde::Deserialize;

use super::Problem;

/// Largest image accepted unless the config says otherwise (50 megapixels, about 150 MB
/// decoded): a decompression bomb must not take the box's memory.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

/// Photos read from disk.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ImagesConfig {
    /// Refuse photos larger than this many pixels.
    pub max_pixels: u64,
}

impl Default for ImagesConfig {
    fn default() -> Self {
        ImagesConfig {
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

impl ImagesConfig {
    /// What is wrong with the section's values.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.max_pixels == 0 {
            problems.push(Problem::new("images", "max_pixels", "must be positive".to_string()));
        }
        problems
    }
}
