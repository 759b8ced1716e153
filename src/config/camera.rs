//! `[[cameras]]`: where each camera's frames come from and how they are paced.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Problem;

/// How a camera is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// An IP camera over RTSP (`url`).
    Rtsp,
    /// A USB/V4L2 camera (`device`).
    V4l2,
    /// A file or any URI GStreamer can open (`uri`); for demos and tests.
    Uri,
    /// An expert's GStreamer description producing raw video (`pipeline`).
    Pipeline,
}

/// RTSP lower transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Interleaved in the RTSP TCP connection: survives NAT and lossy Wi-Fi best.
    #[default]
    Tcp,
    /// RTP over UDP.
    Udp,
    /// Let the camera and rtspsrc negotiate (UDP first, then TCP).
    Auto,
}

/// Decoder choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decode {
    /// A hardware decoder when one is installed (nvv4l2decoder, va*, vaapi*), else software.
    #[default]
    Auto,
    /// Software decoders only.
    Software,
}

/// Pixel order of the frames handed to analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// OpenCV's order, what the face analyzer takes.
    #[default]
    Bgr,
    /// Red, green, blue.
    Rgb,
}

/// One camera.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Unique id, used in logs, status and events.
    pub id: String,
    /// Room the camera watches (several cameras may share one).
    #[serde(default)]
    pub room: Option<String>,
    /// How the camera is reached.
    pub kind: SourceKind,

    /// RTSP URL (credentials in it are moved out of it and never logged).
    #[serde(default)]
    pub url: Option<String>,
    /// RTSP user name.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the RTSP password (e.g. a systemd credential).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the RTSP password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// RTSP transport.
    #[serde(default)]
    pub transport: Transport,
    /// RTSP jitter-buffer latency, milliseconds. Every frame is this much older when analysis
    /// gets it; over TCP (in-order delivery) 100 is plenty, over lossy UDP raise it.
    #[serde(default = "default_latency_ms")]
    pub latency_ms: u32,

    /// V4L2 device: `/dev/video0` or, better, a stable `/dev/v4l/by-id/...` path.
    #[serde(default)]
    pub device: Option<PathBuf>,
    /// Requested capture width (V4L2).
    #[serde(default)]
    pub width: Option<u32>,
    /// Requested capture height (V4L2).
    #[serde(default)]
    pub height: Option<u32>,
    /// Requested capture frame rate (V4L2).
    #[serde(default)]
    pub fps: Option<u32>,

    /// File path or URI (`file:///...`, `http://...`).
    #[serde(default)]
    pub uri: Option<String>,
    /// Start a file again from the beginning when it ends.
    #[serde(default, rename = "loop")]
    pub looping: bool,

    /// Expert GStreamer description ending in raw video; rollcall appends pacing, scaling and
    /// its sink.
    #[serde(default)]
    pub pipeline: Option<String>,

    /// Decoder choice.
    #[serde(default)]
    pub decode: Decode,
    /// Frames per second taken for analysis.
    #[serde(default = "default_analysis_fps")]
    pub analysis_fps: f64,
    /// The largest width analysed: wider frames are scaled down to it (height keeps the aspect
    /// ratio), never up. 4K by default, so a camera's frames are analysed at its own resolution.
    #[serde(default = "default_analysis_width")]
    pub analysis_width: u32,
    /// Pixel order handed to analysis.
    #[serde(default)]
    pub format: PixelFormat,
    /// Rebuild the pipeline when no frame has arrived for this many seconds.
    #[serde(default = "default_stall_timeout_s")]
    pub stall_timeout_s: f64,
    /// First reconnect delay, seconds; doubles per failure.
    #[serde(default = "default_backoff_initial_s")]
    pub backoff_initial_s: f64,
    /// Longest reconnect delay, seconds.
    #[serde(default = "default_backoff_max_s")]
    pub backoff_max_s: f64,
    /// Raise a `camera_down` alert once no frame has arrived for this many seconds (and a
    /// `camera_up` when frames return). Reconnects shorter than this stay out of the alerts.
    #[serde(default = "default_down_after_s")]
    pub down_after_s: f64,
    /// This camera's own `[liveness] unassessed`: a ceiling camera whose back rows are too small
    /// to judge can `allow`, while a door kiosk close to its faces keeps `require`.
    #[serde(default)]
    pub unassessed: Option<super::Unassessed>,
}

fn default_latency_ms() -> u32 {
    100
}
fn default_analysis_fps() -> f64 {
    5.0
}
fn default_analysis_width() -> u32 {
    3840
}
fn default_stall_timeout_s() -> f64 {
    10.0
}
fn default_backoff_initial_s() -> f64 {
    1.0
}
fn default_backoff_max_s() -> f64 {
    30.0
}
fn default_down_after_s() -> f64 {
    60.0
}

