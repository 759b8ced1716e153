//! The outbox: every attendance event and alert, written in the same transaction that records
//! it, until the broker acknowledges it.
//!
//! The MQTT client keeps its queue only in memory, so the outbox is the truth about what still
//! has to go out: after a reconnect or a restart, whatever is not marked delivered is sent again.
//! It is read and marked through its own connection, so publishing never waits on the engine's
//! writes (WAL lets a reader and a writer work at once).
//!
//! No row may hold back the rows behind it: one the broker cannot take (too large for a packet,
//! an invalid topic) is set aside with its reason, stays in the local log, and raises an alert.
//! When the outbox is over its bounds, alerts go before attendance; every attendance event
//! dropped raises an alert and is counted for good (`counters`, never purged).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::StoreError;
use super::alerts::insert_alert;
use super::counters::{ATTENDANCE_DROPPED, add, counter};
use super::queue::{EventKind, now_ms};
use crate::event::{Alert, AlertKind};
use crate::untrusted::summary;

/// One event waiting for the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    /// Position in the outbox; rows go out in this order.
    pub seq: i64,
    /// Attendance or alert.
    pub kind: EventKind,
    /// The event's id (also inside the payload).
    pub event_id: String,
    /// The JSON published.
    pub payload: String,
}

/// How big the outbox may grow, and how long delivered rows are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutboxLimits {
    /// Undelivered rows kept at most; past it the oldest are dropped (still in the attendance log).
    pub max_rows: u64,
    /// Undelivered rows older than this are dropped.
    pub max_age: Duration,
    /// Undelivered rows above which the status warns.
    pub warn_rows: u64,
    /// Delivered and dropped rows are deleted after this long.
    pub retention: Duration,
}

impl OutboxLimits {
    /// The limits `[mqtt.outbox]` asks for (the section's defaults when there is no `[mqtt]`).
    pub fn from_config(config: &crate::config::OutboxConfig) -> OutboxLimits {
        let days = |d: f64| crate::config::duration_s(d * 86_400.0);
        OutboxLimits {
            max_rows: config.max_events,
            max_age: days(config.max_age_days),
            warn_rows: config.warn_events,
            retention: days(config.retention_days),
        }
    }
}

/// How much is waiting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OutboxDepth {
    /// Rows not yet acknowledged by the broker.
    pub pending: u64,
    /// Age of the oldest of them, in seconds.
    pub oldest_s: Option<f64>,
    /// Rows dropped (outbox full or too old) within the retention period.
    pub dropped: u64,
    /// Rows set aside because the broker cannot take them, within the retention period.
    pub set_aside: u64,
    /// Attendance events ever dropped from the outbox: never purged.
    pub attendance_dropped: u64,
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Maintenance {
    /// Undelivered rows dropped for exceeding the limits.
    pub dropped: u64,
    /// Of those, attendance events.
    pub attendance_dropped: u64,
    /// Old delivered or dropped rows deleted.
    pub purged: u64,
}

/// The outbox, through a connection of its own.
pub struct Outbox {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("path", &self.path).finish()
    }
}

