//! Key rotation: every template sealed again under a new key, in one transaction, so a store is
//! never half under one key and half under the other.

use rusqlite::{TransactionBehavior, params};

use super::{KEY_CHECK, KEY_CHECK_AAD, Key, Store, StoreError, template_aad};

/// A sealed template as stored: row id, person, recognizer, nonce, ciphertext.
type SealedRow = (i64, String, String, Vec<u8>, Vec<u8>);

impl Store {
    /// Seals every template and the key check under `new`, and from then on uses it. A
    /// template that does not open under the current key is an error naming it, and nothing
    /// changes. Returns how many templates were sealed again.
    pub fn rekey(&mut self, new: Key) -> Result<u64, StoreError> {
        let sql = StoreError::sqlite(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let rows: Vec<SealedRow> = {
            let mut stmt = tx
                .prepare("SELECT id, person_id, recognizer, nonce, ciphertext FROM templates")
                .map_err(sql)?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .map_err(sql)?
                .collect::<Result<_, _>>()
                .map_err(sql)?
        };
        for (id, person, recognizer, nonce, ciphertext) in &rows {
            let aad = template_aad(person, recognizer);
            let plain = self
                .key
                .open(nonce, ciphertext, &aad)
                .ok_or_else(|| StoreError::Tampered {
                    path: self.path.clone(),
                    what: format!("a template of `{person}`"),
                })?;
            let (nonce, ciphertext) = new.seal(&plain, &aad);
            tx.execute(
                "UPDATE templates SET nonce = ?1, ciphertext = ?2 WHERE id = ?3",
                params![nonce, ciphertext, id],
            )
            .map_err(sql)?;
        }
        let (nonce, ciphertext) = new.seal(KEY_CHECK, KEY_CHECK_AAD);
        tx.execute(
            "UPDATE key_check SET nonce = ?1, ciphertext = ?2 WHERE id = 1",
            params![nonce, ciphertext],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        // No copy sealed under the old key may linger in the WAL.
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(self.sql())?;
        self.key = new;
        Ok(rows.len() as u64)
    }
}
