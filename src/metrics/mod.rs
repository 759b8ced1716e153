//! The daemon's figures for Prometheus, and its health, served over HTTP when `[metrics]
//! listen` is set.
//!
//! The analysis loop reads its parts once a second ([`Reading`]) and counts every decision as
//! it is made; a scrape only encodes what is there, so it never waits on a model or the store.
//! Counts only: no person, template or image ever reaches a metric or a label. Imports
//! `capture`, `vision`, `attend` and `sync`, which come before it; only `daemon` uses it.

mod health;
mod server;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::attend::engine::Outcome;
use crate::capture::CameraStatus;
use crate::lock::lock;
use crate::sync::mqtt::LinkState;
use crate::sync::status::{CameraHealth, DeviceStatus};
use crate::vision::analyze::Stage;

pub use health::{Health, judge_health};
pub use server::{MetricsServer, ServerError};

/// A float gauge.
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CameraLabel {
    camera: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CameraStateLabel {
    camera: String,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabel {
    stage: &'static str,
}

/// Every camera state, so a camera's series show 1 for its state and 0 for the others.
const CAMERA_STATES: [CameraHealth; 4] = [
    CameraHealth::Connecting,
    CameraHealth::Streaming,
    CameraHealth::Down,
    CameraHealth::Stopped,
];

fn state_name(state: CameraHealth) -> &'static str {
    match state {
        CameraHealth::Connecting => "connecting",
        CameraHealth::Streaming => "streaming",
        CameraHealth::Down => "down",
        CameraHealth::Stopped => "stopped",
    }
}

/// What the daemon reads off its parts once a second.
#[derive(Debug, Clone, Copy)]
pub struct Reading<'a> {
    /// Each camera's capture side.
    pub cameras: &'a [CameraStatus],
    /// The status document: camera states, analysis rate and lag, roster, outbox, store.
    pub status: &'a DeviceStatus,
    /// Recognizer runs since start.
    pub recognizer_runs: u64,
    /// Store writes that failed since start.
    pub store_write_failures: u64,
    /// The broker link, when `[mqtt]` is configured.
    pub link: Option<&'a LinkState>,
    /// The process's resident memory, when `/proc` tells it.
    pub resident_bytes: Option<u64>,
}

/// The registry and every metric in it. Shared between the analysis loop, which updates it, and
/// the server, which encodes it.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    camera_state: Family<CameraStateLabel, Gauge>,
    frames_in: Family<CameraLabel, Counter>,
    frames_analysed: Family<CameraLabel, Counter>,
    frames_dropped: Family<CameraLabel, Counter>,
    reconnects: Family<CameraLabel, Counter>,
    camera_fps: Family<CameraLabel, FloatGauge>,
    camera_lag: Family<CameraLabel, FloatGauge>,
    decisions: Family<OutcomeLabel, Counter>,
    too_small: Family<CameraLabel, Counter>,
    alerts: Family<KindLabel, Counter>,
    stage_seconds: Family<StageLabel, Histogram, fn() -> Histogram>,
    recognizer_runs: Counter,
    outbox_pending: Gauge,
    outbox_oldest: FloatGauge,
    outbox_delivered: Counter,
    outbox_dropped: Gauge,
    roster_version: Gauge,
    roster_people: Gauge,
    roster_templates: Gauge,
    roster_refused_unauthentic: Counter,
    store_failing: Gauge,
    store_held: Gauge,
    store_errors: Counter,
    broker_connected: Gauge,
    broker_losses: Counter,
    resident_bytes: Gauge,
    /// The last totals read, by series, so counters advance by what changed. A camera restarted
    /// by a reload starts its totals again from zero.
    last: Mutex<HashMap<String, u64>>,
    /// The cameras of the last reading.
    cameras: Mutex<std::collections::BTreeSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Model latency buckets: 1 ms to 2 s, doubling.
fn stage_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 12))
}

