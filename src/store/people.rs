//! Enrolled people and their templates, each template sealed to its person and recognizer.

use std::sync::Arc;

use chrono::Utc;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::{Key, Store, StoreError, template_aad};
use crate::vision::embed::Embedding;

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

/// Writes one enrollment inside `conn`'s transaction: the person (a name not given keeps the
/// stored one, groups not given keep the stored ones) and their templates.
pub(super) fn save_enrollment(conn: &Connection, key: &Key, e: &Enrollment<'_>, now: &str) -> rusqlite::Result<()> {
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

/// Writes a person's new templates inside a transaction; with `replace`, their earlier templates
/// of the same recognizers are deleted first.
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

fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_to_f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Store {
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
        let sql = StoreError::sqlite(&self.path);
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

    /// People neither seen (an attendance record) nor given a template since `cutoff`: those
    /// `[store] template_retention_days` removes.
    pub fn unseen_since(&self, cutoff: chrono::DateTime<chrono::Utc>) -> Result<Vec<String>, StoreError> {
        let cutoff = cutoff.to_rfc3339();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.person_id FROM people p
                 WHERE COALESCE((SELECT MAX(t.created_at) FROM templates t WHERE t.person_id = p.person_id), p.created_at) < ?1
                   AND NOT EXISTS (SELECT 1 FROM attendance a WHERE a.person_id = p.person_id AND a.decided_at >= ?1)
                 ORDER BY p.person_id",
            )
            .map_err(self.sql())?;
        stmt.query_map(params![cutoff], |r| r.get(0))
            .map_err(self.sql())?
            .collect::<Result<Vec<String>, _>>()
            .map_err(self.sql())
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
}
