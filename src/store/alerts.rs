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

    /// Sets how many spoof tracks the episode of the alert `alert_id` holds, once a later track
    /// joined it (`attend::episode`). The alert itself went out with its first track.
    pub fn count_alert_tracks(&self, alert_id: &str, tracks: u32) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE alerts SET tracks = ?2 WHERE alert_id = ?1",
                params![alert_id, tracks],
            )
            .map(|_| ())
            .map_err(self.sql())
    }

    /// Spoof tracks in the episode of the alert `alert_id` (1 for any other alert).
    pub fn alert_tracks(&self, alert_id: &str) -> Result<Option<u32>, StoreError> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row(
                "SELECT tracks FROM alerts WHERE alert_id = ?1",
                params![alert_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())
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

#[cfg(test)]
mod tests {
    use crate::event::{Alert, AlertKind};
    use crate::store::{Key, Store};

    #[test]
    fn an_alert_counts_the_spoof_tracks_of_its_episode() {
        let store = Store::open_in_memory(Key::generate()).unwrap();
        let alert = Alert::raise(AlertKind::Spoof, "box-1", "presentation attack suspected".into());
        store.record_alert(&alert).unwrap();
        assert_eq!(store.alert_tracks(&alert.event_id).unwrap(), Some(1), "its first track");
        store.count_alert_tracks(&alert.event_id, 3).unwrap();
        assert_eq!(store.alert_tracks(&alert.event_id).unwrap(), Some(3));
        assert_eq!(store.alert_tracks("no-such-alert").unwrap(), None);
    }
}
