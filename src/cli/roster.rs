//! `rollcall roster ...`: the enrolled people listed, removed, exported, imported, or published
//! to the site's devices as a backend would.

use std::path::{Path, PathBuf};

use super::{CliError, ModelArgs, append_audit, open_store};
use rollcall::config::Config;
use rollcall::event::AuditAction;
use rollcall::keys::{SealingKey, SigningKey};
use rollcall::store::{Key, Store};
use rollcall::sync::roster::{Envelope, Opener, Roster, Sealer};

/// Arguments of `rollcall roster`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RosterCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RosterCommand {
    /// List enrolled people and their templates.
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a person and delete their templates for good.
    Remove {
        /// Person id.
        id: String,
    },
    /// Write the roster, sealed with the store's key (or --key-file), to FILE.
    Export {
        /// Output file (created 0600).
        file: PathBuf,
        /// Seal with this key instead of the store's.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Roster version to stamp.
        #[arg(long, default_value_t = 1)]
        version: u64,
        /// Seal it for this device only (else for every device of the configured site).
        #[arg(long)]
        device: Option<String>,
    },
    /// Publish a roster to the site's devices over MQTT (retained), as a backend would.
    Publish(PublishArgs),
    /// Read a sealed roster FILE into the store (each person's templates are replaced).
    Import {
        /// Input file.
        file: PathBuf,
        /// Open with this key instead of the store's.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
}

/// Runs `rollcall roster`.
pub fn run(mut config: Config, args: Args, models: &ModelArgs) -> Result<(), CliError> {
    models.apply(&mut config);
    match args.command {
        // Publishing speaks for the backend: it needs the site key and the broker, not a store.
        RosterCommand::Publish(how) => publish(&config, how),
        local => local_roster(&config, local),
    }
}

/// Runs the `roster` commands that work on the local store.
fn local_roster(config: &Config, command: RosterCommand) -> Result<(), CliError> {
    let mut store = open_store(config)?;
    match command {
        RosterCommand::Publish(how) => publish(config, how),
        RosterCommand::List { json } => list(&store, json),
        RosterCommand::Remove { id } => {
            if store.remove_person(&id)? {
                append_audit(
                    &mut store,
                    config,
                    AuditAction::Remove,
                    &id,
                    "removed with their templates",
                )?;
                outln!("{id} removed; their templates are deleted");
                Ok(())
            } else {
                Err(CliError::Usage(format!("no person `{id}` is enrolled")))
            }
        }
        RosterCommand::Export {
            file,
            key_file,
            version,
            device,
        } => export(
            config,
            &mut store,
            &file,
            key_file.as_deref(),
            version,
            device.as_deref(),
        ),
        RosterCommand::Import { file, key_file } => import(config, &mut store, &file, key_file.as_deref()),
    }
}

