//! Enrollment and roster management from the command line, on a real store and real photos.

use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    testkit::scratch_dir("roster", name)
}

/// A config with its own store and key in `dir`.
fn config(dir: &Path, db: &str) -> PathBuf {
    let root = testkit::root();
    let text = format!(
        "[runtime]\nonnxruntime = \"{}\"\n[models]\ndir = \"{}\"\n[store]\npath = \"{db}\"\nkey_file = \"site.key\"\n",
        root.join(rollcall::vision::model::default_library()).display(),
        root.join("models").display()
    );
    let path = dir.join(format!("{db}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(cfg: &Path, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env_remove("ROLLCALL_KEY")
        .env_remove("ROLLCALL_KEY_FILE")
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn id(rel: &str) -> String {
    testkit::face(&format!("ageitgey/identities/{rel}"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn enroll_list_remove_export_import() {
    let dir = scratch("cli");
    let cfg = config(&dir, "a.db");
    let (ok, _, err) = run(&cfg, &["roster", "list"]);
    assert!(!ok && err.contains("rollcall keygen"), "no key yet: {err}");
    let key = dir.join("site.key");
    assert!(run(&cfg, &["keygen", "--out", &key.to_string_lossy()]).0);
    let (ok, _, err) = run(&cfg, &["keygen", "--out", &key.to_string_lossy()]);
    assert!(!ok && err.contains("exists"), "a key is never overwritten: {err}");

    let (ok, out, err) = run(
        &cfg,
        &[
            "enroll",
            "--person",
            "obama",
            "--name",
            "Barack Obama",
            "--group",
            "7b",
            &id("obama_1.jpg"),
            &id("obama_2.jpg"),
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(
        err.contains("obama: enrolled from 2 photo(s)") || out.contains("1 enrolled"),
        "{out}{err}"
    );

    // A group photo is not a portrait; a person with nothing usable is not enrolled at all.
    let group = testkit::face("ageitgey/group/two_people.jpg")
        .to_string_lossy()
        .into_owned();
    let (ok, out, err) = run(&cfg, &["enroll", "--person", "nobody", &group]);
    assert!(!ok, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("2 faces; a photo must show exactly one person"),
        "{out}{err}"
    );

    // Bulk from a folder per person, and from a CSV.
    let bulk = dir.join("bulk");
    for (person, photo) in [("biden", "biden_1.jpg"), ("kit", "kit_1.jpg")] {
        std::fs::create_dir_all(bulk.join(person)).unwrap();
        std::fs::copy(id(photo), bulk.join(person).join(photo)).unwrap();
    }
    std::fs::write(bulk.join("kit/name.txt"), "Kit Harington\n").unwrap();
    assert!(run(&cfg, &["enroll", "--dir", &bulk.to_string_lossy()]).0);
    let csv = dir.join("people.csv");
    std::fs::write(
        &csv,
        format!(
            "id,name,path\nrose,Rose,{}\nrose,Rose,{}\n",
            id("rose_1.jpg"),
            id("rose_2.jpg")
        ),
    )
    .unwrap();
    assert!(run(&cfg, &["enroll", "--csv", &csv.to_string_lossy()]).0);

    let (ok, out, _) = run(&cfg, &["roster", "list"]);
    assert!(ok);
    for want in [
        "obama",
        "Barack Obama",
        "[7b]",
        "biden",
        "Kit Harington",
        "rose",
        "2 x sface-2021dec",
    ] {
        assert!(out.contains(want), "{want} missing from:\n{out}");
    }
    assert!(!out.contains("nobody"));

    let (ok, out, _) = run(&cfg, &["roster", "remove", "biden"]);
    assert!(ok && out.contains("templates are deleted"));
    assert!(!run(&cfg, &["roster", "remove", "biden"]).0);

    // Export, then import into a fresh store on another "device" with the same site key.
    let file = dir.join("roster.json");
    assert!(run(&cfg, &["roster", "export", &file.to_string_lossy()]).0);
    let sealed = std::fs::read_to_string(&file).unwrap();
    assert!(
        sealed.contains("rollcall-roster/2") && !sealed.contains("Barack"),
        "names are sealed too"
    );
    let cfg_b = config(&dir, "b.db");
    let (ok, out, err) = run(&cfg_b, &["roster", "import", &file.to_string_lossy()]);
    assert!(ok, "{out}{err}");
    let (_, list_b, _) = run(&cfg_b, &["roster", "list"]);
    let (_, list_a, _) = run(&cfg, &["roster", "list"]);
    assert_eq!(list_a, list_b);

    // Another key opens neither the store nor the export.
    std::fs::remove_file(&key).unwrap();
    assert!(run(&cfg, &["keygen", "--out", &key.to_string_lossy()]).0);
    let (ok, _, err) = run(&cfg, &["roster", "list"]);
    assert!(!ok && err.contains("created with another key"), "{err}");
    let cfg_c = config(&dir, "c.db");
    let (ok, _, err) = run(&cfg_c, &["roster", "import", &file.to_string_lossy()]);
    assert!(!ok && err.contains("sealed under another key"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn files_with_personal_data_are_written_owner_only_even_over_an_existing_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("private");
    let cfg = config(&dir, "p.db");
    let key = dir.join("site.key");
    assert!(run(&cfg, &["keygen", "--out", &key.to_string_lossy()]).0);
    let store =
        rollcall::store::Store::open(&dir.join("p.db"), rollcall::store::Key::from_file(&key).unwrap()).unwrap();
    store
        .record_attendance(&testkit::events::attendance("ann", "box-1"), "MATH@2026-11-23")
        .unwrap();
    drop(store);
    // Files left open to everyone by an earlier tool, or a careless `touch`.
    let exported = dir.join("attendance.csv");
    let roster = dir.join("roster.json");
    let annotated = dir.join("faces.jpg");
    for f in [&exported, &roster, &annotated] {
        std::fs::write(f, "old").unwrap();
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let runs: [&[&str]; 3] = [
        &[
            "events",
            "export",
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
            "--out",
            &exported.to_string_lossy(),
        ],
        &["roster", "export", &roster.to_string_lossy()],
        &["detect", "--annotate", &annotated.to_string_lossy(), &id("obama_1.jpg")],
    ];
    for args in runs {
        let (ok, out, err) = run(&cfg, args);
        assert!(ok, "{args:?}: {out}{err}");
    }
    for f in [&exported, &roster, &annotated] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is mode {mode:o}", f.display());
    }
    assert!(std::fs::read_to_string(&exported).unwrap().contains(",ann,"));
    assert!(
        rollcall::capture::image::load(&annotated, u64::MAX).is_ok(),
        "the picture is a picture"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn changes_and_exports_are_audited_and_an_edited_record_breaks_the_chain() {
    let dir = scratch("audit");
    let cfg = config(&dir, "audit.db");
    let key = dir.join("site.key");
    assert!(run(&cfg, &["keygen", "--out", &key.to_string_lossy()]).0);
    assert!(run(&cfg, &["enroll", "--person", "obama", &id("obama_1.jpg")]).0);
    assert!(run(&cfg, &["enroll", "--person", "biden", &id("biden_1.jpg")]).0);
    assert!(run(&cfg, &["roster", "remove", "biden"]).0);
    let csv = dir.join("export.csv");
    let (ok, _, err) = run(
        &cfg,
        &[
            "events",
            "export",
            "--from",
            "2026-01-01",
            "--to",
            "2026-12-31",
            "--csv",
            "--out",
            &csv.to_string_lossy(),
        ],
    );
    assert!(ok, "{err}");

    let (ok, out, err) = run(&cfg, &["audit", "--verify", "--json"]);
    assert!(ok, "{out}{err}");
    assert!(err.contains("4 records, chain unbroken"), "{err}");
    let records: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["subject"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions[..3],
        [("enroll", "obama"), ("enroll", "biden"), ("remove", "biden")]
    );
    assert_eq!(actions[3].0, "export_events");
    assert!(
        records.iter().all(|r| !r.to_string().contains("templates\":[")),
        "ids and counts only: {out}"
    );
    // The privacy report counts what is held, and names no one.
    let (ok, out, err) = run(&cfg, &["privacy", "report", "--json"]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["holds"]["people"]["count"], 1, "{out}");
    assert_eq!(report["holds"]["templates"]["count"], 1, "{out}");
    assert_eq!(report["holds"]["audit"]["count"], 4, "{out}");
    assert!(report["keys"]["store"].as_str().unwrap().contains("site.key"), "{out}");
    assert!(!out.contains("obama") && !out.contains("biden"), "counts only: {out}");
    // Each record also waits in the outbox for {prefix}/{device}/audit.
    let db = rusqlite::Connection::open(dir.join("audit.db")).unwrap();
    let queued: i64 = db
        .query_row("SELECT COUNT(*) FROM outbox WHERE kind = 'audit'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(queued, 4);

    // SQLite itself refuses an edit; around its triggers, the chain shows it.
    assert!(
        db.execute("UPDATE audit SET subject = 'nobody' WHERE seq = 2", [])
            .is_err()
    );
    db.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit SET subject = 'nobody' WHERE seq = 2;")
        .unwrap();
    let (ok, _, err) = run(&cfg, &["audit", "--verify"]);
    assert!(!ok, "an edited trail must not verify");
    assert!(
        err.contains("broken at audit record 2") && err.contains("edited"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_imported_rosters_tombstones_delete_those_people_and_are_audited() {
    use rollcall::sync::roster::{Roster, Scope, seal};
    let dir = scratch("tombstones");
    let cfg = config(&dir, "t.db");
    let key = dir.join("site.key");
    assert!(run(&cfg, &["keygen", "--out", &key.to_string_lossy()]).0);
    assert!(run(&cfg, &["enroll", "--person", "obama", &id("obama_1.jpg")]).0);
    assert!(run(&cfg, &["enroll", "--person", "kit", &id("kit_1.jpg")]).0);
    let roster_key = dir.join("roster.key");
    assert!(run(&cfg, &["keygen", "--out", &roster_key.to_string_lossy()]).0);
    let tombstones = Roster {
        people: Vec::new(),
        removed: vec!["obama".into(), "nobody-here".into()],
    };
    let sealed = seal(
        &tombstones,
        3,
        "sface-2021dec",
        &Scope::Site("default".into()),
        rollcall::sync::roster::Sealer::SiteKey(&rollcall::store::Key::from_file(&roster_key).unwrap()),
    );
    let file = dir.join("roster.json");
    std::fs::write(&file, serde_json::to_vec(&sealed).unwrap()).unwrap();
    let (ok, out, err) = run(
        &cfg,
        &[
            "roster",
            "import",
            &file.to_string_lossy(),
            "--key-file",
            &roster_key.to_string_lossy(),
        ],
    );
    assert!(ok, "{out}{err}");
    let (_, listed, _) = run(&cfg, &["roster", "list"]);
    assert!(!listed.contains("obama") && listed.contains("kit"), "{listed}");
    let (ok, out, err) = run(&cfg, &["audit", "--verify", "--json"]);
    assert!(ok, "{err}");
    let removed: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["action"] == "remove")
        .collect();
    assert_eq!(removed.len(), 1, "only who was there: {out}");
    assert_eq!(removed[0]["subject"], "obama");
    assert!(removed[0]["detail"].as_str().unwrap().contains("tombstone"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn rekey_seals_every_template_under_the_new_key_and_is_audited() {
    let dir = scratch("rekey");
    let cfg = config(&dir, "r.db");
    let old = dir.join("site.key");
    assert!(run(&cfg, &["keygen", "--out", &old.to_string_lossy()]).0);
    assert!(
        run(
            &cfg,
            &["enroll", "--person", "obama", &id("obama_1.jpg"), &id("obama_2.jpg")]
        )
        .0
    );
    let new = dir.join("new.key");
    assert!(run(&cfg, &["keygen", "--out", &new.to_string_lossy()]).0);
    let (ok, _, err) = run(&cfg, &["rekey", "--new-key", &new.to_string_lossy()]);
    assert!(ok && err.contains("2 templates now sealed"), "{err}");
    // The old key no longer opens the store; the new one opens it and every template.
    let (ok, _, err) = run(&cfg, &["roster", "list"]);
    assert!(!ok && err.contains("does not match the database"), "{err}");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("site.key", "new.key");
    std::fs::write(&cfg, text).unwrap();
    let store =
        rollcall::store::Store::open(&dir.join("r.db"), rollcall::store::Key::from_file(&new).unwrap()).unwrap();
    let templates = store.templates(&std::sync::Arc::from("sface-2021dec")).unwrap();
    assert_eq!(templates.len(), 2, "every template opens under the new key");
    drop(store);
    let (ok, out, err) = run(&cfg, &["audit", "--verify", "--json"]);
    assert!(ok, "{err}");
    assert!(out.lines().last().unwrap().contains("\"key_rotated\""), "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}
