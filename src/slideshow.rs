//! A video made from photos: the demo's camera, and a way to try rollcall on a school's own
//! photos before any camera is installed.
//!
//! Each photo is fitted whole onto a frame over a blurred, enlarged copy of itself, so no hard
//! border frames the face the way a printed photo's edge would, and nothing is cropped. The video
//! is VP8 in WebM: both come with GStreamer's good plugins, which every install has.
//! Frames go from memory to the encoder; no slide is written to disk.

use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use opencv::core::{Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;

use crate::image::{DEFAULT_MAX_PIXELS, ImageError};

/// Why a slideshow could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SlideshowError {
    /// No photos were given.
    #[error("a slideshow needs at least one photo")]
    NoPhotos,
    /// Frame size or timing that cannot be encoded.
    #[error("{0}")]
    Settings(String),
    /// A photo could not be read.
    #[error(transparent)]
    Photo(#[from] ImageError),
    /// Fitting a photo onto a frame failed.
    #[error("cannot fit {path} onto a frame: {source}")]
    Fit { path: PathBuf, source: opencv::Error },
    /// GStreamer could not encode or write the video.
    #[error("cannot write {path}: {reason} (is gstreamer1.0-plugins-good installed?)")]
    Encode { path: PathBuf, reason: String },
}

/// How the video looks: frame size, how long each photo shows, frames per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slideshow {
    /// Frame width in pixels (even).
    pub width: u32,
    /// Frame height in pixels (even).
    pub height: u32,
    /// How long each photo is shown, in seconds.
    pub seconds_each: u32,
    /// Frames per second.
    pub fps: u32,
}

impl Default for Slideshow {
    fn default() -> Self {
        Slideshow {
            width: 1280,
            height: 720,
            seconds_each: 2,
            fps: 10,
        }
    }
}

impl Slideshow {
    /// Writes `photos`, in order, as a WebM video at `out`. The file appears only when whole: an
    /// interrupted run leaves no half video that a later run would take for a finished one.
    pub fn write(&self, photos: &[PathBuf], out: &Path) -> Result<(), SlideshowError> {
        if photos.is_empty() {
            return Err(SlideshowError::NoPhotos);
        }
        if self.width < 16 || self.height < 16 || self.width % 2 == 1 || self.height % 2 == 1 {
            return Err(SlideshowError::Settings(format!(
                "frame size {}x{} must be even and at least 16x16",
                self.width, self.height
            )));
        }
        if self.fps == 0 || self.seconds_each == 0 {
            return Err(SlideshowError::Settings(
                "fps and seconds per photo must be at least 1".into(),
            ));
        }
        let slides = photos.iter().map(|p| self.slide(p)).collect::<Result<Vec<_>, _>>()?;
        let partial = out.with_extension("partial.webm");
        let encode = |reason: String| SlideshowError::Encode {
            path: out.to_path_buf(),
            reason,
        };
        self.encode(&slides, &partial).map_err(|reason| {
            let _ = std::fs::remove_file(&partial);
            encode(reason)
        })?;
        std::fs::rename(&partial, out).map_err(|e| encode(e.to_string()))
    }

    /// One photo fitted onto a frame, as packed BGR bytes.
    fn slide(&self, path: &Path) -> Result<Vec<u8>, SlideshowError> {
        let photo = crate::image::load(path, DEFAULT_MAX_PIXELS)?;
        self.fit(&photo).map_err(|source| SlideshowError::Fit {
            path: path.to_path_buf(),
            source,
        })
    }

