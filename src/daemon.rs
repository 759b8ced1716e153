//! The daemon: every configured camera into one engine, attendance into the store and out over
//! MQTT, until asked to stop.
//!
//! One analysis thread takes the cameras in turn, each time the newest frame of the next camera
//! that has one. That is the inference pool: the models run on all cores inside each call (ONNX
//! Runtime's threads), and the turn-taking makes an overloaded box slow every camera alike
//! instead of starving one or queueing frames (a camera keeps only its newest frame).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::shutdown::Shutdown;
use std::time::{Duration, Instant};

use crate::attend::engine::{Engine, EngineError, Outcome};
use crate::capture::{Availability, Camera, CameraState, CaptureError, DownWatch};
use crate::config::Config;
use crate::event::{Alert, AlertKind};
use crate::keys::DeviceKey;
use crate::metrics::{Metrics, MetricsServer, Reading, ServerError, judge_health};
use crate::store::{Key, Outbox, OutboxLimits, SITE_KEY_SOURCE, Store, StoreError};
use crate::sync::mqtt::{LinkState, Mqtt, MqttError, MqttSettings};
use crate::sync::roster::{Opener, RosterSync, RosterSyncSettings};
use crate::sync::status::{CameraHealth, CameraReport, RosterStatus, StatusBoard};
use crate::vision::analyze::FaceAnalyzer;
use crate::vision::model::ModelError;

