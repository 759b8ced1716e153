//! Rosters as files and as MQTT messages: the enrolled people with their templates, sealed with
//! AES-256-GCM under a site key. The header (format, version, recognizer, time) is bound to the
//! ciphertext as associated data, so it cannot be altered either.
//!
//! A roster from the backend ([`RosterSync`]) is accepted only whole: it must authenticate, be
//! newer than the one in use, be made by the recognizer this device runs, and hold only templates
//! of the right length with finite values. Then it replaces the stored roster (encrypted) and the
//! gallery in one step; anything else is refused with an alert and the current roster stays.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::TimetableConfig;
use crate::event::{Alert, AlertKind, new_id};
use crate::matching::SharedGallery;
use crate::session::SharedTimetable;
use crate::store::{Key, RosterVersion, Store, StoreError};

/// The envelope's format tag for a roster.
pub const FORMAT: &str = "rollcall-roster/1";
/// The format tag of a timetable sent the same way (no recognizer; the plaintext is a
/// `[timetable]` section as JSON).
pub const TIMETABLE_FORMAT: &str = "rollcall-timetable/1";

/// The sealed roster, as stored or sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Always [`FORMAT`].
    pub format: String,
    /// Increases with every roster the backend issues.
    pub version: u64,
    /// Recognizer every template was made with (empty, and left out, for a timetable).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recognizer: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// GCM nonce, base64.
    pub nonce: String,
    /// Sealed [`Roster`] JSON, base64.
    pub ciphertext: String,
}

/// One person in a roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterPerson {
    /// Stable id.
    pub person_id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Class groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Templates (unit vectors of the envelope's recognizer), each on the wire as base64 of
    /// little-endian `f32`s: exact, a third the size of decimal JSON, and able to carry (and so
    /// to have refused) a NaN.
    #[serde(with = "template_base64")]
    pub templates: Vec<Vec<f32>>,
}

mod template_base64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::SerializeSeq};

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

    pub fn serialize<S: Serializer>(templates: &[Vec<f32>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(templates.len()))?;
        for t in templates {
            let bytes: Vec<u8> = t.iter().flat_map(|v| v.to_le_bytes()).collect();
            seq.serialize_element(&B64.encode(bytes))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f32>>, D::Error> {
        let encoded = Vec::<String>::deserialize(d)?;
        encoded
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let bytes = B64
                    .decode(text)
                    .map_err(|e| D::Error::custom(format!("template {i} is not base64: {e}")))?;
                if bytes.len() % 4 != 0 {
                    return Err(D::Error::custom(format!(
                        "template {i} has {} bytes, not a whole number of f32s",
                        bytes.len()
                    )));
                }
                Ok(bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect())
            })
            .collect()
    }
}

/// The roster inside the envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    /// Everyone.
    pub people: Vec<RosterPerson>,
}

/// Why a roster was refused. It is refused whole: nothing of it is applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RosterError {
    /// Not JSON of the envelope's shape.
    #[error("not an envelope: {0}")]
    Malformed(String),
    /// Another format.
    #[error("format {found:?}, expected {expected:?}")]
    Format { found: String, expected: String },
    /// Too big to read.
    #[error("{size} bytes, above the limit of {max} ([mqtt] roster_max_bytes)")]
    TooLarge { size: usize, max: usize },
    /// Not newer than the roster in use.
    #[error("version {version} is not newer than the roster in use (version {current})")]
    Stale { version: u64, current: u64 },
    /// Made with another recognizer.
    #[error("its templates were made by `{found}`, but this device runs `{expected}`")]
    OtherRecognizer { found: String, expected: String },
    /// Wrong key, or altered in transit.
    #[error("the roster does not decrypt and authenticate under this key (wrong key, or altered)")]
    Unauthentic,
    /// Decrypted, but its contents are not a roster.
    #[error("the decrypted roster is malformed: {0}")]
    Contents(String),
    /// A template that cannot be right.
    #[error("person `{person}`: template {index} {problem}")]
    Template {
        person: String,
        index: usize,
        problem: String,
    },
}

fn aad(format: &str, version: u64, recognizer: &str, created_at: &DateTime<Utc>) -> Vec<u8> {
    format!("{format}\0{version}\0{recognizer}\0{}", created_at.to_rfc3339()).into_bytes()
}