impl CameraConfig {
    /// A camera of `kind` with every other setting at its default.
    pub fn new(id: &str, kind: SourceKind) -> CameraConfig {
        CameraConfig {
            id: id.to_string(),
            room: None,
            kind,
            url: None,
            username: None,
            password_file: None,
            password_env: None,
            transport: Transport::default(),
            latency_ms: default_latency_ms(),
            device: None,
            width: None,
            height: None,
            fps: None,
            uri: None,
            looping: false,
            pipeline: None,
            decode: Decode::default(),
            analysis_fps: default_analysis_fps(),
            analysis_width: default_analysis_width(),
            format: PixelFormat::default(),
            stall_timeout_s: default_stall_timeout_s(),
            backoff_initial_s: default_backoff_initial_s(),
            backoff_max_s: default_backoff_max_s(),
            down_after_s: default_down_after_s(),
            unassessed: None,
        }
    }

    /// Stall watchdog timeout.
    pub fn stall_timeout(&self) -> Duration {
        super::duration_s(self.stall_timeout_s)
    }

    /// How long without frames before the camera is reported down.
    pub fn down_after(&self) -> Duration {
        super::duration_s(self.down_after_s)
    }

    /// What is wrong with this camera's settings: what its kind of source needs, and values in
    /// range. Each message names the key and the fix; `check-config` places them at the entry.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |key: &'static str, message: String| problems.push(Problem::new("cameras", key, message));
        if self.id.trim().is_empty() {
            bad("id", "`id` must not be empty".into());
        }
        let kind = format!("{:?}", self.kind).to_lowercase();
        let needs = |key: &str, example: &str| format!("a {kind} camera needs `{key}` (for example {example})");
        match self.kind {
            SourceKind::Rtsp => match self.url.as_deref() {
                None => bad("url", needs("url", "url = \"rtsp://192.168.1.20:554/stream1\"")),
                Some(url) if !(url.starts_with("rtsp://") || url.starts_with("rtsps://")) => bad(
                    "url",
                    format!(
                        "`url` must start with rtsp:// or rtsps://, got {:?}",
                        super::redact_url(url)
                    ),
                ),
                Some(_) => {}
            },
            SourceKind::V4l2 if self.device.is_none() => bad(
                "device",
                needs("device", "device = \"/dev/v4l/by-id/usb-...-video-index0\""),
            ),
            SourceKind::Uri => match self.uri.as_deref() {
                None => bad("uri", needs("uri", "uri = \"file:///srv/demo/classroom.mp4\"")),
                // Plain paths only: a file:// URI may be percent-encoded, and GStreamer reports
                // a missing one at run time (the camera then retries).
                Some(f) if !f.contains("://") && !std::path::Path::new(f).is_file() => bad(
                    "uri",
                    format!(
                        "`uri` names the file {f}, which does not exist; fix the path (relative paths are relative to the config file)"
                    ),
                ),
                Some(_) => {}
            },
            SourceKind::Pipeline if self.pipeline.is_none() => bad(
                "pipeline",
                needs("pipeline", "pipeline = \"videotestsrc is-live=true\""),
            ),
            SourceKind::V4l2 | SourceKind::Pipeline => {}
        }
        if self.password_file.is_some() && self.password_env.is_some() {
            bad(
                "password_file",
                "give `password_file` or `password_env`, not both".into(),
            );
        }
        // Bounded above as well: a duration out of range would panic where it is used.
        for (key, v, min, max) in [
            ("analysis_fps", self.analysis_fps, 0.01, 1000.0),
            ("stall_timeout_s", self.stall_timeout_s, 0.1, 86_400.0),
            ("backoff_initial_s", self.backoff_initial_s, 0.01, 86_400.0),
            ("backoff_max_s", self.backoff_max_s, 0.01, 86_400.0),
            ("down_after_s", self.down_after_s, 1.0, 7.0 * 86_400.0),
        ] {
            if !(v.is_finite() && min <= v && v <= max) {
                bad(key, format!("`{key}` must be a number from {min} to {max}, got {v}"));
            }
        }
        if self.backoff_max_s < self.backoff_initial_s {
            bad(
                "backoff_max_s",
                "`backoff_max_s` must not be below `backoff_initial_s`".into(),
            );
        }
        if self.analysis_width < 64 {
            bad(
                "analysis_width",
                format!(
                    "`analysis_width` {} is too small (use at least 64; faces need pixels)",
                    self.analysis_width
                ),
            );
        }
        problems
    }
}
