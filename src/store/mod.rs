//! The local store: one SQLite database (WAL) holding the roster (templates encrypted), the
//! attendance log with its once-per-session guard, and alerts.
//!
//! The database and key files are created readable by their owner only. A wrong key is detected
//! at open (a sealed check value), and every template is authenticated when read, so a tampered
//! row is an error, never a garbage match. Deleted rows are overwritten (`secure_delete`).

mod crypto;
mod outbox;
mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub use crypto::{KEY_SOURCE, Key, KeySource, NONCE_LEN, SITE_KEY_SOURCE, template_aad};
pub use outbox::{EventKind, Maintenance, Outbox, OutboxDepth, OutboxLimits, OutboxRow, now_ms};

use crate::config::TimetableConfig;
use crate::event::{Alert, AttendanceEvent};
use crate::vision::embed::{Embedding, TemplateError};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No key anywhere.
    #[error(
        "no {}: set {} in the config, or {} (64 hex digits), or {}, or the systemd credential {}; \
         create one with `rollcall keygen --out FILE`",
        .0.what, .0.config_key, .0.env, .0.file_env, .0.credential
    )]
    NoKey(KeySource),
    /// A key that cannot be used.
    #[error("the key from {origin} is unusable: {problem}")]
    BadKey { origin: String, problem: String },
    /// The key does not open this database.
    #[error(
        "the key does not match the database {path}: it was created with another key. Use that \
         key; rollcall will not read the roster with a wrong one"
    )]
    WrongKey { path: PathBuf },
    /// A row failed authentication.
    #[error("{what} in {path} failed authentication: the database was modified outside rollcall")]
    Tampered { path: PathBuf, what: String },
    /// SQLite failed.
    #[error("database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    /// A file could not be created or read.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A template that does not fit the gallery.
    #[error("person `{person}`: {source}")]
    Template { person: String, source: TemplateError },
    /// A synced roster or timetable older than the one stored.
    #[error("{what} version {version} is not newer than the stored version {stored}; versions only go forward")]
    Backwards {
        what: &'static str,
        version: u64,
        stored: u64,
    },
    /// The database was written by a newer rollcall.
    #[error("database {path} has schema version {found}, newer than this rollcall ({known}); upgrade rollcall")]
    TooNew { path: PathBuf, found: u32, known: u32 },
}

/// One enrolled person, as listed by `roster list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// Stable id from the school's system.
    pub person_id: String,
    /// Display name, if known.
    pub name: Option<String>,
    /// Class groups (for per-class matching).
    pub groups: Vec<String>,
    /// Templates stored, per recognizer.
    pub templates: Vec<(String, usize)>,
}

/// A person and the templates to save for them: the one shape in which enrollment from photos,
/// live enrollment, roster import and roster sync all write people.
#[derive(Debug, Clone, Copy)]
pub struct Enrollment<'a> {
    /// Stable id from the school's system.
    pub person_id: &'a str,
    /// Display name; `None` keeps the stored one.
    pub name: Option<&'a str>,
    /// Class groups; `None` keeps the stored ones (someone new has none), `Some(&[])` clears them.
    pub groups: Option<&'a [String]>,
    /// Templates with their quality.
    pub templates: &'a [(Embedding, f32)],
    /// Whether the templates replace the person's earlier ones of the same recognizer, or join them.
    pub replace: bool,
}

/// Which of the two synced things (the roster and the timetable) a message or a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Synced {
    /// The enrolled people.
    Roster,
    /// The class timetable.
    Timetable,
}

impl Synced {
    /// The word in messages and alerts.
    pub fn as_str(&self) -> &'static str {
        match self {
            Synced::Roster => "roster",
            Synced::Timetable => "timetable",
        }
    }
}

/// Which synced roster the store holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RosterVersion {
    /// The backend's version number.
    pub version: u64,
    /// Recognizer its templates were made with.
    pub recognizer: String,
    /// When the backend made it (RFC 3339).
    pub created_at: String,
}

