//! A device's signature on what it publishes: each attendance event, alert, audit record and
//! status carries a `signature` member, so the backend can tell the device's own records from
//! anything else published with broker credentials.
//!
//! The encoding is the payload's own bytes, so no JSON canonicalisation is needed on either
//! side: the device signs `topic \0 payload` with its Ed25519 key, then publishes the payload
//! with `,"signature":"<base64>"` inserted before its closing brace. A backend, before parsing,
//! checks that the bytes end with that member, cuts it out (leaving the closing brace), and
//! verifies. Ed25519 is deterministic, so a row sent again after a reconnect is signed alike.

use crate::keys::{SigningKey, VerifyKey};

/// The member's text up to the signature.
const MEMBER: &[u8] = b",\"signature\":\"";
/// Base64 of a 64-byte signature.
const SIGNATURE_LEN: usize = 88;

/// Bytes the signature adds to a payload.
pub const OVERHEAD: usize = MEMBER.len() + SIGNATURE_LEN + 1;

/// What is signed for `payload` on `topic`.
fn signed_bytes(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(topic.len() + 1 + payload.len());
    bytes.extend_from_slice(topic.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(payload);
    bytes
}

/// `payload` (a JSON object with at least one member, as every message the device sends is)
/// with its signature for `topic` added; anything else is returned as it was.
pub fn sign(key: &SigningKey, topic: &str, payload: Vec<u8>) -> Vec<u8> {
    if payload.len() < 3 || payload.first() != Some(&b'{') || payload.last() != Some(&b'}') {
        return payload;
    }
    let signature = key.sign(&signed_bytes(topic, &payload));
    let mut signed = payload;
    signed.pop();
    signed.extend_from_slice(MEMBER);
    signed.extend_from_slice(signature.as_bytes());
    signed.extend_from_slice(b"\"}");
    signed
}

/// The payload as signed, when `message` on `topic` carries `key`'s valid signature.
pub fn verify(key: &VerifyKey, topic: &str, message: &[u8]) -> Option<Vec<u8>> {
    let tail = MEMBER.len() + SIGNATURE_LEN + 2;
    let cut = message.len().checked_sub(tail)?;
    let (body, member) = message.split_at(cut);
    let signature = member.strip_prefix(MEMBER)?.strip_suffix(b"\"}")?;
    let mut payload = body.to_vec();
    payload.push(b'}');
    key.verifies(&signed_bytes(topic, &payload), std::str::from_utf8(signature).ok()?)
        .then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;

    #[test]
    fn a_signed_message_is_json_and_verifies_only_unaltered_on_its_topic() {
        let key = SigningKey::from_seed(&Key::generate());
        let public = key.verify_key();
        let payload = br#"{"event_id":"e1","person_id":"ann","similarity":0.71}"#.to_vec();
        let signed = sign(&key, "rollcall/v1/s/box-a/attendance", payload.clone());
        let parsed: serde_json::Value = serde_json::from_slice(&signed).unwrap();
        assert_eq!(parsed["person_id"], "ann");
        assert_eq!(parsed["signature"].as_str().unwrap().len(), SIGNATURE_LEN);
        assert_eq!(signed.len(), payload.len() + OVERHEAD);
        assert_eq!(
            verify(&public, "rollcall/v1/s/box-a/attendance", &signed),
            Some(payload.clone())
        );
        assert_eq!(
            sign(&key, "rollcall/v1/s/box-a/attendance", payload),
            signed,
            "deterministic"
        );
        assert!(
            verify(&public, "rollcall/v1/s/box-b/attendance", &signed).is_none(),
            "another topic"
        );
        let altered = String::from_utf8(signed.clone()).unwrap().replace("ann", "bob");
        assert!(verify(&public, "rollcall/v1/s/box-a/attendance", altered.as_bytes()).is_none());
        let other = SigningKey::from_seed(&Key::generate()).verify_key();
        assert!(verify(&other, "rollcall/v1/s/box-a/attendance", &signed).is_none());
        for junk in [&b""[..], b"{}", b"not json", &signed[..signed.len() - 1]] {
            assert!(verify(&public, "t", junk).is_none());
        }
        assert_eq!(sign(&key, "t", b"{}".to_vec()), b"{}", "nothing to sign alongside");
    }
}