impl Metrics {
    /// Every metric, registered, at zero.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("rollcall"),
            camera_state: Family::default(),
            frames_in: Family::default(),
            frames_analysed: Family::default(),
            frames_dropped: Family::default(),
            reconnects: Family::default(),
            camera_fps: Family::default(),
            camera_lag: Family::default(),
            decisions: Family::default(),
            too_small: Family::default(),
            alerts: Family::default(),
            stage_seconds: Family::new_with_constructor(stage_histogram as fn() -> Histogram),
            recognizer_runs: Counter::default(),
            outbox_pending: Gauge::default(),
            outbox_oldest: FloatGauge::default(),
            outbox_delivered: Counter::default(),
            outbox_dropped: Gauge::default(),
            roster_version: Gauge::default(),
            roster_people: Gauge::default(),
            roster_templates: Gauge::default(),
            roster_refused_unauthentic: Counter::default(),
            store_failing: Gauge::default(),
            store_held: Gauge::default(),
            store_errors: Counter::default(),
            broker_connected: Gauge::default(),
            broker_losses: Counter::default(),
            resident_bytes: Gauge::default(),
            last: Mutex::new(HashMap::new()),
            cameras: Mutex::new(std::collections::BTreeSet::new()),
        };
        m.register_all();
        m
    }

    fn register_all(&mut self) {
        self.register_cameras();
        self.register_decisions();
        self.register_delivery_and_box();
    }

    /// Per camera: state, frames, rate, lag, reconnects.
    fn register_cameras(&mut self) {
        let r = &mut self.registry;
        r.register(
            "camera_state",
            "1 for the camera's current state (connecting, streaming, down, stopped), 0 for the others",
            self.camera_state.clone(),
        );
        r.register(
            "camera_frames_received",
            "Frames the camera's pipeline delivered",
            self.frames_in.clone(),
        );
        r.register(
            "camera_frames_analysed",
            "Frames the engine analysed",
            self.frames_analysed.clone(),
        );
        r.register(
            "camera_frames_dropped",
            "Frames replaced by a newer one before analysis took them",
            self.frames_dropped.clone(),
        );
        r.register(
            "camera_reconnects",
            "Pipeline rebuilds after failures",
            self.reconnects.clone(),
        );
        r.register(
            "camera_analysed_fps",
            "Frames analysed per second, over the last second",
            self.camera_fps.clone(),
        );
        r.register_with_unit(
            "camera_lag",
            "Longest capture-to-decision time over the last second",
            Unit::Seconds,
            self.camera_lag.clone(),
        );
    }

    /// Decisions, alerts, and what the models cost.
    fn register_decisions(&mut self) {
        let r = &mut self.registry;
        r.register("decisions", "Track decisions by outcome", self.decisions.clone());
        r.register(
            "faces_too_small",
            "Tracks seen but never big enough to recognise, per camera: students this camera cannot serve",
            self.too_small.clone(),
        );
        r.register("alerts", "Alerts raised, by kind", self.alerts.clone());
        r.register_with_unit(
            "model_stage",
            "Latency of each model stage call",
            Unit::Seconds,
            self.stage_seconds.clone(),
        );
        r.register(
            "recognizer_runs",
            "Faces embedded by the recognizer",
            self.recognizer_runs.clone(),
        );
    }

    /// The outbox and the broker link, the roster, the store and the process.
    fn register_delivery_and_box(&mut self) {
        let r = &mut self.registry;
        r.register(
            "outbox_pending",
            "Events waiting for the broker's acknowledgement",
            self.outbox_pending.clone(),
        );
        r.register_with_unit(
            "outbox_oldest_age",
            "Age of the oldest event waiting (0 when none waits)",
            Unit::Seconds,
            self.outbox_oldest.clone(),
        );
        r.register(
            "outbox_delivered",
            "Events the broker acknowledged",
            self.outbox_delivered.clone(),
        );
        r.register(
            "outbox_dropped",
            "Events dropped for the outbox's bounds, within the retention period",
            self.outbox_dropped.clone(),
        );
        r.register(
            "roster_version",
            "Synced roster version (0: enrolled locally)",
            self.roster_version.clone(),
        );
        r.register("roster_people", "People in the gallery", self.roster_people.clone());
        r.register(
            "roster_templates",
            "Templates in the gallery",
            self.roster_templates.clone(),
        );
        r.register(
            "roster_refused_unauthentic",
            "Roster and timetable messages refused as not authentic (junk, or another key); never audited",
            self.roster_refused_unauthentic.clone(),
        );
        r.register(
            "store_failing",
            "1 while the store refuses writes and decisions are held in memory",
            self.store_failing.clone(),
        );
        r.register(
            "store_held_decisions",
            "Decisions held in memory, waiting for the store",
            self.store_held.clone(),
        );
        r.register(
            "store_write_errors",
            "Store writes that failed",
            self.store_errors.clone(),
        );
        r.register(
            "broker_connected",
            "1 while connected to the MQTT broker",
            self.broker_connected.clone(),
        );
        r.register(
            "broker_connection_losses",
            "MQTT connections lost or refused",
            self.broker_losses.clone(),
        );
        r.register_with_unit(
            "process_resident_memory",
            "Resident memory of the daemon",
            Unit::Bytes,
            self.resident_bytes.clone(),
        );
    }

    /// The registry in Prometheus's text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a decision, and the alert it raised.
    pub fn count(&self, outcome: &Outcome) {
        let (name, alert) = match outcome {
            Outcome::Attendance(_) => ("attendance", None),
            Outcome::AlreadyMarked { .. } => ("already_marked", None),
            Outcome::OutsideSession { .. } => ("outside_session", None),
            Outcome::Unknown { .. } => ("unknown", None),
            Outcome::NotAssessed { .. } => ("not_assessed", None),
            Outcome::TooSmall { camera_id, .. } => {
                let label = CameraLabel {
                    camera: camera_id.clone(),
                };
                self.too_small.get_or_create(&label).inc();
                ("too_small", None)
            }
            Outcome::Spoof(a) => ("spoof", Some(a.kind)),
            Outcome::SpoofRepeated { .. } => ("spoof_repeated", None),
            Outcome::Alert(a) => return self.count_alert(a.kind.as_str()),
        };
        self.decisions.get_or_create(&OutcomeLabel { outcome: name }).inc();
        if let Some(kind) = alert {
            self.count_alert(kind.as_str());
        }
    }

    fn count_alert(&self, kind: &'static str) {
        self.alerts.get_or_create(&KindLabel { kind }).inc();
    }

    /// Adds model stage timings to the latency histograms.
    pub fn time_stages(&self, times: &[(Stage, Duration)]) {
        for (stage, took) in times {
            self.stage_seconds
                .get_or_create(&StageLabel { stage: stage.as_str() })
                .observe(took.as_secs_f64());
        }
    }

    /// Takes in what the daemon read off its parts.
    pub fn read(&self, r: &Reading<'_>) {
        self.read_cameras(r);
        self.advance(&self.recognizer_runs, "recognizer_runs", r.recognizer_runs);
        self.advance(&self.store_errors, "store_errors", r.store_write_failures);
        let s = r.status;
        self.outbox_pending.set(clamp(s.outbox.pending));
        self.outbox_oldest.set(s.outbox.oldest_s.unwrap_or(0.0));
        self.outbox_dropped.set(clamp(s.outbox.dropped));
        self.roster_version.set(clamp(s.roster.version));
        self.roster_people.set(clamp(s.roster.people as u64));
        self.roster_templates.set(clamp(s.roster.templates as u64));
        self.advance(
            &self.roster_refused_unauthentic,
            "roster_refused_unauthentic",
            s.roster.refused_unauthentic,
        );
        self.store_failing
            .set(i64::from(s.store.state == crate::attend::held::StoreState::Failing));
        self.store_held.set(clamp(s.store.held as u64));
        if let Some(link) = r.link {
            self.broker_connected.set(i64::from(link.connected));
            self.advance(&self.outbox_delivered, "delivered", link.delivered);
            self.advance(&self.broker_losses, "losses", link.losses);
        }
        if let Some(bytes) = r.resident_bytes {
            self.resident_bytes.set(clamp(bytes));
        }
    }

    fn read_cameras(&self, r: &Reading<'_>) {
        let now: std::collections::BTreeSet<String> = r.cameras.iter().map(|c| c.id.clone()).collect();
        let gone: Vec<String> = lock(&self.cameras).difference(&now).cloned().collect();
        gone.iter().for_each(|id| self.forget_camera(id));
        *lock(&self.cameras) = now;
        for c in r.cameras {
            let label = CameraLabel { camera: c.id.clone() };
            self.advance(
                &self.frames_in.get_or_create(&label),
                &format!("in/{}", c.id),
                c.frames_in,
            );
            self.advance(
                &self.frames_analysed.get_or_create(&label),
                &format!("taken/{}", c.id),
                c.frames_taken,
            );
            self.advance(
                &self.frames_dropped.get_or_create(&label),
                &format!("dropped/{}", c.id),
                c.frames_dropped,
            );
            self.advance(
                &self.reconnects.get_or_create(&label),
                &format!("reconnects/{}", c.id),
                c.reconnects,
            );
            let report = r.status.cameras.get(&c.id).cloned().unwrap_or_default();
            for state in CAMERA_STATES {
                let series = CameraStateLabel {
                    camera: c.id.clone(),
                    state: state_name(state),
                };
                self.camera_state
                    .get_or_create(&series)
                    .set(i64::from(report.state == state));
            }
            self.camera_fps.get_or_create(&label).set(f64::from(report.fps));
            self.camera_lag
                .get_or_create(&label)
                .set(f64::from(report.lag_ms) / 1000.0);
        }
    }

    /// Drops the series of a camera a reload removed, so it does not stay "down" for ever.
    fn forget_camera(&self, id: &str) {
        let label = CameraLabel { camera: id.to_string() };
        for family in [
            &self.frames_in,
            &self.frames_analysed,
            &self.frames_dropped,
            &self.reconnects,
            &self.too_small,
        ] {
            family.remove(&label);
        }
        self.camera_fps.remove(&label);
        self.camera_lag.remove(&label);
        for state in CAMERA_STATES {
            self.camera_state.remove(&CameraStateLabel {
                camera: id.to_string(),
                state: state_name(state),
            });
        }
        lock(&self.last).retain(|series, _| series.split_once('/').is_none_or(|(_, camera)| camera != id));
    }

    /// Advances `counter` to `total`, a running total read off a part. A total lower than last
    /// time means the part started again (a camera restarted by a reload): all of it is new.
    fn advance(&self, counter: &Counter, series: &str, total: u64) {
        let mut last = lock(&self.last);
        let before = last.insert(series.to_string(), total).unwrap_or(0);
        counter.inc_by(if total >= before { total - before } else { total });
    }
}

