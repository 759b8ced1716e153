//! The audit trail: every change to who can be recognised or how, and every export of personal
//! data, in an append-only table whose records are hash-chained, each also queued in the outbox
//! for `{prefix}/{device}/audit`.
//!
//! Triggers refuse an UPDATE or DELETE through SQLite. Someone who edits the file around them
//! breaks the chain, which [`verify_chain`] finds; the copies the backend received show what the
//! records were. A record holds ids, counts and settings, never a template or an image.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use super::queue::{EventKind, enqueue};
use super::{Store, StoreError};
use crate::event::{AuditAction, AuditRecord, new_id};

/// The chain's start: the `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Detail kept at most (bytes), so no caller can grow a record without bound.
pub const MAX_AUDIT_DETAIL: usize = 4096;

/// Where and why a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit record {seq}: {reason}")]
pub struct ChainBreak {
    /// The first record that does not follow from the one before.
    pub seq: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// The hash of a record: SHA-256 over each field, length-prefixed so no two records share one.
pub fn record_hash(r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    let seq = r.seq.to_string();
    let at = r.at.to_rfc3339();
    for field in [
        seq.as_str(),
        r.event_id.as_str(),
        at.as_str(),
        r.device.as_str(),
        r.action.as_str(),
        r.subject.as_str(),
        r.detail.as_str(),
        r.prev_hash.as_str(),
    ] {
        h.update((field.len() as u64).to_le_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Checks that `records` (in order) form one unbroken chain from the first record; the number
/// of records checked.
pub fn verify_chain(records: &[AuditRecord]) -> Result<u64, ChainBreak> {
    let mut prev: Option<&AuditRecord> = None;
    for r in records {
        let (want_seq, want_prev) = match prev {
            None => (1, GENESIS),
            Some(p) => (p.seq + 1, p.hash.as_str()),
        };
        let broken = |reason: String| ChainBreak { seq: r.seq, reason };
        if r.seq != want_seq {
            return Err(broken(format!("expected record {want_seq} here: records are missing")));
        }
        if r.prev_hash != want_prev {
            return Err(broken(
                "does not follow from the record before it (a record was replaced)".into(),
            ));
        }
        if record_hash(r) != r.hash {
            return Err(broken("its content does not match its hash (it was edited)".into()));
        }
        prev = Some(r);
    }
    Ok(records.len() as u64)
}

/// The newest record's place in the chain: what the device's status carries, so that a backend
/// holding it catches a trail cut short (`rollcall audit --verify --head`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditHead {
    /// The newest record's number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

impl std::str::FromStr for AuditHead {
    type Err = String;

    /// `SEQ:HASH`, as `rollcall audit --verify --head` takes it.
    fn from_str(text: &str) -> Result<AuditHead, String> {
        let (seq, hash) = text
            .split_once(':')
            .ok_or("a head is SEQ:HASH, the status's audit.seq and audit.hash")?;
        let seq = seq.parse().map_err(|_| "SEQ must be a record number".to_string())?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("HASH must be 64 hex digits".into());
        }
        Ok(AuditHead {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// Checks that `records`, a chain that holds, reaches `head` and agrees with it there. A trail
/// whose newest records were removed ends before the head; one rewritten from some record on
/// differs at it.
pub fn verify_head(records: &[AuditRecord], head: &AuditHead) -> Result<(), ChainBreak> {
    let Some(newest) = records.last() else {
        return Err(ChainBreak {
            seq: head.seq,
            reason: "the trail is empty, but the backend holds a head at this record (it was emptied)".into(),
        });
    };
    let at = usize::try_from(head.seq)
        .ok()
        .and_then(|s| s.checked_sub(1))
        .and_then(|i| records.get(i));
    match at {
        None => Err(ChainBreak {
            seq: head.seq,
            reason: format!(
                "the trail ends at record {}, before the head the backend holds (records were removed)",
                newest.seq
            ),
        }),
        Some(r) if r.hash != head.hash => Err(ChainBreak {
            seq: head.seq,
            reason: "differs from the head the backend holds (the trail was rewritten)".into(),
        }),
        Some(_) => Ok(()),
    }
}

fn bounded(detail: &str) -> String {
    if detail.len() <= MAX_AUDIT_DETAIL {
        return detail.to_string();
    }
    let mut end = MAX_AUDIT_DETAIL;
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &detail[..end])
}

impl Store {
    /// Appends a record to the trail and queues it for the broker, in one transaction that
    /// takes the write lock first, so two processes (the daemon and a CLI) never fork the chain.
    pub fn audit(
        &mut self,
        device: &str,
        action: AuditAction,
        subject: &str,
        detail: &str,
    ) -> Result<AuditRecord, StoreError> {
        let sql = StoreError::sqlite(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let last: Option<(i64, String)> = tx
            .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(sql)?;
        let (seq, prev_hash) = match last {
            Some((seq, hash)) => (seq as u64 + 1, hash),
            None => (1, GENESIS.to_string()),
        };
        let mut record = AuditRecord {
            seq,
            event_id: new_id(),
            // Whole seconds: the hash is taken over the stored text, which must read back the same.
            at: DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default(),
            device: device.to_string(),
            action,
            subject: bounded(subject),
            detail: bounded(detail),
            prev_hash,
            hash: String::new(),
        };
        record.hash = record_hash(&record);
        tx.execute(
            "INSERT INTO audit (seq, event_id, at, device, action, subject, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                record.seq as i64,
                record.event_id,
                record.at.to_rfc3339(),
                record.device,
                record.action.as_str(),
                record.subject,
                record.detail,
                record.prev_hash,
                record.hash
            ],
        )
        .map_err(sql)?;
        let payload = serde_json::to_string(&record).unwrap_or_default();
        enqueue(&tx, EventKind::Audit, &record.event_id, &payload).map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(record)
    }

    /// Audits the settings a daemon starts with when they differ from those of its last start
    /// (each changed key of [`crate::config::AUDITED_SECTIONS`]), and remembers them. A reload
    /// changes only cameras, so a start is where thresholds and models change.
    pub fn audit_settings(
        &mut self,
        device: &str,
        file: &str,
        settings: &toml::Table,
    ) -> Result<Option<AuditRecord>, StoreError> {
        let audited: toml::Table = crate::config::AUDITED_SECTIONS
            .iter()
            .filter_map(|s| settings.get(*s).map(|v| (s.to_string(), v.clone())))
            .collect();
        let before: Option<String> = self
            .conn
            .query_row("SELECT toml FROM settings_in_use WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(self.sql())?;
        let first = before.is_none();
        let before: toml::Table = before.and_then(|t| t.parse().ok()).unwrap_or_default();
        let changes = crate::config::changed_settings(&before, &audited);
        if !first && changes.is_empty() {
            return Ok(None);
        }
        let detail = match (first, changes.is_empty()) {
            (true, true) => "first start, every setting at its default".to_string(),
            (true, false) => format!("first start: {}", changes.join("; ")),
            _ => changes.join("; "),
        };
        let record = self.audit(device, AuditAction::SettingsChanged, file, &detail)?;
        self.conn
            .execute(
                "INSERT INTO settings_in_use (id, toml) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET toml = ?1",
                params![audited.to_string()],
            )
            .map_err(self.sql())?;
        Ok(Some(record))
    }

    /// The newest record's number and hash; `None` before the first.
    pub fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.conn
            .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| {
                Ok(AuditHead {
                    seq: r.get::<_, i64>(0)?.max(0) as u64,
                    hash: r.get(1)?,
                })
            })
            .optional()
            .map_err(self.sql())
    }

    /// The whole trail, oldest first. A row that cannot be read back as a record (its action
    /// unknown, its time unreadable) is an error naming it: the file was edited.
    pub fn audit_trail(&self) -> Result<Vec<AuditRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, event_id, at, device, action, subject, detail, prev_hash, hash FROM audit ORDER BY seq",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    [
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, String>(8)?,
                    ],
                ))
            })
            .map_err(self.sql())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.sql())?;
        rows.into_iter()
            .map(
                |(seq, [event_id, at, device, action, subject, detail, prev_hash, hash])| {
                    let tampered = |what: &str| StoreError::Tampered {
                        path: self.path.clone(),
                        what: format!("audit record {seq} ({what})"),
                    };
                    Ok(AuditRecord {
                        seq: u64::try_from(seq).map_err(|_| tampered("its number"))?,
                        event_id,
                        at: DateTime::parse_from_rfc3339(&at)
                            .map_err(|_| tampered("its time"))?
                            .into(),
                        device,
                        action: serde_json::from_value(serde_json::Value::String(action))
                            .map_err(|_| tampered("its action"))?,
                        subject,
                        detail,
                        prev_hash,
                        hash,
                    })
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;

    #[test]
    fn the_chain_holds_and_an_edit_a_gap_or_a_swap_is_found() {
        let mut store = Store::open_in_memory(Key::generate()).unwrap();
        for (action, who) in [
            (AuditAction::Enroll, "ada"),
            (AuditAction::Enroll, "bo"),
            (AuditAction::Remove, "ada"),
        ] {
            store.audit("dev", action, who, "one photo").unwrap();
        }
        let trail = store.audit_trail().unwrap();
        assert_eq!(verify_chain(&trail), Ok(3));
        assert_eq!(trail[0].prev_hash, GENESIS);

        let mut edited = trail.clone();
        edited[1].subject = "eve".into();
        assert_eq!(verify_chain(&edited).unwrap_err().seq, 2);
        let gap = [trail[0].clone(), trail[2].clone()];
        assert!(verify_chain(&gap).unwrap_err().reason.contains("missing"));
        let mut rehashed = edited.clone();
        rehashed[1].hash = record_hash(&rehashed[1]);
        assert_eq!(
            verify_chain(&rehashed).unwrap_err().seq,
            3,
            "the next record no longer follows"
        );

        // The head the backend holds catches what the chain alone cannot: the newest records
        // removed, or the whole trail emptied.
        let head = store.audit_head().unwrap().unwrap();
        assert_eq!((head.seq, &head.hash), (3, &trail[2].hash));
        assert_eq!(format!("3:{}", head.hash).parse::<AuditHead>(), Ok(head.clone()));
        assert_eq!(verify_head(&trail, &head), Ok(()));
        let cut = &trail[..2];
        assert_eq!(verify_chain(cut), Ok(2), "a shortened chain still holds");
        assert!(verify_head(cut, &head).unwrap_err().reason.contains("ends at record 2"));
        assert!(verify_head(&[], &head).unwrap_err().reason.contains("emptied"));
        let mut rewritten = trail.clone();
        rewritten[2].detail = "other".into();
        rewritten[2].hash = record_hash(&rewritten[2]);
        assert!(verify_head(&rewritten, &head).unwrap_err().reason.contains("rewritten"));
        for bad in ["3", "x:00", &format!("3:{}", "g".repeat(64))] {
            assert!(bad.parse::<AuditHead>().is_err(), "{bad}");
        }

        // Through SQLite the table refuses edits outright.
        let e = store.conn.execute("UPDATE audit SET subject = 'eve' WHERE seq = 2", []);
        assert!(e.unwrap_err().to_string().contains("append-only"));
        assert!(store.conn.execute("DELETE FROM audit", []).is_err());
    }
}
