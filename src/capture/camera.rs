//! One camera: its supervisor thread, its newest-frame slot, and its status.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use opencv::core::{CV_8UC3, Mat, Scalar};
use opencv::prelude::*;
use serde::Serialize;

use super::source::{SINK_NAME, SOURCE_NAME};
use super::{CaptureError, Frame, PipelineSpec, display_location, pipeline_spec};
use crate::backoff::Backoff;
use crate::config::{CameraConfig, Decode, redact_text};
use crate::lock::lock;
use crate::shutdown::Shutdown;

/// Where a camera is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Pipeline built and starting; no frame yet on this connection.
    Connecting,
    /// Frames are arriving.
    Streaming,
    /// Failed; waiting before the next attempt.
    BackingOff,
    /// Stopped on request.
    Stopped,
}

/// A camera's state and counters, readable at any time.
#[derive(Debug, Clone, Serialize)]
pub struct CameraStatus {
    /// Camera id.
    pub id: String,
    /// Where it is (credentials hidden).
    pub location: String,
    /// Current state.
    pub state: CameraState,
    /// When the current state began.
    pub state_since: SystemTime,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Frames received from the pipeline.
    pub frames_in: u64,
    /// Frames replaced by a newer one before analysis took them.
    pub frames_dropped: u64,
    /// Frames taken by analysis.
    pub frames_taken: u64,
    /// Frames received per second over the last few seconds.
    pub fps: f64,
    /// Pipeline rebuilds after failures.
    pub reconnects: u64,
    /// Decoder element in use, once known.
    pub decoder: Option<String>,
    /// What the camera sends (`H.264`, `H.265`, `MJPEG`, raw...), once known.
    pub codec: Option<String>,
    /// The camera's own resolution, once known.
    pub source_size: Option<(u32, u32)>,
    /// The camera's nominal frame rate, when its stream declares one.
    pub source_fps: Option<f64>,
    /// Size of the frames handed to analysis, once known.
    pub frame_size: Option<(u32, u32)>,
    /// Time from the start of the current connection to its first frame.
    pub time_to_first_frame: Option<Duration>,
    /// The most recent state changes, oldest first (at most 32).
    pub history: Vec<(CameraState, SystemTime)>,
}

/// The newest frame, waiting for analysis.
struct Slot {
    frame: Option<Frame>,
    seq: u64,
    last_arrival: Option<Instant>,
    /// When analysis may take its next frame: a schedule, not "a period after the last take",
    /// so time spent on other cameras, or on one slow frame, is caught up (up to two periods)
    /// instead of lowering this camera's rate.
    next_due: Option<Instant>,
    /// When the current pipeline was started: the first arrival after it means "streaming".
    connection_started: Instant,
}

/// What the supervisor thread, the appsink callback and the handle share.
struct Shared {
    id: Arc<str>,
    slot: Mutex<Slot>,
    frame_ready: Condvar,
    status: Mutex<CameraStatus>,
    arrivals: Mutex<VecDeque<Instant>>,
    frames_in: AtomicU64,
    frames_dropped: AtomicU64,
    frames_taken: AtomicU64,
    /// Asked to stop: wakes the supervisor out of a backoff sleep too.
    shutdown: Shutdown,
}

impl Shared {
    fn set_state(&self, state: CameraState) {
        let mut s = lock(&self.status);
        if s.state != state {
            s.state = state;
            s.state_since = SystemTime::now();
            if s.history.len() == 32 {
                s.history.remove(0);
            }
            let since = s.state_since;
            s.history.push((state, since));
            tracing::info!(camera = %self.id, ?state, "camera state");
        }
    }

    fn stopping(&self) -> bool {
        self.shutdown.is_triggered()
    }

    /// Sleeps up to `d`, returning early when asked to stop.
    fn sleep(&self, d: Duration) {
        self.shutdown.sleep(d);
    }
}

/// A running camera. Dropping it stops it.
pub struct Camera {
    shared: Arc<Shared>,
    period: Duration,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera").field("id", &self.shared.id).finish()
    }
}

fn read_password(cam: &CameraConfig) -> Result<Option<String>, CaptureError> {
    let problem = |p: String| CaptureError::Credentials {
        camera: cam.id.clone(),
        problem: p,
    };
    if let Some(path) = &cam.password_file {
        let unreadable =
            |e: &dyn std::fmt::Display| problem(format!("cannot read password_file {}: {e}", path.display()));
        let bytes = crate::private_file::read_secret(path).map_err(|e| unreadable(&e))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| unreadable(&e))?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
    }
    if let Some(var) = &cam.password_env {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| problem(format!("password_env names {var}, which is not set")));
    }
    Ok(None)
}

