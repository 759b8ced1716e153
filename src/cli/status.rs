//! `rollcall status`: the running daemon's state (cameras, roster, outbox) from its status file,
//! or, when it is not running, what the store says; and the last events.

use super::CliError;
use rollcall::attend::held::StoreState;
use rollcall::config::Config;
use rollcall::store::Outbox;
use rollcall::sync::status::{DeviceStatus, status_file};

/// A status file older than this belongs to a daemon that is no longer running.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The device's public keys when its key is already there; never makes one (the daemon does,
/// as the user it runs as).
fn stored_keys(config: &Config) -> Option<rollcall::keys::DevicePublic> {
    let default = rollcall::config::DeviceConfig::default_key_file(&config.store.path);
    let configured = config.device.key_file.clone().or(default.exists().then_some(default));
    let seed = rollcall::store::Key::locate_from(&rollcall::keys::DEVICE_KEY_SOURCE, configured.as_deref()).ok()?;
    Some(rollcall::keys::DeviceKey::from_seed(&seed).public())
}

/// Runs `rollcall status`.
pub fn run(config: &Config) -> Result<(), CliError> {
    let store = super::open_store(config)?;
    let path = status_file(&config.store.path);
    let live = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < STALE_AFTER);
    // Written by the daemon, read as the same type; one from another version that does not
    // parse counts as no status rather than a guess.
    let running: Option<DeviceStatus> = if live {
        std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok())
    } else {
        None
    };
    match &running {
        Some(s) => {
            outln!("rollcall {} running on {} for {} s", s.version, s.device, s.uptime_s);
            for (id, c) in &s.cameras {
                let state = serde_json::to_value(c.state).ok();
                outln!(
                    "  camera {id:<16} {:<10} {} fps, lag {} ms, {} ms a frame, {} seen too small to recognise",
                    state.as_ref().and_then(|v| v.as_str()).unwrap_or("?"),
                    c.fps,
                    c.lag_ms,
                    c.ms_per_frame,
                    c.too_small
                );
            }
            if !s.models.is_empty() {
                let models: Vec<String> = s.models.iter().map(ToString::to_string).collect();
                outln!("  models: {}", models.join(", "));
            }
            if s.store.state == StoreState::Failing {
                outln!(
                    "  store: FAILING, {} decisions held in memory ({})",
                    s.store.held,
                    s.store.last_error.as_deref().unwrap_or("")
                );
            }
        }
        None => outln!("rollcall is not running (no fresh status at {})", path.display()),
    }
    if let Some(keys) = running
        .as_ref()
        .and_then(|s| s.keys.clone())
        .or_else(|| stored_keys(config))
    {
        outln!("  device keys: sealing {}, signing {}", keys.sealing, keys.signing);
    }
    let people = store.people()?;
    let templates: usize = people.iter().flat_map(|p| p.templates.iter().map(|t| t.1)).sum();
    let version = store.roster_version()?.map_or(0, |r| r.version);
    outln!(
        "  roster: version {version}, {} people, {templates} templates",
        people.len()
    );
    let depth = Outbox::open(&config.store.path).and_then(|o| o.depth())?;
    outln!(
        "  outbox: {} waiting for the broker{}, {} dropped",
        depth.pending,
        depth
            .oldest_s
            .map(|s| format!(" (oldest {s:.0} s)"))
            .unwrap_or_default(),
        depth.dropped
    );
    let events = store.attendance_since(0)?;
    outln!("  last events:");
    for (_, e) in events.iter().skip(events.len().saturating_sub(5)) {
        outln!("    {}", super::events::line(e));
    }
    if events.is_empty() {
        outln!("    none");
    }
    Ok(())
}
