//! Rosters and timetables from the backend: the enrolled people with their templates, and the
//! class timetable, each signed by the backend and sealed to this device in an [`Envelope`].
//!
//! A message is accepted only whole ([`RosterSync`]): it must authenticate before anything it says
//! is looked at, be meant for this device (its site, or this device by id), be newer than the
//! newest version ever applied, be made by the recognizer this device runs, and hold only unit
//! templates of the right length. Then it replaces the stored roster (encrypted) and the gallery
//! in one step. Anything else is refused and the current one stays; refusals raise alerts through
//! a [`RefusalGate`], so a flood of junk costs a bounded number of them. A retained message that
//! is already in use, delivered again on every reconnect or restart, is recognised by its
//! fingerprint and costs nothing.
//!
//! First use: a device with no synced roster (a new box, or a store reset) takes the first
//! authentic roster it sees, whatever its version, and says so with a `first_use` alert. From then
//! on only newer versions are taken. The box's clock plays no part: a box without a real-time
//! clock may boot in 1970.

mod envelope;
pub mod file;
mod gate;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use envelope::{
    Envelope, FORMAT, Kind, Opener, Recipient, RosterError, SITE_KEY_FORMAT, SITE_KEY_TIMETABLE_FORMAT, Scope, Sealer,
    TIMETABLE_FORMAT, UNIT_TOLERANCE, parse_envelope, seal_json, signed_bytes, template_problem,
};
pub use gate::{RefusalGate, Summary};

use crate::attend::matching::{Gallery, SharedGallery};
use crate::attend::session::SharedTimetable;
use crate::config::TimetableConfig;
use crate::event::AuditAction;
use crate::event::{Alert, AlertKind};
use crate::store::{Enrollment, RosterVersion, Store, StoreError, Synced, counters};
use crate::untrusted::summary;
use crate::vision::embed::Embedding;

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

impl Roster {
    /// Each person's templates as embeddings of `recognizer`, at full quality (the backend chose
    /// them), in the order of [`Roster::people`].
    pub fn embeddings(&self, recognizer: &Arc<str>) -> Vec<Vec<(Embedding, f32)>> {
        self.people
            .iter()
            .map(|p| {
                p.templates
                    .iter()
                    .map(|t| {
                        let e = Embedding {
                            recognizer: recognizer.clone(),
                            vector: t.clone(),
                        };
                        (e, 1.0)
                    })
                    .collect()
            })
            .collect()
    }

