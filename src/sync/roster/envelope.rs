//! The envelope a roster or a timetable travels in: a header in clear, the body sealed with
//! AES-256-GCM, and the header bound to the ciphertext as associated data.
//!
//! Two kinds exist ([`Sealer`]):
//! - **signed** (`rollcall-roster/3`): the backend signs the whole envelope with its Ed25519 key,
//!   and the body's random content key is wrapped for each recipient device with HPKE. A device
//!   holds only the backend's verifying key and its own private key, so it can neither make an
//!   envelope another device accepts nor open one sealed to another device;
//! - **site key** (`rollcall-roster/2`): sealed under a key every device of the site shares,
//!   taken only while a site migrates (`[mqtt] allow_site_key_rosters`).
//!
//! What an envelope says is believed only once it authenticates: [`Opener::open`] checks the
//! signature (or the site key's tag) before it looks at the format, the scope, the recognizer or
//! the version, and every error about an unauthenticated message is a fixed reason plus at most a
//! short, sanitised summary ([`crate::untrusted::summary`]). What is signed and bound is each
//! field's exact text on the wire (`created_at` is kept as the string that was sent), joined by
//! NUL bytes, so any backend that follows `docs/mqtt.md` reproduces it byte for byte; a field
//! holding a NUL is refused unread, which keeps that join unambiguous.

use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::keys::{DeviceKey, SealingKey, SigningKey, VerifyKey, Wrapped};
use crate::store::Key;
use crate::untrusted::summary;

/// The format tag of a signed roster, sealed per device.
pub const FORMAT: &str = "rollcall-roster/3";
/// The format tag of a signed timetable (no recognizer; the plaintext is a `[timetable]` section
/// as JSON).
pub const TIMETABLE_FORMAT: &str = "rollcall-timetable/3";
/// The format tag of a roster under the site key, from before rosters were signed.
pub const SITE_KEY_FORMAT: &str = "rollcall-roster/2";
/// The format tag of a timetable under the site key.
pub const SITE_KEY_TIMETABLE_FORMAT: &str = "rollcall-timetable/2";
/// How far a template's length may be from 1: a unit vector written as `f32` is within 1e-6; a
/// template far from unit length would out-score everyone (or no one) in a cosine search.
pub const UNIT_TOLERANCE: f32 = 0.01;

/// What an envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The enrolled people.
    Roster,
    /// The class timetable.
    Timetable,
}

impl Kind {
    /// Its format tag when signed.
    pub fn format(self) -> &'static str {
        match self {
            Kind::Roster => FORMAT,
            Kind::Timetable => TIMETABLE_FORMAT,
        }
    }

    /// Its format tag under the site key.
    pub fn site_key_format(self) -> &'static str {
        match self {
            Kind::Roster => SITE_KEY_FORMAT,
            Kind::Timetable => SITE_KEY_TIMETABLE_FORMAT,
        }
    }
}

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

/// One device's way in to a signed envelope: the content key wrapped for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// The device's sealing key (X25519, base64), which picks its entry.
    pub to: String,
    /// HPKE's encapsulated key, base64.
    pub enc: String,
    /// The content key sealed by HPKE, base64.
    pub key: String,
}

/// The sealed roster or timetable, as stored or sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// [`FORMAT`] or [`TIMETABLE_FORMAT`] (or the site key's older tags).
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
    /// Signed envelopes: the content key, wrapped for each device that may open it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<Recipient>,
    /// Signed envelopes: the backend's Ed25519 signature (base64) over [`signed_bytes`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signature: String,
}

impl Envelope {
    /// Each recipient's `to`, `enc` and `key`, in order: how they are signed and checked.
    fn recipient_fields(&self) -> impl Iterator<Item = &String> {
        self.recipients.iter().flat_map(|r| [&r.to, &r.enc, &r.key])
    }

