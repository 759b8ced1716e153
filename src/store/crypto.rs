//! Encryption at rest: AES-256-GCM with a random nonce per record and the record's identity
//! (person id, recognizer id) as associated data, so a template cannot be moved to another person
//! or model without failing authentication.

use std::path::Path;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use super::StoreError;

/// Length of a GCM nonce.
pub const NONCE_LEN: usize = 12;

/// Where one kind of key may come from, besides a path in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySource {
    /// What the key is for, in messages.
    pub what: &'static str,
    /// The config key naming its file.
    pub config_key: &'static str,
    /// The environment variable that may hold it, as 64 hex digits.
    pub env: &'static str,
    /// The environment variable that may name its file.
    pub file_env: &'static str,
    /// Its file's name among systemd credentials (`LoadCredential=NAME:...`).
    pub credential: &'static str,
}

/// What [`Key::origin`] says when no source of a key is set.
pub const NOWHERE: &str = "nowhere: none is set";

/// The device's own key, which seals the store.
pub const KEY_SOURCE: KeySource = KeySource {
    what: "encryption key",
    config_key: "[store] key_file",
    env: "ROLLCALL_KEY",
    file_env: "ROLLCALL_KEY_FILE",
    credential: "rollcall.key",
};

/// The site key shared with the backend, which seals rosters in transit.
pub const SITE_KEY_SOURCE: KeySource = KeySource {
    what: "site key for rosters",
    config_key: "[mqtt] roster_key_file",
    env: "ROLLCALL_SITE_KEY",
    file_env: "ROLLCALL_SITE_KEY_FILE",
    credential: "rollcall.site-key",
};

/// A 256-bit key. Never printed, and wiped from memory when dropped, as is every copy made on
/// the way in (file text, hex, bytes) and the cipher built from it for each use (aes-gcm's
/// `zeroize` feature).
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

impl Key {
    /// A fresh random key.
    pub fn generate() -> Key {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut_slice());
        Key(key)
    }

    /// Parses 64 hex digits (surrounding whitespace allowed); `origin` names the source in errors.
    pub fn from_hex(text: &str, origin: &str) -> Result<Key, StoreError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| StoreError::BadKey {
            origin: origin.to_string(),
            problem: "it is not hexadecimal".into(),
        })?);
        if bytes.len() != 32 {
            return Err(StoreError::BadKey {
                origin: origin.to_string(),
                problem: format!("it has {} bytes, a key has 32 (64 hex digits)", bytes.len()),
            });
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes);
        Ok(Key(key))
    }

    /// The key of exactly 32 `bytes`; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Key> {
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(bytes.get(..32).filter(|_| bytes.len() == 32)?);
        Some(Key(key))
    }

    /// The key as 64 hex digits, as key files hold it.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_slice()))
    }

    /// Reads a key file, refusing one that group or others can read or write.
    pub fn from_file(path: &Path) -> Result<Key, StoreError> {
        let origin = path.display().to_string();
        let bytes = crate::private_file::read_secret(path).map_err(|e| StoreError::BadKey {
            problem: match e.kind() {
                std::io::ErrorKind::Other => e.to_string(),
                std::io::ErrorKind::NotFound => {
                    format!("cannot read it: {e}. Create one with `rollcall keygen --out {origin}`")
                }
                _ => format!("cannot read it: {e}"),
            },
            origin: origin.clone(),
        })?;
        let text = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
        Key::from_hex(&text, &origin)
    }

    /// Finds the store's key: the config's key file, else `ROLLCALL_KEY`, else `ROLLCALL_KEY_FILE`,
    /// else the systemd credential. Never from the config file's own text.
    pub fn locate(configured: Option<&Path>) -> Result<Key, StoreError> {
        Key::locate_from(&KEY_SOURCE, configured)
    }

    /// Finds a key of `source`'s kind: the configured file, else its environment variables, else
    /// its systemd credential.
    pub fn locate_from(source: &KeySource, configured: Option<&Path>) -> Result<Key, StoreError> {
        if let Some(p) = configured {
            return Key::from_file(p);
        }
        if let Ok(hex) = std::env::var(source.env).map(Zeroizing::new) {
            return Key::from_hex(&hex, source.env);
        }
        if let Some(p) = std::env::var_os(source.file_env) {
            return Key::from_file(Path::new(&p));
        }
        if let Some(p) = crate::private_file::credential(source.credential) {
            return Key::from_file(&p);
        }
        Err(StoreError::NoKey(*source))
    }

    /// Where [`Key::locate_from`] would take a key of `source`'s kind from, in words, without
    /// reading it: for the privacy report.
    pub fn origin(source: &KeySource, configured: Option<&Path>) -> String {
        if let Some(p) = configured {
            return format!("the file {} ({})", p.display(), source.config_key);
        }
        if std::env::var_os(source.env).is_some() {
            return format!("the environment variable {}", source.env);
        }
        if let Some(p) = std::env::var_os(source.file_env) {
            return format!("the file {} (${})", Path::new(&p).display(), source.file_env);
        }
        if crate::private_file::credential(source.credential).is_some() {
            return format!("the systemd credential {}", source.credential);
        }
        NOWHERE.to_string()
    }

    /// Writes the key to a new file readable only by its owner; never overwrites.
    pub fn write_new(&self, path: &Path) -> Result<(), StoreError> {
        let failed = |e: std::io::Error| StoreError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let line = Zeroizing::new(format!("{}\n", *self.to_hex()));
        crate::private_file::create_new(path, line.as_bytes()).map_err(failed)
    }

    /// The key's bytes, for the keys derived from it (a device's or the backend's key pair).
    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(self.0.as_slice()))
    }

    /// Encrypts `plaintext` bound to `aad`: returns (nonce, ciphertext with tag).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // Encryption with a valid key and in-memory buffers cannot fail.
        let ct = self
            .cipher()
            .encrypt(&nonce, Payload { msg: plaintext, aad })
            .unwrap_or_default();
        (nonce.to_vec(), ct)
    }

    /// Decrypts and authenticates; `None` when the data, its identity or the key is wrong.
    pub fn open(&self, nonce: &[u8], ciphertext: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if nonce.len() != NONCE_LEN {
            return None;
        }
        self.cipher()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
            .ok()
    }
}

