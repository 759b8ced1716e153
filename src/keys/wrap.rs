//! A content key wrapped for one device with HPKE (RFC 9180), base mode, suite
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM: the single-shot seal a backend in any
//! language can reproduce (Python's `pyhpke`, Go's `crypto/hpke`). Only the device whose X25519
//! private key matches can unwrap it.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use zeroize::Zeroizing;

use super::{B64, decode_exact};
use crate::store::Key;
use base64::Engine as _;

pub(super) type Kem = X25519HkdfSha256;
pub(super) type PrivateKey = <Kem as hpke::Kem>::PrivateKey;
type PublicKey = <Kem as hpke::Kem>::PublicKey;
type EncappedKey = <Kem as hpke::Kem>::EncappedKey;

/// A device's public X25519 key: what rosters are sealed to. Shown as base64 of its 32 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingKey(PublicKey);

impl std::fmt::Display for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&B64.encode(self.0.to_bytes()))
    }
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealingKey({self})")
    }
}

impl std::str::FromStr for SealingKey {
    type Err = String;

    /// Base64 of 32 bytes; the error does not repeat the text.
    fn from_str(text: &str) -> Result<SealingKey, String> {
        let bytes = decode_exact::<32>(text).ok_or(
            "not a sealing key: it must be base64 of 32 bytes (44 characters), as `rollcall keygen --device` and the device's status show it",
        )?;
        PublicKey::from_bytes(&bytes)
            .map(SealingKey)
            .map_err(|_| "not a sealing key: its 32 bytes are not an X25519 public key".to_string())
    }
}

impl SealingKey {
    /// Wraps `content` for this key's device: `info` names the purpose (the envelope's format)
    /// and `aad` binds the wrapping to the envelope's header.
    pub fn wrap(&self, content: &Key, info: &[u8], aad: &[u8]) -> Wrapped {
        // Sealing to a valid public key with in-memory buffers cannot fail; an error would leave
        // an empty wrapping no device opens, and the publisher's own check says so.
        match hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(
            &OpModeS::Base,
            &self.0,
            info,
            content.secret_bytes(),
            aad,
        ) {
            Ok((enc, key)) => Wrapped {
                enc: B64.encode(enc.to_bytes()),
                key: B64.encode(key),
            },
            Err(_) => Wrapped {
                enc: String::new(),
                key: String::new(),
            },
        }
    }
}

/// A wrapped content key, as it travels: HPKE's encapsulated key and the sealed content key,
/// each in base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    /// The encapsulated key (32 bytes).
    pub enc: String,
    /// The content key sealed (32 bytes and a 16-byte tag).
    pub key: String,
}

/// Unwraps a content key with `private`; `None` if it was not wrapped for that key, or was
/// altered, or is malformed.
pub(super) fn unwrap(private: &PrivateKey, wrapped: &Wrapped, info: &[u8], aad: &[u8]) -> Option<Key> {
    let enc = EncappedKey::from_bytes(&decode_exact::<32>(&wrapped.enc)?).ok()?;
    let sealed = decode_exact::<48>(&wrapped.key)?;
    let plain = Zeroizing::new(
        hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(&OpModeR::Base, private, &enc, info, &sealed, aad).ok()?,
    );
    Key::from_bytes(plain.as_slice())
}

/// The key pair whose private key is derived from `seed` (RFC 9180 `DeriveKeyPair`).
pub(super) fn derive(seed: &Key) -> (PrivateKey, SealingKey) {
    let (private, public) = Kem::derive_keypair(seed.secret_bytes());
    (private, SealingKey(public))
}