/// `roster export`: everyone, sealed with the site key for `device` (or the site), audited
/// before the file is written.
fn export(
    config: &Config,
    store: &mut Store,
    file: &Path,
    key_file: Option<&Path>,
    version: u64,
    device: Option<&str>,
) -> Result<(), CliError> {
    let scope = scope_of(config, device)?;
    let key = roster_key(config, key_file)?;
    let recognizer: std::sync::Arc<str> = config.models.recognizer.as_str().into();
    let roster = rollcall::sync::roster::file::from_store(store, &recognizer)?;
    let env = rollcall::sync::roster::seal(&roster, version, &recognizer, &scope, Sealer::SiteKey(&key));
    let text = serde_json::to_vec_pretty(&env).unwrap_or_default();
    // Recorded before the data leaves: an export the trail cannot take does not happen.
    let detail = format!(
        "{} people ({recognizer}), sealed, version {version}",
        roster.people.len()
    );
    append_audit(
        store,
        config,
        AuditAction::ExportRoster,
        &file.display().to_string(),
        &detail,
    )?;
    rollcall::private_file::write(file, &text).map_err(|e| CliError::Write {
        path: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    outln!(
        "roster of {} people ({recognizer}) sealed into {}",
        roster.people.len(),
        file.display()
    );
    Ok(())
}

/// `roster import`: a sealed roster file merged into the store (its tombstones deleted), each
/// change audited.
fn import(config: &Config, store: &mut Store, file: &Path, key_file: Option<&Path>) -> Result<(), CliError> {
    let key = roster_key(config, key_file)?;
    let bytes = std::fs::read(file).map_err(|source| CliError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let roster_file = |source| CliError::RosterFile {
        path: file.to_path_buf(),
        source,
    };
    let env = rollcall::sync::roster::parse_envelope(&bytes, 256 << 20).map_err(roster_file)?;
    let dim = recognizer_dim(config, &env.recognizer)?;
    // A local import is the admin's own act: any scope the envelope was sealed for will do.
    let roster =
        rollcall::sync::roster::open_roster(&env, &file_opener(key), &env.scope(), dim).map_err(roster_file)?;
    let recognizer: std::sync::Arc<str> = env.recognizer.as_str().into();
    let deleted = rollcall::sync::roster::file::merge_into(store, &roster, &recognizer)?;
    for person in &deleted {
        append_audit(
            store,
            config,
            AuditAction::Remove,
            person,
            "a tombstone in the imported roster",
        )?;
    }
    let ids: Vec<&str> = roster.people.iter().map(|p| p.person_id.as_str()).collect();
    let detail = format!("{} people ({}): {}", ids.len(), env.recognizer, ids.join(", "));
    append_audit(store, config, AuditAction::Import, &file.display().to_string(), &detail)?;
    outln!(
        "imported {} people ({}) from {}",
        roster.people.len(),
        env.recognizer,
        file.display()
    );
    Ok(())
}

/// The embedding length of `recognizer` among the models the config knows: what a roster's
/// templates must have to be opened.
fn recognizer_dim(config: &Config, recognizer: &str) -> Result<usize, CliError> {
    let catalogue = rollcall::config::Catalogue::builtin().with(&config.models.custom)?;
    let spec = catalogue.get(recognizer, rollcall::config::ModelKind::Recognizer, "recognizer")?;
    Ok(spec.recognizer.as_ref().map_or(0, |r| r.dim))
}

/// What opens a roster file: the key it is sealed with, as the site key once was.
fn file_opener(key: Key) -> Opener {
    Opener {
        site_key: Some(key),
        ..Opener::default()
    }
}

/// The key a roster file is sealed with: the one named, else the store's own.
fn roster_key(config: &Config, key_file: Option<&std::path::Path>) -> Result<Key, CliError> {
    match key_file {
        Some(k) => Ok(Key::from_file(k)?),
        None => Ok(Key::locate(config.store.key_file.as_deref())?),
    }
}

/// `roster list`: one line per person, or one JSON object per line.
fn list(store: &rollcall::store::Store, json: bool) -> Result<(), CliError> {
    for p in store.people()? {
        if json {
            outln!("{}", serde_json::to_string(&p).unwrap_or_default());
        } else {
            let t: Vec<String> = p.templates.iter().map(|(r, n)| format!("{n} x {r}")).collect();
            outln!(
                "{:<20} {:<24} groups [{}]  templates {}",
                p.person_id,
                p.name.unwrap_or_default(),
                p.groups.join(", "),
                t.join(", ")
            );
        }
    }
    Ok(())
}

/// The scope a roster is sealed for: the configured site, or one device of it. A device id that
/// could not be a topic level is refused here rather than published where no device listens.
fn scope_of(config: &Config, device: Option<&str>) -> Result<rollcall::sync::roster::Scope, CliError> {
    let site = config.device.site();
    match device {
        None => Ok(rollcall::sync::roster::Scope::Site(site)),
        Some(d) => {
            rollcall::config::check_id(d).map_err(|problem| CliError::Usage(format!("--device: {problem}")))?;
            Ok(rollcall::sync::roster::Scope::Device {
                site,
                device: d.to_string(),
            })
        }
    }
}

/// Arguments of `rollcall roster publish`.
///
/// FILE is a plain roster (`{"people": [...]}`), signed here with --signing-key, sealed to each
/// --recipient and stamped with --version; or an envelope already sealed. Without a signing key
/// it is sealed under the site key, which devices take only while `allow_site_key_rosters`.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// Roster file.
    file: PathBuf,
    /// The backend's signing key (`rollcall keygen --signing`); else ROLLCALL_SIGNING_KEY(_FILE)
    /// or the credential rollcall.signing-key.
    #[arg(long)]
    signing_key: Option<PathBuf>,
    /// A device's sealing key (base64; its `rollcall status` shows it): only the devices named
    /// can open the roster. Repeat for each device.
    #[arg(long = "recipient", value_name = "SEALING_KEY")]
    recipients: Vec<String>,
    /// Site key, to seal without signing while a site migrates (else [mqtt] roster_key_file,
    /// ROLLCALL_SITE_KEY, ROLLCALL_SITE_KEY_FILE).
    #[arg(long, conflicts_with = "signing_key")]
    key_file: Option<PathBuf>,
    /// Version to stamp on a plain roster; default the time in milliseconds, which only grows.
    #[arg(long)]
    version: Option<u64>,
    /// Recognizer the plain roster's templates come from (default the configured one).
    #[arg(long)]
    recognizer: Option<String>,
    /// Publish to this device only, instead of the whole site.
    #[arg(long)]
    device: Option<String>,
}

/// How `roster publish` seals: signed for the devices named, or under the site key.
enum PublishKey {
    Signed(Box<SigningKey>, Vec<SealingKey>),
    SiteKey(Key),
}

impl PublishKey {
    fn of(config: &Config, how: &PublishArgs) -> Result<PublishKey, CliError> {
        let signing = match &how.signing_key {
            Some(path) => Some(Key::from_file(path)?),
            None if how.key_file.is_none() => Key::locate_from(&rollcall::keys::SIGNING_KEY_SOURCE, None).ok(),
            None => None,
        };
        let Some(seed) = signing else {
            let configured = config.mqtt.as_ref().and_then(|m| m.roster_key_file.clone());
            return match Key::locate_from(
                &rollcall::store::SITE_KEY_SOURCE,
                how.key_file.as_deref().or(configured.as_deref()),
            ) {
                Ok(key) => Ok(PublishKey::SiteKey(key)),
                Err(rollcall::store::StoreError::NoKey(_)) => Err(CliError::Usage(
                    "no key to seal with: give --signing-key (the backend's key, from `rollcall keygen --signing`), \
                     or, only while a site moves off the site key, --key-file SITE_KEY"
                        .into(),
                )),
                Err(e) => Err(e.into()),
            };
        };
        if how.recipients.is_empty() {
            return Err(CliError::Usage(
                "a signed roster is sealed to each device that may open it: give each device's sealing key \
                 with --recipient (the device's `rollcall status` shows it)"
                    .into(),
            ));
        }
        let recipients = how
            .recipients
            .iter()
            .map(|k| k.parse().map_err(|e| CliError::Usage(format!("--recipient: {e}"))))
            .collect::<Result<_, _>>()?;
        Ok(PublishKey::Signed(Box::new(SigningKey::from_seed(&seed)), recipients))
    }

    fn sealer(&self) -> Sealer<'_> {
        match self {
            PublishKey::Signed(by, to) => Sealer::Signed { by, to },
            PublishKey::SiteKey(key) => Sealer::SiteKey(key),
        }
    }

    /// Checks an envelope as far as the backend can: a site-key one is opened and checked as a
    /// device will; a signed one must carry this key's signature (its contents were checked
    /// before it was sealed, or are the sealer's).
    fn check(
        &self,
        config: &Config,
        envelope: &Envelope,
        scope: &rollcall::sync::roster::Scope,
    ) -> Result<usize, String> {
        match self {
            PublishKey::SiteKey(key) => {
                let dim = recognizer_dim(config, &envelope.recognizer).map_err(|e| e.to_string())?;
                let opener = file_opener(key.clone());
                let roster =
                    rollcall::sync::roster::open_roster(envelope, &opener, scope, dim).map_err(|e| e.to_string())?;
                Ok(roster.people.len())
            }
            PublishKey::Signed(by, _) => {
                let signed = rollcall::sync::roster::signed_bytes(envelope);
                if !by.verify_key().verifies(&signed, &envelope.signature) {
                    return Err("it is not signed with this signing key".into());
                }
                Ok(envelope.recipients.len())
            }
        }
    }
}

/// Runs `rollcall roster publish`.
fn publish(config: &Config, how: PublishArgs) -> Result<(), CliError> {
    let file = how.file.as_path();
    let usage = |e: String| CliError::Usage(format!("{}: {e}", file.display()));
    let settings = rollcall::sync::mqtt::MqttSettings::from_config(config)?
        .ok_or_else(|| CliError::Usage("roster publish needs an [mqtt] section in the config (the broker)".into()))?;
    let key = PublishKey::of(config, &how)?;
    let bytes = std::fs::read(file).map_err(|e| usage(format!("cannot read it: {e}")))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| usage(format!("not JSON: {e}")))?;
    let scope = scope_of(config, how.device.as_deref())?;
    let envelope = if value.get("format").is_some() {
        rollcall::sync::roster::parse_envelope(&bytes, usize::MAX).map_err(|e| usage(e.to_string()))?
    } else {
        let roster: Roster = serde_json::from_value(value).map_err(|e| usage(format!("not a roster: {e}")))?;
        let recognizer = how
            .recognizer
            .clone()
            .unwrap_or_else(|| config.models.recognizer.clone());
        // Checked as a device will, so a mistake shows here and not as alerts from every
        // classroom.
        let dim = recognizer_dim(config, &recognizer)?;
        rollcall::sync::roster::check_roster(&roster, dim, &recognizer).map_err(|e| usage(e.to_string()))?;
        let version = how
            .version
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis() as u64);
        rollcall::sync::roster::seal(&roster, version, &recognizer, &scope, key.sealer())
    };
    let count = key.check(config, &envelope, &scope).map_err(usage)?;
    let topics = &settings.topics;
    let topic = match &how.device {
        Some(d) => {
            rollcall::sync::mqtt::Topics::new(
                &config.mqtt.as_ref().map(|m| m.topic_prefix.clone()).unwrap_or_default(),
                &config.device.site(),
                d,
            )
            .device_roster
        }
        None => topics.site_roster.clone(),
    };
    let payload = serde_json::to_vec(&envelope).unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(rollcall::sync::mqtt::publish_retained(
        &settings,
        &topic,
        payload,
        std::time::Duration::from_secs(10),
    ))?;
    let what = match key {
        PublishKey::Signed(..) => format!("signed, sealed to {count} devices"),
        PublishKey::SiteKey(_) => format!("{count} people, under the site key"),
    };
    outln!(
        "roster version {} ({}, {what}) published to {topic}",
        envelope.version,
        envelope.recognizer
    );
    Ok(())
}