/// Why the daemon could not start or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The store or its key.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The models or ONNX Runtime.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The engine.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The MQTT settings.
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    /// A camera could not be set up.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The metrics endpoint could not listen.
    #[error(transparent)]
    Metrics(#[from] ServerError),
    /// No cameras configured.
    #[error("the config has no [[cameras]]: there is nothing to watch")]
    NoCameras,
    /// The async runtime for MQTT.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Tells systemd (when it started us with `Type=notify`) how we are: `READY=1`, `STATUS=...`,
/// `WATCHDOG=1`, `STOPPING=1`. Without `NOTIFY_SOCKET` it does nothing.
pub fn notify_systemd(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|addr| socket.send_to_addr(state.as_bytes(), &addr))
    } else {
        socket.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// How often attendance and alerts past the retention period are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// A camera and the room it watches.
struct Watched {
    camera: Camera,
    room: String,
    /// Its config, to tell on reload whether it changed.
    config: crate::config::CameraConfig,
    /// Frames analysed at the last status update, for the analysis rate.
    taken: u64,
    /// The longest capture-to-decision time since the last status update.
    lag: Duration,
    /// Time spent analysing its frames, and how many, since the last status update: the cost
    /// of a frame, which a full pass at the camera's resolution raises.
    busy: (Duration, u32),
    /// Whether it has been silent long enough to say so.
    down: DownWatch,
}

impl Watched {
    /// Starts `cam`, to stop with `cameras` (or alone, when a reload removes it).
    fn start(cam: &crate::config::CameraConfig, cameras: &Shutdown) -> Result<Watched, CaptureError> {
        Ok(Watched {
            camera: Camera::start_until(cam.clone(), cameras.child())?,
            room: cam.room.clone().unwrap_or_else(|| cam.id.clone()),
            config: cam.clone(),
            taken: 0,
            lag: Duration::ZERO,
            busy: (Duration::ZERO, 0),
            down: DownWatch::new(cam.down_after(), Instant::now()),
        })
    }

    /// The `camera_down` or `camera_up` alert due now, if any.
    fn availability_alert(&mut self, device: &str) -> Option<Alert> {
        let status = self.camera.status();
        let (kind, detail) = match self.down.observe(status.frames_in, Instant::now())? {
            Availability::Down { silent, ever_streamed } => (
                AlertKind::CameraDown,
                format!(
                    "no frame for {} s{} (down_after_s = {}); last error: {}",
                    silent.as_secs(),
                    if ever_streamed { "" } else { " since the daemon started" },
                    self.config.down_after_s,
                    status
                        .last_error
                        .as_deref()
                        .map_or_else(|| "none".into(), crate::untrusted::summary)
                ),
            ),
            Availability::Up { down_for } => (
                AlertKind::CameraUp,
                format!("streaming again after {} s without frames", down_for.as_secs()),
            ),
        };
        Some(Alert::raise(kind, device, detail).on_camera(&self.config.id, &self.room))
    }
}

/// Decides the tracks of a camera that is going away (stopped, or removed by a reload).
fn decide_in_flight(engine: &mut Engine, w: &Watched, on_outcome: &mut dyn FnMut(&Outcome)) {
    match engine.finish(w.camera.id(), &w.room) {
        Ok(outcomes) => outcomes.iter().for_each(on_outcome),
        Err(e) => tracing::error!(camera = w.camera.id(), error = %e, "tracks not decided"),
    }
}

/// SIGHUP: reads the config again. An invalid one is refused and the running one kept. Cameras
/// whose entry did not change keep streaming; changed and new ones (re)start; removed ones stop,
/// their tracks decided first. Other sections take effect at the next start.
fn reload(
    path: &std::path::Path,
    running: &mut Config,
    watched: &mut Vec<Watched>,
    cameras: &Shutdown,
    engine: &mut Engine,
    on_outcome: &mut dyn FnMut(&Outcome),
) {
    let next = match Config::load_to_run(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "config not reloaded; the running one stays");
            return;
        }
    };
    let (mut kept, mut started, mut stopped) = (Vec::new(), Vec::new(), Vec::new());
    let old = std::mem::take(watched);
    for w in old {
        if next.cameras.contains(&w.config) {
            kept.push(w.config.id.clone());
            watched.push(w);
        } else {
            decide_in_flight(engine, &w, on_outcome);
            stopped.push(w.config.id.clone());
            w.camera.stop();
        }
    }
    for cam in &next.cameras {
        if watched.iter().any(|w| w.config == *cam) {
            continue;
        }
        match Watched::start(cam, cameras) {
            Ok(w) => {
                started.push(cam.id.clone());
                watched.push(w);
            }
            Err(e) => tracing::error!(camera = cam.id, error = %e, "camera not started"),
        }
    }
    let mut others = next.clone();
    others.cameras = running.cameras.clone();
    if others != *running {
        tracing::warn!("config changes outside [[cameras]] take effect at the next start");
    }
    engine.follow_cameras(&next);
    tracing::info!(?kept, ?started, ?stopped, "config reloaded");
    notify_systemd(&format!("STATUS=watching {} camera(s)", watched.len()));
    running.cameras = next.cameras;
}

/// What the daemon listens to from outside.
#[derive(Debug)]
pub struct Signals<'a> {
    /// Triggered (by SIGINT or SIGTERM) to stop.
    pub stop: &'a Shutdown,
    /// Set (by SIGHUP) to reload the config; the daemon clears it.
    pub reload: &'a AtomicBool,
    /// The config file to reload.
    pub config_path: Option<&'a std::path::Path>,
}