    /// Whether any field holds a NUL, which would let two envelopes sign alike.
    fn holds_nul(&self) -> bool {
        let mut fields = [
            &self.format,
            &self.recognizer,
            &self.site,
            &self.created_at,
            &self.nonce,
        ]
        .into_iter()
        .chain(self.device.as_ref())
        .chain(self.recipient_fields())
        .chain([&self.ciphertext, &self.signature]);
        fields.any(|f| f.contains('\0'))
    }

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
    /// Not signed by the backend's key (or, under the site key, sealed under another), or altered
    /// in transit. Nothing an unauthentic message says is repeated.
    #[error(
        "it does not authenticate: not signed with the backend's key ([mqtt] roster_verify_key), or sealed under \
         another key, or altered"
    )]
    Unauthentic,
    /// Under the site key, which this device no longer takes.
    #[error(
        "it is sealed under the site key, which this device no longer takes: the backend must sign rosters \
         (docs/mqtt.md), or set [mqtt] allow_site_key_rosters = true while the site moves over"
    )]
    SiteKeyRefused,
    /// Signed, but this device has no key to check signatures with.
    #[error("it is signed, but this device has no [mqtt] roster_verify_key to check it with")]
    NoVerifyKey,
    /// Signed by the backend, but not sealed to this device's key.
    #[error(
        "it is not sealed to this device's key (sealing key {0}): give the backend this device's \
         current key (`rollcall status` shows it)"
    )]
    NotARecipient(String),
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
            RosterError::Malformed(_)
                | RosterError::TooLarge { .. }
                | RosterError::Unauthentic
                | RosterError::SiteKeyRefused
                | RosterError::NoVerifyKey
        )
    }

    /// The reason in a few fixed words, for alerts that sum up many refusals.
    pub fn reason(&self) -> &'static str {
        match self {
            RosterError::Malformed(_) => "not an envelope",
            RosterError::TooLarge { .. } => "too large",
            RosterError::Unauthentic => "not authentic",
            RosterError::SiteKeyRefused => "site key",
            RosterError::NoVerifyKey => "no verifying key",
            RosterError::NotARecipient(_) => "not sealed to this device",
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
    [
        env.format.as_str(),
        &env.version.to_string(),
        &env.recognizer,
        &env.site,
        env.device.as_deref().unwrap_or(""),
        &env.created_at,
    ]
    .join("\0")
    .into_bytes()
}

/// What the backend signs: the header fields, then each recipient's `to`, `enc` and `key`, then
/// `nonce` and `ciphertext`, each exactly as on the wire, joined by NUL bytes. No field may hold a
/// NUL ([`parse_envelope`] refuses one), so no two envelopes join alike.
pub fn signed_bytes(env: &Envelope) -> Vec<u8> {
    let mut bytes = aad(env);
    for field in env.recipient_fields().chain([&env.nonce, &env.ciphertext]) {
        bytes.push(0);
        bytes.extend_from_slice(field.as_bytes());
    }
    bytes
}

/// How a backend seals an envelope.
#[derive(Debug, Clone, Copy)]
pub enum Sealer<'a> {
    /// Signed with the backend's key, the content key wrapped for each device in `to`.
    Signed {
        /// The backend's signing key.
        by: &'a SigningKey,
        /// The sealing keys of the devices that may open it.
        to: &'a [SealingKey],
    },
    /// Under the site key every device shares (taken only while a site migrates).
    SiteKey(&'a Key),
}

/// Seals `body` as an envelope of `kind` for `scope`, stamped now.
pub fn seal_json(
    kind: Kind,
    body: &impl Serialize,
    version: u64,
    recognizer: &str,
    scope: &Scope,
    sealer: Sealer<'_>,
) -> Envelope {
    let mut env = Envelope {
        format: match sealer {
            Sealer::Signed { .. } => kind.format(),
            Sealer::SiteKey(_) => kind.site_key_format(),
        }
        .into(),
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
        recipients: Vec::new(),
        signature: String::new(),
    };
    // Serialising plain data (strings, numbers, vectors) cannot fail.
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(body).unwrap_or_default());
    let header = aad(&env);
    let b64 = base64::engine::general_purpose::STANDARD;
    let content = match sealer {
        Sealer::SiteKey(key) => key.clone(),
        Sealer::Signed { to, .. } => {
            let content = Key::generate();
            env.recipients = to
                .iter()
                .map(|device| {
                    let Wrapped { enc, key } = device.wrap(&content, env.format.as_bytes(), &header);
                    Recipient {
                        to: device.to_string(),
                        enc,
                        key,
                    }
                })
                .collect();
            content
        }
    };
    let (nonce, ct) = content.seal(&plain, &header);
    env.nonce = b64.encode(nonce);
    env.ciphertext = b64.encode(ct);
    if let Sealer::Signed { by, .. } = sealer {
        env.signature = by.sign(&signed_bytes(&env));
    }
    env
}

/// Parses envelope JSON, refusing anything over `max_bytes` before parsing, and any field that
/// holds a NUL. Nothing in it is believed yet: [`Opener::open`] authenticates it.
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
    if env.holds_nul() {
        return Err(RosterError::Malformed("a field holds a NUL byte".into()));
    }
    Ok(env)
}

