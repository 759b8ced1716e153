//! The local store on a real SQLite file: encryption at rest, wrong keys, tampering, deletion for
//! good, and the once-per-session guard surviving a restart.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use rollcall::attend::matching::Gallery;
use rollcall::event::AttendanceEvent;
use rollcall::store::{Enrollment, Key, Store, StoreError};
use rollcall::vision::embed::Embedding;

fn scratch(name: &str) -> PathBuf {
    testkit::scratch_dir("store", name)
}

fn emb(seed: f32) -> Embedding {
    let mut v: Vec<f32> = (0..128).map(|i| ((i as f32 + seed) * 0.37).sin()).collect();
    rollcall::vision::embed::l2_normalise(&mut v);
    Embedding {
        recognizer: Arc::from("sface-2021dec"),
        vector: v,
    }
}

fn event(person: &str) -> AttendanceEvent {
    testkit::events::attendance(person, "box-1")
}

/// Enrolls `person` with no name or groups, adding `templates` to any they have.
fn enroll(store: &mut Store, person: &str, templates: &[(Embedding, f32)]) {
    store
        .enroll(&Enrollment {
            person_id: person,
            name: None,
            groups: None,
            templates,
            replace: false,
        })
        .unwrap();
}

#[test]
fn templates_round_trip_encrypted_and_files_are_private() {
    let dir = scratch("roundtrip");
    let db = dir.join("rollcall.db");
    let key = Key::generate();
    let mut store = Store::open(&db, key.clone()).unwrap();
    store
        .enroll(&Enrollment {
            person_id: "ann",
            name: Some("Ann"),
            groups: Some(&["7b".into()]),
            templates: &[(emb(1.0), 0.9), (emb(2.0), 0.8)],
            replace: false,
        })
        .unwrap();
    enroll(&mut store, "bob", &[(emb(9.0), 0.9)]);
    let g = Gallery::load(&store, &Arc::from("sface-2021dec"), 128).unwrap();
    assert_eq!((g.len(), g.people()), (3, 2));
    let c = g.search(&emb(2.0)).unwrap();
    assert_eq!(c.best.as_ref().unwrap().0, "ann");
    assert!((c.best.unwrap().1 - 1.0).abs() < 1e-5);
    let people = store.people().unwrap();
    assert_eq!(people[0].person_id, "ann");
    assert_eq!(people[0].groups, vec!["7b".to_string()]);
    assert_eq!(people[0].templates, vec![("sface-2021dec".to_string(), 2)]);
    drop(store);

    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600);
    // No template is in the file in the clear.
    let raw = std::fs::read(&db).unwrap();
    let needle: Vec<u8> = emb(1.0).vector[..4].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle.as_slice()),
        "plaintext embedding found in the database file"
    );
    // Reopening with the same key works; another key is refused with a clear message.
    Store::open(&db, key).unwrap();
    let e = Store::open(&db, Key::generate()).unwrap_err();
    assert!(matches!(e, StoreError::WrongKey { .. }), "{e}");
    assert!(e.to_string().contains("created with another key"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_tampered_or_moved_template_is_detected() {
    let dir = scratch("tamper");
    let db = dir.join("rollcall.db");
    let key = Key::generate();
    let mut store = Store::open(&db, key.clone()).unwrap();
    for p in ["ann", "bob"] {
        enroll(
            &mut store,
            p,
            &[(emb(p.len() as f32 + if p == "ann" { 0.0 } else { 5.0 }), 0.9)],
        );
    }
    drop(store);
    let raw = rusqlite::Connection::open(&db).unwrap();
    // One bit flipped in Ann's ciphertext.
    let ct: Vec<u8> = raw
        .query_row("SELECT ciphertext FROM templates WHERE person_id = 'ann'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let mut flipped = ct.clone();
    flipped[10] ^= 0x04;
    raw.execute(
        "UPDATE templates SET ciphertext = ?1 WHERE person_id = 'ann'",
        [&flipped],
    )
    .unwrap();
    let store = Store::open(&db, key.clone()).unwrap();
    let e = Gallery::load(&store, &Arc::from("sface-2021dec"), 128).unwrap_err();
    assert!(
        e.to_string().contains("person `ann`") && e.to_string().contains("failed authentication"),
        "{e}"
    );
    // Edited into text by hand: still tampering, not a crash.
    raw.execute("UPDATE templates SET ciphertext = 'hello' WHERE person_id = 'ann'", [])
        .unwrap();
    let e = Gallery::load(&store, &Arc::from("sface-2021dec"), 128).unwrap_err();
    assert!(e.to_string().contains("failed authentication"), "{e}");
    drop(store);
    drop(raw);

    // Move Bob's template to Ann: the ciphertext is intact, but it is bound to Bob.
    let db2 = dir.join("moved.db");
    let mut store = Store::open(&db2, key.clone()).unwrap();
    enroll(&mut store, "ann", &[]);
    enroll(&mut store, "bob", &[(emb(3.0), 0.9)]);
    drop(store);
    let raw = rusqlite::Connection::open(&db2).unwrap();
    raw.execute("UPDATE templates SET person_id = 'ann'", []).unwrap();
    drop(raw);
    let e = Gallery::load(&Store::open(&db2, key).unwrap(), &Arc::from("sface-2021dec"), 128).unwrap_err();
    assert!(e.to_string().contains("failed authentication"), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn removing_a_person_deletes_their_templates_for_good() {
    let dir = scratch("remove");
    let db = dir.join("rollcall.db");
    let key = Key::generate();
    let mut store = Store::open(&db, key.clone()).unwrap();
    enroll(&mut store, "ann", &[(emb(1.0), 0.9)]);
    let ct: Vec<u8> = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT ciphertext FROM templates", [], |r| r.get(0))
        .unwrap();
    assert!(store.remove_person("ann").unwrap());
    assert!(!store.remove_person("ann").unwrap());
    assert!(store.people().unwrap().is_empty());
    assert_eq!(
        Gallery::load(&store, &Arc::from("sface-2021dec"), 128).unwrap().len(),
        0
    );
    drop(store);
    // Not even the ciphertext survives in the file or its WAL.
    for f in ["rollcall.db", "rollcall.db-wal"] {
        if let Ok(raw) = std::fs::read(dir.join(f)) {
            assert!(
                !raw.windows(32).any(|w| w == &ct[..32]),
                "{f} still holds the deleted template"
            );
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn attendance_is_recorded_once_per_session_even_across_restarts() {
    let dir = scratch("once");
    let db = dir.join("rollcall.db");
    let key = Key::generate();
    let store = Store::open(&db, key.clone()).unwrap();
    assert!(store.record_attendance(&event("ann"), "MATH@2026-11-23").unwrap());
    assert!(!store.record_attendance(&event("ann"), "MATH@2026-11-23").unwrap());
    assert!(store.record_attendance(&event("bob"), "MATH@2026-11-23").unwrap());
    drop(store);
    // A restart in the middle of the session.
    let store = Store::open(&db, key).unwrap();
    assert!(!store.record_attendance(&event("ann"), "MATH@2026-11-23").unwrap());
    assert!(
        store.record_attendance(&event("ann"), "MATH@2026-11-30").unwrap(),
        "next week's session is new"
    );
    assert_eq!(store.attendance().unwrap().len(), 3);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_recorded_event_waits_in_the_outbox_until_delivered() {
    use rollcall::event::{Alert, AlertKind};
    use rollcall::store::{EventKind, Outbox, OutboxLimits};
    use std::time::Duration;
    let dir = scratch("outbox");
    let db = dir.join("rollcall.db");
    let store = Store::open(&db, Key::generate()).unwrap();
    let mut outbox = Outbox::open(&db).unwrap();
    let first = event("ann");
    assert!(store.record_attendance(&first, "MATH@2026-11-23").unwrap());
    // A repeat is not recorded, so nothing is queued for it either.
    assert!(!store.record_attendance(&event("ann"), "MATH@2026-11-23").unwrap());
    let alert = Alert {
        event_id: rollcall::event::new_id(),
        kind: AlertKind::Spoof,
        camera_id: Some("front".into()),
        room: Some("101".into()),
        at: Utc::now(),
        detail: "test".into(),
        device: "box-1".into(),
    };
    store.record_alert(&alert).unwrap();
    let rows = outbox.pending_after(0, 10).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].kind, rows[0].event_id.as_str()),
        (EventKind::Attendance, first.event_id.as_str())
    );
    assert_eq!(
        (rows[1].kind, rows[1].event_id.as_str()),
        (EventKind::Alert, alert.event_id.as_str())
    );
    let sent: AttendanceEvent = serde_json::from_str(&rows[0].payload).unwrap();
    assert_eq!(sent, first, "the payload is the recorded event, whole");
    assert_eq!(outbox.pending_after(rows[0].seq, 10).unwrap().len(), 1);

    outbox.mark_delivered(&[rows[0].seq]).unwrap();
    drop(store);
    drop(outbox);
    // After a restart only the undelivered row is still pending.
    let mut outbox = Outbox::open(&db).unwrap();
    let left = outbox.pending_after(0, 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event_id, alert.event_id);
    assert_eq!(outbox.depth().unwrap().pending, 1);

    // Bounds: with room for none, the pending row is dropped (counted), and with no retention
    // the delivered row is purged.
    let tight = OutboxLimits {
        max_rows: 0,
        max_age: Duration::from_secs(3600),
        warn_rows: 0,
        retention: Duration::ZERO,
    };
    std::thread::sleep(Duration::from_millis(5)); // so the delivered row is strictly older than "now"
    let m = outbox.maintain(&tight, "box").unwrap();
    assert_eq!((m.dropped, m.purged), (1, 1));
    assert!(outbox.pending_after(0, 10).unwrap().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn attendance_and_alerts_past_the_retention_period_are_purged() {
    let dir = scratch("retention");
    let store = Store::open(&dir.join("rollcall.db"), Key::generate()).unwrap();
    let mut old = event("ann");
    old.decided_at = Utc::now() - chrono::Duration::days(400);
    store.record_attendance(&old, "MATH@2025-10-18").unwrap();
    store.record_attendance(&event("bob"), "MATH@2026-11-23").unwrap();
    assert_eq!(store.purge_before(Utc::now() - chrono::Duration::days(365)).unwrap(), 1);
    let left: Vec<String> = store.attendance().unwrap().into_iter().map(|e| e.person_id).collect();
    assert_eq!(left, ["bob"]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// An alert of `kind` as the engine would raise it.
fn alert(kind: rollcall::event::AlertKind) -> rollcall::event::Alert {
    rollcall::event::Alert {
        event_id: rollcall::event::new_id(),
        kind,
        camera_id: Some("front".into()),
        room: Some("101".into()),
        at: Utc::now(),
        detail: "test".into(),
        device: "box-1".into(),
    }
}

#[test]
fn an_outbox_over_its_bounds_drops_alerts_before_attendance_and_counts_every_attendance_dropped() {
    use rollcall::event::AlertKind;
    use rollcall::store::{EventKind, Outbox, OutboxLimits};
    use std::time::Duration;
    let dir = scratch("eviction");
    let db = dir.join("rollcall.db");
    let store = Store::open(&db, Key::generate()).unwrap();
    let mut outbox = Outbox::open(&db).unwrap();
    // Alerts older than the attendance: age alone would drop attendance first.
    for _ in 0..3 {
        store.record_alert(&alert(AlertKind::Spoof)).unwrap();
    }
    let people = ["ann", "bob", "cat"];
    for (i, p) in people.iter().enumerate() {
        store.record_attendance(&event(p), &format!("MATH-{i}")).unwrap();
    }
    let limits = OutboxLimits {
        max_rows: 2,
        max_age: Duration::from_secs(3600),
        warn_rows: 0,
        retention: Duration::from_secs(3600),
    };
    let m = outbox.maintain(&limits, "box-1").unwrap();
    assert_eq!(
        (m.dropped, m.attendance_dropped),
        (4, 1),
        "three alerts, then the oldest attendance"
    );
    let pending = outbox.pending_after(0, 10).unwrap();
    let kept: Vec<(EventKind, String)> = pending
        .iter()
        .map(|r| {
            let person = serde_json::from_str::<serde_json::Value>(&r.payload).unwrap()["person_id"]
                .as_str()
                .unwrap_or("-")
                .to_string();
            (r.kind, person)
        })
        .collect();
    assert_eq!(
        kept,
        [
            (EventKind::Attendance, "bob".to_string()),
            (EventKind::Attendance, "cat".to_string()),
            (EventKind::Alert, "-".to_string()),
        ],
        "the two newest attendance events stay, and the alert that says one was dropped"
    );
    assert_eq!(store.alert_count(AlertKind::OutboxDropped).unwrap(), 1);
    let depth = outbox.depth().unwrap();
    assert_eq!((depth.dropped, depth.attendance_dropped), (4, 1), "{depth:?}");
    // The alert is the newest row, so the next pass (still over by one) drops it, not attendance.
    let m = outbox.maintain(&limits, "box-1").unwrap();
    assert_eq!((m.dropped, m.attendance_dropped), (1, 0));

    // Dropped attendance is counted for good: purging every row leaves the count.
    store.record_attendance(&event("dan"), "MATH-3").unwrap();
    store.record_attendance(&event("eve"), "MATH-4").unwrap();
    let m = outbox.maintain(&limits, "box-1").unwrap();
    assert_eq!(m.attendance_dropped, 2);
    std::thread::sleep(Duration::from_millis(5));
    let purge_all = OutboxLimits {
        max_rows: 1_000,
        retention: Duration::ZERO,
        ..limits
    };
    outbox.maintain(&purge_all, "box-1").unwrap();
    assert_eq!(outbox.depth().unwrap().attendance_dropped, 3);
    // Every dropped attendance event is still in the attendance log.
    assert_eq!(store.attendance().unwrap().len(), 5);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn without_mqtt_the_daemon_still_keeps_the_outbox_in_bounds() {
    use rollcall::config::{CameraConfig, SourceKind};
    use rollcall::store::Outbox;
    let dir = scratch("no-mqtt");
    let mut config = testkit::daemon_config(&dir);
    let db = config.store.path.clone();
    let key = Key::from_file(config.store.key_file.as_ref().unwrap()).unwrap();
    let store = Store::open(&db, key).unwrap();
    store.record_attendance(&event("ann"), "MATH-1").unwrap();
    store.record_attendance(&event("bob"), "MATH-2").unwrap();
    drop(store);
    // Forty days undelivered: past the default max_age_days of 30.
    let forty_days_ms = 40 * 86_400_000i64;
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("UPDATE outbox SET created_ms = created_ms - ?1", [forty_days_ms])
        .unwrap();

    let mut camera = CameraConfig::new("pattern", SourceKind::Pipeline);
    camera.pipeline = Some("videotestsrc is-live=true pattern=snow".into());
    camera.analysis_fps = 2.0;
    config.cameras = vec![camera];
    assert!(config.mqtt.is_none());
    testkit::with_daemon(
        &config,
        |_| {},
        || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while Outbox::open(&db).unwrap().depth().unwrap().attendance_dropped < 2
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        },
    );
    let depth = Outbox::open(&db).unwrap().depth().unwrap();
    assert_eq!(depth.attendance_dropped, 2, "{depth:?}");
    // What waits: the outbox_dropped alert, and the audit record of the settings this first
    // start ran with.
    let waiting: Vec<String> = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn
            .prepare("SELECT kind FROM outbox WHERE delivered_ms IS NULL AND dropped_ms IS NULL ORDER BY kind")
            .unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(waiting, ["alert", "audit"], "{depth:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