/// Runs until `signals.stop` is set: then takes no more frames, decides the tracks in flight,
/// says goodbye to the broker and returns. Every decision is handed to `on_outcome` as it is made.
pub fn run(config: &Config, signals: &Signals<'_>, on_outcome: &mut dyn FnMut(&Outcome)) -> Result<(), DaemonError> {
    if config.cameras.is_empty() {
        return Err(DaemonError::NoCameras);
    }
    let key = Key::locate(config.store.key_file.as_deref())?;
    let device_key = Arc::new(DeviceKey::of(config)?);
    let mut store = Store::open(&config.store.path, key.clone())?;
    audit_settings(&mut store, &config.device.id(), signals.config_path);
    let analyzer = FaceAnalyzer::from_config(config)?;
    let dim = analyzer.recognizer().dim();
    let models = analyzer.placements().to_vec();
    let mut engine = Engine::new(config, analyzer, store)?;
    let device = config.device.id();
    let status = StatusBoard::new(&device);
    status.update(|s| {
        s.roster = RosterStatus::of(&engine.gallery());
        s.models = models;
        s.keys = Some(device_key.public());
        s.audit = engine.store().audit_head().ok().flatten();
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    let mqtt = start_sync(config, &key, &device_key, &engine, dim, &status, &runtime)?;
    let link = mqtt.as_ref().map(Mqtt::link_watch);
    let metrics = Arc::new(Metrics::new());
    let serving = Shutdown::new();
    let server = start_metrics(config, &metrics, &status, link.clone(), &serving, &runtime)?;
    let mut chores = Chores::new(config, &device, status.clone(), metrics.clone(), link)?;
    let on_outcome = &mut |o: &Outcome| {
        metrics.count(o);
        on_outcome(o);
    };

    // The cameras stop with this token, after their tracks are decided.
    let cameras = Shutdown::new();
    let mut watched = Vec::new();
    for cam in &config.cameras {
        watched.push(Watched::start(cam, &cameras)?);
    }
    tracing::info!(cameras = watched.len(), device, "rollcall running");
    notify_systemd(&format!("READY=1\nSTATUS=watching {} camera(s)", watched.len()));

    let mut running = config.clone();
    while !signals.stop.is_triggered() {
        if signals.reload.swap(false, Ordering::SeqCst)
            && let Some(path) = signals.config_path
        {
            reload(path, &mut running, &mut watched, &cameras, &mut engine, on_outcome);
        }
        if !analyse_ready_frames(&mut watched, &mut engine, on_outcome) {
            std::thread::sleep(Duration::from_millis(5));
        }
        chores.run_due(&mut watched, &mut engine, on_outcome);
    }

    notify_systemd("STOPPING=1");
    tracing::info!("stopping: deciding the tracks in flight");
    for w in &watched {
        decide_in_flight(&mut engine, w, on_outcome);
    }
    cameras.trigger();
    for w in watched {
        w.camera.stop();
    }
    write_held_before_exit(&mut engine, on_outcome);
    if let Some(mqtt) = mqtt {
        runtime.block_on(mqtt.shutdown());
    }
    serving.trigger();
    if let Some(server) = server {
        runtime.block_on(server.stopped());
    }
    // Gone: `rollcall status` reads the store from now on.
    let _ = std::fs::remove_file(&chores.status_path);
    Ok(())
}

/// Audits the models and thresholds this start runs with, when they changed since the last. A
/// store that cannot take the record is logged, not fatal: the daemon's job comes first.
fn audit_settings(store: &mut Store, device: &str, config_path: Option<&std::path::Path>) {
    let settings: toml::Table = config_path
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| text.parse().ok())
        .unwrap_or_default();
    let file = config_path.map_or_else(|| "built-in defaults".to_string(), |p| p.display().to_string());
    match store.audit_settings(device, &file, &settings) {
        Ok(Some(record)) => tracing::info!(detail = %record.detail, "settings audited"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "the audit trail did not take this start's settings"),
    }
}

/// Starts the MQTT link on `runtime`, with the roster sync when the backend's rosters are
/// accepted and there is a way to check them; `None` without `[mqtt]`.
fn start_sync(
    config: &Config,
    key: &Key,
    device_key: &Arc<DeviceKey>,
    engine: &Engine,
    dim: usize,
    status: &StatusBoard,
    runtime: &tokio::runtime::Runtime,
) -> Result<Option<Mqtt>, DaemonError> {
    let (Some(mut settings), Some(m)) = (MqttSettings::from_config(config)?, &config.mqtt) else {
        return Ok(None);
    };
    settings.signer = Some(device_key.clone());
    let roster = match roster_opener(m, device_key) {
        Some(opener) if m.accept_roster => Some(RosterSync::new(RosterSyncSettings {
            store: Store::open(&config.store.path, key.clone())?,
            opener,
            gallery: engine.shared_gallery(),
            timetable: Some(engine.shared_timetable()),
            dim,
            max_bytes: m.roster_max_bytes,
            int8_above: config.recognize.int8_search_above,
            device: config.device.id(),
            site: config.device.site(),
            refusal_window: crate::config::duration_s(m.refusal_alert_interval_s),
        })?),
        _ => None,
    };
    let outbox = Outbox::open(&config.store.path)?;
    let _inside = runtime.enter();
    Ok(Some(Mqtt::spawn(settings, outbox, status.clone(), roster)?))
}

/// What rosters are opened with: the backend's verifying key and this device's key, and the site
/// key only while `allow_site_key_rosters`. `None`, said in the log, when nothing could check a
/// roster.
fn roster_opener(m: &crate::config::MqttConfig, device_key: &Arc<DeviceKey>) -> Option<Opener> {
    let verify_key = crate::keys::VerifyKey::configured(m).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "signed rosters are not accepted");
        None
    });
    let site_key = if m.allow_site_key_rosters {
        Key::locate_from(&SITE_KEY_SOURCE, m.roster_key_file.as_deref())
            .map_err(|e| tracing::warn!(error = %e, "rosters under the site key are not accepted"))
            .ok()
    } else {
        None
    };
    if verify_key.is_none() && site_key.is_none() {
        if m.accept_roster {
            tracing::warn!(
                "rosters from the backend are not accepted: set [mqtt] roster_verify_key to the backend's \
                 verifying key (its `rollcall keygen --signing` prints it)"
            );
        }
        return None;
    }
    Some(Opener {
        verify_key,
        device_key: Some(device_key.clone()),
        site_key,
    })
}

