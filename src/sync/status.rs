//! The device's state as the backend sees it on `{prefix}/{device}/status`: cameras, roster,
//! outbox, version and uptime. Every part of the daemon writes its own section; the MQTT task
//! publishes the whole when it changes and at a fixed interval.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::OutboxDepth;

/// A camera as the backend needs to know it: is it watching?
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraHealth {
    /// Starting, or reconnecting: no frame yet on this connection.
    #[default]
    Connecting,
    /// Frames are arriving.
    Streaming,
    /// Failed, waiting to try again.
    Down,
    /// Stopped on request.
    Stopped,
}

/// One camera in the status document (the capture side's full `CameraStatus` says far more).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraReport {
    /// Whether it is watching.
    pub state: CameraHealth,
    /// Frames analysed per second, recently.
    pub fps: f32,
    /// The longest a frame waited, from capture to the end of its analysis, recently (ms): what
    /// a decision lags behind the camera. It stays flat when the box is overloaded, because a
    /// camera keeps only its newest frame; each camera's fps drops instead.
    pub lag_ms: u32,
    /// Wall time to analyse one of its frames, recently (ms): detection at the camera's own
    /// resolution, and the tracks' liveness and recognition.
    #[serde(default)]
    pub ms_per_frame: f32,
    /// Tracks seen but never big enough to recognise since the daemon started: students this
    /// camera cannot serve where it is.
    #[serde(default)]
    pub too_small: u64,
}

/// The roster in use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RosterStatus {
    /// Synced roster version (0: enrolled locally).
    pub version: u64,
    /// People in the gallery.
    pub people: usize,
    /// Templates in the gallery.
    pub templates: usize,
    /// Recognizer the device runs.
    pub recognizer: String,
    /// Roster and timetable messages ever refused as not authentic (junk, or sealed under
    /// another key): counted here and in `/metrics`, never audited.
    #[serde(default)]
    pub refused_unauthentic: u64,
}

impl RosterStatus {
    /// The status of `gallery`.
    pub fn of(gallery: &crate::attend::matching::Gallery) -> RosterStatus {
        RosterStatus {
            version: gallery.version(),
            people: gallery.people(),
            templates: gallery.len(),
            recognizer: gallery.recognizer().to_string(),
            refused_unauthentic: 0,
        }
    }
}

/// Events waiting for the broker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutboxStatus {
    /// Not yet acknowledged.
    pub pending: u64,
    /// Age of the oldest of them, seconds.
    pub oldest_s: Option<f64>,
    /// Dropped for exceeding the outbox's bounds (within the retention period).
    pub dropped: u64,
    /// Set aside because the broker cannot take them (within the retention period).
    pub set_aside: u64,
    /// Attendance events ever dropped from the outbox (never reset).
    pub attendance_dropped: u64,
    /// Pending is above the configured warning level.
    pub warning: bool,
}

impl OutboxStatus {
    /// From a measured depth and the warning level.
    pub fn from_depth(depth: OutboxDepth, warn_rows: u64) -> OutboxStatus {
        OutboxStatus {
            pending: depth.pending,
            oldest_s: depth.oldest_s.map(|s| s.round()),
            dropped: depth.dropped,
            set_aside: depth.set_aside,
            attendance_dropped: depth.attendance_dropped,
            warning: depth.pending > warn_rows,
        }
    }
}

/// Whether the device is there. Only a running daemon says `online`; the last will and a
/// graceful stop say `offline` ([`offline_payload`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// Running.
    Online,
    /// Gone.
    Offline,
}

/// The whole status document, as published and as `rollcall status` reads it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// `online` (the last will says `offline`).
    pub state: Presence,
    /// Device id.
    pub device: String,
    /// rollcall's version.
    pub version: String,
    /// When the daemon started.
    pub started_at: DateTime<Utc>,
    /// Seconds since then (filled in when published).
    pub uptime_s: u64,
    /// Cameras by id.
    pub cameras: BTreeMap<String, CameraReport>,
    /// The roster in use.
    pub roster: RosterStatus,
    /// The outbox.
    pub outbox: OutboxStatus,
    /// Whether the store takes decisions (`failing` while they are held in memory).
    pub store: crate::attend::held::StoreHealth,
    /// Where each model runs (absent from a status written before rollcall said so).
    #[serde(default)]
    pub models: Vec<crate::vision::analyze::ModelPlacement>,
    /// The device's public keys: what the backend seals its rosters to, and what checks its
    /// signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<crate::keys::DevicePublic>,
    /// The newest audit record's number and hash: the backend keeps it, and a trail that later
    /// ends before it was cut short (`rollcall audit --verify --head`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<crate::store::audit::AuditHead>,
}

/// Where the running daemon keeps its status for `rollcall status`: beside the database.
pub fn status_file(store: &std::path::Path) -> std::path::PathBuf {
    let mut name = store.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".status.json");
    store.with_file_name(name)
}

/// Writes `status` to `path` whole (a temporary file renamed over it), owner-only.
pub fn write_status_file(path: &std::path::Path, status: &DeviceStatus) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    crate::private_file::write(&tmp, &serde_json::to_vec_pretty(status).unwrap_or_default())?;
    std::fs::rename(&tmp, path)
}

/// What a device that went away leaves behind: the last will, and the graceful goodbye.
pub fn offline_payload(device: &str) -> String {
    serde_json::json!({ "state": Presence::Offline, "device": device }).to_string()
}

/// The shared status, written by each part of the daemon.
#[derive(Debug, Clone)]
pub struct StatusBoard(Arc<Mutex<DeviceStatus>>);

impl StatusBoard {
    /// A fresh board for `device`, started now.
    pub fn new(device: &str) -> StatusBoard {
        StatusBoard(Arc::new(Mutex::new(DeviceStatus {
            state: Presence::Online,
            device: device.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: Utc::now(),
            uptime_s: 0,
            cameras: BTreeMap::new(),
            roster: RosterStatus::default(),
            outbox: OutboxStatus::default(),
            store: crate::attend::held::StoreHealth::default(),
            models: Vec::new(),
            keys: None,
            audit: None,
        })))
    }

    /// Changes the status under the lock.
    pub fn update(&self, change: impl FnOnce(&mut DeviceStatus)) {
        change(&mut crate::lock::lock(&self.0));
    }

    /// A copy, with the uptime filled in.
    pub fn snapshot(&self) -> DeviceStatus {
        let mut s = crate::lock::lock(&self.0).clone();
        s.uptime_s = (Utc::now() - s.started_at).num_seconds().max(0) as u64;
        s
    }
}
