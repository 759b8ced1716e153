//! The sealed envelope a roster or a timetable travels in: a header in clear, the body sealed with
//! AES-256-GCM under the site key, and the header bound to the ciphertext as associated data.
//!
//! What an envelope says is believed only once it authenticates: [`open`] checks the tag before it
//! looks at the format, the scope, the recognizer or the version, and every error about an
//! unauthenticated message is a fixed reason plus at most a short, sanitised summary
//! ([`crate::untrusted::summary`]). The associated data is built from the header's exact bytes on
//! the wire (`created_at` is kept as the string that was sent), so any backend that follows
//! `docs/mqtt.md` reproduces it byte for byte.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::store::Key;
use crate::untrusted::summary;

/// The envelope's format tag for a roster.
pub const FORMAT: &str = "rollcall-roster/2";
/// The format tag of a timetable sent the same way (no recognizer; the plaintext is a
/// `[timetable]` section as JSON).
pub const TIMETABLE_FORMAT: &str = "rollcall-timetable/2";
/// How far a template's length may be from 1: a unit vector written as `f32` is within 1e-6; a
/// template far from unit length would out-score everyone (or no one) in a cosine search.
pub const UNIT_TOLERANCE: f32 = 0.01;

/// Whom an envelope is meant for: every device of a site, or one device. Sealed into the header,
/// so a roster for one room cannot be replayed to another, or to the whole site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every device of the site.
    Site(String),
    /// One device of the site.
    Device {
        /// The site.
        site: String,
        /// The device.
        device: String,
    },
}

impl Scope {
    /// The site part.
    pub fn site(&self) -> &str {
        match self {
            Scope::Site(site) | Scope::Device { site, .. } => site,
        }
    }

    /// The device part, empty for a site-wide envelope.
    pub fn device(&self) -> &str {
        match self {
            Scope::Site(_) => "",
            Scope::Device { device, .. } => device,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Site(site) => write!(f, "site `{}`", summary(site)),
            Scope::Device { site, device } => write!(f, "device `{}` of site `{}`", summary(device), summary(site)),
        }
    }
}

/// The sealed roster or timetable, as stored or sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// [`FORMAT`] or [`TIMETABLE_FORMAT`].
    pub format: String,
    /// Increases with every roster (or timetable) the backend issues.
    pub version: u64,
    /// Recognizer every template was made with (empty, and left out, for a timetable).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recognizer: String,
    /// The site it is meant for.
    pub site: String,
    /// The one device it is meant for; absent for every device of the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// When it was made (RFC 3339), kept as sent: it is part of the associated data.
    pub created_at: String,
    /// GCM nonce, base64.
    pub nonce: String,
    /// Sealed body JSON, base64, with the GCM tag at its end.
    pub ciphertext: String,
}

impl Envelope {
    /// Whom it is meant for.
    pub fn scope(&self) -> Scope {
        match &self.device {
            None => Scope::Site(self.site.clone()),
            Some(device) => Scope::Device {
                site: self.site.clone(),
                device: device.clone(),
            },
        }
    }
}

/// Why an envelope was refused. It is refused whole: nothing of it is applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RosterError {
    /// Not JSON of the envelope's shape (the parser's complaint, summarised).
    #[error("not an envelope: {0}")]
    Malformed(String),
    /// Too big to read.
    #[error("{size} bytes, above the limit of {max} ([mqtt] roster_max_bytes)")]
    TooLarge { size: usize, max: usize },
    /// Wrong key, or altered in transit. Nothing an unauthentic message says is repeated.
    #[error("it does not decrypt and authenticate under the site key (wrong key, or altered)")]
    Unauthentic,
    /// Authentic, but another kind of envelope.
    #[error("format `{found}`, expected `{expected}`")]
    Format { found: String, expected: &'static str },
    /// Authentic, but meant for someone else.
    #[error("it is sealed for {sealed_for}, but arrived where {expected} takes it")]
    OutOfScope { sealed_for: String, expected: String },
    /// Not newer than the highest version ever applied.
    #[error("version {version} is not newer than version {current}, the newest applied")]
    Stale { version: u64, current: u64 },
    /// Made with another recognizer.
    #[error("its templates were made by `{found}`, but this device runs `{expected}`")]
    OtherRecognizer { found: String, expected: String },
    /// Decrypted, but its contents are not a roster or timetable.
    #[error("the decrypted contents are malformed: {0}")]
    Contents(String),
    /// A template that cannot be right.
    #[error("person `{person}`: template {index} {problem}")]
    Template {
        person: String,
        index: usize,
        problem: String,
    },
}

impl RosterError {
    /// Whether the message was authentic: sealed under the key, so the backend (or whoever holds
    /// the key) sent it. Only such refusals are worth the audit trail, which is kept for good;
    /// junk from anyone who can publish is only counted.
    pub fn authentic(&self) -> bool {
        !matches!(
            self,
            RosterError::Malformed(_) | RosterError::TooLarge { .. } | RosterError::Unauthentic
        )
    }