/// The local database.
pub struct Store {
    conn: Connection,
    key: Key,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// The longest alert detail stored or sent, in bytes.
pub const MAX_ALERT_DETAIL: usize = 2000;

const KEY_CHECK: &[u8] = b"rollcall key check";
const KEY_CHECK_AAD: &[u8] = b"rollcall-key-check/1";

fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_to_f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Seals and inserts one template row (inside whatever transaction `conn` is in).
fn insert_template(conn: &Connection, key: &Key, person_id: &str, t: &Embedding, quality: f32) -> rusqlite::Result<()> {
    let (nonce, ct) = key.seal(&f32s_to_bytes(&t.vector), &template_aad(person_id, &t.recognizer));
    conn.execute(
        "INSERT INTO templates (person_id, recognizer, dim, nonce, ciphertext, quality, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            person_id,
            &*t.recognizer,
            t.vector.len() as i64,
            nonce,
            ct,
            quality,
            Utc::now().to_rfc3339()
        ],
    )?;
    Ok(())
}

/// Records an alert and queues it in the outbox, inside whatever transaction `conn` is in. A
/// detail longer than [`MAX_ALERT_DETAIL`] is cut.
pub(crate) fn insert_alert(conn: &Connection, alert: &Alert) -> rusqlite::Result<()> {
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
    outbox::enqueue(conn, EventKind::Alert, &alert.event_id, &payload)
}

/// Writes a person's new templates inside a transaction; with `replace`, their earlier templates
/// of the same recognizers are deleted first.
/// Writes one enrollment inside `conn`'s transaction: the person (a name not given keeps the
/// stored one, groups not given keep the stored ones) and their templates.
fn save_enrollment(conn: &Connection, key: &Key, e: &Enrollment<'_>, now: &str) -> rusqlite::Result<()> {
    let groups = e
        .groups
        .map(|g| serde_json::to_string(g).unwrap_or_else(|_| "[]".into()));
    conn.execute(
        "INSERT INTO people (person_id, name, groups, created_at) VALUES (?1, ?2, COALESCE(?3, '[]'), ?4)
         ON CONFLICT(person_id) DO UPDATE SET name = COALESCE(excluded.name, people.name),
           groups = CASE WHEN ?3 IS NULL THEN people.groups ELSE excluded.groups END",
        params![e.person_id, e.name, groups, now],
    )?;
    write_templates(conn, key, e.person_id, e.templates, e.replace)
}

fn write_templates(
    conn: &Connection,
    key: &Key,
    person_id: &str,
    templates: &[(Embedding, f32)],
    replace: bool,
) -> rusqlite::Result<()> {
    if replace {
        let recognizers: std::collections::BTreeSet<&str> = templates.iter().map(|t| &*t.0.recognizer).collect();
        for recognizer in recognizers {
            conn.execute(
                "DELETE FROM templates WHERE person_id = ?1 AND recognizer = ?2",
                params![person_id, recognizer],
            )?;
        }
    }
    for (t, q) in templates {
        insert_template(conn, key, person_id, t, *q)?;
    }
    Ok(())
}

