//! Rosters as files (and, later, as MQTT messages): the enrolled people with their templates,
//! sealed with AES-256-GCM under a site key. The header (format, version, recognizer, time) is
//! bound to the ciphertext as associated data, so it cannot be altered either.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::Key;

/// The envelope's format tag.
pub const FORMAT: &str = "rollcall-roster/1";

/// The sealed roster, as stored or sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Always [`FORMAT`].
    pub format: String,
    /// Increases with every roster the backend issues.
    pub version: u64,
    /// Recognizer every template was made with.
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
    /// Templates (unit vectors of the envelope's recognizer).
    pub templates: Vec<Vec<f32>>,
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
    #[error("not a roster envelope: {0}")]
    Malformed(String),
    /// Another format.
    #[error("unknown roster format {0:?} (expected {FORMAT})")]
    Format(String),
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
    let created_at = Utc::now();
    let plain = serde_json::to_vec(roster).unwrap_or_default();
    let (nonce, ct) = key.seal(&plain, &aad(FORMAT, version, recognizer, &created_at));
    let b64 = base64::engine::general_purpose::STANDARD;
    Envelope {
        format: FORMAT.into(),
        version,
        recognizer: recognizer.into(),
        created_at,
        nonce: b64.encode(nonce),
        ciphertext: b64.encode(ct),
    }
}

/// Parses envelope JSON, refusing anything over `max_bytes` before parsing.
pub fn parse_envelope(bytes: &[u8], max_bytes: usize) -> Result<Envelope, RosterError> {
    if bytes.len() > max_bytes {
        return Err(RosterError::Malformed(format!(
            "{} bytes, above the limit of {max_bytes}",
            bytes.len()
        )));
    }
    let env: Envelope = serde_json::from_slice(bytes).map_err(|e| RosterError::Malformed(e.to_string()))?;
    if env.format != FORMAT {
        return Err(RosterError::Format(env.format));
    }
    Ok(env)
}

/// Opens an envelope and checks every template: length `dim`, finite values.
pub fn open(env: &Envelope, key: &Key, dim: usize) -> Result<Roster, RosterError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let nonce = b64.decode(&env.nonce).map_err(|_| RosterError::Unauthentic)?;
    let ct = b64.decode(&env.ciphertext).map_err(|_| RosterError::Unauthentic)?;
    let plain = key
        .open(
            &nonce,
            &ct,
            &aad(&env.format, env.version, &env.recognizer, &env.created_at),
        )
        .ok_or(RosterError::Unauthentic)?;
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
        let back = open(&parse_envelope(&bytes, 1 << 20).unwrap(), &key, 2).unwrap();
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
        // serde_json writes NaN as null, which is not a number: refused either way.
        assert!(open(&nan, &key, 2).is_err());
        assert!(matches!(
            parse_envelope(b"{not json", 1 << 20),
            Err(RosterError::Malformed(_))
        ));
        assert!(matches!(parse_envelope(&bytes, 10), Err(RosterError::Malformed(m)) if m.contains("above the limit")));
    }
}
