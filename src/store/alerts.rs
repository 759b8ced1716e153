//! Alerts: recorded in the alerts table and queued for the broker in the same transaction, with
//! a bounded detail. The engine, the daemon and the outbox itself (when it drops or sets rows
//! aside) raise them.

use rusqlite::{Connection, params};

use super::queue::{EventKind, enqueue};
use super::{Store, StoreError};
use crate::event::Alert;

/// The longest alert detail stored or sent, in bytes.
pub const MAX_ALERT_DETAIL: usize = 2000;

/// Records an alert and queues it in the outbox, inside whatever transaction `conn` is in. A
/// detail longer than [`MAX_ALERT_DETAIL`] is cut.
pub(super) fn insert_alert(conn: &Connection, alert: &Alert) -> rusqlite::Result<()> {
    let bounded;
    let alert = if alert.detail.len() > MAX_ALERT_DETAIL {
        let mut cut = MAX_ALERT_DETAIL;
        while !alert.detail.is_char_boundary(cut) {
            cut -= 1;
        }
        bounded = Alert {
            detail: format!("{}...", &alert.detail[..cut]),
            ..alert.clone()
        };
        &bounded
    } else {
        alert
    };
    conn.execute(
        "INSERT INTO alerts (alert_id, kind, camera_id, room, at, detail, device) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            alert.event_id,
            alert.kind.as_str(),
            alert.camera_id,
            alert.room,
            alert.at.to_rfc3339(),
            alert.detail,
            alert.device
        ],
    )?;
    let payload = serde_json::to_string(alert).unwrap_or_default();
    enqueue(conn, EventKind::Alert, &alert.event_id, &payload)
}

impl Store {
    /// Records an alert and queues it in the outbox, in one transaction. A detail longer than
    /// [`MAX_ALERT_DETAIL`] is cut: no alert may grow past what the broker takes.
    pub fn record_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(self.sql())?;
        insert_alert(&tx, alert).map_err(self.sql())?;
        tx.commit().map_err(self.sql())
    }

    /// Number of alerts of `kind`.
    pub fn alert_count(&self, kind: crate::event::AlertKind) -> Result<usize, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM alerts WHERE kind = ?1",
                params![kind.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(self.sql())
    }
}