    /// The reason in a few fixed words, for alerts that sum up many refusals.
    pub fn reason(&self) -> &'static str {
        match self {
            RosterError::Malformed(_) => "not an envelope",
            RosterError::TooLarge { .. } => "too large",
            RosterError::Unauthentic => "not authentic",
            RosterError::Format { .. } => "wrong format",
            RosterError::OutOfScope { .. } => "meant for someone else",
            RosterError::Stale { .. } => "not newer",
            RosterError::OtherRecognizer { .. } => "other recognizer",
            RosterError::Contents(_) => "malformed contents",
            RosterError::Template { .. } => "bad template",
        }
    }
}

/// The associated data: `format \0 version \0 recognizer \0 site \0 device \0 created_at`, each
/// exactly as on the wire (an absent device is empty).
fn aad(env: &Envelope) -> Vec<u8> {
    format!(
        "{}\0{}\0{}\0{}\0{}\0{}",
        env.format,
        env.version,
        env.recognizer,
        env.site,
        env.device.as_deref().unwrap_or(""),
        env.created_at
    )
    .into_bytes()
}

/// Seals `body` as an envelope of `format` for `scope`, stamped now.
pub fn seal_json(
    format: &str,
    body: &impl Serialize,
    version: u64,
    recognizer: &str,
    scope: &Scope,
    key: &Key,
) -> Envelope {
    let mut env = Envelope {
        format: format.into(),
        version,
        recognizer: recognizer.into(),
        site: scope.site().to_string(),
        device: match scope {
            Scope::Site(_) => None,
            Scope::Device { device, .. } => Some(device.clone()),
        },
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        nonce: String::new(),
        ciphertext: String::new(),
    };
    // Serialising plain data (strings, numbers, vectors) cannot fail.
    let plain = serde_json::to_vec(body).unwrap_or_default();
    let (nonce, ct) = key.seal(&plain, &aad(&env));
    let b64 = base64::engine::general_purpose::STANDARD;
    env.nonce = b64.encode(nonce);
    env.ciphertext = b64.encode(ct);
    env
}

/// Parses envelope JSON, refusing anything over `max_bytes` before parsing. Nothing in it is
/// believed yet: [`open`] authenticates it.
pub fn parse_envelope(bytes: &[u8], max_bytes: usize) -> Result<Envelope, RosterError> {
    if bytes.len() > max_bytes {
        return Err(RosterError::TooLarge {
            size: bytes.len(),
            max: max_bytes,
        });
    }
    let env: Envelope = serde_json::from_slice(bytes).map_err(|e| RosterError::Malformed(summary(&e.to_string())))?;
    if chrono::DateTime::parse_from_rfc3339(&env.created_at).is_err() {
        return Err(RosterError::Malformed("created_at is not an RFC 3339 time".into()));
    }
    Ok(env)
}

/// Authenticates an envelope under `key`, then checks that it is of `format` and meant for
/// `expected`; returns its plaintext.
pub fn open(env: &Envelope, key: &Key, format: &'static str, expected: &Scope) -> Result<Vec<u8>, RosterError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let nonce = b64.decode(&env.nonce).map_err(|_| RosterError::Unauthentic)?;
    let ct = b64.decode(&env.ciphertext).map_err(|_| RosterError::Unauthentic)?;
    let plain = key.open(&nonce, &ct, &aad(env)).ok_or(RosterError::Unauthentic)?;
    if env.format != format {
        return Err(RosterError::Format {
            found: summary(&env.format),
            expected: format,
        });
    }
    if env.scope() != *expected {
        return Err(RosterError::OutOfScope {
            sealed_for: env.scope().to_string(),
            expected: expected.to_string(),
        });
    }
    Ok(plain)
}

