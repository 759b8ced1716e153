//! A video made from photos: the demo's camera, and a way to try rollcall on a school's own
//! photos before any camera is installed.
//!
//! Each photo is fitted whole onto a frame over a blurred, enlarged copy of itself, so no hard
//! border frames the face the way a printed photo's edge would, and nothing is cropped. A `.webm`
//! video is VP8 (GStreamer's good plugins, which every install has); an `.mp4` is H.264, which
//! needs x264 (gstreamer1.0-plugins-ugly), as real cameras send. Frames go from memory to the
//! encoder; no slide is written to disk.

use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use opencv::core::{Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;

use crate::capture::image::ImageError;
use crate::config::DEFAULT_MAX_PIXELS;

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
    /// Writes `photos`, in order, as a video at `out` (see [`write_video`] for formats).
    pub fn write(&self, photos: &[PathBuf], out: &Path) -> Result<(), SlideshowError> {
        if photos.is_empty() {
            return Err(SlideshowError::NoPhotos);
        }
        if self.fps == 0 || self.seconds_each == 0 {
            return Err(SlideshowError::Settings(
                "fps and seconds per photo must be at least 1".into(),
            ));
        }
        check_size(self.width, self.height)?;
        let slides = photos.iter().map(|p| self.frame(p)).collect::<Result<Vec<_>, _>>()?;
        let per_slide = (self.seconds_each * self.fps) as usize;
        let frames = slides
            .iter()
            .flat_map(|slide| std::iter::repeat_n(slide, per_slide))
            .map(|slide| Ok(slide.clone()));
        write_video(frames, self.fps, out)
    }

    /// One photo fitted onto a frame, as the video shows it.
    pub fn frame(&self, path: &Path) -> Result<Mat, SlideshowError> {
        let photo = crate::capture::image::load(path, DEFAULT_MAX_PIXELS)?;
        self.fit(&photo).map_err(|source| SlideshowError::Fit {
            path: path.to_path_buf(),
            source,
        })
    }

    fn fit(&self, photo: &Mat) -> opencv::Result<Mat> {
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
        Ok(canvas)
    }
}

fn check_size(width: u32, height: u32) -> Result<(), SlideshowError> {
    if width < 16 || height < 16 || width % 2 == 1 || height % 2 == 1 {
        return Err(SlideshowError::Settings(format!(
            "frame size {width}x{height} must be even and at least 16x16"
        )));
    }
    Ok(())
}

/// Encodes BGR `frames` (all of one size) at `fps` into `out`: VP8 in WebM for `.webm`, H.264 in
/// MP4 for `.mp4`. Timestamps run on without a gap from frame to frame. The file appears only
/// when whole: an interrupted run leaves no half video that a later run would take for a
/// finished one.
pub fn write_video(
    frames: impl IntoIterator<Item = Result<Mat, SlideshowError>>,
    fps: u32,
    out: &Path,
) -> Result<(), SlideshowError> {
    let encode = |reason: String| SlideshowError::Encode {
        path: out.to_path_buf(),
        reason,
    };
    let (encoder, extension) = match out.extension().and_then(|e| e.to_str()) {
        Some("webm") => (
            format!("vp8enc deadline=1 cpu-used=8 target-bitrate=3000000 keyframe-max-dist={fps} ! webmmux"),
            "webm",
        ),
        Some("mp4") => (
            format!("x264enc speed-preset=ultrafast key-int-max={fps} ! mp4mux"),
            "mp4",
        ),
        _ => {
            return Err(SlideshowError::Settings(format!(
                "{}: name the video .webm (VP8) or .mp4 (H.264)",
                out.display()
            )));
        }
    };
    if fps == 0 {
        return Err(SlideshowError::Settings("fps must be at least 1".into()));
    }
    let mut frames = frames.into_iter().peekable();
    let (width, height) = match frames.peek() {
        Some(Ok(first)) => (first.cols() as u32, first.rows() as u32),
        Some(Err(_)) => return Err(frames.next().and_then(Result::err).unwrap_or(SlideshowError::NoPhotos)),
        None => return Err(SlideshowError::NoPhotos),
    };
    check_size(width, height)?;
    let partial = out.with_extension(format!("partial.{extension}"));
    let description = format!(
        "appsrc name=frames format=time caps=video/x-raw,format=BGR,width={width},height={height},framerate={fps}/1 \
         ! videoconvert ! video/x-raw,format=I420 ! {encoder} ! filesink name=file"
    );
    let pipeline = Encoder::start(&description, &partial).map_err(encode)?;
    let result = pipeline.push_all(frames, fps, (width, height), out);
    let finished = pipeline.finish();
    let outcome = match (result, finished) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(reason)) => Err(encode(reason)),
        (Ok(()), Ok(())) => std::fs::rename(&partial, out).map_err(|e| encode(e.to_string())),
    };
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    outcome
}

