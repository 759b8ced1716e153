//! A device's own key pair: X25519 to open the rosters sealed to it, Ed25519 to sign what it
//! publishes. Both come from one 32-byte seed that never leaves the box.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::signing::SigningKey;
use super::wrap::{self, PrivateKey, SealingKey, Wrapped};
use crate::store::{Key, KeySource, StoreError};

/// Where a device's seed may come from. When none is set the daemon makes one beside its store
/// on first start ([`DeviceKey::locate_or_create`]).
pub const DEVICE_KEY_SOURCE: KeySource = KeySource {
    what: "device key",
    config_key: "[device] key_file",
    env: "ROLLCALL_DEVICE_KEY",
    file_env: "ROLLCALL_DEVICE_KEY_FILE",
    credential: "rollcall.device-key",
};

/// This device's private keys. Never printed; wiped when dropped.
pub struct DeviceKey {
    opening: PrivateKey,
    sealing: SealingKey,
    signing: SigningKey,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({:?})", self.public())
    }
}

/// A device's public keys, as its status shows them and the backend registers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicePublic {
    /// X25519, base64: what the backend seals this device's rosters to.
    pub sealing: String,
    /// Ed25519, base64: what checks this device's events, alerts and audit records.
    pub signing: String,
}

impl DeviceKey {
    /// The key pairs made from `seed`: the X25519 pair by RFC 9180's `DeriveKeyPair`, the
    /// Ed25519 pair with the seed as its private key (RFC 8032). The two derivations share
    /// nothing, so neither key tells anything of the other.
    pub fn from_seed(seed: &Key) -> DeviceKey {
        let (opening, sealing) = wrap::derive(seed);
        DeviceKey {
            opening,
            sealing,
            signing: SigningKey::from_seed(seed),
        }
    }

    /// The public halves.
    pub fn public(&self) -> DevicePublic {
        DevicePublic {
            sealing: self.sealing.to_string(),
            signing: self.signing.verify_key().to_string(),
        }
    }

    /// The public key rosters are sealed to.
    pub fn sealing_key(&self) -> &SealingKey {
        &self.sealing
    }

    /// The key this device signs with.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// Unwraps a content key wrapped for this device; `None` if it was wrapped for another, or
    /// altered.
    pub fn unwrap(&self, wrapped: &Wrapped, info: &[u8], aad: &[u8]) -> Option<Key> {
        wrap::unwrap(&self.opening, wrapped, info, aad)
    }

    /// The key `config` names (`[device] key_file`, or the environment, or a credential), else
    /// the one beside its store, made on first start.
    pub fn of(config: &crate::config::Config) -> Result<DeviceKey, StoreError> {
        let default = crate::config::DeviceConfig::default_key_file(&config.store.path);
        DeviceKey::locate_or_create(config.device.key_file.as_deref(), &default)
    }

    /// Finds the device's seed (`configured` file, else its environment variables, else its
    /// systemd credential); with none of them set, reads or makes `default` (0600), so a new box
    /// has its own key pair from its first start, with nothing for the admin to do.
    pub fn locate_or_create(configured: Option<&Path>, default: &Path) -> Result<DeviceKey, StoreError> {
        match Key::locate_from(&DEVICE_KEY_SOURCE, configured) {
            Ok(seed) => Ok(DeviceKey::from_seed(&seed)),
            Err(StoreError::NoKey(_)) => {
                if !default.exists() {
                    let seed = Key::generate();
                    match seed.write_new(default) {
                        Ok(()) => {
                            tracing::info!(path = %default.display(), "made this device's own key pair");
                            return Ok(DeviceKey::from_seed(&seed));
                        }
                        // Another process made it meanwhile: read theirs.
                        Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(DeviceKey::from_seed(&Key::from_file(default)?))
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_wrapped_for_one_device_opens_only_there() {
        let (a, b) = (
            DeviceKey::from_seed(&Key::generate()),
            DeviceKey::from_seed(&Key::generate()),
        );
        let content = Key::generate();
        let wrapped = a.sealing_key().wrap(&content, b"rollcall-roster/3", b"header");
        let opened = a.unwrap(&wrapped, b"rollcall-roster/3", b"header").unwrap();
        assert_eq!(opened.to_hex(), content.to_hex());
        assert!(
            b.unwrap(&wrapped, b"rollcall-roster/3", b"header").is_none(),
            "another device"
        );
        assert!(
            a.unwrap(&wrapped, b"rollcall-timetable/3", b"header").is_none(),
            "another purpose"
        );
        assert!(
            a.unwrap(&wrapped, b"rollcall-roster/3", b"other header").is_none(),
            "another envelope"
        );
        let swapped = Wrapped {
            enc: wrapped.enc.clone(),
            key: b.sealing_key().wrap(&content, b"rollcall-roster/3", b"header").key,
        };
        assert!(
            a.unwrap(&swapped, b"rollcall-roster/3", b"header").is_none(),
            "mixed wrappings"
        );
        for junk in ["", "AAAA", "!!"] {
            let bad = Wrapped {
                enc: junk.into(),
                key: wrapped.key.clone(),
            };
            assert!(a.unwrap(&bad, b"rollcall-roster/3", b"header").is_none());
        }
    }

    #[test]
    fn private_keys_are_wiped_when_dropped() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        // The Ed25519 key itself; the seed is a `Key` (Zeroizing), and hpke's X25519 private
        // key wraps x25519-dalek's StaticSecret, which wipes itself too.
        wiped_on_drop::<ed25519_dalek::SigningKey>();
    }

    #[test]
    fn one_seed_gives_the_same_public_keys_every_time() {
        let seed = Key::generate();
        let (one, two) = (DeviceKey::from_seed(&seed), DeviceKey::from_seed(&seed));
        assert_eq!(one.public(), two.public());
        assert_ne!(one.public().sealing, one.public().signing);
        let parsed: SealingKey = one.public().sealing.parse().unwrap();
        assert_eq!(&parsed, one.sealing_key());
        assert_ne!(DeviceKey::from_seed(&Key::generate()).public(), one.public());
    }

    #[test]
    fn a_new_box_makes_its_key_once_and_keeps_it() {
        let dir = std::env::temp_dir().join(format!("rollcall-device-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let default = dir.join("device.key");
        let first = DeviceKey::locate_or_create(None, &default).unwrap();
        let again = DeviceKey::locate_or_create(None, &default).unwrap();
        assert_eq!(first.public(), again.public());
        let configured = dir.join("configured.key");
        assert!(
            matches!(
                DeviceKey::locate_or_create(Some(&configured), &default),
                Err(StoreError::BadKey { .. })
            ),
            "a configured key that is missing is an error, not a new key"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
