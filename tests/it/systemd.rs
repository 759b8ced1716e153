//! The service unit: notify type, restart, watchdog, keys as credentials, and a sandbox that
//! `systemd-analyze security` scores as well locked down.

use std::process::Command;

fn unit() -> String {
    std::fs::read_to_string(testkit::root().join("systemd/rollcall.service")).unwrap()
}

#[test]
fn the_unit_has_what_the_daemon_and_the_sandbox_need() {
    let unit = unit();
    let settings: Vec<&str> = unit.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
    for needed in [
        "Type=notify",
        "WatchdogSec=30",
        "Restart=on-failure",
        "User=rollcall",
        "SupplementaryGroups=video",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "ReadWritePaths=/var/lib/rollcall",
        "ReadOnlyPaths=-/var/lib/rollcall-models",
        "DevicePolicy=closed",
        "DeviceAllow=char-video4linux rw",
        "LoadCredential=rollcall.key:/etc/rollcall/rollcall.key",
        "ExecStart=/usr/bin/rollcall --config /etc/rollcall/rollcall.toml run",
    ] {
        assert!(settings.contains(&needed), "the unit lacks {needed}");
    }
    // The site key, which any box could forge rosters with, is not loaded unless a site migrating
    // off it adds it.
    assert!(
        !settings.iter().any(|l| l.contains("site-key")),
        "the unit loads the site key"
    );
    // The credentials are the names the daemon looks for.
    assert_eq!(rollcall::store::KEY_SOURCE.credential, "rollcall.key");
    assert_eq!(rollcall::store::SITE_KEY_SOURCE.credential, "rollcall.site-key");
}

#[test]
fn systemd_analyze_scores_the_sandbox_ok() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(testkit::root().join("systemd/rollcall.service"))
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze: {e} (scripts/setup.sh --test-extras installs systemd)"));
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f32 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for rollcall.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure score in:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    println!("systemd-analyze security: exposure {score} (0 is fully locked down, 10 is unprotected)");
    assert!(score <= 2.0, "exposure {score}:\n{text}");
}
