//! Schema migrations: each step runs once, in order, tracked by `PRAGMA user_version`.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Each entry upgrades the schema by one version.
const MIGRATIONS: &[&str] = &[
    // 1: roster, attendance with its once-per-session guard, alerts.
    "CREATE TABLE key_check (id INTEGER PRIMARY KEY CHECK (id = 1), nonce BLOB NOT NULL, ciphertext BLOB NOT NULL);
     CREATE TABLE people (
        person_id TEXT PRIMARY KEY,
        name TEXT,
        groups TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL);
     CREATE TABLE templates (
        id INTEGER PRIMARY KEY,
        person_id TEXT NOT NULL REFERENCES people(person_id) ON DELETE CASCADE,
        recognizer TEXT NOT NULL,
        dim INTEGER NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        quality REAL,
        created_at TEXT NOT NULL);
     CREATE INDEX templates_by_recognizer ON templates(recognizer, person_id);
     CREATE TABLE attendance (
        event_id TEXT PRIMARY KEY,
        person_id TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        room TEXT NOT NULL,
        session_id TEXT,
        once_key TEXT NOT NULL,
        status TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        similarity REAL NOT NULL,
        margin REAL NOT NULL,
        liveness REAL NOT NULL,
        frames INTEGER NOT NULL,
        recognizer TEXT NOT NULL);
     CREATE UNIQUE INDEX attendance_once ON attendance(room, once_key, person_id);
     CREATE TABLE alerts (
        alert_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        camera_id TEXT,
        room TEXT,
        at TEXT NOT NULL,
        detail TEXT NOT NULL);",
    // 2: the outbox (every event, written with it, until the broker acknowledges it), the synced
    // roster's version, and the device on each record.
    "ALTER TABLE attendance ADD COLUMN device TEXT NOT NULL DEFAULT '';
     ALTER TABLE attendance ADD COLUMN roster_version INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE alerts ADD COLUMN device TEXT NOT NULL DEFAULT '';
     CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        delivered_ms INTEGER,
        dropped_ms INTEGER);
     CREATE INDEX outbox_pending ON outbox(seq) WHERE delivered_ms IS NULL AND dropped_ms IS NULL;
     CREATE TABLE roster_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        recognizer TEXT NOT NULL,
        created_at TEXT NOT NULL,
        applied_at TEXT NOT NULL);",
    // 3: the timetable synced from the backend (JSON), which replaces the config's.
    "CREATE TABLE timetable_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        applied_at TEXT NOT NULL);",
    // 4: what the roster and timetable in use were as messages (so a redelivery costs nothing),
    // outbox rows the broker cannot take (set aside with the reason), and counters that outlive
    // every retention period.
    "ALTER TABLE roster_meta ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
     ALTER TABLE timetable_meta ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
     ALTER TABLE outbox ADD COLUMN set_aside TEXT;
     CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    // 5: how each attendance's liveness was decided. `liveness` stays NOT NULL (rebuilding the
    // table is not worth it): it holds 0 where the basis is `not_assessed`, read back as none.
    "ALTER TABLE attendance ADD COLUMN liveness_basis TEXT NOT NULL DEFAULT 'passive';",
    // 6: the audit trail, append-only and hash-chained (`store::audit`). The triggers stop an
    // edit through SQLite; the chain shows one made around them.
    "CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        at TEXT NOT NULL,
        device TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL);
     CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
     CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
     CREATE TABLE settings_in_use (id INTEGER PRIMARY KEY CHECK (id = 1), toml TEXT NOT NULL);",
    // 7: how many spoof tracks an alert's episode holds (`attend::episode`).
    "ALTER TABLE alerts ADD COLUMN tracks INTEGER NOT NULL DEFAULT 1;",
];

/// Brings the database up to the newest schema, all steps in one transaction.
pub fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let sql = StoreError::sqlite(path);
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql)?;
    let known = MIGRATIONS.len() as u32;
    if current > known {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: current,
            known,
        });
    }
    if current == known {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE").map_err(sql)?;
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        if let Err(e) = conn.execute_batch(step) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(sql(e));
        }
        tracing::info!(version = i + 1, "database schema migrated");
    }
    conn.execute_batch(&format!("PRAGMA user_version = {known}; COMMIT"))
        .map_err(sql)
}