/// A count as a gauge value.
fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The process's resident memory, from `/proc/self/status` (`VmRSS`, in kB).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::status::StatusBoard;

    #[test]
    fn counters_advance_by_what_changed_and_a_restarted_camera_counts_again() {
        let m = Metrics::new();
        let status = StatusBoard::new("dev").snapshot();
        let read = |runs| {
            m.read(&Reading {
                cameras: &[],
                status: &status,
                recognizer_runs: runs,
                store_write_failures: 0,
                link: None,
                resident_bytes: Some(4096),
            })
        };
        read(10);
        read(25);
        assert!(
            m.encode().contains("rollcall_recognizer_runs_total 25\n"),
            "{}",
            m.encode()
        );
        // The engine's count started again (a new engine): all of it is new.
        read(3);
        assert!(m.encode().contains("rollcall_recognizer_runs_total 28\n"));
        assert!(m.encode().contains("rollcall_process_resident_memory_bytes 4096\n"));
    }

    fn camera(id: &str, frames: u64) -> CameraStatus {
        CameraStatus {
            id: id.into(),
            location: "file".into(),
            state: crate::capture::CameraState::Streaming,
            state_since: std::time::SystemTime::now(),
            last_error: None,
            frames_in: frames,
            frames_dropped: 0,
            frames_taken: frames,
            fps: 5.0,
            reconnects: 0,
            decoder: None,
            codec: None,
            source_size: None,
            source_fps: None,
            frame_size: None,
            time_to_first_frame: None,
            history: Vec::new(),
        }
    }

    #[test]
    fn a_camera_a_reload_removed_leaves_no_series_behind() {
        let m = Metrics::new();
        let status = StatusBoard::new("dev").snapshot();
        let read = |cameras: &[CameraStatus]| {
            m.read(&Reading {
                cameras,
                status: &status,
                recognizer_runs: 0,
                store_write_failures: 0,
                link: None,
                resident_bytes: None,
            })
        };
        read(&[camera("door", 10), camera("hall", 7)]);
        read(&[camera("door", 12), camera("hall", 9)]);
        let text = m.encode();
        assert!(
            text.contains("rollcall_camera_frames_analysed_total{camera=\"hall\"} 9\n"),
            "{text}"
        );
        read(&[camera("door", 15)]);
        let text = m.encode();
        assert!(!text.contains("hall"), "{text}");
        assert!(
            text.contains("rollcall_camera_frames_analysed_total{camera=\"door\"} 15\n"),
            "{text}"
        );
        // Back after a reload, from zero: counted afresh, never backwards.
        read(&[camera("door", 16), camera("hall", 2)]);
        assert!(
            m.encode()
                .contains("rollcall_camera_frames_analysed_total{camera=\"hall\"} 2\n")
        );
    }

    #[test]
    fn decisions_and_alerts_are_counted_by_outcome_and_kind() {
        let m = Metrics::new();
        let alert = crate::event::Alert::raise(crate::event::AlertKind::Spoof, "dev", "photo".into());
        m.count(&Outcome::Spoof(alert.clone()));
        m.count(&Outcome::Unknown {
            camera_id: "door".into(),
            best: None,
            frames: 5,
        });
        m.time_stages(&[(Stage::Detect, Duration::from_millis(12))]);
        let text = m.encode();
        assert!(
            text.contains("rollcall_decisions_total{outcome=\"spoof\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("rollcall_decisions_total{outcome=\"unknown\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("rollcall_alerts_total{kind=\"spoof\"} 1\n"), "{text}");
        assert!(
            text.contains("rollcall_model_stage_seconds_count{stage=\"detect\"} 1\n"),
            "{text}"
        );
    }
}