/// Starts the `/metrics` and `/healthz` endpoint on `runtime` when `[metrics]` asks for it.
fn start_metrics(
    config: &Config,
    metrics: &Arc<Metrics>,
    status: &StatusBoard,
    link: Option<tokio::sync::watch::Receiver<LinkState>>,
    stop: &Shutdown,
    runtime: &tokio::runtime::Runtime,
) -> Result<Option<MetricsServer>, DaemonError> {
    let Some(m) = &config.metrics else {
        return Ok(None);
    };
    let status = status.clone();
    let health = Arc::new(move || {
        let link = link.as_ref().map(|l| l.borrow().clone());
        judge_health(&status.snapshot(), link.as_ref())
    });
    let _inside = runtime.enter();
    Ok(Some(MetricsServer::start(
        m.listen,
        metrics.clone(),
        health,
        stop.clone(),
    )?))
}

/// Takes the newest frame of each camera that has one through the engine; says whether any
/// camera had one.
fn analyse_ready_frames(watched: &mut [Watched], engine: &mut Engine, on_outcome: &mut dyn FnMut(&Outcome)) -> bool {
    let mut analysed = false;
    for w in watched {
        let Some(frame) = w.camera.next_frame(Duration::from_millis(2)) else {
            continue;
        };
        analysed = true;
        let start = Instant::now();
        let result = engine.process(w.camera.id(), &w.room, &frame.image, frame.captured_at.into());
        w.busy = (w.busy.0 + start.elapsed(), w.busy.1 + 1);
        match result {
            Ok(outcomes) => outcomes.iter().for_each(&mut *on_outcome),
            // One bad frame or a store hiccup must not stop attendance for the whole school.
            Err(e) => tracing::error!(camera = w.camera.id(), error = %e, "frame not analysed"),
        }
        w.lag = w.lag.max(frame.age());
    }
    analysed
}

