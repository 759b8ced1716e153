//! From a camera's config to a GStreamer pipeline description.
//!
//! Every pipeline ends the same way: pace to the analysis rate, scale (never up) to the analysis
//! width, convert to BGR or RGB, and hand over through an appsink that keeps only the newest
//! frame, so a slow consumer never builds latency or memory.

use std::path::Path;

use crate::config::{CameraConfig, PixelFormat, SourceKind, Transport, redact_url, split_credentials};

/// Name of the element whose properties carry secrets (set after parsing, never in the text).
pub const SOURCE_NAME: &str = "rollcall_src";
/// Name of the appsink frames leave through.
pub const SINK_NAME: &str = "rollcall_sink";

/// A pipeline to build: the description and what must be set on it afterwards.
#[derive(Clone, PartialEq)]
pub struct PipelineSpec {
    /// gst-launch syntax, free of secrets (safe to log).
    pub description: String,
    /// RTSP credentials, set as properties on the source element.
    pub credentials: Option<(String, String)>,
    /// The source is live (cameras): frames are taken as soon as they arrive.
    pub live: bool,
    /// Seek back to the start at end of stream instead of reconnecting.
    pub looping: bool,
}

impl std::fmt::Debug for PipelineSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineSpec")
            .field("description", &self.description)
            .field("credentials", &self.credentials.as_ref().map(|(u, _)| (u, "***")))
            .field("live", &self.live)
            .field("looping", &self.looping)
            .finish()
    }
}

impl Drop for PipelineSpec {
    /// The password is wiped when the camera is done with it (GStreamer keeps its own copy on
    /// the source element while the pipeline lives).
    fn drop(&mut self) {
        if let Some((_, password)) = &mut self.credentials {
            zeroize::Zeroize::zeroize(password);
        }
    }
}

/// Quotes a property value for gst-launch syntax.
fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A file path or URI as a URI.
fn as_uri(s: &str) -> String {
    if s.contains("://") {
        return s.to_string();
    }
    let p = Path::new(s);
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    gstreamer::glib::filename_to_uri(&abs, None).map_or_else(|_| format!("file://{}", abs.display()), |u| u.to_string())
}

/// Builds the pipeline for `cam`; `password` is the one read from its file or environment.
pub fn pipeline_spec(cam: &CameraConfig, password: Option<String>) -> PipelineSpec {
    pipeline_spec_for(cam, password, false)
}

/// Like [`pipeline_spec`]; `offline` reads a file as fast as the consumer takes frames, losing
/// none (for clips processed off line, not for cameras).
pub fn pipeline_spec_for(cam: &CameraConfig, password: Option<String>, offline: bool) -> PipelineSpec {
    let mut credentials = None;
    let (source, live, looping) = match cam.kind {
        SourceKind::Rtsp => {
            let (source, given) = rtsp_source(cam, password);
            credentials = given;
            (source, true, false)
        }
        SourceKind::V4l2 => (v4l2_source(cam), true, false),
        SourceKind::Uri => {
            let uri = as_uri(cam.uri.as_deref().unwrap_or_default());
            (
                format!("uridecodebin name={SOURCE_NAME} uri={}", quoted(&uri)),
                false,
                cam.looping,
            )
        }
        SourceKind::Pipeline => (cam.pipeline.clone().unwrap_or_default(), true, false),
    };
    let format = match cam.format {
        PixelFormat::Bgr => "BGR",
        PixelFormat::Rgb => "RGB",
    };
    // videorate only drops, so conversion and scaling run at the analysis rate, not the camera's.
    // videorate's max-rate keeps under the limit by dropping a little more than it must (4.6 fps
    // out of a 30 fps clip at max-rate 5): allow a quarter more and let analysis pace itself.
    // (Twice as many gained 4 cameras 1% more frames in benches/engine.rs, but sampled the
    // Hamilton clip at other moments, where tests/it/engine.rs no longer recognised Obama.)
    let max_rate = (cam.analysis_fps * 1.25).ceil().max(1.0) as u32;
    // For a live camera a slow converter must drop old frames, never queue them; a file must
    // lose nothing (it waits for the clock instead). A file's queue is short too: with the
    // default (up to 10 MB or a second of decoded frames) the decoder ran a second ahead of the
    // clock and each file camera held about 10 MB more (the daemon bench: 238 MB at 4 cameras,
    // 196 MB with 3 frames).
    let queue = if live {
        "queue max-size-buffers=2 max-size-bytes=0 max-size-time=0 leaky=downstream"
    } else {
        "queue max-size-buffers=3 max-size-bytes=0 max-size-time=0"
    };
    let description = format!(
        "{source} ! {queue} ! videorate drop-only=true max-rate={max_rate} \
         ! videoscale ! video/x-raw,width=[16,{w}],pixel-aspect-ratio=1/1 ! videoconvert \
         ! video/x-raw,format={format} ! appsink name={SINK_NAME} {sink_mode} \
         enable-last-sample=false",
        w = cam.analysis_width,
        sink_mode = match (offline, live) {
            (true, _) => "max-buffers=2 drop=false sync=false",
            (false, true) => "max-buffers=1 drop=true sync=false",
            (false, false) => "max-buffers=1 drop=true sync=true",
        },
    );
    PipelineSpec {
        description,
        credentials,
        live,
        looping,
    }
}

