//! Ed25519 signatures: the backend's over rosters and timetables, a device's over what it
//! publishes. Verification is strict (`verify_strict`): no malleable or small-order forms.

use ed25519_dalek::{Signer as _, SigningKey as Ed25519Secret, VerifyingKey};

use super::{B64, decode_exact};
use crate::store::{Key, KeySource};
use base64::Engine as _;

/// Where the backend's signing key may come from for `rollcall roster publish`, besides
/// `--signing-key`. Devices never hold it.
pub const SIGNING_KEY_SOURCE: KeySource = KeySource {
    what: "signing key for rosters",
    config_key: "--signing-key",
    env: "ROLLCALL_SIGNING_KEY",
    file_env: "ROLLCALL_SIGNING_KEY_FILE",
    credential: "rollcall.signing-key",
};

/// A private Ed25519 key, made from a 32-byte seed. Never printed; wiped when dropped.
pub struct SigningKey(Ed25519Secret);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(verifies as {})", self.verify_key())
    }
}

impl SigningKey {
    /// The key whose seed is `seed` (RFC 8032: the seed is the private key).
    pub fn from_seed(seed: &Key) -> SigningKey {
        SigningKey(Ed25519Secret::from_bytes(seed.secret_bytes()))
    }

    /// The public half, which checks what this key signs.
    pub fn verify_key(&self) -> VerifyKey {
        VerifyKey(self.0.verifying_key())
    }

    /// The signature of `message`, in base64 (64 bytes).
    pub fn sign(&self, message: &[u8]) -> String {
        B64.encode(self.0.sign(message).to_bytes())
    }
}

/// A public Ed25519 key: checks signatures. Shown and written as base64 of its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyKey(VerifyingKey);

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyKey({self})")
    }
}

impl std::fmt::Display for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&B64.encode(self.0.as_bytes()))
    }
}

impl std::str::FromStr for VerifyKey {
    type Err = String;

    /// Base64 of 32 bytes that are a point of the curve. The error says what was wrong without
    /// repeating the text.
    fn from_str(text: &str) -> Result<VerifyKey, String> {
        let bytes = decode_exact::<32>(text)
            .ok_or("not a verifying key: it must be base64 of 32 bytes (44 characters), as `rollcall keygen --signing` prints it")?;
        VerifyingKey::from_bytes(&bytes)
            .map(VerifyKey)
            .map_err(|_| "not a verifying key: its 32 bytes are not an Ed25519 public key".to_string())
    }
}

/// The systemd credential that may hold the backend's verifying key.
pub const VERIFY_KEY_CREDENTIAL: &str = "rollcall.roster-verify-key";

impl VerifyKey {
    /// The backend's verifying key: `[mqtt] roster_verify_key`, else the systemd credential
    /// `rollcall.roster-verify-key`; `Ok(None)` when neither is set.
    pub fn configured(mqtt: &crate::config::MqttConfig) -> Result<Option<VerifyKey>, String> {
        if let Some(text) = &mqtt.roster_verify_key {
            return text
                .parse()
                .map(Some)
                .map_err(|e| format!("[mqtt] roster_verify_key: {e}"));
        }
        let Some(path) = crate::private_file::credential(VERIFY_KEY_CREDENTIAL) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        text.parse().map(Some).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether `signature` (base64 of 64 bytes) is this key's over `message`. Anything malformed
    /// is simply not a valid signature.
    pub fn verifies(&self, message: &[u8], signature: &str) -> bool {
        let Some(bytes) = decode_exact::<64>(signature) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let key = SigningKey::from_seed(&Key::generate());
        let signature = key.sign(b"roster version 3");
        let public: VerifyKey = key.verify_key().to_string().parse().unwrap();
        assert!(public.verifies(b"roster version 3", &signature));
        assert!(!public.verifies(b"roster version 4", &signature));
        let other = SigningKey::from_seed(&Key::generate()).verify_key();
        assert!(!other.verifies(b"roster version 3", &signature));
        for junk in ["", "AAAA", "not base64!", &"A".repeat(200)] {
            assert!(!public.verifies(b"roster version 3", junk));
        }
        let mut bytes = B64.decode(&signature).unwrap();
        bytes[10] ^= 1;
        assert!(!public.verifies(b"roster version 3", &B64.encode(bytes)));
    }

    #[test]
    fn verifying_keys_are_parsed_with_a_clear_error() {
        assert!("".parse::<VerifyKey>().unwrap_err().contains("base64 of 32 bytes"));
        assert!("AAAA".parse::<VerifyKey>().unwrap_err().contains("44 characters"));
        let secret = "do-not-echo-".repeat(3);
        assert!(!secret.parse::<VerifyKey>().unwrap_err().contains("do-not-echo"));
        assert!(format!("{:?}", SigningKey::from_seed(&Key::generate())).starts_with("SigningKey(verifies as "));
    }
}
