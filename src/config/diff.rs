//! What changed between two config files, key by key, in the sections that change how
//! recognition behaves: for the audit record of a reload.

/// The sections whose changes are audited: models, and the thresholds of detection,
/// recognition, tracking and liveness.
pub const AUDITED_SECTIONS: [&str; 5] = ["models", "detect", "recognize", "track", "liveness"];

/// Each changed key of [`AUDITED_SECTIONS`] as `[section] key: old -> new` (`unset` for a key
/// only one file has), in a stable order.
pub fn changed_settings(old: &toml::Table, new: &toml::Table) -> Vec<String> {
    let empty = toml::Table::new();
    let mut changes = Vec::new();
    for section in AUDITED_SECTIONS {
        let table = |t: &toml::Table| {
            t.get(section)
                .and_then(|v| v.as_table())
                .cloned()
                .unwrap_or_else(|| empty.clone())
        };
        let (before, after) = (table(old), table(new));
        let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (b, a) = (before.get(key), after.get(key));
            if b != a {
                let show = |v: Option<&toml::Value>| v.map_or_else(|| "unset".to_string(), |v| v.to_string());
                changes.push(format!("[{section}] {key}: {} -> {}", show(b), show(a)));
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_keys_of_the_audited_sections_are_listed() {
        let old: toml::Table =
            "[recognize]\nthreshold = 0.36\nmargin = 0.08\n[liveness]\nthreshold = 0.4\n[device]\nid = \"a\"\n"
                .parse()
                .unwrap();
        let new: toml::Table =
            "[recognize]\nthreshold = 0.40\nmargin = 0.08\n[models]\ndetector = \"scrfd-500m\"\n[device]\nid = \"b\"\n"
                .parse()
                .unwrap();
        assert_eq!(
            changed_settings(&old, &new),
            vec![
                "[models] detector: unset -> \"scrfd-500m\"".to_string(),
                "[recognize] threshold: 0.36 -> 0.4".to_string(),
                "[liveness] threshold: 0.4 -> unset".to_string(),
            ]
        );
        assert!(changed_settings(&old, &old).is_empty());
    }
}
