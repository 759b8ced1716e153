//! The attendance log with its once-per-session guard, and how long it and the alerts are kept.

use chrono::Utc;
use rusqlite::params;

use super::queue::{EventKind, enqueue};
use super::{Store, StoreError};
use crate::event::{AttendanceEvent, LivenessBasis};

impl Store {
    /// Records an attendance event unless this person already has one for `once_key` (the
    /// session id, or the day outside sessions) in this room, and queues it in the outbox in the
    /// same transaction. Returns whether it was recorded.
    pub fn record_attendance(&self, event: &AttendanceEvent, once_key: &str) -> Result<bool, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(self.sql())?;
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO attendance (event_id, person_id, camera_id, room, session_id, once_key, status,
                   first_seen, decided_at, similarity, margin, liveness, frames, recognizer, device, roster_version,
                   liveness_basis)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                params![
                    event.event_id,
                    event.person_id,
                    event.camera_id,
                    event.room,
                    event.session_id,
                    once_key,
                    event.status.as_str(),
                    event.first_seen.to_rfc3339(),
                    event.decided_at.to_rfc3339(),
                    event.similarity,
                    event.margin,
                    event.liveness.unwrap_or(0.0),
                    event.frames,
                    event.recognizer,
                    event.device,
                    event.roster_version as i64,
                    event.liveness_basis.as_str()
                ],
            )
            .map_err(self.sql())?;
        if n == 1 {
            let payload = serde_json::to_string(event).unwrap_or_default();
            enqueue(&tx, EventKind::Attendance, &event.event_id, &payload).map_err(self.sql())?;
        }
        tx.commit().map_err(self.sql())?;
        Ok(n == 1)
    }

    /// Attendance recorded, oldest first.
    pub fn attendance(&self) -> Result<Vec<AttendanceEvent>, StoreError> {
        let mut all: Vec<AttendanceEvent> = self.attendance_since(0)?.into_iter().map(|(_, e)| e).collect();
        all.sort_by(|a, b| (a.decided_at, &a.event_id).cmp(&(b.decided_at, &b.event_id)));
        Ok(all)
    }

    /// Attendance recorded after row `after` (0: all), in the order it was recorded, with each
    /// row's number: what `events tail --follow` polls.
    pub fn attendance_since(&self, after: i64) -> Result<Vec<(i64, AttendanceEvent)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT event_id, person_id, camera_id, room, session_id, status, first_seen, decided_at,
                   similarity, margin, liveness, frames, recognizer, device, roster_version, rowid, liveness_basis
                 FROM attendance
                 WHERE rowid > ?1 ORDER BY rowid",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![after], |r| {
                let time = |i: usize| -> rusqlite::Result<chrono::DateTime<Utc>> {
                    let s: String = r.get(i)?;
                    chrono::DateTime::parse_from_rfc3339(&s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
                        })
                };
                let status: String = r.get(5)?;
                let basis = match r.get::<_, String>(16)?.as_str() {
                    "not_assessed" => LivenessBasis::NotAssessed,
                    "off" => LivenessBasis::Off,
                    _ => LivenessBasis::Passive,
                };
                let event = AttendanceEvent {
                    event_id: r.get(0)?,
                    person_id: r.get(1)?,
                    camera_id: r.get(2)?,
                    room: r.get(3)?,
                    session_id: r.get(4)?,
                    status: if status == "late" {
                        crate::event::Status::Late
                    } else {
                        crate::event::Status::Present
                    },
                    first_seen: time(6)?,
                    decided_at: time(7)?,
                    similarity: r.get(8)?,
                    margin: r.get(9)?,
                    liveness: (basis != LivenessBasis::NotAssessed).then(|| r.get(10)).transpose()?,
                    liveness_basis: basis,
                    frames: r.get(11)?,
                    recognizer: r.get(12)?,
                    device: r.get(13)?,
                    roster_version: r.get::<_, i64>(14)? as u64,
                };
                Ok((r.get::<_, i64>(15)?, event))
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// Deletes attendance rows and alerts decided before `before` (the retention period); returns
    /// how many went.
    pub fn purge_before(&self, before: chrono::DateTime<Utc>) -> Result<usize, StoreError> {
        // Both columns hold RFC 3339 UTC text, which sorts as time does at whole-second precision
        // and finer: compare as text.
        let cutoff = before.to_rfc3339();
        let a = self
            .conn
            .execute("DELETE FROM attendance WHERE decided_at < ?1", params![cutoff])
            .map_err(self.sql())?;
        let b = self
            .conn
            .execute("DELETE FROM alerts WHERE at < ?1", params![cutoff])
            .map_err(self.sql())?;
        Ok(a + b)
    }
}