impl Camera {
    /// Starts the camera's supervisor; it connects, and keeps reconnecting, in the background.
    pub fn start(cam: CameraConfig) -> Result<Camera, CaptureError> {
        Camera::start_until(cam, Shutdown::new())
    }

    /// Starts the camera, to stop when `shutdown` is triggered (or [`Camera::stop`] is called,
    /// which triggers it).
    pub fn start_until(cam: CameraConfig, shutdown: Shutdown) -> Result<Camera, CaptureError> {
        super::init()?;
        if cam.decode == Decode::Auto {
            prefer_hardware_decoders();
        }
        let spec = pipeline_spec(&cam, read_password(&cam)?);
        let now = SystemTime::now();
        let shared = Arc::new(Shared {
            id: Arc::from(cam.id.as_str()),
            slot: Mutex::new(Slot {
                frame: None,
                seq: 0,
                last_arrival: None,
                next_due: None,
                connection_started: Instant::now(),
            }),
            frame_ready: Condvar::new(),
            status: Mutex::new(CameraStatus {
                id: cam.id.clone(),
                location: display_location(&cam),
                state: CameraState::Connecting,
                state_since: now,
                last_error: None,
                frames_in: 0,
                frames_dropped: 0,
                frames_taken: 0,
                fps: 0.0,
                reconnects: 0,
                decoder: None,
                codec: None,
                source_size: None,
                source_fps: None,
                frame_size: None,
                time_to_first_frame: None,
                history: vec![(CameraState::Connecting, now)],
            }),
            arrivals: Mutex::new(VecDeque::new()),
            frames_in: AtomicU64::new(0),
            frames_dropped: AtomicU64::new(0),
            frames_taken: AtomicU64::new(0),
            shutdown,
        });
        let period = crate::config::duration_s(1.0 / cam.analysis_fps);
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("camera-{}", cam.id))
            .spawn(move || supervise(&worker, &cam, &spec))
            .map_err(|e| CaptureError::Init(format!("cannot start a thread: {e}")))?;
        Ok(Camera {
            shared,
            period,
            thread: Some(thread),
        })
    }

    /// Camera id.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// A snapshot of state and counters.
    pub fn status(&self) -> CameraStatus {
        let mut s = lock(&self.shared.status).clone();
        s.frames_in = self.shared.frames_in.load(Ordering::Relaxed);
        s.frames_dropped = self.shared.frames_dropped.load(Ordering::Relaxed);
        s.frames_taken = self.shared.frames_taken.load(Ordering::Relaxed);
        let arrivals = lock(&self.shared.arrivals);
        let window = Duration::from_secs(5);
        let recent = arrivals.iter().filter(|t| t.elapsed() <= window).count();
        let span = arrivals.front().map_or(window, |t| t.elapsed().min(window));
        s.fps = if span.is_zero() {
            0.0
        } else {
            recent as f64 / span.as_secs_f64()
        };
        s
    }

    /// The newest frame not yet taken, paced to `analysis_fps` on average; `None` if none
    /// arrives within `timeout`.
    pub fn next_frame(&self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut slot = lock(&self.shared.slot);
        loop {
            let now = Instant::now();
            let paced_until = slot.next_due;
            let wait_until = match paced_until {
                Some(p) if p > now => p.min(deadline),
                _ if slot.frame.is_some() => break,
                _ => deadline,
            };
            if now >= deadline || self.shared.stopping() {
                return None;
            }
            slot = self
                .shared
                .frame_ready
                .wait_timeout(slot, wait_until.saturating_duration_since(now))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let now = Instant::now();
        // A turn that came late (the engine was busy with other cameras) is made up by taking
        // the next frames sooner, for up to a second behind; later than that is forgiven, so a
        // long stall is not followed by a burst.
        let base = slot
            .next_due
            .map_or(now, |due| due.max(now - CATCH_UP_PERIODS * self.period));
        slot.next_due = Some(base + self.period);
        self.shared.frames_taken.fetch_add(1, Ordering::Relaxed);
        slot.frame.take()
    }

    /// Stops the pipeline and the supervisor, and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.shutdown.trigger();
        self.shared.frame_ready.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How many analysis periods a camera may fall behind and still make them up (a second at 5 fps).
const CATCH_UP_PERIODS: u32 = 5;

/// Hardware decoders by element name: NVIDIA Jetson, Intel/AMD VA-API (new and old plugins),
/// and stateful V4L2 decoders on ARM boards.
const HARDWARE_DECODERS: [&str; 9] = [
    "nvv4l2decoder",
    "vah264dec",
    "vah265dec",
    "vaapih264dec",
    "vaapih265dec",
    "vaapidecodebin",
    "v4l2h264dec",
    "v4l2h265dec",
    "v4l2slh264dec",
];

fn is_hardware(factory: &gst::ElementFactory) -> bool {
    factory.klass().contains("Hardware") || HARDWARE_DECODERS.contains(&factory.name().as_str())
}

/// Lets decodebin pick an installed hardware decoder before any software one.
fn prefer_hardware_decoders() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for name in HARDWARE_DECODERS {
            if let Some(f) = gst::ElementFactory::find(name) {
                f.set_rank(gst::Rank::PRIMARY + 100);
                tracing::info!(decoder = name, "hardware decoder available; preferred");
            }
        }
    });
}