/// The problem with one template, if any: its length, its values, its norm.
pub fn template_problem(t: &[f32], dim: usize, recognizer: &str) -> Option<String> {
    if t.len() != dim {
        return Some(format!("has {} values, {} takes {dim}", t.len(), summary(recognizer)));
    }
    if t.iter().any(|v| !v.is_finite()) {
        return Some("has non-finite values".to_string());
    }
    let norm = t.iter().map(|v| v * v).sum::<f32>().sqrt();
    if (norm - 1.0).abs() > UNIT_TOLERANCE {
        return Some(format!(
            "has length {norm:.3}, not 1 (templates are unit vectors, within {UNIT_TOLERANCE})"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Scope {
        Scope::Site("hillside".into())
    }

    #[test]
    fn authentic_envelopes_open_only_for_their_format_and_scope() {
        let key = Key::generate();
        let env = seal_json(FORMAT, &serde_json::json!({"people": []}), 3, "r", &site(), &key);
        let bytes = serde_json::to_vec(&env).unwrap();
        let parsed = parse_envelope(&bytes, 1 << 20).unwrap();
        assert!(parsed.created_at.ends_with('Z'), "{}", parsed.created_at);
        assert!(open(&parsed, &key, FORMAT, &site()).is_ok());
        assert_eq!(
            open(&env, &Key::generate(), FORMAT, &site()),
            Err(RosterError::Unauthentic)
        );
        for tamper in [
            |e: &mut Envelope| e.version = 4,
            |e: &mut Envelope| e.site = "elsewhere".into(),
            |e: &mut Envelope| e.device = Some("room-1".into()),
            |e: &mut Envelope| e.created_at = e.created_at.replace('Z', "+00:00"),
            |e: &mut Envelope| e.format = TIMETABLE_FORMAT.into(),
        ] {
            let mut changed = env.clone();
            tamper(&mut changed);
            assert_eq!(
                open(&changed, &key, FORMAT, &site()),
                Err(RosterError::Unauthentic),
                "the whole header is bound: {changed:?}"
            );
        }
        assert!(matches!(
            open(&env, &key, TIMETABLE_FORMAT, &site()),
            Err(RosterError::Format { .. })
        ));
        let room = Scope::Device {
            site: "hillside".into(),
            device: "room-1".into(),
        };
        assert!(matches!(
            open(&env, &key, FORMAT, &room),
            Err(RosterError::OutOfScope { .. })
        ));
        let for_room = seal_json(FORMAT, &serde_json::json!({}), 3, "r", &room, &key);
        assert!(open(&for_room, &key, FORMAT, &room).is_ok());
        assert!(matches!(
            open(&for_room, &key, FORMAT, &site()),
            Err(RosterError::OutOfScope { .. })
        ));
        let other_room = Scope::Device {
            site: "hillside".into(),
            device: "room-2".into(),
        };
        assert!(matches!(
            open(&for_room, &key, FORMAT, &other_room),
            Err(RosterError::OutOfScope { .. })
        ));
    }

    #[test]
    fn nothing_unauthenticated_is_echoed_at_length() {
        let huge = "A".repeat(2 << 20);
        let junk = serde_json::json!({"format": huge, "version": 1, "bogus": huge}).to_string();
        let e = parse_envelope(junk.as_bytes(), 32 << 20).unwrap_err();
        assert!(e.to_string().len() < 200, "{}", e.to_string().len());
        let key = Key::generate();
        let mut env = seal_json(FORMAT, &serde_json::json!({}), 1, "r", &site(), &key);
        env.format = huge.clone();
        env.recognizer = huge;
        assert_eq!(open(&env, &key, FORMAT, &site()), Err(RosterError::Unauthentic));
        assert!(matches!(
            parse_envelope(br#"{"format":"f","version":1,"site":"s","created_at":"yesterday","nonce":"","ciphertext":""}"#, 1024),
            Err(RosterError::Malformed(m)) if m.contains("RFC 3339")
        ));
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        fn sealed() -> (Key, Vec<u8>) {
            let key = Key::from_hex(&"ab".repeat(32), "test").unwrap();
            let env = seal_json(FORMAT, &serde_json::json!({"people": []}), 9, "r", &site(), &key);
            (key, serde_json::to_vec(&env).unwrap())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

            /// Whatever the bytes, parsing and opening end in an answer, never a panic, and no
            /// error repeats more than a short summary of them.
            #[test]
            fn arbitrary_bytes_are_refused_briefly(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
                let (key, _) = sealed();
                match parse_envelope(&bytes, 1 << 20) {
                    Ok(env) => prop_assert!(open(&env, &key, FORMAT, &site()).is_err()),
                    Err(e) => prop_assert!(e.to_string().len() < 200, "{}", e),
                }
            }

            /// A sealed envelope with any byte changed, dropped or inserted never opens as
            /// something else: it is refused, or it is the very same envelope.
            #[test]
            fn an_altered_envelope_never_opens(at in any::<prop::sample::Index>(), byte in any::<u8>(), how in 0..3u8) {
                let (key, good) = sealed();
                let mut bytes = good.clone();
                let i = at.index(bytes.len());
                match how {
                    0 => bytes[i] = byte,
                    1 => { bytes.remove(i); }
                    _ => bytes.insert(i, byte),
                }
                let original = parse_envelope(&good, 1 << 20).unwrap();
                if let Ok(env) = parse_envelope(&bytes, 1 << 20) {
                    match open(&env, &key, FORMAT, &site()) {
                        Ok(_) => prop_assert_eq!(env, original),
                        Err(e) => prop_assert!(e.to_string().len() < 200),
                    }
                }
            }

            /// Any string in any header field is echoed, at most, as a short summary.
            #[test]
            fn header_fields_are_summarised(text in ".{0,3000}") {
                let (key, good) = sealed();
                let mut env = parse_envelope(&good, 1 << 20).unwrap();
                env.format = text.clone();
                env.site = text;
                let e = open(&env, &key, FORMAT, &site()).unwrap_err();
                prop_assert!(e.to_string().len() < 300);
            }
        }
    }

    #[test]
    fn templates_must_be_unit_vectors_of_the_right_length() {
        assert_eq!(template_problem(&[0.6, 0.8], 2, "r"), None);
        assert!(template_problem(&[0.6, 0.8], 3, "r").unwrap().contains("has 2 values"));
        assert!(
            template_problem(&[f32::NAN, 0.0], 2, "r")
                .unwrap()
                .contains("non-finite")
        );
        assert!(template_problem(&[6.0, 8.0], 2, "r").unwrap().contains("length 10.000"));
        assert!(template_problem(&[0.0, 0.0], 2, "r").is_some());
    }
}
