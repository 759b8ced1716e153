//! `rollcall check-config FILE`: every problem in a config file, each with where it is
//! (file:line:column) and what to do, before `run` meets it.

use std::path::PathBuf;

use super::CliError;
use rollcall::config::{Depth, examine, render};

/// Arguments of `rollcall check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file to check.
    pub file: PathBuf,
}

/// Runs `rollcall check-config`.
pub fn run(args: Args) -> Result<(), CliError> {
    let path = &args.file;
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match examine(&text, path, Depth::Everything) {
        (Some(config), found) if found.is_empty() => {
            outln!(
                "{}: OK ({} camera(s), {} session(s), MQTT {})",
                path.display(),
                config.cameras.len(),
                config.timetable.sessions.len(),
                if config.mqtt.is_some() { "on" } else { "off" }
            );
            for warning in rollcall::config::warnings(&config) {
                outln!("warning: {warning}");
            }
            Ok(())
        }
        (_, found) => {
            outln!("{}", render(path, &found));
            Err(CliError::PartlyFailed(format!(
                "{} problem(s) in {}",
                found.len(),
                path.display()
            )))
        }
    }
}