/// Makes a decodebin skip hardware decoders.
fn software_only(decodebin: &gst::Element) {
    decodebin.connect("autoplug-select", false, |args| {
        let factory = args.get(3).and_then(|v| v.get::<gst::ElementFactory>().ok())?;
        let skip = is_hardware(&factory);
        let ty = gst::glib::Type::from_name("GstAutoplugSelectResult")?;
        // GST_AUTOPLUG_SELECT_TRY = 0, GST_AUTOPLUG_SELECT_SKIP = 2.
        gst::glib::EnumClass::with_type(ty)?.to_value(if skip { 2 } else { 0 })
    });
}

/// Copies a sample's packed 3-channel 8-bit picture into a Mat, row by row (GStreamer pads rows).
pub(super) fn sample_to_mat(sample: &gst::Sample) -> Option<Mat> {
    let caps = sample.caps()?;
    let info = gst_video::VideoInfo::from_caps(caps).ok()?;
    let buffer = sample.buffer()?;
    let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info).ok()?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = *vframe.plane_stride().first()? as usize;
    let data = vframe.plane_data(0).ok()?;
    let mut image = Mat::new_rows_cols_with_default(h as i32, w as i32, CV_8UC3, Scalar::all(0.0)).ok()?;
    let dst = image.data_bytes_mut().ok()?;
    for y in 0..h {
        let src = data.get(y * stride..y * stride + w * 3)?;
        dst[y * w * 3..(y + 1) * w * 3].copy_from_slice(src);
    }
    Some(image)
}

/// Copies a sample into a frame, with its capture time on the wall clock.
fn frame_from_sample(shared: &Shared, sink: &gst_app::AppSink, sample: &gst::Sample) -> Option<Frame> {
    let image = sample_to_mat(sample)?;
    let (w, h) = (image.cols() as usize, image.rows() as usize);
    let buffer = sample.buffer()?;
    // Buffer running time against the pipeline clock says how long ago the frame was captured.
    let age = (|| {
        let pts = buffer.pts()?;
        let segment = sample.segment()?.downcast_ref::<gst::ClockTime>()?;
        let running = segment.to_running_time(pts)?;
        let clock = sink.clock()?;
        let captured = sink.base_time()? + running;
        clock.time().checked_sub(captured)
    })();
    let captured_at = SystemTime::now() - age.map_or(Duration::ZERO, |a| Duration::from_nanos(a.nseconds()));
    {
        let mut s = lock(&shared.status);
        if s.frame_size.is_none() {
            s.frame_size = Some((w as u32, h as u32));
        }
    }
    Some(Frame {
        camera: shared.id.clone(),
        image,
        captured_at,
        seq: 0,
    })
}

