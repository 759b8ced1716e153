//! `rollcall run`: the daemon. Prints each decision as it is made (attendance and alerts; a line
//! of text, or JSON with `--json`) while it records and publishes them.

use super::CliError;
use rollcall::attend::engine::Outcome;
use rollcall::config::Config;

/// Arguments of `rollcall run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print decisions as JSON lines (the MQTT payloads) instead of text.
    #[arg(long)]
    pub json: bool,
}

fn print(outcome: &Outcome, json: bool) {
    match outcome {
        Outcome::Attendance(e) if json => outln!("{}", serde_json::to_string(e).unwrap_or_default()),
        Outcome::Attendance(e) => match e.liveness {
            Some(l) => outln!("attendance  {e} liveness {l:.2}"),
            None => outln!("attendance  {e} liveness not assessed"),
        },
        Outcome::Spoof(a) | Outcome::Alert(a) if json => outln!("{}", serde_json::to_string(a).unwrap_or_default()),
        Outcome::Alert(a) => outln!("alert       {}: {}", a.kind.as_str(), a.detail),
        Outcome::Spoof(a) => outln!(
            "alert       spoof camera {}: {}",
            a.camera_id.as_deref().unwrap_or("-"),
            a.detail
        ),
        // Unknown faces, repeats (of attendance or of a spoof at an alert's place) and arrivals
        // outside sessions are in the log, not the output.
        _ => {}
    }
}

/// Runs the daemon until SIGINT or SIGTERM; SIGHUP reloads `config_path`.
pub fn run(config: &Config, config_path: Option<&std::path::Path>, args: Args) -> Result<(), CliError> {
    let stop = super::signals::catch_stop();
    let signals = rollcall::daemon::Signals {
        stop: &stop,
        reload: super::signals::catch_reload(),
        config_path,
    };
    Ok(rollcall::daemon::run(config, &signals, &mut |o| print(o, args.json))?)
}