/// Associated data for a template: who it belongs to and which model made it.
pub fn template_aad(person_id: &str, recognizer: &str) -> Vec<u8> {
    format!("rollcall-template/1\0{person_id}\0{recognizer}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_material_is_wiped_when_dropped() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        // The key's own bytes, and the AES key schedule inside the cipher made for each use.
        wiped_on_drop::<Zeroizing<[u8; 32]>>();
        wiped_on_drop::<aes::Aes256>();
        let k = Key::generate();
        assert_eq!(
            Key::from_hex(&k.to_hex(), "test").map(|k| k.to_hex()).ok(),
            Some(k.to_hex())
        );
    }

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_identity() {
        let k = Key::generate();
        let (n, ct) = k.seal(b"embedding", &template_aad("ann", "sface"));
        assert_eq!(k.open(&n, &ct, &template_aad("ann", "sface")).unwrap(), b"embedding");
        assert!(
            k.open(&n, &ct, &template_aad("bob", "sface")).is_none(),
            "moved to another person"
        );
        assert!(
            k.open(&n, &ct, &template_aad("ann", "arcface")).is_none(),
            "moved to another model"
        );
        assert!(
            Key::generate().open(&n, &ct, &template_aad("ann", "sface")).is_none(),
            "wrong key"
        );
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(k.open(&n, &bad, &template_aad("ann", "sface")).is_none(), "tampered");
        let (n2, _) = k.seal(b"embedding", b"");
        assert_ne!(n, n2, "nonces must not repeat");
    }

    #[test]
    fn key_files_are_private_and_checked() {
        let dir = std::env::temp_dir().join(format!("rollcall-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("site.key");
        let k = Key::generate();
        k.write_new(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(k.write_new(&p).is_err(), "never overwrites a key");
        let back = Key::from_file(&p).unwrap();
        let (n, ct) = k.seal(b"x", b"");
        assert_eq!(back.open(&n, &ct, b"").unwrap(), b"x");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(Key::from_file(&p).unwrap_err().to_string().contains("chmod 600"));
        assert!(Key::from_hex("abcd", "t").unwrap_err().to_string().contains("2 bytes"));
        assert!(format!("{k:?}") == "Key(***)");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