/// What a device opens envelopes with. Signed envelopes need the backend's verifying key and this
/// device's key; site-key envelopes the site key, which is there only while the site migrates.
#[derive(Debug, Clone, Default)]
pub struct Opener {
    /// The backend's verifying key (`[mqtt] roster_verify_key`).
    pub verify_key: Option<VerifyKey>,
    /// This device's own key, which the content keys are wrapped for.
    pub device_key: Option<Arc<DeviceKey>>,
    /// The site key, only while `[mqtt] allow_site_key_rosters`.
    pub site_key: Option<Key>,
}

impl Opener {
    /// Authenticates an envelope (the backend's signature, or the site key's tag), then checks
    /// that it is of `kind` and meant for `expected`, and opens it; returns its plaintext.
    pub fn open(&self, env: &Envelope, kind: Kind, expected: &Scope) -> Result<Vec<u8>, RosterError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce = b64.decode(&env.nonce).map_err(|_| RosterError::Unauthentic)?;
        let ct = b64.decode(&env.ciphertext).map_err(|_| RosterError::Unauthentic)?;
        let header = aad(env);
        let site_key_format = [Kind::Roster, Kind::Timetable]
            .iter()
            .any(|k| env.format == k.site_key_format());
        if site_key_format {
            let key = self.site_key.as_ref().ok_or(RosterError::SiteKeyRefused)?;
            let plain = key.open(&nonce, &ct, &header).ok_or(RosterError::Unauthentic)?;
            check_header(env, kind.site_key_format(), expected)?;
            return Ok(plain);
        }
        let verify_key = self.verify_key.as_ref().ok_or(RosterError::NoVerifyKey)?;
        if !verify_key.verifies(&signed_bytes(env), &env.signature) {
            return Err(RosterError::Unauthentic);
        }
        check_header(env, kind.format(), expected)?;
        self.content_key(env, &header)?
            .open(&nonce, &ct, &header)
            .ok_or_else(|| {
                RosterError::Contents("it is signed, but its body does not open with its content key".into())
            })
    }

    /// The content key of a signed envelope, unwrapped from this device's entry.
    fn content_key(&self, env: &Envelope, header: &[u8]) -> Result<Key, RosterError> {
        let Some(device) = &self.device_key else {
            return Err(RosterError::NotARecipient("(none: this device has no key)".into()));
        };
        let ours = device.sealing_key().to_string();
        let entry = env
            .recipients
            .iter()
            .find(|r| r.to == ours)
            .ok_or_else(|| RosterError::NotARecipient(ours.clone()))?;
        let wrapped = Wrapped {
            enc: entry.enc.clone(),
            key: entry.key.clone(),
        };
        device.unwrap(&wrapped, env.format.as_bytes(), header).ok_or_else(|| {
            RosterError::Contents("it is signed, but its content key does not open with this device's key".into())
        })
    }
}