/// Seals `roster` for `recognizer` as `version`.
pub fn seal(roster: &Roster, version: u64, recognizer: &str, key: &Key) -> Envelope {
    seal_json(FORMAT, roster, version, recognizer, key)
}

/// Seals a timetable as `version`, to be sent like a roster.
pub fn seal_timetable(timetable: &TimetableConfig, version: u64, key: &Key) -> Envelope {
    seal_json(TIMETABLE_FORMAT, timetable, version, "", key)
}

fn seal_json(format: &str, body: &impl Serialize, version: u64, recognizer: &str, key: &Key) -> Envelope {
    let created_at = Utc::now();
    let plain = serde_json::to_vec(body).unwrap_or_default();
    let (nonce, ct) = key.seal(&plain, &aad(format, version, recognizer, &created_at));
    let b64 = base64::engine::general_purpose::STANDARD;
    Envelope {
        format: format.into(),
        version,
        recognizer: recognizer.into(),
        created_at,
        nonce: b64.encode(nonce),
        ciphertext: b64.encode(ct),
    }
}

/// Decrypts and authenticates an envelope's plaintext.
fn open_bytes(env: &Envelope, key: &Key) -> Result<Vec<u8>, RosterError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let nonce = b64.decode(&env.nonce).map_err(|_| RosterError::Unauthentic)?;
    let ct = b64.decode(&env.ciphertext).map_err(|_| RosterError::Unauthentic)?;
    key.open(
        &nonce,
        &ct,
        &aad(&env.format, env.version, &env.recognizer, &env.created_at),
    )
    .ok_or(RosterError::Unauthentic)
}

/// Opens a timetable envelope and checks the timetable (days, times, zone, overlaps).
pub fn open_timetable(env: &Envelope, key: &Key) -> Result<TimetableConfig, RosterError> {
    let plain = open_bytes(env, key)?;
    let timetable: TimetableConfig =
        serde_json::from_slice(&plain).map_err(|e| RosterError::Contents(e.to_string()))?;
    crate::session::Timetable::new(&timetable).map_err(|e| RosterError::Contents(e.to_string()))?;
    Ok(timetable)
}

/// Parses envelope JSON of `format` ([`FORMAT`] or [`TIMETABLE_FORMAT`]), refusing anything over
/// `max_bytes` before parsing.
pub fn parse_envelope(bytes: &[u8], max_bytes: usize, format: &str) -> Result<Envelope, RosterError> {
    if bytes.len() > max_bytes {
        return Err(RosterError::TooLarge {
            size: bytes.len(),
            max: max_bytes,
        });
    }
    let env: Envelope = serde_json::from_slice(bytes).map_err(|e| RosterError::Malformed(e.to_string()))?;
    if env.format != format {
        return Err(RosterError::Format {
            found: env.format,
            expected: format.to_string(),
        });
    }
    Ok(env)
}

/// Opens an envelope and checks every template: length `dim`, finite values.
pub fn open(env: &Envelope, key: &Key, dim: usize) -> Result<Roster, RosterError> {
    let plain = open_bytes(env, key)?;
    let roster: Roster = serde_json::from_slice(&plain).map_err(|e| RosterError::Contents(e.to_string()))?;
    for p in &roster.people {
        if p.person_id.trim().is_empty() {
            return Err(RosterError::Contents("a person has an empty person_id".into()));
        }
        for (index, t) in p.templates.iter().enumerate() {
            let problem = if t.len() != dim {
                Some(format!("has {} values, {} takes {dim}", t.len(), env.recognizer))
            } else if t.iter().any(|v| !v.is_finite()) {
                Some("has non-finite values".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(RosterError::Template {
                    person: p.person_id.clone(),
                    index,
                    problem,
                });
            }
        }
    }
    Ok(roster)
}

/// What became of a roster message.
#[derive(Debug, Clone, PartialEq)]
pub enum RosterOutcome {
    /// Now in use, and stored.
    Applied {
        /// Its version.
        version: u64,
        /// People in it.
        people: usize,
        /// Templates in it.
        templates: usize,
    },
    /// A timetable, now in use and stored.
    TimetableApplied {
        /// Its version.
        version: u64,
        /// Session slots in it.
        sessions: usize,
    },
    /// Refused whole; an alert says why.
    Rejected(RosterError),
    /// The message refused just before, delivered again (a retained message after a reconnect):
    /// refused again, without a second alert.
    Repeated,
}

/// Takes rosters from the backend: checks each whole, then swaps it in (store and gallery) or
/// refuses it with an alert.
pub struct RosterSync {
    store: Store,
    site_key: Key,
    gallery: SharedGallery,
    timetable: Option<SharedTimetable>,
    dim: usize,
    max_bytes: usize,
    int8_above: usize,
    device: String,
    /// Fingerprint of the last refused message, so a redelivered one is not alerted twice.
    last_refused: Option<u64>,
}

impl std::fmt::Debug for RosterSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RosterSync").field("store", &self.store).finish()
    }
}

