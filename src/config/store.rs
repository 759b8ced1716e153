//! `[store]`: the local database, its key, and how long attendance is kept.

use std::path::PathBuf;

use serde::Deserialize;

use super::Problem;

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
    /// People neither seen (an attendance record) nor re-enrolled for this many days are
    /// removed with their templates, and the removal audited. Unset: kept until removed.
    pub template_retention_days: Option<u32>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("rollcall.db"),
            key_file: None,
            retention_days: 365,
            template_retention_days: None,
        }
    }
}

impl StoreConfig {
    /// What is wrong with the section's values.
    pub(super) fn problems(&self) -> Vec<Problem> {
        match self.template_retention_days {
            Some(0) => vec![Problem::new(
                "store",
                "template_retention_days",
                "0 would remove everyone at once: give a number of days, or leave it out to keep templates until people are removed",
            )],
            _ => Vec::new(),
        }
    }
}