/// Checks an authentic envelope's format and scope.
fn check_header(env: &Envelope, format: &'static str, expected: &Scope) -> Result<(), RosterError> {
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
    Ok(())
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

    fn room(device: &str) -> Scope {
        Scope::Device {
            site: "hillside".into(),
            device: device.into(),
        }
    }

    /// A backend and one device that takes its rosters.
    struct Parties {
        backend: SigningKey,
        device: Opener,
    }

    impl Parties {
        fn new() -> Parties {
            let backend = SigningKey::from_seed(&Key::generate());
            let device = Opener {
                verify_key: Some(backend.verify_key()),
                device_key: Some(Arc::new(DeviceKey::from_seed(&Key::generate()))),
                site_key: None,
            };
            Parties { backend, device }
        }

        fn sealing_key(&self) -> SealingKey {
            self.device.device_key.as_ref().unwrap().sealing_key().clone()
        }

        fn seal(&self, body: serde_json::Value, version: u64, scope: &Scope) -> Envelope {
            let to = [self.sealing_key()];
            let sealer = Sealer::Signed {
                by: &self.backend,
                to: &to,
            };
            seal_json(Kind::Roster, &body, version, "r", scope, sealer)
        }
    }

    #[test]
    fn signed_envelopes_open_only_for_their_format_and_scope() {
        let parties = Parties::new();
        let env = parties.seal(serde_json::json!({"people": []}), 3, &site());
        let bytes = serde_json::to_vec(&env).unwrap();
        let parsed = parse_envelope(&bytes, 1 << 20).unwrap();
        assert!(parsed.created_at.ends_with('Z'), "{}", parsed.created_at);
        assert_eq!(parsed.format, FORMAT);
        assert!(parties.device.open(&parsed, Kind::Roster, &site()).is_ok());
        let elsewhere = Parties::new();
        assert_eq!(
            elsewhere.device.open(&env, Kind::Roster, &site()),
            Err(RosterError::Unauthentic),
            "another backend's device"
        );
        for tamper in [
            |e: &mut Envelope| e.version = 4,
            |e: &mut Envelope| e.site = "elsewhere".into(),
            |e: &mut Envelope| e.device = Some("room-1".into()),
            |e: &mut Envelope| e.created_at = e.created_at.replace('Z', "+00:00"),
            |e: &mut Envelope| e.format = TIMETABLE_FORMAT.into(),
            |e: &mut Envelope| e.recipients.clear(),
            |e: &mut Envelope| e.recipients[0].enc = e.recipients[0].key.clone(),
            |e: &mut Envelope| e.nonce = "AAAAAAAAAAAAAAAA".into(),
            |e: &mut Envelope| e.signature.clear(),
        ] {
            let mut changed = env.clone();
            tamper(&mut changed);
            assert_eq!(
                parties.device.open(&changed, Kind::Roster, &site()),
                Err(RosterError::Unauthentic),
                "the whole envelope is signed: {changed:?}"
            );
        }
        assert!(matches!(
            parties.device.open(&env, Kind::Timetable, &site()),
            Err(RosterError::Format { .. })
        ));
        assert!(matches!(
            parties.device.open(&env, Kind::Roster, &room("room-1")),
            Err(RosterError::OutOfScope { .. })
        ));
        let for_room = parties.seal(serde_json::json!({}), 3, &room("room-1"));
        assert!(parties.device.open(&for_room, Kind::Roster, &room("room-1")).is_ok());
        assert!(matches!(
            parties.device.open(&for_room, Kind::Roster, &site()),
            Err(RosterError::OutOfScope { .. })
        ));
        assert!(matches!(
            parties.device.open(&for_room, Kind::Roster, &room("room-2")),
            Err(RosterError::OutOfScope { .. })
        ));
    }

    #[test]
    fn a_device_key_signs_nothing_another_device_accepts() {
        let parties = Parties::new();
        // A stolen box: its own seed, used as a signing key, with every public key it can see.
        let stolen = Key::generate();
        let forger = SigningKey::from_seed(&stolen);
        let to = [parties.sealing_key()];
        let sealer = Sealer::Signed { by: &forger, to: &to };
        let forged = seal_json(
            Kind::Roster,
            &serde_json::json!({"people": []}),
            9,
            "r",
            &site(),
            sealer,
        );
        assert_eq!(
            parties.device.open(&forged, Kind::Roster, &site()),
            Err(RosterError::Unauthentic)
        );
        assert!(!RosterError::Unauthentic.authentic(), "only counted");
    }

    #[test]
    fn a_signed_envelope_opens_only_on_the_devices_it_is_sealed_to() {
        let parties = Parties::new();
        let other = Opener {
            device_key: Some(Arc::new(DeviceKey::from_seed(&Key::generate()))),
            ..parties.device.clone()
        };
        let env = parties.seal(serde_json::json!({"people": []}), 3, &site());
        assert!(matches!(
            other.open(&env, Kind::Roster, &site()),
            Err(RosterError::NotARecipient(k)) if k == other.device_key.as_ref().unwrap().public().sealing
        ));
        // Naming box-b's key on box-a's entry does not help box-b: the wrapping is box-a's.
        let mut relabelled = env.clone();
        relabelled.recipients[0].to = other.device_key.as_ref().unwrap().public().sealing;
        relabelled.signature = parties.backend.sign(&signed_bytes(&relabelled));
        assert!(matches!(
            other.open(&relabelled, Kind::Roster, &site()),
            Err(RosterError::Contents(_))
        ));
        let both = [
            parties.sealing_key(),
            other.device_key.as_ref().unwrap().sealing_key().clone(),
        ];
        let sealer = Sealer::Signed {
            by: &parties.backend,
            to: &both,
        };
        let to_both = seal_json(Kind::Roster, &serde_json::json!({}), 4, "r", &site(), sealer);
        assert!(parties.device.open(&to_both, Kind::Roster, &site()).is_ok());
        assert!(other.open(&to_both, Kind::Roster, &site()).is_ok());
    }

    #[test]
    fn site_key_envelopes_open_only_while_the_site_migrates() {
        let parties = Parties::new();
        let site_key = Key::generate();
        let env = seal_json(
            Kind::Roster,
            &serde_json::json!({}),
            3,
            "r",
            &site(),
            Sealer::SiteKey(&site_key),
        );
        assert_eq!(env.format, SITE_KEY_FORMAT);
        assert_eq!(
            parties.device.open(&env, Kind::Roster, &site()),
            Err(RosterError::SiteKeyRefused)
        );
        let migrating = Opener {
            site_key: Some(site_key),
            ..parties.device.clone()
        };
        assert!(migrating.open(&env, Kind::Roster, &site()).is_ok());
        assert!(matches!(
            migrating.open(&env, Kind::Timetable, &site()),
            Err(RosterError::Format { .. })
        ));
        let mut changed = env.clone();
        changed.version = 4;
        assert_eq!(
            migrating.open(&changed, Kind::Roster, &site()),
            Err(RosterError::Unauthentic)
        );
        assert_eq!(
            Opener::default().open(&parties.seal(serde_json::json!({}), 3, &site()), Kind::Roster, &site()),
            Err(RosterError::NoVerifyKey)
        );
    }

    #[test]
    fn nothing_unauthenticated_is_echoed_at_length() {
        let huge = "A".repeat(2 << 20);
        let junk = serde_json::json!({"format": huge, "version": 1, "bogus": huge}).to_string();
        let e = parse_envelope(junk.as_bytes(), 32 << 20).unwrap_err();
        assert!(e.to_string().len() < 200, "{}", e.to_string().len());
        let parties = Parties::new();
        let mut env = parties.seal(serde_json::json!({}), 1, &site());
        env.format = huge.clone();
        env.recognizer = huge;
        assert_eq!(
            parties.device.open(&env, Kind::Roster, &site()),
            Err(RosterError::Unauthentic)
        );
        assert!(matches!(
            parse_envelope(br#"{"format":"f","version":1,"site":"s","created_at":"yesterday","nonce":"","ciphertext":""}"#, 1024),
            Err(RosterError::Malformed(m)) if m.contains("RFC 3339")
        ));
        assert!(matches!(
            parse_envelope(br#"{"format":"f","version":1,"site":"s\u0000","created_at":"2026-01-01T00:00:00Z","nonce":"","ciphertext":""}"#, 1024),
            Err(RosterError::Malformed(m)) if m.contains("NUL")
        ));
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        fn sealed() -> (Opener, Vec<u8>) {
            let backend = SigningKey::from_seed(&Key::from_hex(&"ab".repeat(32), "test").unwrap());
            let device = DeviceKey::from_seed(&Key::from_hex(&"cd".repeat(32), "test").unwrap());
            let to = [device.sealing_key().clone()];
            let sealer = Sealer::Signed { by: &backend, to: &to };
            let env = seal_json(
                Kind::Roster,
                &serde_json::json!({"people": []}),
                9,
                "r",
                &site(),
                sealer,
            );
            let opener = Opener {
                verify_key: Some(backend.verify_key()),
                device_key: Some(Arc::new(device)),
                site_key: None,
            };
            (opener, serde_json::to_vec(&env).unwrap())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            /// Whatever the bytes, parsing and opening end in an answer, never a panic, and no
            /// error repeats more than a short summary of them.
            #[test]
            fn arbitrary_bytes_are_refused_briefly(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
                let (opener, _) = sealed();
                match parse_envelope(&bytes, 1 << 20) {
                    Ok(env) => prop_assert!(opener.open(&env, Kind::Roster, &site()).is_err()),
                    Err(e) => prop_assert!(e.to_string().len() < 200, "{}", e),
                }
            }

            /// A sealed envelope with any byte changed, dropped or inserted never opens as
            /// something else: it is refused, or it is the very same envelope.
            #[test]
            fn an_altered_envelope_never_opens(at in any::<prop::sample::Index>(), byte in any::<u8>(), how in 0..3u8) {
                let (opener, good) = sealed();
                let mut bytes = good.clone();
                let i = at.index(bytes.len());
                match how {
                    0 => bytes[i] = byte,
                    1 => { bytes.remove(i); }
                    _ => bytes.insert(i, byte),
                }
                let original = parse_envelope(&good, 1 << 20).unwrap();
                if let Ok(env) = parse_envelope(&bytes, 1 << 20) {
                    match opener.open(&env, Kind::Roster, &site()) {
                        Ok(_) => prop_assert_eq!(env, original),
                        Err(e) => prop_assert!(e.to_string().len() < 300),
                    }
                }
            }

            /// Any string in any header field is echoed, at most, as a short summary.
            #[test]
            fn header_fields_are_summarised(text in ".{0,3000}") {
                let (opener, good) = sealed();
                let mut env = parse_envelope(&good, 1 << 20).unwrap();
                env.format = text.clone();
                env.site = text;
                let e = opener.open(&env, Kind::Roster, &site()).unwrap_err();
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