impl Store {
    /// Opens (creating, owner-only, if needed) the database at `path`, migrates it, and checks the key.
    pub fn open(path: &Path, key: Key) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: dir.to_path_buf(),
                source: e,
            })?;
        }
        if !path.exists() {
            crate::private_file::create_new(path, b"").map_err(|e| StoreError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        }
        let sql = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
        )
        .map_err(sql)?;
        let store = Store {
            conn,
            key,
            path: path.to_path_buf(),
        };
        schema::migrate(&store.conn, path)?;
        store.check_key()?;
        Ok(store)
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Seals a check value into a new database, or verifies it in an existing one.
    fn check_key(&self) -> Result<(), StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .query_row("SELECT nonce, ciphertext FROM key_check WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(self.sql())?;
        match row {
            Some((nonce, ct)) => match self.key.open(&nonce, &ct, KEY_CHECK_AAD) {
                Some(v) if v == KEY_CHECK => Ok(()),
                _ => Err(StoreError::WrongKey {
                    path: self.path.clone(),
                }),
            },
            None => {
                let (nonce, ct) = self.key.seal(KEY_CHECK, KEY_CHECK_AAD);
                self.conn
                    .execute(
                        "INSERT INTO key_check (id, nonce, ciphertext) VALUES (1, ?1, ?2)",
                        params![nonce, ct],
                    )
                    .map_err(self.sql())?;
                Ok(())
            }
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `person_id` is enrolled.
    pub fn is_enrolled(&self, person_id: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM people WHERE person_id = ?1",
                params![person_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(self.sql())
    }

    /// Saves one enrollment in one transaction: all of it or none. Enrollment from photos, live
    /// enrollment and roster import all save through here.
    pub fn enroll(&mut self, enrollment: &Enrollment<'_>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        save_enrollment(&tx, &self.key, enrollment, &Utc::now().to_rfc3339()).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Removes a person and, for good, their templates. Returns false if they were not enrolled.
    pub fn remove_person(&self, person_id: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM people WHERE person_id = ?1", params![person_id])
            .map_err(self.sql())?;
        // secure_delete zeroes the freed pages; the checkpoint moves that into the main file and
        // empties the WAL, so no copy of the templates lingers.
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(self.sql())?;
        Ok(n > 0)
    }

    /// Everyone enrolled, by id.
    pub fn people(&self) -> Result<Vec<Person>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.person_id, p.name, p.groups, t.recognizer, COUNT(t.id) FROM people p
                 LEFT JOIN templates t ON t.person_id = p.person_id
                 GROUP BY p.person_id, t.recognizer ORDER BY p.person_id",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(self.sql())?;
        let mut people: Vec<Person> = Vec::new();
        for row in rows {
            let (id, name, groups, recognizer, count) = row.map_err(self.sql())?;
            if people.last().is_none_or(|p| p.person_id != id) {
                people.push(Person {
                    person_id: id,
                    name,
                    groups: serde_json::from_str(&groups).unwrap_or_default(),
                    templates: Vec::new(),
                });
            }
            if let (Some(rec), Some(p)) = (recognizer, people.last_mut()) {
                p.templates.push((rec, count as usize));
            }
        }
        Ok(people)
    }

    /// The synced roster in the store, if one was ever applied.
    pub fn roster_version(&self) -> Result<Option<RosterVersion>, StoreError> {
        self.conn
            .query_row(
                "SELECT version, recognizer, created_at FROM roster_meta WHERE id = 1",
                [],
                |r| {
                    Ok(RosterVersion {
                        version: r.get::<_, i64>(0)? as u64,
                        recognizer: r.get(1)?,
                        created_at: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(self.sql())
    }

    /// Replaces everyone enrolled with a synced roster, all or nothing: people not in it are
    /// removed with their templates, everyone in it gets exactly the templates it carries.
    /// `fingerprint` is the message's, so that the same message delivered again is known.
    ///
    /// Versions only go forward: a roster not newer than the stored one is an error, whoever asks.
    pub fn replace_roster(
        &mut self,
        meta: &RosterVersion,
        people: &[Enrollment<'_>],
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        // Immediate: it reads the stored version before it writes, and a deferred transaction
        // that must upgrade after another connection committed fails at once with SQLITE_BUSY.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let stored: Option<i64> = tx
            .query_row("SELECT version FROM roster_meta WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        if let Some(stored) = stored.filter(|v| *v as u64 >= meta.version) {
            return Err(StoreError::Backwards {
                what: "roster",
                version: meta.version,
                stored: stored as u64,
            });
        }
        tx.execute("DELETE FROM people", []).map_err(sql)?;
        let now = Utc::now().to_rfc3339();
        for person in people {
            save_enrollment(&tx, &self.key, person, &now).map_err(sql)?;
        }
        tx.execute(
            "INSERT INTO roster_meta (id, version, recognizer, created_at, applied_at, fingerprint)
             VALUES (1, ?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET version = excluded.version, recognizer = excluded.recognizer,
               created_at = excluded.created_at, applied_at = excluded.applied_at, fingerprint = excluded.fingerprint",
            params![meta.version as i64, meta.recognizer, meta.created_at, now, fingerprint],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        // As for a removal: no copy of a removed template may linger in the WAL.
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(self.sql())
    }

    /// The timetable synced from the backend, with its version, if one was ever applied.
    pub fn timetable(&self) -> Result<Option<(u64, TimetableConfig)>, StoreError> {
        let row: Option<(i64, String)> = self
            .conn
            .query_row("SELECT version, body FROM timetable_meta WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(self.sql())?;
        let Some((version, body)) = row else { return Ok(None) };
        let config = serde_json::from_str(&body).map_err(|e| StoreError::Tampered {
            path: self.path.clone(),
            what: format!("the synced timetable ({e})"),
        })?;
        Ok(Some((version as u64, config)))
    }

    /// Stores a timetable synced from the backend, replacing the one before; `fingerprint` is the
    /// message's. Versions only go forward, as for rosters.
    pub fn replace_timetable(
        &self,
        version: u64,
        timetable: &TimetableConfig,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_string(timetable).unwrap_or_default();
        let changed = self
            .conn
            .execute(
                "INSERT INTO timetable_meta (id, version, body, applied_at, fingerprint) VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET version = excluded.version, body = excluded.body,
                   applied_at = excluded.applied_at, fingerprint = excluded.fingerprint
                 WHERE excluded.version > timetable_meta.version",
                params![version as i64, body, Utc::now().to_rfc3339(), fingerprint],
            )
            .map_err(self.sql())?;
        if changed == 0 {
            let stored = self.timetable()?.map_or(0, |t| t.0);
            return Err(StoreError::Backwards {
                what: "timetable",
                version,
                stored,
            });
        }
        Ok(())
    }

    /// Fingerprints of the roster and timetable messages in use, for those synced from the
    /// backend.
    pub fn applied_fingerprints(&self) -> Result<HashMap<Synced, String>, StoreError> {
        let mut out = HashMap::new();
        for (what, table) in [(Synced::Roster, "roster_meta"), (Synced::Timetable, "timetable_meta")] {
            let print: Option<String> = self
                .conn
                .query_row(&format!("SELECT fingerprint FROM {table} WHERE id = 1"), [], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(self.sql())?;
            if let Some(p) = print.filter(|p| !p.is_empty()) {
                out.insert(what, p);
            }
        }
        Ok(out)
    }

    /// Every template of `recognizer`, decrypted: (person, groups, embedding).
    pub fn templates(&self, recognizer: &Arc<str>) -> Result<Vec<(String, Vec<String>, Embedding)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT t.id, t.person_id, p.groups, t.nonce, t.ciphertext FROM templates t
                 JOIN people p ON p.person_id = t.person_id WHERE t.recognizer = ?1 ORDER BY t.id",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![&**recognizer], |r| {
                // Read the sealed columns loosely: a row edited into another type is tampering,
                // reported as such below, not a type error.
                let blob = |i: usize| -> rusqlite::Result<Vec<u8>> {
                    Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                        rusqlite::types::Value::Blob(b) => b,
                        _ => Vec::new(),
                    })
                };
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    blob(3)?,
                    blob(4)?,
                ))
            })
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for row in rows {
            let (id, person, groups, nonce, ct) = row.map_err(self.sql())?;
            let plain = self
                .key
                .open(&nonce, &ct, &template_aad(&person, recognizer))
                .ok_or_else(|| StoreError::Tampered {
                    path: self.path.clone(),
                    what: format!("template row {id} of person `{person}`"),
                })?;
            let embedding = Embedding {
                recognizer: recognizer.clone(),
                vector: bytes_to_f32s(&plain),
            };
            out.push((person, serde_json::from_str(&groups).unwrap_or_default(), embedding));
        }
        Ok(out)
    }

    /// Records an attendance event unless this person already has one for `once_key` (the
    /// session id, or the day outside sessions) in this room, and queues it in the outbox in the
    /// same transaction. Returns whether it was recorded.
    pub fn record_attendance(&self, event: &AttendanceEvent, once_key: &str) -> Result<bool, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(self.sql())?;
        let n = tx
            .execute(
                "INSERT OR IGNORE INTO attendance (event_id, person_id, camera_id, room, session_id, once_key, status,
                   first_seen, decided_at, similarity, margin, liveness, frames, recognizer, device, roster_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
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
                    event.liveness,
                    event.frames,
                    event.recognizer,
                    event.device,
                    event.roster_version as i64
                ],
            )
            .map_err(self.sql())?;
        if n == 1 {
            let payload = serde_json::to_string(event).unwrap_or_default();
            outbox::enqueue(&tx, EventKind::Attendance, &event.event_id, &payload).map_err(self.sql())?;
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
                   similarity, margin, liveness, frames, recognizer, device, roster_version, rowid FROM attendance
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
                    liveness: r.get(10)?,
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
