//! `[device]`: who this box is on the wire.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::Problem;

/// This box's identity on the wire.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// Device id in topics and events; default the host name.
    pub id: Option<String>,
    /// Site (school) id in topics; default `default`.
    pub site: Option<String>,
    /// This device's own key (a seed of 64 hex digits): rosters are sealed to it and what the
    /// device publishes is signed with it. Else `ROLLCALL_DEVICE_KEY`, `ROLLCALL_DEVICE_KEY_FILE`
    /// or the systemd credential `rollcall.device-key`; with none set, `device.key` beside the
    /// store, made on first start.
    pub key_file: Option<PathBuf>,
}

impl DeviceConfig {
    /// The device id: configured, else the host name.
    pub fn id(&self) -> String {
        self.id.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "rollcall".into())
        })
    }

    /// The site id.
    pub fn site(&self) -> String {
        self.site.clone().unwrap_or_else(|| "default".into())
    }

    /// Where the device's key is made on first start when none is set: beside the store at
    /// `store`.
    pub fn default_key_file(store: &Path) -> PathBuf {
        store.with_file_name("device.key")
    }
}

/// The longest device or site id, in bytes.
pub const MAX_ID_BYTES: usize = 64;

/// Checks a device or site id: it becomes a topic level and part of every event, so it may not
/// hold a topic separator or wildcard (`/`, `+`, `#`), NUL or any control character, and is at
/// most [`MAX_ID_BYTES`] long.
pub fn check_id(id: &str) -> Result<(), String> {
    let shown = crate::untrusted::summary(id);
    if id.is_empty() {
        return Err("must not be empty".into());
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!("`{shown}` is {} bytes; at most {MAX_ID_BYTES}", id.len()));
    }
    if let Some(c) = id.chars().find(|c| matches!(c, '/' | '+' | '#') || c.is_control()) {
        return Err(format!(
            "`{shown}` holds {c:?}; ids are topic levels and may not hold /, +, #, NUL or control characters"
        ));
    }
    Ok(())
}

impl DeviceConfig {
    /// What is wrong with the section's values.
    pub(super) fn problems(&self) -> Vec<Problem> {
        [("id", &self.id), ("site", &self.site)]
            .into_iter()
            .filter_map(|(key, id)| Some(Problem::new("device", key, check_id(id.as_ref()?).err()?)))
            .collect()
    }
}
