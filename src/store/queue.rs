//! Queueing: the one way a row enters the outbox, inside the transaction that records its event.
//!
//! It sits below everything that records (attendance, alerts, the audit trail) and below the
//! outbox's own reader, which raises alerts: each of them imports this, and none imports
//! another just to queue.

use rusqlite::{Connection, params};
use serde::Serialize;

/// What an outbox row carries; it names the topic the row is published on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// An attendance event.
    Attendance,
    /// An alert.
    Alert,
    /// An audit record (`store::audit`).
    Audit,
}

impl EventKind {
    /// The database spelling, which is also the last topic level.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Attendance => "attendance",
            EventKind::Alert => "alert",
            EventKind::Audit => "audit",
        }
    }

    /// Reads the database spelling back; anything unknown is attendance, the kind that must
    /// never be lost.
    pub(super) fn parse(s: &str) -> EventKind {
        match s {
            "alert" => EventKind::Alert,
            "audit" => EventKind::Audit,
            _ => EventKind::Attendance,
        }
    }
}

/// Milliseconds since the Unix epoch, the outbox's clock.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Inserts an outbox row inside whatever transaction `conn` is in.
pub(super) fn enqueue(conn: &Connection, kind: EventKind, event_id: &str, payload: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO outbox (event_id, kind, payload, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![event_id, kind.as_str(), payload, now_ms()],
    )?;
    Ok(())
}