/// The `rtspsrc` part of an RTSP camera's pipeline, and the credentials to give it (kept out of
/// the description, which is logged).
fn rtsp_source(cam: &CameraConfig, password: Option<String>) -> (String, Option<(String, String)>) {
    let (url, in_url) = split_credentials(cam.url.as_deref().unwrap_or_default());
    let user = cam.username.clone().or_else(|| in_url.as_ref().map(|c| c.0.clone()));
    let pass = password.or_else(|| in_url.map(|c| c.1));
    let credentials = user.map(|user| (user, pass.unwrap_or_default()));
    let protocols = match cam.transport {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
        Transport::Auto => "tcp+udp+udp-mcast",
    };
    // tcp-timeout bounds how long a dead connection holds the source; the stall watchdog
    // catches the rest.
    let tcp_timeout_us = (cam.stall_timeout_s * 1e6) as u64;
    let source = format!(
        "rtspsrc name={SOURCE_NAME} location={} protocols={protocols} latency={} tcp-timeout={tcp_timeout_us} \
         teardown-timeout=500000000 ! decodebin name=rollcall_decode",
        quoted(&url),
        cam.latency_ms
    );
    (source, credentials)
}

/// The `v4l2src` part of a USB camera's pipeline, at the configured mode if one is given.
fn v4l2_source(cam: &CameraConfig) -> String {
    let device = cam.device.as_deref().unwrap_or(Path::new("/dev/video0"));
    let mut filter = Vec::new();
    if let Some(w) = cam.width {
        filter.push(format!("width={w}"));
    }
    if let Some(h) = cam.height {
        filter.push(format!("height={h}"));
    }
    if let Some(f) = cam.fps {
        filter.push(format!("framerate={f}/1"));
    }
    let caps = if filter.is_empty() {
        String::new()
    } else {
        // USB cameras give raw video or MJPEG; accept either at the requested mode.
        let f = filter.join(",");
        format!(" ! capsfilter caps=\"video/x-raw,{f};image/jpeg,{f}\"")
    };
    format!(
        "v4l2src name={SOURCE_NAME} device={}{caps} ! decodebin name=rollcall_decode",
        quoted(&device.to_string_lossy())
    )
}

/// The camera's location for messages, with any credentials hidden.
pub fn display_location(cam: &CameraConfig) -> String {
    match cam.kind {
        SourceKind::Rtsp => redact_url(cam.url.as_deref().unwrap_or_default()),
        SourceKind::V4l2 => cam
            .device
            .as_deref()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        SourceKind::Uri => redact_url(cam.uri.as_deref().unwrap_or_default()),
        SourceKind::Pipeline => "custom pipeline".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_credentials_leave_the_description() {
        let mut cam = CameraConfig::new("front", SourceKind::Rtsp);
        cam.url = Some("rtsp://admin:pa55@10.1.2.3:554/h264".into());
        let spec = pipeline_spec(&cam, None);
        assert!(
            !spec.description.contains("pa55") && !spec.description.contains("admin"),
            "{}",
            spec.description
        );
        assert!(spec.description.contains("location=\"rtsp://10.1.2.3:554/h264\""));
        assert!(spec.description.contains("protocols=tcp latency=100"));
        assert_eq!(spec.credentials, Some(("admin".into(), "pa55".into())));
        assert!(!format!("{spec:?}").contains("pa55"));
        // A password from a file wins over one in the URL.
        let spec = pipeline_spec(&cam, Some("fromfile".into()));
        assert_eq!(spec.credentials, Some(("admin".into(), "fromfile".into())));
        assert!(spec.live && !spec.looping);
    }

    #[test]
    fn v4l2_description_asks_for_the_configured_mode() {
        let mut cam = CameraConfig::new("usb", SourceKind::V4l2);
        cam.device = Some("/dev/v4l/by-id/usb-cam-video-index0".into());
        cam.width = Some(1280);
        cam.height = Some(720);
        cam.fps = Some(30);
        let d = pipeline_spec(&cam, None).description.clone();
        assert!(
            d.starts_with("v4l2src name=rollcall_src device=\"/dev/v4l/by-id/usb-cam-video-index0\""),
            "{d}"
        );
        assert!(d.contains(
            "video/x-raw,width=1280,height=720,framerate=30/1;image/jpeg,width=1280,height=720,framerate=30/1"
        ));
        // Parses as GStreamer syntax (the device need not exist to build the pipeline).
        gstreamer::init().unwrap();
        assert!(gstreamer::parse::launch(&d).is_ok(), "{d}");
    }

    #[test]
    fn every_pipeline_ends_in_a_newest_frame_only_sink_at_the_analysis_rate() {
        let mut cam = CameraConfig::new("f", SourceKind::Uri);
        cam.uri = Some("/tmp/x.mp4".into());
        cam.looping = true;
        cam.analysis_fps = 2.5;
        let spec = pipeline_spec(&cam, None);
        assert!(spec.description.contains("uri=\"file:///tmp/x.mp4\""));
        assert!(spec.description.contains("max-rate=4"));
        assert!(
            spec.description
                .contains("appsink name=rollcall_sink max-buffers=1 drop=true sync=true")
        );
        assert!(spec.looping && !spec.live);
    }

    #[test]
    fn every_queue_is_bounded_in_frames_alone() {
        let mut file = CameraConfig::new("f", SourceKind::Uri);
        file.uri = Some("/tmp/x.mp4".into());
        let mut rtsp = CameraConfig::new("r", SourceKind::Rtsp);
        rtsp.url = Some("rtsp://cam/stream".into());
        for (cam, offline) in [(&file, false), (&file, true), (&rtsp, false)] {
            let d = pipeline_spec_for(cam, None, offline).description.clone();
            let queue = d.split(" ! ").find(|e| e.starts_with("queue")).unwrap_or_default();
            assert!(
                queue.contains("max-size-buffers=")
                    && queue.contains("max-size-bytes=0")
                    && queue.contains("max-size-time=0"),
                "{d}"
            );
        }
    }
}