/// Builds the pipeline and wires its sink to the slot.
fn build(shared: &Arc<Shared>, cam: &CameraConfig, spec: &PipelineSpec) -> Result<gst::Pipeline, String> {
    let element = gst::parse::launch(&spec.description).map_err(|e| format!("invalid pipeline: {e}"))?;
    let pipeline = element
        .downcast::<gst::Pipeline>()
        .map_err(|_| "the description is not a pipeline".to_string())?;
    if let (Some((user, pass)), Some(src)) = (&spec.credentials, pipeline.by_name(SOURCE_NAME)) {
        src.set_property("user-id", user);
        src.set_property("user-pw", pass);
    }
    if cam.decode == Decode::Software {
        for name in ["rollcall_decode", SOURCE_NAME] {
            if let Some(el) = pipeline
                .by_name(name)
                .filter(|e| e.find_property("expose-all-streams").is_some())
            {
                software_only(&el);
            }
        }
    }
    // One thread per software decoder: a camera at 5 analysis frames a second does not need
    // frame-parallel decoding, and each extra thread holds frames in memory.
    pipeline.connect_deep_element_added(|_, _, element| {
        if element.factory().is_some_and(|f| f.name().starts_with("avdec_"))
            && element.find_property("max-threads").is_some()
        {
            element.set_property("max-threads", 1i32);
        }
    });
    let sink = pipeline
        .by_name(SINK_NAME)
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or_else(|| format!("the pipeline has no appsink named {SINK_NAME}"))?;
    let weak = Arc::downgrade(shared);
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let Some(shared) = weak.upgrade() else {
                    return Err(gst::FlowError::Flushing);
                };
                if let Some(mut frame) = frame_from_sample(&shared, sink, &sample) {
                    let now = Instant::now();
                    let mut slot = lock(&shared.slot);
                    slot.seq += 1;
                    frame.seq = slot.seq;
                    let replaced = slot.frame.replace(frame).is_some();
                    let first = slot.last_arrival.is_none_or(|t| t < slot.connection_started);
                    let connected_for = now.duration_since(slot.connection_started);
                    slot.last_arrival = Some(now);
                    drop(slot);
                    // State first, counters after: a reader never sees frames counted on a
                    // connection that is not yet reported as streaming.
                    if first {
                        lock(&shared.status).time_to_first_frame = Some(connected_for);
                        shared.set_state(CameraState::Streaming);
                    }
                    if replaced {
                        shared.frames_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    shared.frames_in.fetch_add(1, Ordering::Relaxed);
                    {
                        let mut arrivals = lock(&shared.arrivals);
                        arrivals.push_back(now);
                        while arrivals.len() > 256
                            || arrivals.front().is_some_and(|t| t.elapsed() > Duration::from_secs(5))
                        {
                            arrivals.pop_front();
                        }
                    }
                    shared.frame_ready.notify_all();
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok(pipeline)
}

/// How a connection ended.
enum Ended {
    Stopped,
    Failed(String),
}

/// Plays the pipeline and watches it until it fails, stalls or is stopped.
fn watch(
    shared: &Shared,
    cam: &CameraConfig,
    spec: &PipelineSpec,
    pipeline: &gst::Pipeline,
    backoff: &mut Backoff,
) -> Ended {
    let started = Instant::now();
    lock(&shared.slot).connection_started = started;
    let Some(bus) = pipeline.bus() else {
        return Ended::Failed("pipeline has no bus".into());
    };
    if pipeline.set_state(gst::State::Playing).is_err() {
        // The bus usually holds the reason.
        let reason = bus
            .pop_filtered(&[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "the pipeline refused to start".into());
        return Ended::Failed(reason);
    }
    let stall = cam.stall_timeout();
    let mut streaming = false;
    loop {
        if shared.stopping() {
            return Ended::Stopped;
        }
        if let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(100),
            &[
                gst::MessageType::Error,
                gst::MessageType::Eos,
                gst::MessageType::Warning,
            ],
        ) {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
                    return Ended::Failed(format!("{from}: {}", e.error()));
                }
                gst::MessageView::Eos(_) if spec.looping => {
                    if let Err(e) =
                        pipeline.seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::ZERO)
                    {
                        return Ended::Failed(format!("end of file, and seeking back to the start failed: {e}"));
                    }
                }
                gst::MessageView::Eos(_) => return Ended::Failed("end of stream (the source closed it)".into()),
                gst::MessageView::Warning(w) => {
                    tracing::warn!(camera = %shared.id, "{}", redact_text(&w.error().to_string()))
                }
                _ => {}
            }
        }
        let last = lock(&shared.slot).last_arrival.filter(|t| *t >= started);
        match last {
            Some(t) => {
                if !streaming {
                    // The appsink callback already reported the state; a good connection
                    // means the next failure retries quickly again.
                    streaming = true;
                    backoff.reset();
                    describe_source(shared, pipeline);
                }
                if t.elapsed() > stall {
                    return Ended::Failed(format!("stalled: no frame for {:.1} s", stall.as_secs_f64()));
                }
            }
            None if started.elapsed() > stall => {
                return Ended::Failed(format!("no frame within {:.1} s of connecting", stall.as_secs_f64()));
            }
            None => {}
        }
    }
}

