//! `[store]`: the local database, its key, and how long attendance is kept.

use std::path::PathBuf;

use serde::Deserialize;

/// The local database and its key.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// SQLite database (created owner-only if missing).
    pub path: PathBuf,
    /// File holding the 256-bit key (64 hex digits, mode 0600); else `ROLLCALL_KEY`,
    /// `ROLLCALL_KEY_FILE` or the systemd credential `rollcall.key`. Never the key itself.
    pub key_file: Option<PathBuf>,
    /// Attendance rows and alerts older than this many days are deleted.
    pub retention_days: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("rollcall.db"),
            key_file: None,
            retention_days: 365,
        }
    }
}