/// What the daemon does besides analysing frames: every second, held decisions, camera alerts,
/// the status and the watchdog; every hour, the retention purge (and the outbox's bounds when
/// there is no broker).
struct Chores {
    device: String,
    status: StatusBoard,
    metrics: Arc<Metrics>,
    link: Option<tokio::sync::watch::Receiver<LinkState>>,
    status_path: std::path::PathBuf,
    retention: chrono::Duration,
    /// `[store] template_retention_days`, when set.
    template_retention: Option<chrono::Duration>,
    /// The outbox, kept here only without `[mqtt]`: nothing else keeps it in bounds then.
    unsent: Option<Outbox>,
    last_tick: Instant,
    last_purge: Option<Instant>,
}

impl Chores {
    fn new(
        config: &Config,
        device: &str,
        status: StatusBoard,
        metrics: Arc<Metrics>,
        link: Option<tokio::sync::watch::Receiver<LinkState>>,
    ) -> Result<Chores, DaemonError> {
        Ok(Chores {
            device: device.to_string(),
            status,
            metrics,
            link,
            status_path: crate::sync::status::status_file(&config.store.path),
            retention: chrono::Duration::days(i64::from(config.store.retention_days)),
            template_retention: config
                .store
                .template_retention_days
                .map(|d| chrono::Duration::days(i64::from(d))),
            unsent: match config.mqtt {
                Some(_) => None,
                None => Some(Outbox::open(&config.store.path)?),
            },
            last_tick: Instant::now(),
            last_purge: None,
        })
    }

    /// Runs whatever is due.
    fn run_due(&mut self, watched: &mut [Watched], engine: &mut Engine, on_outcome: &mut dyn FnMut(&Outcome)) {
        if self.last_tick.elapsed() < Duration::from_secs(1) {
            return;
        }
        let elapsed = self.last_tick.elapsed().as_secs_f32();
        self.last_tick = Instant::now();
        // Held decisions are retried with every frame, and here when no frame comes.
        engine.retry_held().iter().for_each(&mut *on_outcome);
        for w in watched.iter_mut() {
            if let Some(alert) = w.availability_alert(&self.device) {
                tracing::warn!(camera = w.camera.id(), kind = alert.kind.as_str(), detail = %alert.detail, "camera availability");
                engine.raise(alert).iter().for_each(&mut *on_outcome);
            }
        }
        report(watched, &self.status, engine, elapsed);
        self.read_metrics(watched, engine);
        if let Err(e) = crate::sync::status::write_status_file(&self.status_path, &self.status.snapshot()) {
            tracing::warn!(path = %self.status_path.display(), error = %e, "cannot write the status file");
        }
        notify_systemd("WATCHDOG=1");
        if self.last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            self.last_purge = Some(Instant::now());
            match engine.store().purge_before(chrono::Utc::now() - self.retention) {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "attendance and alerts past the retention period deleted"),
                Err(e) => tracing::error!(error = %e, "retention purge failed"),
            }
            if let Some(keep) = self.template_retention {
                match engine.expire_unseen(chrono::Utc::now() - keep) {
                    Ok(gone) if gone.is_empty() => {}
                    Ok(gone) => tracing::info!(
                        people = gone.len(),
                        "people neither seen nor re-enrolled within template_retention_days removed"
                    ),
                    Err(e) => tracing::error!(error = %e, "template retention failed"),
                }
            }
            if let Some(outbox) = &mut self.unsent {
                keep_outbox_in_bounds(outbox, &self.device, &self.status);
            }
        }
    }
}

impl Chores {
    /// Gives the metrics this second's reading and the models' timings.
    fn read_metrics(&self, watched: &[Watched], engine: &mut Engine) {
        self.metrics.time_stages(&engine.take_stage_times());
        let cameras: Vec<_> = watched.iter().map(|w| w.camera.status()).collect();
        let link = self.link.as_ref().map(|l| l.borrow().clone());
        self.metrics.read(&Reading {
            cameras: &cameras,
            status: &self.status.snapshot(),
            recognizer_runs: engine.stats().embeddings,
            store_write_failures: engine.store_write_failures(),
            link: link.as_ref(),
            resident_bytes: crate::metrics::resident_bytes(),
        });
    }
}