/// A friendly name for a compressed video media type.
fn codec_name(media: &str) -> String {
    match media {
        "video/x-h264" => "H.264".into(),
        "video/x-h265" => "H.265".into(),
        "image/jpeg" => "MJPEG".into(),
        "video/x-vp8" => "VP8".into(),
        "video/x-vp9" => "VP9".into(),
        "video/x-raw" => "raw".into(),
        other => other.to_string(),
    }
}

/// Records the decoder, codec and native size of a streaming pipeline in the status.
fn describe_source(shared: &Shared, pipeline: &gst::Pipeline) {
    let decoder = pipeline.iterate_recurse().into_iter().flatten().find(|e| {
        e.factory()
            .is_some_and(|f| f.klass().contains("Decoder") && f.klass().contains("Video"))
    });
    let Some(decoder) = decoder else { return };
    let caps_of = |pad: &str| decoder.static_pad(pad).and_then(|p| p.current_caps());
    let mut s = lock(&shared.status);
    s.decoder = decoder.factory().map(|f| f.name().to_string());
    if let Some(st) = caps_of("sink").as_ref().and_then(|c| c.structure(0)) {
        s.codec = Some(codec_name(st.name().as_str()));
    }
    if let Some(st) = caps_of("src").as_ref().and_then(|c| c.structure(0)) {
        if let (Ok(w), Ok(h)) = (st.get::<i32>("width"), st.get::<i32>("height")) {
            s.source_size = Some((w as u32, h as u32));
        }
        s.source_fps = st
            .get::<gst::Fraction>("framerate")
            .ok()
            .filter(|f| f.numer() > 0 && f.denom() > 0)
            .map(|f| f.numer() as f64 / f.denom() as f64);
    }
}

/// Stops a pipeline without letting a wedged element (a frozen server) hang the supervisor.
fn teardown(shared: &Shared, pipeline: gst::Pipeline) {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("camera-teardown".into())
        .spawn(move || {
            let _ = pipeline.set_state(gst::State::Null);
            let _ = tx.send(());
        });
    if spawned.is_ok() && rx.recv_timeout(Duration::from_secs(5)).is_err() {
        tracing::warn!(camera = %shared.id, "pipeline did not stop within 5 s; abandoning it");
    }
}

/// The supervisor: connect, watch, tear down, back off, forever (until stopped).
fn supervise(shared: &Arc<Shared>, cam: &CameraConfig, spec: &PipelineSpec) {
    let seed = shared.id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut backoff = Backoff::new(
        crate::config::duration_s(cam.backoff_initial_s),
        crate::config::duration_s(cam.backoff_max_s),
        seed,
    );
    tracing::info!(camera = %shared.id, pipeline = %redact_text(&spec.description), "camera starting");
    while !shared.stopping() {
        shared.set_state(CameraState::Connecting);
        let ended = match build(shared, cam, spec) {
            Ok(pipeline) => {
                let ended = watch(shared, cam, spec, &pipeline, &mut backoff);
                teardown(shared, pipeline);
                ended
            }
            Err(e) => Ended::Failed(e),
        };
        let Ended::Failed(reason) = ended else { break };
        // GStreamer's errors can quote the location, password and all.
        let reason = redact_text(&reason);
        if shared.stopping() {
            break;
        }
        let delay = backoff.next_delay();
        tracing::warn!(camera = %shared.id, error = %reason, retry_in_s = delay.as_secs_f64(), "camera failed; reconnecting");
        {
            let mut s = lock(&shared.status);
            s.last_error = Some(reason);
            s.reconnects += 1;
        }
        shared.set_state(CameraState::BackingOff);
        shared.sleep(delay);
    }
    shared.set_state(CameraState::Stopped);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_camera_password_file_open_to_others_is_refused() {
        let dir = std::env::temp_dir().join(format!("rollcall-campw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("cam-pw");
        std::fs::write(&file, "s3cret/with@odd\n").unwrap();
        let mut cam = CameraConfig::new("front", crate::config::SourceKind::Rtsp);
        cam.password_file = Some(file.clone());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = read_password(&cam).map(|_| ()).unwrap_err().to_string();
        assert!(
            refused.contains("chmod 600") && !refused.contains("s3cret"),
            "{refused}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password(&cam).unwrap().as_deref(), Some("s3cret/with@odd"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
