//! `rollcall check-config FILE`: every problem in a config file, each with where it is
//! (file:line:column) and what to do, before `run` meets it.

use std::path::{Path, PathBuf};

use super::CliError;
use crate::config::{Config, ConfigError};
use crate::model::{Catalogue, ModelKind};
use crate::session::TimetableError;

/// Arguments of `rollcall check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file to check.
    pub file: PathBuf,
}

/// The name of the table a header line opens: `[mqtt.tls]` is "mqtt.tls", `[[cameras]]` "cameras".
fn table_of(line: &str) -> Option<&str> {
    let t = line.trim();
    t.strip_prefix("[[")
        .and_then(|r| r.strip_suffix("]]"))
        .or_else(|| t.strip_prefix('[').and_then(|r| r.strip_suffix(']')))
        .map(str::trim)
}

/// Line and column (1-based) of `key = ...` inside `[section]`, or of the section's header, or
/// the file's start.
fn locate_key(text: &str, section: &str, key: &str) -> (usize, usize) {
    let mut in_section = false;
    let mut header = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(table) = table_of(line) {
            in_section = table == section;
            if in_section && header.is_none() {
                header = Some((n + 1, 1));
            }
            continue;
        }
        let trimmed = line.trim_start();
        if in_section
            && let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return (n + 1, line.len() - trimmed.len() + 1);
        }
    }
    header.unwrap_or((1, 1))
}

/// Line and column of the last `id = "id"` (the last: for a duplicate, the second one).
fn locate_id(text: &str, id: &str) -> (usize, usize) {
    let mut found = (1, 1);
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("id")
            && let Some(value) = rest.trim_start().strip_prefix('=')
            && value.trim().trim_matches('"') == id
        {
            found = (n + 1, line.len() - trimmed.len() + 1);
        }
    }
    found
}

/// Where in `text` a problem lies.
fn locate(text: &str, problem: &ConfigError) -> (usize, usize) {
    match problem {
        ConfigError::BadValue { section, key, .. } => locate_key(text, section, key),
        ConfigError::Camera { id, .. } => locate_id(text, id),
        ConfigError::Timetable { source, .. } => match source {
            TimetableError::TimeZone(_) => locate_key(text, "timetable", "timezone"),
            TimetableError::Slot { id, .. } => locate_id(text, id),
            TimetableError::Overlap { b, .. } => locate_id(text, b),
        },
        _ => (1, 1),
    }
}

/// Without the file path (printed once in front) a message reads better.
fn without_path(message: String, path: &Path) -> String {
    message.replacen(&format!("config {}: ", path.display()), "", 1)
}

/// Runs `rollcall check-config`.
pub fn run(args: Args) -> Result<(), CliError> {
    let path = &args.file;
    let text =
        std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let config = match Config::parse_unchecked(&text, path) {
        Ok(c) => c,
        // toml's message already says where (line, column) and shows the line.
        Err(e) => {
            println!("{}: {}", path.display(), without_path(e.to_string(), path));
            return Err(CliError::Usage(format!("{} is not a valid config", path.display())));
        }
    };
    let mut found: Vec<((usize, usize), String)> = config
        .problems(path)
        .into_iter()
        .map(|p| (locate(&text, &p), without_path(p.to_string(), path)))
        .collect();
    match Catalogue::builtin().with(&config.models.custom) {
        Ok(catalogue) => {
            let roles = [
                ("detector", &config.models.detector, ModelKind::Detector, "detector"),
                (
                    "recognizer",
                    &config.models.recognizer,
                    ModelKind::Recognizer,
                    "recognizer",
                ),
            ];
            for (key, name, kind, role) in roles {
                if let Err(e) = catalogue.get(name, kind, role) {
                    found.push((locate_key(&text, "models", key), format!("[models] {key}: {e}")));
                }
            }
        }
        Err(e) => found.push((locate_key(&text, "models", "custom"), e.to_string())),
    }
    for (section, key, missing) in config.missing_files() {
        found.push((
            locate_key(&text, section, key),
            format!(
                "[{section}] {key}: {} does not exist; create it, or fix the path (relative paths start at the config's folder)",
                missing.display()
            ),
        ));
    }
    found.sort();
    for ((line, column), message) in &found {
        println!("{}:{line}:{column}: {message}", path.display());
    }
    if found.is_empty() {
        println!(
            "{}: OK ({} camera(s), {} session(s), MQTT {})",
            path.display(),
            config.cameras.len(),
            config.timetable.sessions.len(),
            if config.mqtt.is_some() { "on" } else { "off" }
        );
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{} problem(s) in {}",
            found.len(),
            path.display()
        )))
    }
}
