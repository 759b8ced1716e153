//! The store fails mid-run: a real SQLite database on a small tmpfs that fills up. Decisions made
//! while it cannot write are held, with their original times, and recorded and delivered once
//! space returns. Needs root (to mount the tmpfs), as CI and the setup run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rollcall::attend::engine::{Engine, Outcome};
use rollcall::store::{Enrollment, Key, Outbox, Store};
use rollcall::sync::mqtt::{Mqtt, MqttSettings};
use rollcall::sync::status::StatusBoard;
use testkit::broker::{Broker, Subscriber};

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(name: &str, megabytes: u32) -> SmallDisk {
        let dir = testkit::scratch_dir("store-failure", name);
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "cannot mount a {megabytes} MB tmpfs on {} (this test needs root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    /// Fills the disk with a file; returns it, to be deleted when space should return.
    fn fill(&self) -> PathBuf {
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0xa5u8; 16 << 10];
        while f.write_all(&block).and_then(|()| f.flush()).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pending(db: &Path) -> u64 {
    Outbox::open(db).unwrap().depth().unwrap().pending
}

#[test]
fn decisions_made_while_the_disk_is_full_are_held_then_recorded_and_delivered() {
    let disk = SmallDisk::mount("full", 8);
    let db = disk.dir.join("rollcall.db");
    let key = Key::generate();
    let mut config = testkit::config("yunet-2023mar", "sface-2021dec");
    config.timetable.sessions = vec![testkit::monday_session()];
    config.device.id = Some("box-s".into());
    let mut analyzer = testkit::analyzer_for(&config);
    let mut store = Store::open(&db, key.clone()).unwrap();
    for (id, photo) in [
        ("obama", "ageitgey/identities/obama_1.jpg"),
        ("biden", "ageitgey/identities/biden_1.jpg"),
    ] {
        let face = testkit::analyze(&mut analyzer, &testkit::face(photo)).remove(0);
        let enrollment = Enrollment {
            person_id: id,
            name: None,
            groups: None,
            templates: &[(face.embedding, 1.0)],
            replace: false,
        };
        store.enroll(&enrollment).unwrap();
    }
    let mut engine = Engine::new(&config, analyzer, store).unwrap();

    let broker = Broker::start("store-failure");
    let backend = Subscriber::start(broker.port, "backend-full", &["rollcall/v1/test/+/attendance"], true);
    let settings = MqttSettings::new(&testkit::broker::device_config(broker.port), "box-s", "test").unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mqtt = runtime.block_on(async {
        Mqtt::spawn(settings, Outbox::open(&db).unwrap(), StatusBoard::new("box-s"), None).unwrap()
    });

    let before = testkit::show_photo(&mut engine, "ageitgey/identities/obama_2.jpg", 1);
    assert!(
        matches!(&before[..], [Outcome::Attendance(e)] if e.person_id == "obama"),
        "{before:?}"
    );

    let filler = disk.fill();
    let while_full: Vec<Outcome> = [
        testkit::show_photo(&mut engine, "ageitgey/identities/biden_2.jpg", 2),
        testkit::show_photo(&mut engine, "silent_face_samples/image_F1.jpg", 3),
    ]
    .concat();
    let health = engine.store_health();
    println!("while the disk is full: {health:?}; outcomes {while_full:?}");
    assert!(
        !while_full
            .iter()
            .any(|o| matches!(o, Outcome::Attendance(_) | Outcome::Spoof(_))),
        "nothing counts as recorded while the store cannot write: {while_full:?}"
    );
    assert_eq!(
        (health.state, health.held),
        (rollcall::attend::held::StoreState::Failing, 2),
        "{health:?}"
    );
    assert!(health.last_error.is_some_and(|e| e.contains("full")));
    let decided_while_full = chrono::Utc::now();

    std::fs::remove_file(filler).unwrap();
    let space_back = Instant::now();
    let mut after = Vec::new();
    while engine.store_health().held > 0 {
        assert!(
            space_back.elapsed() < Duration::from_secs(30),
            "the held decisions were never written"
        );
        after.extend(engine.retry_held());
        std::thread::sleep(Duration::from_millis(20));
    }
    let written_in = space_back.elapsed();
    let biden = after
        .iter()
        .find_map(|o| match o {
            Outcome::Attendance(e) if e.person_id == "biden" => Some(e.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("biden's attendance was held and recorded: {after:?}"));
    assert!(biden.decided_at < decided_while_full, "it keeps its original time");
    assert!(after.iter().any(|o| matches!(o, Outcome::Spoof(_))), "{after:?}");
    assert!(
        after.iter().any(
            |o| matches!(o, Outcome::Alert(a) if a.kind.as_str() == "store_failed" && a.detail.contains("2 decisions"))
        ),
        "{after:?}"
    );
    assert_eq!(engine.store_health().state, rollcall::attend::held::StoreState::Ok);
    let logged: Vec<String> = engine
        .store()
        .attendance()
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert!(logged.contains(&biden.event_id), "in the attendance log");
    let deadline = Instant::now() + Duration::from_secs(30);
    while pending(&db) > 0 {
        assert!(Instant::now() < deadline, "the outbox never drained");
        std::thread::sleep(Duration::from_millis(20));
    }
    let drained_in = space_back.elapsed();
    let got = backend.wait_for(Duration::from_secs(10), |m| {
        m.iter()
            .any(|(_, p, _)| String::from_utf8_lossy(p).contains(&biden.event_id))
    });
    assert!(
        got.iter()
            .any(|(_, p, _)| String::from_utf8_lossy(p).contains(&biden.event_id))
    );
    println!(
        "space returned: held decisions written in {} ms, outbox empty after {} ms",
        written_in.as_millis(),
        drained_in.as_millis()
    );
    runtime.block_on(mqtt.shutdown());
}
