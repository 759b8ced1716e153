//! Camera ingest: one GStreamer pipeline per camera, newest frame only, and a supervisor that
//! brings every camera back by itself after any failure, for ever.
//!
//! A camera runs on its own supervisor thread: build the pipeline, play it, watch its bus and a
//! stall watchdog, and on error, end of stream or stall tear it down and rebuild it after an
//! exponential backoff with jitter. Frames land in a one-frame slot: the analysis always gets the
//! newest frame and a slow consumer never queues anything. One camera's failures never touch
//! another's thread.

mod backoff;
mod camera;
mod frame;
mod source;

pub use backoff::Backoff;
pub use camera::{Camera, CameraState, CameraStatus};
pub use frame::Frame;
pub use source::{PipelineSpec, display_location, pipeline_spec};

/// Why a camera could not be started at all (running cameras never return errors: they retry).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// GStreamer itself is unusable.
    #[error("GStreamer could not be initialised: {0}. Install the GStreamer runtime (scripts/setup.sh does)")]
    Init(String),
    /// A secret the config points at could not be read.
    #[error("camera `{camera}`: {problem}")]
    Credentials { camera: String, problem: String },
}

/// Initialises GStreamer once; safe to call from anywhere, any number of times.
pub fn init() -> Result<(), CaptureError> {
    gstreamer::init().map_err(|e| CaptureError::Init(e.to_string()))
}
