//! docs/operations.md as written: its alert rules pass `promtool check rules` and fire when they
//! should (`promtool test rules` with tests/fixtures/alerts_test.yml), and its dashboard is
//! Grafana JSON whose every panel queries rollcall's metrics.

use std::process::Command;

fn promtool(args: &[&std::ffi::OsStr]) {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool (Debian's prometheus package; scripts/setup.sh --test-extras installs it)");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alert_rules_are_valid_and_fire_when_they_should() {
    let dir = testkit::scratch_dir("operations", "rules");
    let rules = dir.join("rollcall-alerts.yml");
    std::fs::write(&rules, testkit::doc_block("docs/operations.md", "yaml", "groups:")).unwrap();
    let cases = dir.join("alerts_test.yml");
    std::fs::copy(testkit::root().join("tests/fixtures/alerts_test.yml"), &cases).unwrap();
    promtool(&["check".as_ref(), "rules".as_ref(), rules.as_os_str()]);
    promtool(&["test".as_ref(), "rules".as_ref(), cases.as_os_str()]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_dashboard_is_grafana_json_whose_panels_all_query_rollcall() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&testkit::doc_block("docs/operations.md", "json", "\"panels\"")).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{} panels", panels.len());
    for p in panels {
        let targets = p["targets"].as_array().unwrap();
        assert!(
            !targets.is_empty()
                && targets
                    .iter()
                    .all(|t| t["expr"].as_str().is_some_and(|e| e.contains("rollcall_"))),
            "panel {}: {targets:?}",
            p["title"]
        );
    }
}
