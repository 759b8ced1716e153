//! Counters that outlive restarts and never reset: attendance dropped from the outbox, sync
//! messages refused unread, the newest tombstones applied. One row per name in `counters`.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};

/// Attendance events ever dropped from the outbox.
pub const ATTENDANCE_DROPPED: &str = "attendance_dropped";
/// Roster and timetable messages refused without being authentic (junk, or sealed under
/// another key): counted, never audited.
pub const UNAUTHENTIC_REFUSED: &str = "unauthentic_refused";
/// The newest roster version whose tombstones were applied: a replayed roster's tombstones at or
/// below it do nothing.
pub const TOMBSTONES_VERSION: &str = "tombstones_version";

/// The counter `name` (0 before its first count), inside whatever transaction `conn` is in.
pub(super) fn counter(conn: &Connection, name: &str) -> rusqlite::Result<u64> {
    conn.query_row("SELECT value FROM counters WHERE name = ?1", params![name], |r| {
        r.get::<_, i64>(0)
    })
    .optional()
    .map(|v| v.unwrap_or(0).max(0) as u64)
}

/// Adds `n` to the counter `name`.
pub(super) fn add(conn: &Connection, name: &str, n: u64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO counters (name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
        params![name, i64::try_from(n).unwrap_or(i64::MAX)],
    )
    .map(|_| ())
}

impl Store {
    /// The counter `name` (0 before its first count).
    pub fn counter(&self, name: &str) -> Result<u64, StoreError> {
        counter(&self.conn, name).map_err(self.sql())
    }

    /// Adds `n` to the counter `name`.
    pub fn add_to_counter(&self, name: &str, n: u64) -> Result<(), StoreError> {
        add(&self.conn, name, n).map_err(self.sql())
    }

    /// Raises the counter `name` to `value` if it is lower: a high-water mark.
    pub fn raise_counter(&self, name: &str, value: u64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO counters (name, value) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)",
                params![name, i64::try_from(value).unwrap_or(i64::MAX)],
            )
            .map(|_| ())
            .map_err(self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;

    #[test]
    fn counters_add_up_and_a_high_water_mark_only_rises() {
        let store = Store::open_in_memory(Key::generate()).unwrap();
        assert_eq!(store.counter(UNAUTHENTIC_REFUSED).unwrap(), 0);
        store.add_to_counter(UNAUTHENTIC_REFUSED, 3).unwrap();
        store.add_to_counter(UNAUTHENTIC_REFUSED, 4).unwrap();
        assert_eq!(store.counter(UNAUTHENTIC_REFUSED).unwrap(), 7);
        store.raise_counter(TOMBSTONES_VERSION, 11).unwrap();
        store.raise_counter(TOMBSTONES_VERSION, 9).unwrap();
        assert_eq!(store.counter(TOMBSTONES_VERSION).unwrap(), 11);
    }
}