/// Where a [`RosterSync`] keeps and puts what it accepts, and its limits.
#[derive(Debug)]
pub struct RosterSyncSettings {
    /// Its own connection to the store, for the roster and the alerts.
    pub store: Store,
    /// The site key rosters are sealed with.
    pub site_key: Key,
    /// The gallery the engine searches.
    pub gallery: SharedGallery,
    /// The timetable the engine follows, if timetables are taken from the backend too.
    pub timetable: Option<SharedTimetable>,
    /// The recognizer's embedding length.
    pub dim: usize,
    /// Largest message accepted.
    pub max_bytes: usize,
    /// Galleries larger than this get an 8-bit search copy.
    pub int8_above: usize,
    /// Device id, for alerts.
    pub device: String,
}

fn fingerprint(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

impl RosterSync {
    /// A sync that applies rosters to `settings.gallery` and `settings.store`.
    pub fn new(settings: RosterSyncSettings) -> RosterSync {
        RosterSync {
            store: settings.store,
            site_key: settings.site_key,
            gallery: settings.gallery,
            timetable: settings.timetable,
            dim: settings.dim,
            max_bytes: settings.max_bytes,
            int8_above: settings.int8_above,
            device: settings.device,
            last_refused: None,
        }
    }

    /// Handles one roster message that came from `origin` (its topic).
    pub fn receive(&mut self, origin: &str, payload: &[u8]) -> Result<RosterOutcome, StoreError> {
        let checked = self.check(payload);
        match checked {
            Ok((env, roster)) => self.apply(&env, roster),
            Err(e) => self.refuse(AlertKind::RosterRejected, origin, e, fingerprint(payload)),
        }
    }

    /// True when this sync also takes timetables.
    pub fn takes_timetables(&self) -> bool {
        self.timetable.is_some()
    }

    /// Handles one timetable message from `origin`: checked whole (authentic, newer, a valid
    /// timetable), then stored and put in use, or refused with an alert.
    pub fn receive_timetable(&mut self, origin: &str, payload: &[u8]) -> Result<RosterOutcome, StoreError> {
        let Some(shared) = self.timetable.clone() else {
            return Ok(RosterOutcome::Repeated);
        };
        let checked = parse_envelope(payload, self.max_bytes, TIMETABLE_FORMAT).and_then(|env| {
            if env.version <= shared.version() {
                return Err(RosterError::Stale {
                    version: env.version,
                    current: shared.version(),
                });
            }
            let timetable = open_timetable(&env, &self.site_key)?;
            let compiled =
                crate::session::Timetable::new(&timetable).map_err(|e| RosterError::Contents(e.to_string()))?;
            Ok((env.version, timetable, compiled))
        });
        match checked {
            Ok((version, timetable, compiled)) => {
                self.store.replace_timetable(version, &timetable)?;
                shared.replace(compiled, version);
                self.last_refused = None;
                tracing::info!(version, sessions = timetable.sessions.len(), "timetable applied");
                Ok(RosterOutcome::TimetableApplied {
                    version,
                    sessions: timetable.sessions.len(),
                })
            }
            Err(e) => self.refuse(AlertKind::TimetableRejected, origin, e, fingerprint(payload)),
        }
    }

    /// The roster in use now, for the status.
    pub fn roster_status(&self) -> crate::status::RosterStatus {
        crate::status::RosterStatus::of(&self.gallery.current())
    }

    /// Refuses a message of `size` bytes that was too big to be read at all.
    pub fn refuse_unread(&mut self, origin: &str, size: usize) -> Result<RosterOutcome, StoreError> {
        let e = RosterError::TooLarge {
            size,
            max: self.max_bytes,
        };
        self.refuse(AlertKind::RosterRejected, origin, e, size as u64)
    }

    fn check(&self, payload: &[u8]) -> Result<(Envelope, Roster), RosterError> {
        let env = parse_envelope(payload, self.max_bytes, FORMAT)?;
        let gallery = self.gallery.current();
        if env.recognizer != **gallery.recognizer() {
            return Err(RosterError::OtherRecognizer {
                found: env.recognizer,
                expected: gallery.recognizer().to_string(),
            });
        }
        if env.version <= gallery.version() {
            return Err(RosterError::Stale {
                version: env.version,
                current: gallery.version(),
            });
        }
        let roster = open(&env, &self.site_key, self.dim)?;
        Ok((env, roster))
    }

    fn apply(&mut self, env: &Envelope, roster: Roster) -> Result<RosterOutcome, StoreError> {
        let meta = RosterVersion {
            version: env.version,
            recognizer: env.recognizer.clone(),
            created_at: env.created_at.to_rfc3339(),
        };
        self.store.replace_roster(&meta, &roster.people)?;
        let recognizer = self.gallery.current().recognizer().clone();
        let gallery = self.store.gallery_for_search(&recognizer, self.dim, self.int8_above)?;
        let (people, templates) = (gallery.people(), gallery.len());
        self.gallery.replace(gallery);
        self.last_refused = None;
        tracing::info!(version = env.version, people, templates, "roster applied");
        Ok(RosterOutcome::Applied {
            version: env.version,
            people,
            templates,
        })
    }

    fn refuse(
        &mut self,
        kind: AlertKind,
        origin: &str,
        error: RosterError,
        fingerprint: u64,
    ) -> Result<RosterOutcome, StoreError> {
        if self.last_refused == Some(fingerprint) {
            return Ok(RosterOutcome::Repeated);
        }
        self.last_refused = Some(fingerprint);
        let (what, current) = match (kind, &self.timetable) {
            (AlertKind::TimetableRejected, Some(t)) => ("timetable", t.version()),
            _ => ("roster", self.gallery.current().version()),
        };
        let alert = Alert {
            event_id: new_id(),
            kind,
            camera_id: None,
            room: None,
            at: Utc::now(),
            detail: format!("{what} on {origin} refused: {error}; {what} version {current} stays in use"),
            device: self.device.clone(),
        };
        tracing::warn!(origin, %error, current, "{what} refused");
        self.store.record_alert(&alert)?;
        Ok(RosterOutcome::Rejected(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster(v: Vec<f32>) -> Roster {
        Roster {
            people: vec![RosterPerson {
                person_id: "ann".into(),
                name: None,
                groups: vec![],
                templates: vec![v],
            }],
        }
    }

    #[test]
    fn round_trip_and_every_refusal() {
        let key = Key::generate();
        let env = seal(&roster(vec![0.6, 0.8]), 3, "r", &key);
        let bytes = serde_json::to_vec(&env).unwrap();
        let back = open(&parse_envelope(&bytes, 1 << 20, FORMAT).unwrap(), &key, 2).unwrap();
        assert_eq!(back, roster(vec![0.6, 0.8]));
        assert_eq!(open(&env, &Key::generate(), 2), Err(RosterError::Unauthentic));
        let mut bumped = env.clone();
        bumped.version = 4;
        assert_eq!(
            open(&bumped, &key, 2),
            Err(RosterError::Unauthentic),
            "the header is authenticated too"
        );
        assert!(matches!(open(&env, &key, 3), Err(RosterError::Template { .. })));
        let nan = seal(&roster(vec![f32::NAN, 0.0]), 3, "r", &key);
        assert!(
            matches!(open(&nan, &key, 2), Err(RosterError::Template { problem, .. }) if problem.contains("non-finite"))
        );
        assert!(matches!(
            parse_envelope(b"{not json", 1 << 20, FORMAT),
            Err(RosterError::Malformed(_))
        ));
        assert!(matches!(
            parse_envelope(&bytes, 10, FORMAT),
            Err(RosterError::TooLarge { .. })
        ));
    }
}
