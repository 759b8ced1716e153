//! Every problem of a config file, each placed at its line and column with the fix: what
//! `check-config` prints, what `run` refuses to start with, what a SIGHUP reload logs.

use std::path::Path;

use super::TimetableError;
use super::models::{Catalogue, ModelKind};
use super::{Config, ConfigError};

/// One problem of a config file and where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what to do, without the file's name.
    pub message: String,
}

/// How much of a config to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Values only: enough for commands that use a few sections.
    Values,
    /// Values, the model names, and every file the config names: what running the daemon needs.
    Everything,
}

/// Parses `text` (the file at `path`) and lists its problems, sorted by place. A file that does
/// not parse at all is one finding with toml's own place and message.
pub fn examine(text: &str, path: &Path, depth: Depth) -> (Option<Config>, Vec<Finding>) {
    let config = match Config::parse_unchecked(text, path) {
        Ok(c) => c,
        Err(e) => {
            let message = without_path(e.to_string(), path);
            let (line, column) = toml_place(&message);
            return (None, vec![Finding { line, column, message }]);
        }
    };
    let mut found: Vec<Finding> = config
        .problems(path)
        .into_iter()
        .map(|p| at(locate(text, &p), without_path(p.to_string(), path)))
        .collect();
    if depth == Depth::Everything {
        found.extend(model_problems(text, &config));
        for (section, key, missing) in config.missing_files() {
            found.push(at(
                locate_key(text, section, key),
                format!(
                    "[{section}] {key}: {} does not exist; create it, or fix the path (relative \
                     paths start at the config's folder)",
                    missing.display()
                ),
            ));
        }
    }
    found.sort();
    (Some(config), found)
}

/// Reads the file at `path` and checks it to `depth`: the config, or every problem with its place.
pub fn load(path: &Path, depth: Depth) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    match examine(&text, path, depth) {
        (Some(config), found) if found.is_empty() => Ok(config),
        (_, found) => Err(ConfigError::Problems {
            path: path.to_path_buf(),
            found,
        }),
    }
}

/// The findings as `file:line:column: message` lines, as compilers print them.
pub fn render(path: &Path, found: &[Finding]) -> String {
    found
        .iter()
        .map(|f| format!("{}:{}:{}: {}", path.display(), f.line, f.column, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn at((line, column): (usize, usize), message: String) -> Finding {
    Finding { line, column, message }
}

/// Detector and recognizer names the model catalogue does not know.
fn model_problems(text: &str, config: &Config) -> Vec<Finding> {
    let catalogue = match Catalogue::builtin().with(&config.models.custom) {
        Ok(c) => c,
        Err(e) => return vec![at(locate_key(text, "models", "custom"), e.to_string())],
    };
    let roles = [
        ("detector", &config.models.detector, ModelKind::Detector),
        ("recognizer", &config.models.recognizer, ModelKind::Recognizer),
    ];
    roles
        .into_iter()
        .filter_map(|(key, name, kind)| {
            let e = catalogue.get(name, kind, key).err()?;
            Some(at(locate_key(text, "models", key), format!("[models] {key}: {e}")))
        })
        .collect()
}

/// The place toml puts in its messages ("TOML parse error at line 3, column 7"), or the start.
fn toml_place(message: &str) -> (usize, usize) {
    let number_after = |label: &str| -> Option<usize> {
        let rest = &message[message.find(label)? + label.len()..];
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    match (number_after("line "), number_after("column ")) {
        (Some(l), Some(c)) => (l, c),
        _ => (1, 1),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syntax_error_keeps_tomls_place() {
        let path = Path::new("a.toml");
        let (config, found) = examine("[store]\npath = \n", path, Depth::Values);
        assert!(config.is_none());
        assert_eq!((found[0].line, found[0].column), (2, 8), "{found:?}");
    }

    #[test]
    fn values_are_placed_at_their_key_and_files_only_checked_to_run() {
        let text = "[detect]\n\nscore_threshold = 1.5\n[store]\nkey_file = \"/nowhere/key\"\n";
        let path = Path::new("/etc/rollcall/a.toml");
        let (_, values) = examine(text, path, Depth::Values);
        assert_eq!(values.len(), 1, "{values:?}");
        assert_eq!((values[0].line, values[0].column), (3, 1));
        let (_, all) = examine(text, path, Depth::Everything);
        assert!(
            all.iter()
                .any(|f| f.line == 5 && f.message.contains("/nowhere/key does not exist")),
            "{all:?}"
        );
    }
}
