//! What rollcall tells the world: attendance events and alerts. Never an image or an embedding.
//!
//! Plain data shared by the parts that make these records (`attend`), keep them (`store`) and
//! send them (`sync`); it imports nothing of rollcall's, so the store below `attend` can hold
//! what `attend` decides without a cycle.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How an attendance event's liveness was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LivenessBasis {
    /// Passive anti-spoofing over the track's assessed frames judged it live.
    #[default]
    Passive,
    /// Too few frames showed the face well enough to judge, and the config allows attendance
    /// without a verdict: the backend may want to review it.
    NotAssessed,
    /// Anti-spoofing is not configured.
    Off,
}

impl LivenessBasis {
    /// The word stored and sent.
    pub fn as_str(&self) -> &'static str {
        match self {
            LivenessBasis::Passive => "passive",
            LivenessBasis::NotAssessed => "not_assessed",
            LivenessBasis::Off => "off",
        }
    }
}

/// Present, or late (after the session's start plus its grace period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Arrived in time.
    Present,
    /// Arrived after start + grace.
    Late,
}

impl Status {
    /// The wire and database spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Present => "present",
            Status::Late => "late",
        }
    }
}

/// One person seen in one class session (or on one day, outside sessions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttendanceEvent {
    /// Unique id: lets a backend drop the rare duplicate delivery.
    pub event_id: String,
    /// Enrolled person.
    pub person_id: String,
    /// Camera that saw them.
    pub camera_id: String,
    /// Room the camera watches.
    pub room: String,
    /// Class session, or `None` outside any session.
    pub session_id: Option<String>,
    /// Present or late.
    pub status: Status,
    /// When their track began, or the session's first frame if they were already in view;
    /// present or late is judged by it.
    pub first_seen: DateTime<Utc>,
    /// When the decision was made.
    pub decided_at: DateTime<Utc>,
    /// Cosine similarity of the decision.
    pub similarity: f32,
    /// Lead over the second-best person.
    pub margin: f32,
    /// Fused liveness score of the track; `null` when it could not be assessed and
    /// `[liveness] unassessed = "allow"` marked it anyway (see `liveness_basis`).
    pub liveness: Option<f32>,
    /// How liveness was decided, so that the backend can review the events that had none.
    pub liveness_basis: LivenessBasis,
    /// Frames the decision used.
    pub frames: u32,
    /// Recognizer id.
    pub recognizer: String,
    /// Device that decided.
    pub device: String,
    /// Roster version the decision matched against (0: enrolled locally, no synced roster).
    pub roster_version: u64,
}

/// One line for people reading a terminal: who, present or late, where, which session, how sure.
impl std::fmt::Display for AttendanceEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<16} {:<8} camera {} room {} session {} similarity {:.2}",
            self.person_id,
            self.status.as_str(),
            self.camera_id,
            self.room,
            self.session_id.as_deref().unwrap_or("-"),
            self.similarity
        )
    }
}

/// Kinds of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A presentation attack: photo, screen or mask held to a camera.
    Spoof,
    /// A camera has not streamed for `camera_down_after_s`.
    CameraDown,
    /// A camera that was down streams again.
    CameraUp,
    /// A roster update was refused.
    RosterRejected,
    /// A timetable update was refused.
    TimetableRejected,
    /// A store with no synced roster (or timetable) took the first authentic one it saw.
    FirstUse,
    /// Attendance events were dropped from the outbox (its bounds); they stay in the local log.
    OutboxDropped,
    /// An outbox row the broker cannot take was set aside so the rows behind it go on.
    OutboxSetAside,
    /// Writing to the store failed for a while; decisions were held and are now recorded.
    StoreFailed,
}

impl AlertKind {
    /// The wire and database spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            AlertKind::Spoof => "spoof",
            AlertKind::CameraDown => "camera_down",
            AlertKind::CameraUp => "camera_up",
            AlertKind::RosterRejected => "roster_rejected",
            AlertKind::TimetableRejected => "timetable_rejected",
            AlertKind::FirstUse => "first_use",
            AlertKind::OutboxDropped => "outbox_dropped",
            AlertKind::OutboxSetAside => "outbox_set_aside",
            AlertKind::StoreFailed => "store_failed",
        }
    }
}

/// Something an administrator should know about. Carries no image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique id, like an attendance event's: lets a backend drop a duplicate delivery.
    pub event_id: String,
    /// What happened.
    pub kind: AlertKind,
    /// Camera involved, if any.
    pub camera_id: Option<String>,
    /// Room involved, if any.
    pub room: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// Human-readable detail (scores, reasons); never biometric data.
    pub detail: String,
    /// Device that raised it.
    pub device: String,
}

impl Alert {
    /// An alert of `kind` that `device` raises now about itself; [`Alert::on_camera`] ties it
    /// to a camera and its room.
    pub fn raise(kind: AlertKind, device: &str, detail: String) -> Alert {
        Alert {
            event_id: new_id(),
            kind,
            camera_id: None,
            room: None,
            at: Utc::now(),
            detail,
            device: device.to_string(),
        }
    }

    /// The same alert, about `camera` watching `room`.
    pub fn on_camera(self, camera: &str, room: &str) -> Alert {
        Alert {
            camera_id: Some(camera.to_string()),
            room: Some(room.to_string()),
            ..self
        }
    }
}

/// A fresh random id for an event or alert.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What an audit record is about: a change to who can be recognised, to how recognition
/// behaves, or an export of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A person enrolled (from photos, a CSV or live).
    Enroll,
    /// A person removed.
    Remove,
    /// A person removed by `[store] template_retention_days`: neither seen nor re-enrolled.
    Expire,
    /// A roster file imported.
    Import,
    /// The store's key replaced: every template sealed again under a new one.
    KeyRotated,
    /// A roster from the backend applied.
    RosterApplied,
    /// A roster or timetable from the backend refused.
    RosterRefused,
    /// The daemon started with models or thresholds other than at its last start (or for the
    /// first time): what changed.
    SettingsChanged,
    /// Attendance exported (`rollcall events export`).
    ExportEvents,
    /// The roster exported (`rollcall roster export`).
    ExportRoster,
}

impl AuditAction {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Enroll => "enroll",
            AuditAction::Remove => "remove",
            AuditAction::Expire => "expire",
            AuditAction::Import => "import",
            AuditAction::KeyRotated => "key_rotated",
            AuditAction::RosterApplied => "roster_applied",
            AuditAction::RosterRefused => "roster_refused",
            AuditAction::SettingsChanged => "settings_changed",
            AuditAction::ExportEvents => "export_events",
            AuditAction::ExportRoster => "export_roster",
        }
    }
}

/// One record of the audit trail, as stored and as published on `{prefix}/{device}/audit`. It
/// names people by id only: never a template, never an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// Unique id, for the backend to drop a duplicate delivery.
    pub event_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The device whose trail it is.
    pub device: String,
    /// What was done.
    pub action: AuditAction,
    /// To what: a person id, a roster version, a file, the config.
    pub subject: String,
    /// Plain words on what changed (counts, a diff of settings), bounded.
    pub detail: String,
    /// The previous record's hash (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over this record's fields and `prev_hash`: an edit or a gap breaks the chain.
    pub hash: String,
}