    /// Each person as the store saves them, with `templates` from [`Roster::embeddings`]: their
    /// groups as listed (none listed clears them), their templates replacing earlier ones.
    pub fn enrollments<'a>(&'a self, templates: &'a [Vec<(Embedding, f32)>]) -> Vec<Enrollment<'a>> {
        self.people
            .iter()
            .zip(templates)
            .map(|(p, templates)| Enrollment {
                person_id: &p.person_id,
                name: p.name.as_deref(),
                groups: Some(&p.groups),
                templates,
                replace: true,
            })
            .collect()
    }
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
                    .map_err(|_| D::Error::custom(format!("template {i} is not base64")))?;
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    /// Everyone.
    pub people: Vec<RosterPerson>,
    /// Tombstones: people the backend deleted. Every device that opens the roster deletes them,
    /// even one that keeps its own hand-enrolled roster (an import, or a roster it cannot use
    /// because it runs another recognizer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

/// Seals `roster` for `recognizer` as `version`, for `scope`.
pub fn seal(roster: &Roster, version: u64, recognizer: &str, scope: &Scope, sealer: Sealer<'_>) -> Envelope {
    seal_json(Kind::Roster, roster, version, recognizer, scope, sealer)
}

/// Seals a timetable as `version`, for `scope`, to be sent like a roster.
pub fn seal_timetable(timetable: &TimetableConfig, version: u64, scope: &Scope, sealer: Sealer<'_>) -> Envelope {
    seal_json(Kind::Timetable, timetable, version, "", scope, sealer)
}

/// Opens a roster envelope meant for `scope` and checks every template: length `dim`, finite
/// values, unit length.
pub fn open_roster(env: &Envelope, opener: &Opener, scope: &Scope, dim: usize) -> Result<Roster, RosterError> {
    let plain = zeroize::Zeroizing::new(opener.open(env, Kind::Roster, scope)?);
    let roster: Roster = serde_json::from_slice(&plain).map_err(|e| RosterError::Contents(summary(&e.to_string())))?;
    check_roster(&roster, dim, &env.recognizer)?;
    Ok(roster)
}

/// Checks what a roster holds: ids, tombstones, and every template of `recognizer`'s length
/// `dim`, finite, of unit length.
pub fn check_roster(roster: &Roster, dim: usize, recognizer: &str) -> Result<(), RosterError> {
    for p in &roster.people {
        if p.person_id.trim().is_empty() {
            return Err(RosterError::Contents("a person has an empty person_id".into()));
        }
        if roster.removed.contains(&p.person_id) {
            return Err(RosterError::Contents(format!(
                "`{}` is both in the roster and removed",
                summary(&p.person_id)
            )));
        }
        for (index, t) in p.templates.iter().enumerate() {
            if let Some(problem) = template_problem(t, dim, recognizer) {
                return Err(RosterError::Template {
                    person: summary(&p.person_id),
                    index,
                    problem,
                });
            }
        }
    }
    Ok(())
}

/// Opens a timetable envelope meant for `scope` and checks the timetable (days, times, zone,
/// overlaps) by compiling it: the timetable as sent, and as the engine follows it.
pub fn open_timetable(
    env: &Envelope,
    opener: &Opener,
    scope: &Scope,
) -> Result<(TimetableConfig, crate::attend::session::Timetable), RosterError> {
    let plain = opener.open(env, Kind::Timetable, scope)?;
    let timetable: TimetableConfig =
        serde_json::from_slice(&plain).map_err(|e| RosterError::Contents(summary(&e.to_string())))?;
    let compiled = crate::attend::session::Timetable::new(&timetable)
        .map_err(|e| RosterError::Contents(summary(&e.to_string())))?;
    Ok((timetable, compiled))
}

/// The alert raised when a message of `what` is refused.
fn refused_alert(what: Synced) -> AlertKind {
    match what {
        Synced::Roster => AlertKind::RosterRejected,
        Synced::Timetable => AlertKind::TimetableRejected,
    }
}

/// The SHA-256 of a message, in hex: how a message already in use, or already refused, is known
/// again without opening it.
pub fn fingerprint(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// What became of a roster or timetable message.
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
    /// Refused whole; an alert says why, unless the gate only counted it.
    Rejected(RosterError),
    /// The very message already in use (a retained message after a reconnect or a restart):
    /// nothing to do, nothing to say.
    InUse,
    /// The message refused just before on the same topic, delivered again: refused again,
    /// without a second alert.
    Repeated,
}

/// The gate's name for messages too big to read, whose topic is never known.
const UNREAD: &str = "(too large to read)";

/// Takes rosters and timetables from the backend: checks each whole, then swaps it in (store and
/// gallery or timetable) or refuses it with an alert.
pub struct RosterSync {
    store: Store,
    opener: Opener,
    gallery: SharedGallery,
    timetable: Option<SharedTimetable>,
    dim: usize,
    max_bytes: usize,
    int8_above: usize,
    device: String,
    site: String,
    /// Fingerprints of the roster and the timetable in use.
    in_use: HashMap<Synced, String>,
    /// Fingerprint of the message last refused on each topic (the device's few inbound ones),
    /// so a redelivered one is not alerted twice, and roster and timetable never mix.
    refused: HashMap<String, String>,
    /// Refusals by what was refused, on which topic, why, and whether the message was authentic.
    gate: RefusalGate<RefusalKey>,
    /// Messages refused without being authentic, ever (the store's counter and those since).
    unauthentic_refused: u64,
    /// Of those, the ones not yet added to the store's counter: it is written when the gate
    /// speaks, not once per message, so a flood costs the disk no more than it costs alerts.
    unauthentic_unsaved: u64,
}

/// What the gate counts refusals by: what was refused, on which topic, why, and whether the
/// message was authentic.
type RefusalKey = (Synced, String, &'static str, bool);

impl Drop for RosterSync {
    /// A stop keeps the count of junk refused since the gate last spoke.
    fn drop(&mut self) {
        if let Err(e) = self.save_refusal_count() {
            tracing::warn!(error = %e, "cannot save the count of refused messages");
        }
    }
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
    /// What rosters are checked and opened with.
    pub opener: Opener,
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
    /// Device id: what a device-scoped envelope must name, and the device on alerts.
    pub device: String,
    /// Site id: what every envelope must name.
    pub site: String,
    /// How long refusals on a topic for one reason are counted before they are summed up in one
    /// alert (`[mqtt] refusal_alert_interval_s`).
    pub refusal_window: Duration,
}

/// What one sync message came to once the store took what it had to: in use, or refused for a
/// reason (which `receive` alerts on, through the gate).
enum Taken {
    /// In use now (or, for a timetable this device does not take, nothing to do).
    Applied(RosterOutcome),
    /// Refused whole.
    Refused(RosterError),
}

/// A roster that passed its checks, and what this device may do with it.
enum CheckedRoster {
    /// Of this device's recognizer and newer than the roster in use: applied whole.
    Apply(Envelope, Roster),
    /// Newer, but of another recognizer: its templates are of no use here, but its tombstones
    /// are the backend's word, so they are applied before the roster is refused.
    TombstonesOnly(Envelope, Roster),
}

impl RosterSync {
    /// A sync that applies rosters to `settings.gallery` and `settings.store`.
    pub fn new(settings: RosterSyncSettings) -> Result<RosterSync, StoreError> {
        let in_use = settings.store.applied_fingerprints()?;
        let unauthentic_refused = settings.store.counter(counters::UNAUTHENTIC_REFUSED)?;
        Ok(RosterSync {
            store: settings.store,
            opener: settings.opener,
            gallery: settings.gallery,
            timetable: settings.timetable,
            dim: settings.dim,
            max_bytes: settings.max_bytes,
            int8_above: settings.int8_above,
            device: settings.device,
            site: settings.site,
            in_use,
            refused: HashMap::new(),
            gate: RefusalGate::new(settings.refusal_window),
            unauthentic_refused,
            unauthentic_unsaved: 0,
        })
    }

    /// True when this sync also takes timetables.
    pub fn takes_timetables(&self) -> bool {
        self.timetable.is_some()
    }

    /// The roster in use now, and the messages refused unauthentic, for the status.
    pub fn roster_status(&self) -> crate::sync::status::RosterStatus {
        crate::sync::status::RosterStatus {
            refused_unauthentic: self.unauthentic_refused,
            ..crate::sync::status::RosterStatus::of(&self.gallery.current())
        }
    }

    /// Handles one message of `what` that came on `topic`, which is this device's own topic when
    /// `for_device`, else the site's.
    pub fn receive(
        &mut self,
        what: Synced,
        for_device: bool,
        topic: &str,
        payload: &[u8],
    ) -> Result<RosterOutcome, StoreError> {
        let print = fingerprint(payload);
        if self.in_use.get(&what) == Some(&print) {
            return Ok(RosterOutcome::InUse);
        }
        if self.refused.get(topic) == Some(&print) {
            return Ok(RosterOutcome::Repeated);
        }
        let scope = if for_device {
            Scope::Device {
                site: self.site.clone(),
                device: self.device.clone(),
            }
        } else {
            Scope::Site(self.site.clone())
        };
        let outcome = match what {
            Synced::Roster => self.take_roster(payload, &scope, &print),
            Synced::Timetable => self.take_timetable(payload, &scope, &print),
        };
        match outcome? {
            Taken::Applied(applied) => {
                self.in_use.insert(what, print);
                self.refused.remove(topic);
                Ok(applied)
            }
            Taken::Refused(error) => {
                self.refused.insert(topic.to_string(), print);
                self.refuse(what, topic, error)
            }
        }
    }

    /// Refuses a message of `size` bytes that was too big to be read at all (its topic unknown).
    pub fn refuse_unread(&mut self, size: usize) -> Result<RosterOutcome, StoreError> {
        let e = RosterError::TooLarge {
            size,
            max: self.max_bytes,
        };
        self.refuse(Synced::Roster, UNREAD, e)
    }

    /// Raises the alerts that sum up refusals counted by the gate, when their window is over.
    /// Called every second or so.
    pub fn sum_up_refusals(&mut self) -> Result<(), StoreError> {
        for due in self.gate.due(Instant::now()) {
            let (what, topic, reason, authentic) = due.key;
            let detail = format!(
                "{} more {} messages on {topic} refused ({reason}) in the last {} s; {}",
                due.count,
                what.as_str(),
                self.gate.window().as_secs_f32().round(),
                self.still_in_use(what)
            );
            tracing::warn!(%topic, count = due.count, reason, "refusals summed up");
            if authentic {
                self.audit_refusal(what, &topic, &detail)?;
            }
            self.save_refusal_count()?;
            self.alert(refused_alert(what), detail)?;
        }
        Ok(())
    }

    /// Adds the unauthentic refusals not yet counted in the store to its counter.
    fn save_refusal_count(&mut self) -> Result<(), StoreError> {
        if self.unauthentic_unsaved > 0 {
            self.store
                .add_to_counter(counters::UNAUTHENTIC_REFUSED, self.unauthentic_unsaved)?;
            self.unauthentic_unsaved = 0;
        }
        Ok(())
    }

    fn still_in_use(&self, what: Synced) -> String {
        let current = match (what, &self.timetable) {
            (Synced::Timetable, Some(t)) => t.version(),
            _ => self.gallery.current().version(),
        };
        format!("{} version {current} stays in use", what.as_str())
    }

    /// Deletes the people a roster's tombstones name, when this device holds them, auditing each
    /// and putting the smaller gallery in use.
    fn bury(&mut self, removed: &[String], version: u64) -> Result<(), StoreError> {
        let mut buried = 0;
        for person in removed {
            if self.store.remove_person(person)? {
                let detail = format!("a tombstone in roster version {version}");
                self.store.audit(&self.device, AuditAction::Remove, person, &detail)?;
                buried += 1;
            }
        }
        if buried > 0 {
            let recognizer = self.gallery.current().recognizer().clone();
            let gallery = Gallery::load_for_search(&self.store, &recognizer, self.dim, self.int8_above)?;
            self.gallery.replace(gallery);
            tracing::info!(people = buried, version, "people deleted by the roster's tombstones");
        }
        Ok(())
    }

    /// Audits a refusal as often as it raises an alert (the gate's window): an attacker's flood
    /// of forged rosters cannot grow the trail faster than that.
    fn audit_refusal(&mut self, what: Synced, topic: &str, detail: &str) -> Result<(), StoreError> {
        let subject = format!("{} on {topic}", what.as_str());
        self.store
            .audit(&self.device, AuditAction::RosterRefused, &subject, detail)?;
        Ok(())
    }

    fn alert(&self, kind: AlertKind, detail: String) -> Result<(), StoreError> {
        self.store.record_alert(&Alert::raise(kind, &self.device, detail))
    }

    /// Checks a roster whole and applies it. An error is the store failing; a roster refused is
    /// [`Taken::Refused`], once whatever it may still do here (its tombstones) is done.
    fn take_roster(&mut self, payload: &[u8], scope: &Scope, print: &str) -> Result<Taken, StoreError> {
        match self.check_roster(payload, scope) {
            Ok(CheckedRoster::Apply(env, roster)) => self.apply_roster(&env, &roster, print).map(Taken::Applied),
            Ok(CheckedRoster::TombstonesOnly(env, roster)) => {
                // Its version is never stored as the roster's: the tombstones' own high-water
                // mark keeps a replay (after a restart, when the refusal is forgotten) from
                // deleting again someone enrolled since.
                if env.version > self.store.counter(counters::TOMBSTONES_VERSION)? {
                    self.bury(&roster.removed, env.version)?;
                    self.store.raise_counter(counters::TOMBSTONES_VERSION, env.version)?;
                }
                Ok(Taken::Refused(self.other_recognizer(&env)))
            }
            Err(e) => Ok(Taken::Refused(e)),
        }
    }

    /// Whether a roster is authentic, for this device, newer than the one in use, and of its
    /// recognizer; reads the store not at all.
    fn check_roster(&self, payload: &[u8], scope: &Scope) -> Result<CheckedRoster, RosterError> {
        let env = parse_envelope(payload, self.max_bytes)?;
        let roster = open_roster(&env, &self.opener, scope, self.dim)?;
        let gallery = self.gallery.current();
        let ours = env.recognizer == **gallery.recognizer();
        if env.version <= gallery.version() {
            return Err(if ours {
                RosterError::Stale {
                    version: env.version,
                    current: gallery.version(),
                }
            } else {
                self.other_recognizer(&env)
            });
        }
        Ok(if ours {
            CheckedRoster::Apply(env, roster)
        } else {
            CheckedRoster::TombstonesOnly(env, roster)
        })
    }

    fn other_recognizer(&self, env: &Envelope) -> RosterError {
        RosterError::OtherRecognizer {
            found: summary(&env.recognizer),
            expected: self.gallery.current().recognizer().to_string(),
        }
    }

    /// Stores a checked roster, audits what it changed, and puts its gallery in use.
    fn apply_roster(&mut self, env: &Envelope, roster: &Roster, print: &str) -> Result<RosterOutcome, StoreError> {
        let before: Vec<String> = self.store.people()?.into_iter().map(|p| p.person_id).collect();
        let first_use = self.store.roster_version()?.is_none();
        let meta = RosterVersion {
            version: env.version,
            recognizer: env.recognizer.clone(),
            created_at: env.created_at.clone(),
        };
        let templates = roster.embeddings(&env.recognizer.as_str().into());
        self.store
            .replace_roster(&meta, &roster.enrollments(&templates), print)?;
        // Said before the roster is in use, so whoever sees it in use finds the alert too.
        if first_use {
            self.first_use(Synced::Roster, env.version)?;
        }
        let recognizer = self.gallery.current().recognizer().clone();
        let gallery = Gallery::load_for_search(&self.store, &recognizer, self.dim, self.int8_above)?;
        let (people, templates) = (gallery.people(), gallery.len());
        let replaced = self.gallery.current().version();
        let dropped: Vec<&str> = before
            .iter()
            .filter(|id| !roster.people.iter().any(|p| &p.person_id == *id))
            .map(String::as_str)
            .collect();
        self.store.audit(
            &self.device,
            AuditAction::RosterApplied,
            &format!("roster version {}", env.version),
            &format!(
                "{people} people, {templates} templates ({recognizer}), replacing version {replaced}; {} dropped with their templates: {}",
                dropped.len(),
                dropped.join(", ")
            ),
        )?;
        self.gallery.replace(gallery);
        tracing::info!(version = env.version, people, templates, "roster applied");
        Ok(RosterOutcome::Applied {
            version: env.version,
            people,
            templates,
        })
    }

    /// Checks a timetable whole (authentic, newer, valid) and puts it in use.
    fn take_timetable(&mut self, payload: &[u8], scope: &Scope, print: &str) -> Result<Taken, StoreError> {
        let Some(shared) = self.timetable.clone() else {
            return Ok(Taken::Applied(RosterOutcome::Repeated));
        };
        let checked = (|| {
            let env = parse_envelope(payload, self.max_bytes)?;
            let (timetable, compiled) = open_timetable(&env, &self.opener, scope)?;
            if env.version <= shared.version() {
                return Err(RosterError::Stale {
                    version: env.version,
                    current: shared.version(),
                });
            }
            Ok((env.version, timetable, compiled))
        })();
        let (version, timetable, compiled) = match checked {
            Ok(ok) => ok,
            Err(e) => return Ok(Taken::Refused(e)),
        };
        let first_use = self.store.timetable()?.is_none();
        self.store.replace_timetable(version, &timetable, print)?;
        if first_use {
            self.first_use(Synced::Timetable, version)?;
        }
        shared.replace(compiled, version);
        tracing::info!(version, sessions = timetable.sessions.len(), "timetable applied");
        Ok(Taken::Applied(RosterOutcome::TimetableApplied {
            version,
            sessions: timetable.sessions.len(),
        }))
    }

    fn first_use(&self, what: Synced, version: u64) -> Result<(), StoreError> {
        let w = what.as_str();
        self.alert(
            AlertKind::FirstUse,
            format!(
                "{w} version {version} accepted on first use: this store held no {w} from the backend, so \
                 the newest authentic one was taken whatever its version; only newer ones are taken from now on"
            ),
        )
    }

    /// Refuses a message. The log, the alerts and the audit trail hear of it only as often as
    /// the gate lets through (one at once and one summary per topic, reason and window); the
    /// audit trail only of an authentic one, since it is kept for good and junk alone must not
    /// grow it. Junk is counted (`unauthentic_refused` in the store, the status and `/metrics`).
    fn refuse(&mut self, what: Synced, topic: &str, error: RosterError) -> Result<RosterOutcome, StoreError> {
        let authentic = error.authentic();
        if !authentic {
            self.unauthentic_refused += 1;
            self.unauthentic_unsaved += 1;
        }
        let key = (what, topic.to_string(), error.reason(), authentic);
        if self.gate.admit(key, Instant::now()) {
            tracing::warn!(topic, %error, "{} refused", what.as_str());
            let detail = format!(
                "{} on {topic} refused: {error}; {}",
                what.as_str(),
                self.still_in_use(what)
            );
            if authentic {
                self.audit_refusal(what, topic, &detail)?;
            }
            self.save_refusal_count()?;
            self.alert(refused_alert(what), detail)?;
        } else {
            tracing::debug!(topic, reason = error.reason(), "{} refused (counted)", what.as_str());
        }
        Ok(RosterOutcome::Rejected(error))
    }
}