    fn fit(&self, photo: &Mat) -> opencv::Result<Vec<u8>> {
        let (width, height) = (self.width as i32, self.height as i32);
        let (cols, rows) = (photo.cols() as f64, photo.rows() as f64);
        let (sx, sy) = (width as f64 / cols, height as f64 / rows);
        let resized = |scale: f64, at_least: (i32, i32)| -> opencv::Result<Mat> {
            let size = Size::new(
                ((cols * scale) as i32).max(at_least.0).max(1),
                ((rows * scale) as i32).max(at_least.1).max(1),
            );
            let mut out = Mat::default();
            imgproc::resize(photo, &mut out, size, 0.0, 0.0, imgproc::INTER_AREA)?;
            Ok(out)
        };
        let whole = resized(sx.min(sy), (0, 0))?;
        let cover = resized(sx.max(sy), (width, height))?;
        let centre = |outer: Size, inner: Size| {
            Rect::new(
                (outer.width - inner.width) / 2,
                (outer.height - inner.height) / 2,
                inner.width.min(outer.width),
                inner.height.min(outer.height),
            )
        };
        let frame = Size::new(width, height);
        let cover = Mat::roi(&cover, centre(cover.size()?, frame))?;
        let mut canvas = Mat::default();
        imgproc::gaussian_blur_def(&cover, &mut canvas, Size::new(51, 51), 20.0)?;
        let mut middle = Mat::roi_mut(&mut canvas, centre(frame, whole.size()?))?;
        whole.copy_to(&mut middle)?;
        Ok(canvas.data_bytes()?.to_vec())
    }

    /// Pushes every frame through VP8 into WebM at `path`, and waits for the file to be closed.
    fn encode(&self, slides: &[Vec<u8>], path: &Path) -> Result<(), String> {
        gst::init().map_err(|e| e.to_string())?;
        let description = format!(
            "appsrc name=slides format=time caps=video/x-raw,format=BGR,width={w},height={h},framerate={fps}/1 \
             ! videoconvert ! vp8enc deadline=1 cpu-used=8 target-bitrate=3000000 keyframe-max-dist={fps} \
             ! webmmux ! filesink name=file",
            w = self.width,
            h = self.height,
            fps = self.fps,
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| e.to_string())?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline".to_string())?;
        let sink = pipeline.by_name("file").ok_or("no file sink")?;
        sink.set_property("location", path.to_string_lossy().as_ref());
        let src = pipeline
            .by_name("slides")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or("no appsrc")?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("cannot start encoding: {e}"))?;
        let result = self.push(&src, slides).and_then(|()| wait_for_end(&pipeline));
        let _ = pipeline.set_state(gst::State::Null);
        result
    }

    fn push(&self, src: &gst_app::AppSrc, slides: &[Vec<u8>]) -> Result<(), String> {
        let frame_ns = 1_000_000_000 / u64::from(self.fps);
        let per_slide = u64::from(self.seconds_each) * u64::from(self.fps);
        let mut n = 0u64;
        for slide in slides {
            for _ in 0..per_slide {
                let mut buffer = gst::Buffer::from_slice(slide.clone());
                if let Some(b) = buffer.get_mut() {
                    b.set_pts(gst::ClockTime::from_nseconds(n * frame_ns));
                    b.set_duration(gst::ClockTime::from_nseconds(frame_ns));
                }
                // appsrc queues without limit by default: a 24 s clip at 720p is about 650 MB
                // raw, so wait for the encoder instead.
                while src.current_level_bytes() > 64 * slide.len() as u64 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                src.push_buffer(buffer)
                    .map_err(|e| format!("encoder refused a frame: {e}"))?;
                n += 1;
            }
        }
        src.end_of_stream().map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Waits for end of stream (the file is complete) or the first error.
fn wait_for_end(pipeline: &gst::Pipeline) -> Result<(), String> {
    let bus = pipeline.bus().ok_or("no bus")?;
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(600),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .ok_or("the encoder did not finish within 10 minutes")?;
    match msg.view() {
        gst::MessageView::Error(e) => Err(e.error().to_string()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_or_tiny_frames_and_no_photos_are_refused_before_any_work() {
        let out = std::env::temp_dir().join("rollcall-never-written.webm");
        let photo = vec![PathBuf::from("/nonexistent.jpg")];
        assert!(matches!(
            Slideshow::default().write(&[], &out),
            Err(SlideshowError::NoPhotos)
        ));
        let odd = Slideshow {
            width: 641,
            ..Slideshow::default()
        };
        assert!(matches!(odd.write(&photo, &out), Err(SlideshowError::Settings(_))));
        assert!(matches!(
            Slideshow::default().write(&photo, &out),
            Err(SlideshowError::Photo(_))
        ));
        assert!(!out.exists());
    }
}