/// A running encoding pipeline: frames in through its appsrc, a file out.
struct Encoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
}

impl Encoder {
    fn start(description: &str, path: &Path) -> Result<Encoder, String> {
        gst::init().map_err(|e| e.to_string())?;
        let pipeline = gst::parse::launch(description)
            .map_err(|e| e.to_string())?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline".to_string())?;
        let sink = pipeline.by_name("file").ok_or("no file sink")?;
        sink.set_property("location", path.to_string_lossy().as_ref());
        let src = pipeline
            .by_name("frames")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or("no appsrc")?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("cannot start encoding: {e}"))?;
        Ok(Encoder { pipeline, src })
    }

    fn push_all(
        &self,
        frames: impl Iterator<Item = Result<Mat, SlideshowError>>,
        fps: u32,
        size: (u32, u32),
        out: &Path,
    ) -> Result<(), SlideshowError> {
        let failed = |reason: String| SlideshowError::Encode {
            path: out.to_path_buf(),
            reason,
        };
        let frame_ns = 1_000_000_000 / u64::from(fps);
        let frame_bytes = size.0 as u64 * size.1 as u64 * 3;
        for (n, frame) in frames.enumerate() {
            let frame = frame?;
            if (frame.cols() as u32, frame.rows() as u32) != size || frame.typ() != opencv::core::CV_8UC3 {
                return Err(failed(format!(
                    "frame {n} is {}x{}, not {}x{} BGR like the first",
                    frame.cols(),
                    frame.rows(),
                    size.0,
                    size.1
                )));
            }
            let bytes = frame
                .data_bytes()
                .map_err(|e| failed(format!("frame {n}: {e}")))?
                .to_vec();
            let mut buffer = gst::Buffer::from_slice(bytes);
            if let Some(b) = buffer.get_mut() {
                b.set_pts(gst::ClockTime::from_nseconds(n as u64 * frame_ns));
                b.set_duration(gst::ClockTime::from_nseconds(frame_ns));
            }
            // appsrc queues without limit by default: wait for the encoder instead of holding
            // the whole video raw in memory.
            while self.src.current_level_bytes() > 16 * frame_bytes {
                if let Some(msg) = self
                    .pipeline
                    .bus()
                    .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
                    && let gst::MessageView::Error(e) = msg.view()
                {
                    return Err(failed(format!("encoding stopped at frame {n}: {}", e.error())));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            self.src
                .push_buffer(buffer)
                .map_err(|e| failed(format!("the encoder refused frame {n}: {e}")))?;
        }
        Ok(())
    }

    /// Ends the stream and waits for the file to be closed.
    fn finish(self) -> Result<(), String> {
        let ended = self.src.end_of_stream().map_err(|e| e.to_string());
        let result = ended.and_then(|_| wait_for_end(&self.pipeline));
        let _ = self.pipeline.set_state(gst::State::Null);
        result
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
