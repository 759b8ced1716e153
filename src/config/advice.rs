//! What a valid config may still get wrong: settings that work but leave a secret readable or
//! the box less safe than it could be. `check-config` prints these as warnings; none stops a
//! start.

use super::{Config, redact_text};

/// Warnings for `config`, each naming the setting and what to do instead.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for cam in &config.cameras {
        for (key, text) in [("url", &cam.url), ("uri", &cam.uri), ("pipeline", &cam.pipeline)] {
            if let Some(text) = text
                && redact_text(text) != *text
            {
                out.push(format!(
                    "camera `{}`: its {key} holds a user name or password, which everyone who can read this file \
                     sees: give `kind = \"rtsp\"` a `url` without them, with `username` and `password_file` (mode 0600)",
                    crate::untrusted::summary(&cam.id)
                ));
            }
        }
    }
    if let Some(m) = &config.mqtt {
        if m.allow_site_key_rosters {
            out.push(
                "[mqtt] allow_site_key_rosters = true: while it is, anyone holding the site key (any box of the \
                 site) can forge rosters this box takes; finish moving to signed rosters and turn it off \
                 (docs/mqtt.md, \"Moving a site off the site key\")"
                    .into(),
            );
        }
        if m.accept_roster && m.roster_verify_key.is_none() && !m.allow_site_key_rosters {
            out.push(
                "[mqtt] roster_verify_key is not set: no roster or timetable is taken from the backend unless the \
                 credential rollcall.roster-verify-key holds it"
                    .into(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Config {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn passwords_in_camera_locations_are_warned_of_without_being_repeated() {
        let config = parsed(
            "[[cameras]]\nid = \"door\"\nkind = \"uri\"\nuri = \"rtsp://admin:hunter2@10.0.0.5/s1\"\n\
             [[cameras]]\nid = \"back\"\nkind = \"pipeline\"\npipeline = \"rtspsrc location=rtsp://10.0.0.6/s1 user-pw=hunter2 ! fakesink\"\n\
             [[cameras]]\nid = \"clean\"\nkind = \"uri\"\nuri = \"rtsp://10.0.0.7/s1\"\n",
        );
        let warned = warnings(&config);
        assert_eq!(warned.len(), 2, "{warned:?}");
        assert!(warned[0].contains("camera `door`: its uri"), "{}", warned[0]);
        assert!(warned[1].contains("camera `back`: its pipeline"), "{}", warned[1]);
        assert!(warned.iter().all(|w| !w.contains("hunter2")));
    }

    #[test]
    fn rosters_nobody_can_check_and_site_key_rosters_are_warned_of() {
        let unsigned = warnings(&parsed("[mqtt]\nhost = \"b\"\n"));
        assert!(unsigned[0].contains("roster_verify_key is not set"), "{unsigned:?}");
        let migrating = warnings(&parsed("[mqtt]\nhost = \"b\"\nallow_site_key_rosters = true\n"));
        assert!(migrating[0].contains("can forge rosters"), "{migrating:?}");
        let signed = parsed(&format!(
            "[mqtt]\nhost = \"b\"\nroster_verify_key = \"{}\"\n",
            "A".repeat(43) + "="
        ));
        assert!(warnings(&signed).is_empty());
    }
}