impl Outbox {
    /// Opens the outbox of the database at `path`, which [`super::Store::open`] created.
    pub fn open(path: &Path) -> Result<Outbox, StoreError> {
        let sql = StoreError::sqlite(path);
        if !path.exists() {
            return Err(StoreError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no database here yet; the store creates it first",
                ),
            });
        }
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
        // Events are made durable by the store's own commit (synchronous FULL). A delivery mark
        // lost in a power cut only means that event is sent once more, with the same event_id,
        // so this connection need not wait for the disk on every acknowledgement.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(sql)?;
        super::schema::migrate(&conn, path)?;
        Ok(Outbox {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        StoreError::sqlite(&self.path)
    }

    /// Up to `limit` undelivered rows after `after`, oldest first.
    pub fn pending_after(&self, after: i64, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, kind, event_id, payload FROM outbox
                 WHERE seq > ?1 AND delivered_ms IS NULL AND dropped_ms IS NULL ORDER BY seq LIMIT ?2",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![after, limit as i64], |r| {
                Ok(OutboxRow {
                    seq: r.get(0)?,
                    kind: EventKind::parse(&r.get::<_, String>(1)?),
                    event_id: r.get(2)?,
                    payload: r.get(3)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// Marks rows delivered (the broker acknowledged them), in one transaction.
    pub fn mark_delivered(&mut self, seqs: &[i64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let sql = StoreError::sqlite(&self.path);
        let tx = self.conn.transaction().map_err(sql)?;
        {
            let mut stmt = tx
                .prepare_cached("UPDATE outbox SET delivered_ms = ?2 WHERE seq = ?1 AND delivered_ms IS NULL")
                .map_err(sql)?;
            let now = now_ms();
            for seq in seqs {
                stmt.execute(params![seq, now]).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }

    /// How much is waiting.
    pub fn depth(&self) -> Result<OutboxDepth, StoreError> {
        let (pending, oldest): (i64, Option<i64>) = self
            .conn
            .query_row(
                "SELECT COUNT(*), MIN(created_ms) FROM outbox WHERE delivered_ms IS NULL AND dropped_ms IS NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.sql())?;
        let (dropped, set_aside): (i64, i64) = self
            .conn
            .query_row(
                "SELECT COUNT(*) FILTER (WHERE set_aside IS NULL), COUNT(*) FILTER (WHERE set_aside IS NOT NULL)
                 FROM outbox WHERE dropped_ms IS NOT NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.sql())?;
        let attendance_dropped = counter(&self.conn, ATTENDANCE_DROPPED).map_err(self.sql())?;
        Ok(OutboxDepth {
            pending: pending as u64,
            oldest_s: oldest.map(|t| (now_ms() - t).max(0) as f64 / 1000.0),
            dropped: dropped as u64,
            set_aside: set_aside as u64,
            attendance_dropped,
        })
    }

    /// Sets a row aside that the broker cannot take (`reason`), so the rows behind it go on: it
    /// is marked dropped with its reason, stays in the attendance log or alerts, and an alert
    /// (small, whatever the row was) says so, in the same transaction.
    pub fn set_aside(&mut self, row: &OutboxRow, reason: &str, device: &str) -> Result<(), StoreError> {
        let sql = StoreError::sqlite(&self.path);
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute(
            "UPDATE outbox SET dropped_ms = ?2, set_aside = ?3 WHERE seq = ?1",
            params![row.seq, now_ms(), reason],
        )
        .map_err(sql)?;
        let detail = format!(
            "{} event {} ({} bytes) set aside, not published: {reason}; it stays in the local log",
            row.kind.as_str(),
            summary(&row.event_id),
            row.payload.len()
        );
        let alert = Alert::raise(AlertKind::OutboxSetAside, device, detail);
        insert_alert(&tx, &alert).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Enforces `limits`: drops undelivered rows past the age bound, then past the size bound
    /// (alerts first, then audit records, whose trail stays in the store, then attendance, oldest
    /// first); counts and alerts dropped attendance; and
    /// deletes delivered or dropped rows older than the retention period.
    pub fn maintain(&mut self, limits: &OutboxLimits, device: &str) -> Result<Maintenance, StoreError> {
        let now = now_ms();
        let sql = StoreError::sqlite(&self.path);
        let tx = self.conn.transaction().map_err(sql)?;
        let too_old = now.saturating_sub(i64::try_from(limits.max_age.as_millis()).unwrap_or(i64::MAX));
        // Drops up to `limit` (-1: all) undelivered rows of `kind` created before `before`, oldest first.
        let drop = |kind: EventKind, before: i64, limit: i64| {
            tx.execute(
                "UPDATE outbox SET dropped_ms = ?1 WHERE seq IN (
                   SELECT seq FROM outbox WHERE delivered_ms IS NULL AND dropped_ms IS NULL AND kind = ?2
                     AND created_ms < ?3 ORDER BY seq LIMIT ?4)",
                params![now, kind.as_str(), before, limit],
            )
            .map(|n| n as u64)
        };
        let mut dropped = 0;
        let mut attendance_dropped = 0;
        for kind in [EventKind::Alert, EventKind::Audit, EventKind::Attendance] {
            let n = drop(kind, too_old, -1).map_err(sql)?;
            dropped += n;
            if kind == EventKind::Attendance {
                attendance_dropped += n;
            }
        }
        for kind in [EventKind::Alert, EventKind::Audit, EventKind::Attendance] {
            let pending: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL AND dropped_ms IS NULL",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql)?;
            let excess = pending.saturating_sub(i64::try_from(limits.max_rows).unwrap_or(i64::MAX));
            if excess > 0 {
                let n = drop(kind, i64::MAX, excess).map_err(sql)?;
                dropped += n;
                if kind == EventKind::Attendance {
                    attendance_dropped += n;
                }
            }
        }
        if attendance_dropped > 0 {
            add(&tx, ATTENDANCE_DROPPED, attendance_dropped).map_err(sql)?;
            let detail = format!(
                "{attendance_dropped} undelivered attendance events dropped from the outbox, past its bounds \
                 ([mqtt.outbox] max_events {} / max_age_days); they stay in the local attendance log \
                 (`rollcall events export`)",
                limits.max_rows
            );
            let alert = Alert::raise(AlertKind::OutboxDropped, device, detail);
            insert_alert(&tx, &alert).map_err(sql)?;
        }
        let expired = now.saturating_sub(i64::try_from(limits.retention.as_millis()).unwrap_or(i64::MAX));
        let purged = tx
            .execute(
                "DELETE FROM outbox WHERE COALESCE(delivered_ms, dropped_ms) < ?1",
                params![expired],
            )
            .map_err(sql)? as u64;
        tx.commit().map_err(sql)?;
        Ok(Maintenance {
            dropped,
            attendance_dropped,
            purged,
        })
    }
}
