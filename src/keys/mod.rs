//! Who may say what. The backend signs every roster and timetable with its own Ed25519 key, and
//! devices hold only its verifying key, so no device can make a roster another accepts. Each
//! device has its own key pair: an X25519 key that rosters are sealed to (HPKE, RFC 9180), so a
//! stolen box opens only what was sent to it, and an Ed25519 key it signs what it publishes with,
//! so the backend can tell a device's records from anything else on the broker.
//!
//! Every secret here is kept as a 32-byte seed in a [`Key`](crate::store::Key) (a 0600 file of 64
//! hex digits, or a systemd credential), and the key pairs are derived from it: the seed is all
//! that is ever written, and it is wiped from memory when dropped, as are the keys made from it.

mod device;
mod signing;
mod wrap;

pub use device::{DEVICE_KEY_SOURCE, DeviceKey, DevicePublic};
pub use signing::{SIGNING_KEY_SOURCE, SigningKey, VERIFY_KEY_CREDENTIAL, VerifyKey};
pub use wrap::{SealingKey, Wrapped};

use base64::Engine as _;

/// Standard base64, as every key and signature travels.
pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Decodes base64 of exactly `N` bytes; `None` for anything else.
pub(crate) fn decode_exact<const N: usize>(text: &str) -> Option<[u8; N]> {
    B64.decode(text.trim()).ok()?.try_into().ok()
}
