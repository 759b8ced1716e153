//! `rollcall privacy report`: what this box holds about people, as counts and ages (never the
//! data), how long it keeps it, and where its keys come from. For the school's records of
//! processing and its impact assessment (docs/privacy.md).

use super::CliError;
use rollcall::config::Config;
use rollcall::store::{Held, KEY_SOURCE, Key, SITE_KEY_SOURCE};

/// Arguments of `rollcall privacy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: PrivacyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PrivacyCommand {
    /// What this box holds (counts and ages), how long it keeps it, and where the keys are.
    Report {
        /// As one JSON document.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `rollcall privacy report`.
pub fn run(config: &Config, args: Args) -> Result<(), CliError> {
    let PrivacyCommand::Report { json } = args.command;
    let store = super::open_store(config)?;
    let held = store.holdings()?;
    let store_key = Key::origin(&KEY_SOURCE, config.store.key_file.as_deref());
    let site_key = match &config.mqtt {
        Some(m) if m.allow_site_key_rosters => Key::origin(&SITE_KEY_SOURCE, m.roster_key_file.as_deref()),
        _ => "not taken ([mqtt] allow_site_key_rosters is off)".to_string(),
    };
    let device_key = match Key::origin(&rollcall::keys::DEVICE_KEY_SOURCE, config.device.key_file.as_deref()) {
        unset if config.device.key_file.is_none() && unset == rollcall::store::NOWHERE => {
            let default = rollcall::config::DeviceConfig::default_key_file(&config.store.path);
            format!("the file {} (made by the daemon on first start)", default.display())
        }
        origin => origin,
    };
    let verify_key = match config.mqtt.as_ref().map(rollcall::keys::VerifyKey::configured) {
        Some(Ok(Some(key))) => format!("{key}"),
        Some(Err(e)) => format!("unusable: {e}"),
        _ => "none set: no roster is taken from the backend".to_string(),
    };
    let retention = serde_json::json!({
        "attendance_and_alerts_days": config.store.retention_days,
        "delivered_outbox_days": config.mqtt.as_ref().map(|m| m.outbox.retention_days),
        "templates_unseen_days": config.store.template_retention_days,
        "audit": "kept for good: the trail's chain needs every record",
        "images": "none are kept",
    });
    if json {
        let doc = serde_json::json!({
            "device": config.device.id(),
            "store": config.store.path,
            "holds": held,
            "retention": retention,
            "keys": {"store": store_key, "device": device_key, "roster_verify_key": verify_key, "site": site_key},
        });
        outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(());
    }
    outln!("device {}, store {}", config.device.id(), config.store.path.display());
    outln!("holds (counts and ages only):");
    for (what, h) in [
        ("people", &held.people),
        ("face templates (encrypted)", &held.templates),
        ("attendance records", &held.attendance),
        ("alerts", &held.alerts),
        ("audit records", &held.audit),
    ] {
        outln!("  {what:<28} {:>7}  {}", h.count, ages(h));
    }
    outln!("  {:<28} {:>7}", "events waiting for the broker", held.outbox_pending);
    outln!(
        "  {:<28} {:>7}  (none is ever written unless an admin asks)",
        "face images",
        0
    );
    outln!("retention:");
    outln!(
        "  attendance and alerts: {} days ([store] retention_days)",
        config.store.retention_days
    );
    if let Some(m) = &config.mqtt {
        outln!(
            "  delivered events in the outbox: {} days ([mqtt.outbox] retention_days)",
            m.outbox.retention_days
        );
    }
    match config.store.template_retention_days {
        Some(days) => outln!(
            "  templates: removed once a person is neither seen nor re-enrolled for {days} days ([store] template_retention_days)"
        ),
        None => outln!("  templates: until the person is removed, or a roster from the backend leaves them out"),
    }
    outln!("  audit records: kept for good (the chain needs every record)");
    outln!("keys:");
    outln!("  store key (seals the templates): {store_key}");
    outln!("  device key (rosters are sealed to it; it signs what the box sends): {device_key}");
    outln!("  backend's verifying key (rosters must carry its signature): {verify_key}");
    outln!("  site key (older rosters, while a site migrates): {site_key}");
    Ok(())
}

fn ages(h: &Held) -> String {
    match (h.oldest, h.newest) {
        (Some(o), Some(n)) => {
            let days = |t: chrono::DateTime<chrono::Utc>| (chrono::Utc::now() - t).num_days();
            format!(
                "oldest {} ({} days), newest {} ({} days)",
                o.format("%Y-%m-%d"),
                days(o),
                n.format("%Y-%m-%d"),
                days(n)
            )
        }
        _ => String::new(),
    }
}
