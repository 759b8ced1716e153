//! What the backend syncs into the store: the roster (which replaces everyone enrolled) and the
//! timetable, each with its version and the fingerprint of the message that carried it.

use std::collections::HashMap;

use chrono::Utc;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::people::save_enrollment;
use super::{Enrollment, Store, StoreError};
use crate::config::TimetableConfig;

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

impl Store {
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
        let sql = StoreError::sqlite(&self.path);
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
}
