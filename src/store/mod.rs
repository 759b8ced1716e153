//! The local store: one SQLite database (WAL) holding the roster (templates encrypted), the
//! attendance log with its once-per-session guard, and alerts.
//!
//! The database and key files are created readable by their owner only. A wrong key is detected
//! at open (a sealed check value), and every template is authenticated when read, so a tampered
//! row is an error, never a garbage match. Deleted rows are overwritten (`secure_delete`).

mod crypto;
mod schema;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub use crypto::{CREDENTIAL_NAME, KEY_ENV, KEY_FILE_ENV, Key, NONCE_LEN, template_aad};

use crate::embed::Embedding;
use crate::event::{Alert, AttendanceEvent};
use crate::matching::{Gallery, GalleryError};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No key anywhere.
    #[error(
        "no encryption key: set [store] key_file in the config, or ROLLCALL_KEY (64 hex digits), or \
         ROLLCALL_KEY_FILE; create one with `rollcall keygen --out FILE`"
    )]
    NoKey,
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
    Template { person: String, source: GalleryError },
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
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::Io {
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

    /// Adds or updates a person (name and groups; templates untouched).
    pub fn upsert_person(&self, person_id: &str, name: Option<&str>, groups: &[String]) -> Result<(), StoreError> {
        let groups = serde_json::to_string(groups).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                "INSERT INTO people (person_id, name, groups, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(person_id) DO UPDATE SET name = COALESCE(excluded.name, people.name), groups = excluded.groups",
                params![person_id, name, groups, Utc::now().to_rfc3339()],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    /// Stores one template, encrypted and bound to the person and the recognizer.
    pub fn add_template(&self, person_id: &str, template: &Embedding, quality: f32) -> Result<(), StoreError> {
        insert_template(&self.conn, &self.key, person_id, template, quality).map_err(self.sql())
    }

    /// Replaces a person's templates of one recognizer, all or nothing.
    pub fn replace_templates(&mut self, person_id: &str, templates: &[(Embedding, f32)]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        for recognizer in templates
            .iter()
            .map(|t| t.0.recognizer.to_string())
            .collect::<std::collections::BTreeSet<_>>()
        {
            tx.execute(
                "DELETE FROM templates WHERE person_id = ?1 AND recognizer = ?2",
                params![person_id, recognizer],
            )
            .map_err(sql)?;
        }
        for (t, q) in templates {
            insert_template(&tx, &self.key, person_id, t, *q).map_err(sql)?;
        }
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

    /// Decrypts every template of `recognizer` into a gallery; any row failing authentication or
    /// not fitting (dimension, non-finite values) is an error naming it.
    pub fn gallery(&self, recognizer: &Arc<str>, dim: usize) -> Result<Gallery, StoreError> {
        let mut gallery = Gallery::new(recognizer.clone(), dim);
        for (person, groups, embedding) in self.templates(recognizer)? {
            gallery
                .add_with_groups(&person, &groups, &embedding)
                .map_err(|source| StoreError::Template { person, source })?;
        }
        Ok(gallery)
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
    /// session id, or the day outside sessions) in this room. Returns whether it was recorded.
    pub fn record_attendance(&self, event: &AttendanceEvent, once_key: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO attendance (event_id, person_id, camera_id, room, session_id, once_key, status,
                   first_seen, decided_at, similarity, margin, liveness, frames, recognizer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
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
                    event.recognizer
                ],
            )
            .map_err(self.sql())?;
        Ok(n == 1)
    }

    /// Attendance recorded, oldest first.
    pub fn attendance(&self) -> Result<Vec<AttendanceEvent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT event_id, person_id, camera_id, room, session_id, status, first_seen, decided_at,
                   similarity, margin, liveness, frames, recognizer FROM attendance ORDER BY decided_at, event_id",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                let time = |i: usize| -> rusqlite::Result<chrono::DateTime<Utc>> {
                    let s: String = r.get(i)?;
                    chrono::DateTime::parse_from_rfc3339(&s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
                        })
                };
                let status: String = r.get(5)?;
                Ok(AttendanceEvent {
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
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// Records an alert.
    pub fn record_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO alerts (alert_id, kind, camera_id, room, at, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    alert.alert_id,
                    alert.kind.as_str(),
                    alert.camera_id,
                    alert.room,
                    alert.at.to_rfc3339(),
                    alert.detail
                ],
            )
            .map_err(self.sql())?;
        Ok(())
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