/// Enforces the outbox's default bounds and retention when there is no `[mqtt]` to deliver it
/// (the MQTT link does this itself otherwise), and shows its depth in the status.
fn keep_outbox_in_bounds(outbox: &mut Outbox, device: &str, status: &StatusBoard) {
    let limits = OutboxLimits::from_config(&crate::config::OutboxConfig::default());
    match outbox.maintain(&limits, device) {
        Ok(m) if m.dropped > 0 => tracing::warn!(
            dropped = m.dropped,
            attendance = m.attendance_dropped,
            "outbox kept in bounds without [mqtt]: undelivered events past its default bounds dropped (they remain in the attendance log)"
        ),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "outbox maintenance failed"),
    }
    match outbox.depth() {
        Ok(depth) => {
            status.update(|s| s.outbox = crate::sync::status::OutboxStatus::from_depth(depth, limits.warn_rows))
        }
        Err(e) => tracing::error!(error = %e, "cannot measure the outbox"),
    }
}

/// How long a stopping daemon keeps trying to write decisions the store has not taken.
const HELD_GRACE: Duration = Duration::from_secs(10);

/// Gives held decisions a last chance when the daemon stops; what the store still refuses is
/// logged whole, at error level, so the journal keeps it.
fn write_held_before_exit(engine: &mut Engine, on_outcome: &mut dyn FnMut(&Outcome)) {
    let deadline = Instant::now() + HELD_GRACE;
    while engine.store_health().held > 0 && Instant::now() < deadline {
        engine.retry_held().iter().for_each(&mut *on_outcome);
        std::thread::sleep(Duration::from_millis(100));
    }
    for lost in engine.abandon_held() {
        tracing::error!(decision = ?lost, "the store never took this decision; it is only in this log");
    }
}

/// Puts the cameras' state and analysis rate, and the roster, on the status board.
fn report(watched: &mut [Watched], status: &StatusBoard, engine: &Engine, elapsed: f32) {
    let mut cameras = Vec::new();
    for w in watched.iter_mut() {
        let s = w.camera.status();
        let fps = (s.frames_taken - w.taken) as f32 / elapsed.max(1e-3);
        w.taken = s.frames_taken;
        let state = match s.state {
            CameraState::Connecting => CameraHealth::Connecting,
            CameraState::Streaming => CameraHealth::Streaming,
            CameraState::BackingOff => CameraHealth::Down,
            CameraState::Stopped => CameraHealth::Stopped,
        };
        cameras.push((
            s.id,
            CameraReport {
                state,
                fps: (fps * 10.0).round() / 10.0,
                lag_ms: u32::try_from(std::mem::take(&mut w.lag).as_millis()).unwrap_or(u32::MAX),
                too_small: engine.too_small(w.camera.id()),
                ms_per_frame: {
                    let (busy, n) = std::mem::take(&mut w.busy);
                    (busy.as_secs_f32() * 1000.0 / n.max(1) as f32 * 10.0).round() / 10.0
                },
            },
        ));
    }
    let roster = RosterStatus::of(&engine.gallery());
    let audit = engine.store().audit_head();
    let store = engine.store_health();
    if store.held > 0 {
        notify_systemd(&format!(
            "STATUS=store failing: {} decisions held ({})",
            store.held,
            store.last_error.as_deref().unwrap_or("")
        ));
    }
    let watching = cameras.len();
    let mut recovered = false;
    status.update(|s| {
        s.cameras = cameras.into_iter().collect();
        // The gallery's side; the count of refused messages is the roster sync's to keep.
        s.roster = RosterStatus {
            refused_unauthentic: s.roster.refused_unauthentic,
            ..roster
        };
        recovered = s.store.held > 0 && store.held == 0;
        s.store = store;
        // A store that cannot say keeps the last head it said.
        if let Ok(Some(head)) = audit {
            s.audit = Some(head);
        }
    });
    if recovered {
        notify_systemd(&format!("STATUS=watching {watching} camera(s)"));
    }
}
