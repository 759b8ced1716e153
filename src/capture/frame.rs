//! A frame handed to analysis.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opencv::core::Mat;

/// One decoded, scaled frame from a camera.
#[derive(Debug)]
pub struct Frame {
    /// Camera id.
    pub camera: Arc<str>,
    /// Pixels, 8-bit, 3 channels, in the camera's configured order (BGR by default).
    pub image: Mat,
    /// When the frame was captured, as best the pipeline's clock knows it.
    pub captured_at: SystemTime,
    /// Position in this camera's stream of frames (1 = first frame since start).
    pub seq: u64,
}

impl Frame {
    /// How old the frame is now.
    pub fn age(&self) -> Duration {
        SystemTime::now().duration_since(self.captured_at).unwrap_or_default()
    }
}
