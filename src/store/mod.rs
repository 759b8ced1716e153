//! The local store: one SQLite database (WAL) holding the roster (templates encrypted), the
//! attendance log with its once-per-session guard, and alerts.
//!
//! - [`people`](Store::enroll): enrolled people and their sealed templates;
//! - [`synced`](Store::replace_roster): the roster and timetable the backend syncs, with versions;
//! - [`attendance`](Store::record_attendance): attendance and its retention;
//! - [`alerts`](Store::record_alert): alerts, each queued as it is recorded;
//! - `queue`: the one way a row enters the outbox, below all of the above;
//! - [`Outbox`]: events and alerts not yet acknowledged by the broker, on a connection of its own;
//! - [`audit`]: the hash-chained audit trail of changes to the roster and settings, and exports;
//! - the key, the sealing of templates and the schema.
//!
//! It may import `config`, `event` (what it records) and `vision::embed` (what a template is);
//! nothing that decides or sends.
//!
//! The database and key files are created readable by their owner only. A wrong key is detected
//! at open (a sealed check value), and every template is authenticated when read, so a tampered
//! row is an error, never a garbage match. Deleted rows are overwritten (`secure_delete`).

mod alerts;
mod attendance;
pub mod audit;
pub mod counters;
mod crypto;
mod holdings;
mod outbox;
mod people;
mod queue;
mod rekey;
mod schema;
mod synced;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

pub use alerts::MAX_ALERT_DETAIL;
pub use crypto::{KEY_SOURCE, Key, KeySource, NONCE_LEN, NOWHERE, SITE_KEY_SOURCE, template_aad};
pub use holdings::{Held, Holdings};
pub use outbox::{Maintenance, Outbox, OutboxDepth, OutboxLimits, OutboxRow};
pub use people::{Enrollment, Person};
pub use queue::{EventKind, now_ms};
pub use synced::{RosterVersion, Synced};

use crate::vision::embed::TemplateError;

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

impl StoreError {
    /// Turns a SQLite error into one that names the database file: the path is what an admin
    /// acts on (a full disk, a wrong owner), so no SQLite error leaves the store without it.
    pub fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + Copy + '_ {
        move |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        }
    }
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

pub(super) const KEY_CHECK: &[u8] = b"rollcall key check";
pub(super) const KEY_CHECK_AAD: &[u8] = b"rollcall-key-check/1";

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
        let sql = StoreError::sqlite(path);
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sql)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
        )
        .map_err(sql)?;
        Store::with_connection(conn, key, path)
    }

    /// A store that lives in memory only and is gone when dropped: for `rollcall eval`, whose
    /// roster of templates must not reach the disk.
    pub fn open_in_memory(key: Key) -> Result<Store, StoreError> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(StoreError::sqlite(path))?;
        Store::with_connection(conn, key, path)
    }

    fn with_connection(conn: Connection, key: Key, path: &Path) -> Result<Store, StoreError> {
        let sql = StoreError::sqlite(path);
        conn.execute_batch("PRAGMA foreign_keys = ON;").map_err(sql)?;
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
        StoreError::sqlite(&self.path)
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
}
