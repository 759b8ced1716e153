//! Capture: pictures in. Cameras (RTSP, V4L2, files) as newest-only frames, photos from disk
//! ([`image`]), and a slideshow video made from photos ([`slideshow`]), the demo's stand-in
//! camera. It may import `config` and the shared helpers (`backoff`, `private_file`, `lock`,
//! `shutdown`), and nothing that analyses a frame.
//!
//! Camera ingest: one GStreamer pipeline per camera, newest frame only, and a supervisor that
//! brings every camera back by itself after any failure, for ever.
//!
//! A camera runs on its own supervisor thread: build the pipeline, play it, watch its bus and a
//! stall watchdog, and on error, end of stream or stall tear it down and rebuild it after an
//! exponential backoff with jitter. Frames land in a one-frame slot: the analysis always gets the
//! newest frame and a slow consumer never queues anything. One camera's failures never touch
//! another's thread.

mod camera;
mod down;
mod frame;
pub mod image;
pub mod slideshow;
mod source;

pub use camera::{Camera, CameraState, CameraStatus};
pub use down::{Availability, DownWatch};
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

pub use file::FileFrames;

mod file {
    //! Clips read off line: every frame at the analysis rate, as fast as the consumer goes.

    use std::path::Path;
    use std::time::Duration;

    use gstreamer as gst;
    use gstreamer::prelude::*;
    use gstreamer_app as gst_app;
    use opencv::core::Mat;

    use super::CaptureError;
    use super::camera::sample_to_mat;
    use super::source::{SINK_NAME, pipeline_spec_for};
    use crate::config::{CameraConfig, SourceKind};

    /// Frames of a video file, each with its position in the clip. A file that cannot be
    /// decoded ends the frames early; [`FileFrames::error`] then says why.
    pub struct FileFrames {
        pipeline: gst::Pipeline,
        sink: gst_app::AppSink,
        error: Option<String>,
    }

    /// How long to wait for a frame before looking for an error on the pipeline's bus: an
    /// error posts no sample and no end of stream, and a blocking pull would wait forever.
    const POLL: gst::ClockTime = gst::ClockTime::from_mseconds(100);

    impl FileFrames {
        /// Opens `path`, to be read at `fps` frames per clip second, scaled to at most `width`.
        pub fn open(path: &Path, fps: f64, width: u32) -> Result<FileFrames, CaptureError> {
            super::init()?;
            let failed = |what: String| CaptureError::Init(format!("{}: {what}", path.display()));
            let mut cam = CameraConfig::new("file", SourceKind::Uri);
            cam.uri = Some(path.to_string_lossy().into_owned());
            cam.analysis_fps = fps;
            cam.analysis_width = width;
            let spec = pipeline_spec_for(&cam, None, true);
            let pipeline = gst::parse::launch(&spec.description)
                .map_err(|e| failed(e.to_string()))?
                .downcast::<gst::Pipeline>()
                .map_err(|_| failed("not a pipeline".into()))?;
            let sink = pipeline
                .by_name(SINK_NAME)
                .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
                .ok_or_else(|| failed("no appsink".into()))?;
            pipeline
                .set_state(gst::State::Playing)
                .map_err(|_| failed("cannot be played (is it a video?)".into()))?;
            Ok(FileFrames {
                pipeline,
                sink,
                error: None,
            })
        }

        /// Why the frames ended early, if they did: the file could not be decoded.
        pub fn error(&self) -> Option<&str> {
            self.error.as_deref()
        }
    }

    impl Iterator for FileFrames {
        type Item = (Mat, Duration);

        fn next(&mut self) -> Option<(Mat, Duration)> {
            let sample = loop {
                if self.error.is_some() {
                    return None;
                }
                if let Some(sample) = self.sink.try_pull_sample(POLL) {
                    break sample;
                }
                if self.sink.is_eos() {
                    return None;
                }
                let bus = self.pipeline.bus()?;
                if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error])
                    && let gst::MessageView::Error(e) = msg.view()
                {
                    self.error = Some(crate::untrusted::summary(&e.error().to_string()));
                }
            };
            let pts = sample
                .buffer()
                .and_then(|b| b.pts())
                .map_or(Duration::ZERO, |t| Duration::from_nanos(t.nseconds()));
            Some((sample_to_mat(&sample)?, pts))
        }
    }

    impl Drop for FileFrames {
        fn drop(&mut self) {
            let _ = self.pipeline.set_state(gst::State::Null);
        }
    }
}
