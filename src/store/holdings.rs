//! What the store holds, as counts and ages, never the data: for `rollcall privacy report`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError};

/// A kind of record: how many, and when the oldest and newest were made.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Held {
    /// Rows.
    pub count: u64,
    /// The oldest row's time, if any.
    pub oldest: Option<DateTime<Utc>>,
    /// The newest row's time, if any.
    pub newest: Option<DateTime<Utc>>,
}

/// Everything personal the store holds, counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Holdings {
    /// Enrolled people (by when they were first enrolled).
    pub people: Held,
    /// Their sealed face templates.
    pub templates: Held,
    /// Attendance records (by when they were decided).
    pub attendance: Held,
    /// Alerts.
    pub alerts: Held,
    /// Audit records.
    pub audit: Held,
    /// Events not yet acknowledged by the broker.
    pub outbox_pending: u64,
}

impl Store {
    /// Counts and ages of what the store holds.
    pub fn holdings(&self) -> Result<Holdings, StoreError> {
        let held = |table: &str, column: &str| -> Result<Held, StoreError> {
            let (count, oldest, newest): (i64, Option<String>, Option<String>) = self
                .conn
                .query_row(
                    &format!("SELECT COUNT(*), MIN({column}), MAX({column}) FROM {table}"),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(self.sql())?;
            let time = |t: Option<String>| {
                t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&Utc))
            };
            Ok(Held {
                count: count as u64,
                oldest: time(oldest),
                newest: time(newest),
            })
        };
        let outbox_pending: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL AND dropped_ms IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(self.sql())?;
        Ok(Holdings {
            people: held("people", "created_at")?,
            templates: held("templates", "created_at")?,
            attendance: held("attendance", "decided_at")?,
            alerts: held("alerts", "at")?,
            audit: held("audit", "at")?,
            outbox_pending: outbox_pending as u64,
        })
    }
}
