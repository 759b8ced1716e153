//! Events out and status over a real mosquitto, started by each test on a free 127.0.0.1 port,
//! stopped, restarted and frozen to inject faults; and a daemon process killed with SIGKILL.
//!
//! The "daemon" here is this test binary re-run as a child (`outbox_daemon_child`): it opens the
//! store, runs the MQTT task, and records events one after another through the store, exactly as
//! the engine does, so the whole path (store transaction, outbox, publish, PUBACK) is the real one.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rollcall::config::MqttConfig;
use rollcall::event::{AttendanceEvent, Status};
use rollcall::store::{Key, Outbox, Store};
use rollcall::sync::mqtt::{Mqtt, MqttSettings};
use rollcall::sync::status::StatusBoard;
use testkit::broker::{Broker, Subscriber};

const SITE: &str = "test";
const CHILD_ENV: &str = "ROLLCALL_TEST_DAEMON";

fn scratch(name: &str) -> PathBuf {
    testkit::scratch_dir("mqtt", name)
}

fn event(i: usize, device: &str) -> AttendanceEvent {
    testkit::events::attendance(&format!("p{i:04}"), device)
}

/// The child: `db:key:port:total:device`. Records events up to `total` (continuing from what the
/// store already holds), printing each, then keeps publishing until killed.
#[test]
fn outbox_daemon_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let parts: Vec<&str> = spec.split('|').collect();
    let [db, key, port, total, device] = parts[..] else {
        panic!("bad {CHILD_ENV}")
    };
    let store = Store::open(Path::new(db), Key::from_hex(key, "test").unwrap()).unwrap();
    let outbox = Outbox::open(Path::new(db)).unwrap();
    let settings = MqttSettings::new(&testkit::broker::device_config(port.parse().unwrap()), device, SITE).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _mqtt = runtime.block_on(async { Mqtt::spawn(settings, outbox, StatusBoard::new(device), None).unwrap() });
    let total: usize = total.parse().unwrap();
    for i in store.attendance().unwrap().len()..total {
        store
            .record_attendance(&event(i, device), &format!("once-{i}"))
            .unwrap();
        println!("recorded {}", i + 1);
        std::thread::sleep(Duration::from_millis(4));
    }
    println!("done");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A daemon child process and the count of events it has recorded so far.
struct Daemon {
    child: Child,
    recorded: mpsc::Receiver<usize>,
}

impl Daemon {
    fn start(db: &Path, key: &Key, port: u16, total: usize, device: &str) -> Daemon {
        let mut child = Command::new(std::env::current_exe().unwrap())
            // The test below, by its full name in this binary.
            .args([
                "mqtt::outbox_daemon_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(
                CHILD_ENV,
                format!("{}|{}|{port}|{total}|{device}", db.display(), *key.to_hex()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, recorded) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("recorded ") {
                    let _ = tx.send(n.trim().parse().unwrap_or(0));
                }
            }
        });
        Daemon { child, recorded }
    }

    /// Blocks until the daemon has recorded at least `n` events.
    fn wait_recorded(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while let Ok(k) = self
            .recorded
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if k >= n {
                return;
            }
        }
        panic!("the daemon did not record {n} events");
    }

    fn kill(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event_ids(messages: &[testkit::broker::Message]) -> HashMap<String, Vec<Vec<u8>>> {
    let mut ids: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for (topic, payload, _) in messages {
        if topic.ends_with("/attendance") {
            let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
            ids.entry(v["event_id"].as_str().unwrap().to_string())
                .or_default()
                .push(payload.clone());
        }
    }
    ids
}

#[test]
fn a_thousand_events_survive_broker_restarts_and_a_killed_daemon() {
    const TOTAL: usize = 1000;
    let dir = scratch("thousand");
    let db = dir.join("rollcall.db");
    let key = Key::generate();
    let mut broker = Broker::start("thousand");
    // The backend: subscribed, with a persistent session, before anything is published.
    let backend = Subscriber::start(
        broker.port,
        "backend-thousand",
        &[&format!("rollcall/v1/{SITE}/+/attendance")],
        true,
    );

    let daemon = Daemon::start(&db, &key, broker.port, TOTAL, "box-a");
    daemon.wait_recorded(150);
    broker.stop();
    std::thread::sleep(Duration::from_millis(800));
    broker.restart();
    daemon.wait_recorded(300);
    broker.stop();
    std::thread::sleep(Duration::from_millis(800));
    broker.restart();
    daemon.wait_recorded(450);
    daemon.kill();
    let daemon = Daemon::start(&db, &key, broker.port, TOTAL, "box-a");
    daemon.wait_recorded(600);
    broker.stop();
    std::thread::sleep(Duration::from_millis(1500));
    broker.restart();
    daemon.wait_recorded(800);
    broker.stop();
    std::thread::sleep(Duration::from_millis(500));
    broker.restart();
    daemon.wait_recorded(TOTAL);

    let store = Store::open(&db, key).unwrap();
    let recorded: Vec<String> = store.attendance().unwrap().into_iter().map(|e| e.event_id).collect();
    assert_eq!(recorded.len(), TOTAL);
    let messages = backend.wait_for(Duration::from_secs(60), |m| {
        let ids = event_ids(m);
        recorded.iter().all(|id| ids.contains_key(id))
    });
    let ids = event_ids(&messages);
    let missing: Vec<&String> = recorded.iter().filter(|id| !ids.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {TOTAL} events never arrived ({} still pending in the outbox)",
        missing.len(),
        Outbox::open(&db).unwrap().depth().unwrap().pending
    );
    assert_eq!(ids.len(), TOTAL, "no event the daemon did not record");
    let duplicates: usize = ids.values().map(|v| v.len() - 1).sum();
    for (id, copies) in &ids {
        assert!(
            copies.iter().all(|c| c == &copies[0]),
            "copies of {id} differ: a duplicate must be the same event"
        );
    }
    println!(
        "{TOTAL} events through 4 broker restarts and one SIGKILL: all {} arrived, {duplicates} duplicate deliveries (same event_id)",
        ids.len()
    );
    // The backend can have every event before the daemon has taken in the last PUBACKs and
    // committed their delivery marks: wait for the outbox to drain rather than race it.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let pending = loop {
        let pending = Outbox::open(&db).unwrap().depth().unwrap().pending;
        if pending == 0 || std::time::Instant::now() > deadline {
            break pending;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(pending, 0, "acknowledged events still pending in the outbox");
    drop(daemon);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_killed_daemon_is_reported_offline_by_its_last_will() {
    let dir = scratch("will");
    let db = dir.join("rollcall.db");
    let key = Key::generate();
    let broker = Broker::start("will");
    let status_topic = format!("rollcall/v1/{SITE}/box-w/status");
    let watcher = Subscriber::start(broker.port, "watcher-will", &[&status_topic], false);
    let daemon = Daemon::start(&db, &key, broker.port, 0, "box-w");
    let state = |m: &testkit::broker::Message| {
        serde_json::from_slice::<serde_json::Value>(&m.1).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let seen = watcher.wait_for(Duration::from_secs(10), |m| m.iter().any(|x| state(x) == "online"));
    let online = seen.iter().find(|x| state(x) == "online").expect("no online status");
    let status: serde_json::Value = serde_json::from_slice(&online.1).unwrap();
    assert_eq!(status["device"], "box-w");
    assert!(
        status["outbox"]["pending"].is_u64() && status["uptime_s"].is_u64(),
        "{status}"
    );
    daemon.kill();
    let seen = watcher.wait_for(Duration::from_secs(15), |m| {
        m.last().is_some_and(|x| state(x) == "offline")
    });
    assert_eq!(seen.last().map(state).as_deref(), Some("offline"), "{seen:?}");
    // Retained: a backend that connects later still learns the box is offline.
    let late = Subscriber::start(broker.port, "late-will", &[&status_topic], false);
    let got = late.wait_for(Duration::from_secs(5), |m| !m.is_empty());
    assert!(got.first().is_some_and(|m| m.2 && state(m) == "offline"), "{got:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_frozen_broker_is_detected_by_the_ack_timeout_and_recovered_from() {
    let dir = scratch("frozen");
    let db = dir.join("rollcall.db");
    let store = Store::open(&db, Key::generate()).unwrap();
    let broker = Broker::start("frozen");
    // A long keep-alive: only the acknowledgement timeout can notice the freeze quickly.
    let config = MqttConfig {
        keep_alive_s: 60,
        ack_timeout_s: 2,
        ..testkit::broker::device_config(broker.port)
    };
    let (runtime, mut mqtt, backend) = device_and_backend(&db, broker.port, "box-f", config);
    let link = runtime.block_on(mqtt.wait_for(Duration::from_secs(10), |s| s.connected));
    assert!(link.connected, "{link:?}");

    let before = event(1, "box-f");
    store.record_attendance(&before, "a").unwrap();
    backend.wait_for(Duration::from_secs(10), |m| event_ids(m).contains_key(&before.event_id));

    broker.freeze();
    let frozen_at = Instant::now();
    let during = event(2, "box-f");
    store.record_attendance(&during, "b").unwrap();
    let link = runtime.block_on(mqtt.wait_for(Duration::from_secs(20), |s| s.losses >= 1));
    let noticed = frozen_at.elapsed();
    assert!(
        link.last_error
            .as_deref()
            .is_some_and(|e| e.contains("acknowledged nothing")),
        "{link:?}"
    );
    println!(
        "frozen broker noticed after {:.1} s (ack_timeout_s = 2)",
        noticed.as_secs_f32()
    );
    broker.thaw();
    let link = runtime.block_on(mqtt.wait_for(Duration::from_secs(30), |s| s.connected && s.delivered >= 2));
    assert!(link.connected && link.delivered >= 2, "{link:?}");
    let got = backend.wait_for(Duration::from_secs(10), |m| event_ids(m).contains_key(&during.event_id));
    assert!(event_ids(&got).contains_key(&during.event_id));
    assert_eq!(Outbox::open(&db).unwrap().depth().unwrap().pending, 0);

    // A graceful stop says offline itself, at once.
    let started = Instant::now();
    runtime.block_on(mqtt.shutdown());
    assert!(started.elapsed() < Duration::from_secs(3));
    let got = backend.wait_for(Duration::from_secs(5), |m| {
        m.iter()
            .any(|(t, p, _)| t.ends_with("/status") && String::from_utf8_lossy(p).contains("\"offline\""))
    });
    assert!(
        got.iter()
            .any(|(t, p, _)| t.ends_with("/status") && String::from_utf8_lossy(p).contains("\"offline\"")),
        "no offline status after shutdown"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn rosters_are_checked_whole_and_a_good_one_is_used_at_once() {
    use rollcall::attend::engine::{Engine, Outcome};
    use rollcall::keys::{DeviceKey, SigningKey};
    use rollcall::sync::roster::{Opener, Roster, RosterPerson, RosterSync, RosterSyncSettings, Scope, Sealer, seal};
    let dir = scratch("roster");
    let db = dir.join("rollcall.db");
    let key = Key::generate();
    // The backend's key pair and the device's, made as an admin makes them.
    let keygen = |args: &[&str], out: &std::path::Path| {
        let made = Command::new(env!("CARGO_BIN_EXE_rollcall"))
            .arg("keygen")
            .args(args)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        String::from_utf8(made.stdout).unwrap()
    };
    let backend_key_file = dir.join("backend.key");
    let verify_key = keygen(&["--signing"], &backend_key_file);
    assert_eq!(
        std::fs::read_to_string(dir.join("backend.key.pub")).unwrap(),
        verify_key,
        "the verifying key is printed and written beside the key"
    );
    let device_key_file = dir.join("box-r.key");
    let device_public = keygen(&["--device"], &device_key_file);
    let sealing_key = device_public
        .lines()
        .find_map(|l| l.strip_prefix("sealing "))
        .unwrap()
        .to_string();
    let device_key = DeviceKey::from_seed(&Key::from_file(&device_key_file).unwrap());
    assert_eq!(device_key.public().sealing, sealing_key);
    let backend_key = SigningKey::from_seed(&Key::from_file(&backend_key_file).unwrap());
    let to_box = [device_key.sealing_key().clone()];
    let signed = Sealer::Signed {
        by: &backend_key,
        to: &to_box,
    };
    let broker = Broker::start("roster");
    let backend = Subscriber::start(
        broker.port,
        "backend-roster",
        &[&format!("rollcall/v1/{SITE}/box-r/alert")],
        false,
    );

    let mut config = testkit::config("yunet-2023mar", "sface-2021dec");
    config.timetable.sessions = vec![testkit::monday_session()];
    config.device.id = Some("box-r".into());
    let mut engine = Engine::new(
        &config,
        testkit::analyzer_for(&config),
        Store::open(&db, key.clone()).unwrap(),
    )
    .unwrap();
    assert!(engine.gallery().is_empty(), "nobody enrolled yet");
    assert!(
        matches!(
            &testkit::show_photo(&mut engine, "ageitgey/identities/obama_2.jpg", 1)[..],
            [Outcome::Unknown { .. }]
        ),
        "an empty roster knows no one"
    );

    let sync = RosterSync::new(RosterSyncSettings {
        store: Store::open(&db, key.clone()).unwrap(),
        opener: Opener {
            verify_key: Some(verify_key.trim().parse().unwrap()),
            device_key: Some(std::sync::Arc::new(device_key)),
            site_key: None,
        },
        gallery: engine.shared_gallery(),
        timetable: Some(engine.shared_timetable()),
        dim: 128,
        max_bytes: MqttConfig::default().roster_max_bytes,
        int8_above: 5000,
        device: "box-r".into(),
        site: SITE.into(),
        refusal_window: Duration::from_secs(1),
    })
    .unwrap();
    let settings = MqttSettings::new(&testkit::broker::device_config(broker.port), "box-r", SITE).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut mqtt = runtime.block_on(async {
        Mqtt::spawn(
            settings,
            Outbox::open(&db).unwrap(),
            StatusBoard::new("box-r"),
            Some(sync),
        )
        .unwrap()
    });
    assert!(
        runtime
            .block_on(mqtt.wait_for(Duration::from_secs(10), |s| s.connected))
            .connected
    );

    // The backend's roster: real SFace templates of two people, published with the CLI.
    let mut analyzer = testkit::analyzer_for(&config);
    let mut template = |photo: &str| {
        testkit::analyze(&mut analyzer, &testkit::face(photo))[0]
            .embedding
            .vector
            .clone()
    };
    let people = vec![
        RosterPerson {
            person_id: "obama".into(),
            name: Some("Barack Obama".into()),
            groups: vec!["7B".into()],
            templates: vec![template("ageitgey/identities/obama_1.jpg")],
        },
        RosterPerson {
            person_id: "biden".into(),
            name: None,
            groups: vec!["7B".into()],
            templates: vec![template("ageitgey/identities/biden_1.jpg")],
        },
    ];
    let plain = dir.join("roster.json");
    std::fs::write(
        &plain,
        serde_json::to_vec(&Roster {
            people: people.clone(),
            ..Roster::default()
        })
        .unwrap(),
    )
    .unwrap();
    let cli_config = dir.join("publish.toml");
    std::fs::write(
        &cli_config,
        format!(
            "[models]\nrecognizer = \"sface-2021dec\"\n[device]\nsite = \"{SITE}\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = {}\n",
            broker.port
        ),
    )
    .unwrap();
    let published = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .arg("--config")
        .arg(&cli_config)
        .args(["roster", "publish"])
        .arg(&plain)
        .arg("--signing-key")
        .arg(&backend_key_file)
        .args(["--recipient", &sealing_key])
        .args(["--version", "2"])
        .output()
        .unwrap();
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    assert!(
        String::from_utf8_lossy(&published.stdout)
            .contains("roster version 2 (sface-2021dec, signed, sealed to 1 devices)"),
        "{}",
        String::from_utf8_lossy(&published.stdout)
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.gallery().version() != 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!((engine.gallery().version(), engine.gallery().people()), (2, 2));
    let outcomes = testkit::show_photo(&mut engine, "ageitgey/identities/obama_2.jpg", 2);
    assert!(
        matches!(&outcomes[..], [Outcome::Attendance(e)] if e.person_id == "obama" && e.roster_version == 2),
        "the new roster is used without a restart: {outcomes:?}"
    );
    assert_eq!(
        Store::open(&db, key.clone())
            .unwrap()
            .roster_version()
            .unwrap()
            .map(|r| r.version),
        Some(2),
        "and persisted for the next start"
    );

    // The timetable comes the same way: a newer one is used at once, a bad one refused.
    let mut timetable = config.timetable.clone();
    timetable.sessions[0].id = "ART".into();
    let timetable_topic = format!("rollcall/v1/{SITE}/box-r/timetable");
    let for_box = Scope::Device {
        site: SITE.into(),
        device: "box-r".into(),
    };
    let art = serde_json::to_vec(&rollcall::sync::roster::seal_timetable(&timetable, 1, &for_box, signed)).unwrap();
    backend.publish(&timetable_topic, art, true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.shared_timetable().version() != 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let outcomes = testkit::show_photo(&mut engine, "ageitgey/identities/biden_2.jpg", 3);
    assert!(
        outcomes.iter().any(|o| matches!(o, Outcome::Attendance(e)
            if e.person_id == "biden" && e.session_id.as_deref() == Some("ART@2026-11-23"))),
        "the synced timetable is used without a restart: {outcomes:?}"
    );
    let mut overlapping = timetable.clone();
    overlapping.sessions.push(rollcall::config::SessionSlot {
        id: "CLASH".into(),
        ..timetable.sessions[0].clone()
    });
    let clash = serde_json::to_vec(&rollcall::sync::roster::seal_timetable(
        &overlapping,
        2,
        &for_box,
        signed,
    ))
    .unwrap();
    backend.publish(&timetable_topic, clash, true);
    let alerts = backend.wait_for(Duration::from_secs(10), |m| {
        m.iter()
            .any(|(_, p, _)| String::from_utf8_lossy(p).contains("timetable_rejected"))
    });
    let refusal = alerts
        .iter()
        .map(|(_, p, _)| String::from_utf8_lossy(p).into_owned())
        .find(|p| p.contains("timetable_rejected"))
        .unwrap();
    assert!(
        refusal.contains("overlap") && refusal.contains("timetable version 1 stays in use"),
        "{refusal}"
    );
    assert_eq!(engine.shared_timetable().version(), 1);
    assert_eq!(
        Store::open(&db, key.clone()).unwrap().timetable().unwrap().map(|t| t.0),
        Some(1),
        "the synced timetable is stored for the next start"
    );

    // Now everything a device must refuse. Each goes to the site's roster topic, retained,
    // replacing the one before, as a faulty or hostile backend would send it.
    let topic = format!("rollcall/v1/{SITE}/roster");
    let sealed = |people: Vec<RosterPerson>, version: u64, recognizer: &str, sealer: Sealer<'_>| {
        serde_json::to_vec(&seal(
            &Roster {
                people,
                ..Roster::default()
            },
            version,
            recognizer,
            &Scope::Site(SITE.into()),
            sealer,
        ))
        .unwrap()
    };
    let with_template = |t: Vec<f32>| {
        vec![RosterPerson {
            templates: vec![t],
            ..people[0].clone()
        }]
    };
    let mut tampered: serde_json::Value =
        serde_json::from_slice(&sealed(people.clone(), 3, "sface-2021dec", signed)).unwrap();
    let ct = tampered["ciphertext"].as_str().unwrap().to_string();
    let flipped = if ct.starts_with('A') { "B" } else { "A" };
    tampered["ciphertext"] = serde_json::Value::String(format!("{flipped}{}", &ct[1..]));
    let mut nan = people[0].templates[0].clone();
    nan[5] = f32::NAN;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "tampered ciphertext",
            serde_json::to_vec(&tampered).unwrap(),
            "does not authenticate",
        ),
        (
            "signed with another key",
            sealed(
                people.clone(),
                3,
                "sface-2021dec",
                Sealer::Signed {
                    by: &SigningKey::from_seed(&Key::generate()),
                    to: &to_box,
                },
            ),
            "does not authenticate",
        ),
        (
            "under a site key",
            sealed(people.clone(), 3, "sface-2021dec", Sealer::SiteKey(&Key::generate())),
            "allow_site_key_rosters",
        ),
        (
            "older version",
            sealed(people.clone(), 1, "sface-2021dec", signed),
            "version 1 is not newer than version 2, the newest applied",
        ),
        (
            "other recognizer",
            sealed(people.clone(), 3, "arcface-w600k-mbf", signed),
            "made by `arcface-w600k-mbf`, but this device runs `sface-2021dec`",
        ),
        (
            "wrong dimension",
            sealed(with_template(vec![0.125; 64]), 3, "sface-2021dec", signed),
            "has 64 values, sface-2021dec takes 128",
        ),
        (
            "NaN",
            sealed(with_template(nan), 3, "sface-2021dec", signed),
            "non-finite values",
        ),
        (
            "garbage JSON",
            b"{\"format\": \"rollcall-roster/1\", ".to_vec(),
            "not an envelope",
        ),
        (
            "50 MB",
            vec![b' '; 50 << 20],
            // Refused before it is read: the size is the whole packet's (payload and topic).
            "bytes, above the limit of 33554432",
        ),
    ];
    for (what, payload, reason) in cases {
        // Refusals for one reason within the gate's window (1 s here) would be summed up in one
        // alert: let each case have a window of its own.
        std::thread::sleep(Duration::from_millis(2200));
        backend.publish(&topic, payload, true);
        let alerts = backend.wait_for(Duration::from_secs(20), |m| {
            m.iter().any(|(_, p, _)| String::from_utf8_lossy(p).contains(reason))
        });
        let alert = alerts
            .iter()
            .map(|(_, p, _)| serde_json::from_slice::<serde_json::Value>(p).unwrap())
            .find(|a| a["detail"].as_str().unwrap_or_default().contains(reason))
            .unwrap_or_else(|| {
                let got: Vec<_> = alerts
                    .iter()
                    .map(|m| String::from_utf8_lossy(&m.1).into_owned())
                    .collect();
                panic!("{what}: no alert saying {reason:?}; got {got:#?}")
            });
        assert_eq!(alert["kind"], "roster_rejected", "{what}");
        assert_eq!(alert["device"], "box-r", "{what}");
        let g = engine.gallery();
        assert_eq!(
            (g.version(), g.people(), g.len()),
            (2, 2, 2),
            "{what}: the gallery is unchanged"
        );
        println!("{what}: refused, alert: {}", alert["detail"]);
    }
    let link = runtime.block_on(mqtt.wait_for(Duration::from_secs(10), |s| s.connected));
    assert!(
        link.connected,
        "the oversized roster cost one reconnect, not the link: {link:?}"
    );
    assert_eq!(
        Store::open(&db, key)
            .unwrap()
            .roster_version()
            .unwrap()
            .map(|r| r.version),
        Some(2)
    );
    runtime.block_on(mqtt.shutdown());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Checks `value` against the parts of a JSON Schema this project uses: `properties`,
/// `required`, `additionalProperties: false`, and nested objects.
fn conforms(path: &str, value: &serde_json::Value, schema: &serde_json::Value) {
    let Some(obj) = value.as_object() else { return };
    let props = schema["properties"].as_object();
    for key in schema["required"].as_array().into_iter().flatten() {
        let key = key.as_str().unwrap();
        assert!(
            obj.contains_key(key),
            "{path}: `{key}` is required by the schema but not sent"
        );
    }
    if schema["additionalProperties"] == serde_json::Value::Bool(false) {
        for key in obj.keys() {
            assert!(
                props.is_some_and(|p| p.contains_key(key)),
                "{path}: `{key}` is sent but not in the schema"
            );
        }
    }
    for (key, v) in obj {
        let sub = props
            .and_then(|p| p.get(key))
            .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
        if let Some(sub) = sub {
            conforms(&format!("{path}.{key}"), v, sub);
        }
    }
}

fn schema(name: &str) -> serde_json::Value {
    let path = testkit::root().join("docs/schema").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_documented_schemas_match_what_is_sent() {
    use rollcall::event::{Alert, AlertKind};
    use rollcall::sync::roster::{Roster, RosterPerson, seal};
    let attendance = serde_json::to_value(event(1, "box")).unwrap();
    conforms("attendance", &attendance, &schema("attendance.json"));
    let alert = Alert {
        event_id: rollcall::event::new_id(),
        kind: AlertKind::Spoof,
        camera_id: Some("front".into()),
        room: Some("101".into()),
        at: Utc::now(),
        detail: "live score 0.12".into(),
        device: "box".into(),
    };
    conforms("alert", &serde_json::to_value(&alert).unwrap(), &schema("alert.json"));
    let mut store = Store::open_in_memory(Key::generate()).unwrap();
    let record = store
        .audit("box", rollcall::event::AuditAction::Enroll, "ann", "from 2 photo(s)")
        .unwrap();
    conforms("audit", &serde_json::to_value(&record).unwrap(), &schema("audit.json"));
    let board = StatusBoard::new("box");
    board.update(|s| {
        s.cameras.insert(
            "front".into(),
            rollcall::sync::status::CameraReport {
                state: rollcall::sync::status::CameraHealth::Streaming,
                fps: 5.0,
                lag_ms: 180,
                ms_per_frame: 42.5,
                too_small: 3,
            },
        );
    });
    let status = schema("status.json");
    conforms("status", &serde_json::to_value(board.snapshot()).unwrap(), &status);
    let offline: serde_json::Value = serde_json::from_str(&rollcall::sync::status::offline_payload("box")).unwrap();
    conforms("last will", &offline, &status);
    let plain = Roster {
        people: vec![RosterPerson {
            person_id: "ann".into(),
            name: Some("Ann".into()),
            groups: vec!["7B".into()],
            templates: vec![vec![0.6, 0.8]],
        }],
        removed: vec!["bob".into()],
    };
    let roster = schema("roster.json");
    conforms(
        "roster",
        &serde_json::to_value(seal(
            &plain,
            1,
            "sface-2021dec",
            &rollcall::sync::roster::Scope::Site("hillside".into()),
            rollcall::sync::roster::Sealer::Signed {
                by: &rollcall::keys::SigningKey::from_seed(&Key::generate()),
                to: &[rollcall::keys::DeviceKey::from_seed(&Key::generate())
                    .sealing_key()
                    .clone()],
            },
        ))
        .unwrap(),
        &roster,
    );
    conforms(
        "plain roster",
        &serde_json::to_value(&plain).unwrap(),
        &roster["$defs"]["plain"],
    );
    // The examples in docs/mqtt.md conform too.
    let doc = std::fs::read_to_string(testkit::root().join("docs/mqtt.md")).unwrap();
    let examples: Vec<serde_json::Value> = doc
        .split("```json")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter_map(|b| serde_json::from_str(b).ok())
        .collect();
    assert_eq!(examples.len(), 7, "every payload example parses as JSON");
    for (example, name) in examples.iter().zip([
        "attendance.json",
        "alert.json",
        "audit.json",
        "status.json",
        "roster.json",
    ]) {
        conforms(&format!("docs/mqtt.md example for {name}"), example, &schema(name));
    }
    conforms("docs/mqtt.md plain roster", &examples[5], &roster["$defs"]["plain"]);
    let timetable: rollcall::config::TimetableConfig = serde_json::from_value(examples[6].clone()).unwrap();
    rollcall::attend::session::Timetable::new(&timetable).unwrap();
    let example: AttendanceEvent = serde_json::from_value(examples[0].clone()).unwrap();
    assert_eq!(example.status, Status::Late);
}

/// Runs a command, failing the test with its output if it fails.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with openssl in `dir`.
fn make_certificates(dir: &Path, ca: &str) {
    let at = |f: &str| dir.join(f);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=rollcall test CA",
        ])
        .arg("-keyout")
        .arg(at(&format!("{ca}.key")))
        .arg("-out")
        .arg(at(&format!("{ca}.pem"))));
    run(Command::new("openssl")
        .args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(at("server.key"))
        .arg("-out")
        .arg(at("server.csr")));
    std::fs::write(
        at("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(at("server.csr"))
        .arg("-CA")
        .arg(at(&format!("{ca}.pem")))
        .arg("-CAkey")
        .arg(at(&format!("{ca}.key")))
        .arg("-extfile")
        .arg(at("san.ext"))
        .arg("-out")
        .arg(at("server.pem")));
}

#[test]
fn tls_and_a_password_file_are_used_and_wrong_ones_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("tls");
    make_certificates(&dir, "ca");
    run(Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(dir.join("passwd"))
        .args(["room-101", "s3cret"]));
    for f in ["server.key", "server.pem", "ca.pem", "passwd"] {
        // mosquitto reads them after dropping to its own user.
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let broker = Broker::start_with(
        "tls",
        &format!(
            "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\nallow_anonymous false\npassword_file {0}/passwd\n",
            dir.display()
        ),
    );
    std::fs::write(dir.join("good.password"), "s3cret\n").unwrap();
    std::fs::write(dir.join("bad.password"), "guess\n").unwrap();
    let open_to_others = MqttSettings::new(
        &MqttConfig {
            username: Some("room-101".into()),
            password_file: Some(dir.join("good.password")),
            ..testkit::broker::device_config(broker.port)
        },
        "room-101",
        SITE,
    )
    .unwrap_err();
    assert!(open_to_others.to_string().contains("chmod 600"), "{open_to_others}");
    for f in ["good.password", "bad.password"] {
        std::fs::set_permissions(dir.join(f), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let connect = |ca: &str, password: &str, device: &str| {
        let config = MqttConfig {
            username: Some("room-101".into()),
            password_file: Some(dir.join(password)),
            tls: Some(rollcall::config::TlsConfig {
                ca_file: dir.join(ca),
                client_cert: None,
                client_key: None,
            }),
            ..testkit::broker::device_config(broker.port)
        };
        let db = dir.join(format!("{device}.db"));
        let store = Store::open(&db, Key::generate()).unwrap();
        store.record_attendance(&event(1, device), "once").unwrap();
        let settings = MqttSettings::new(&config, device, SITE).unwrap();
        let mqtt = runtime.block_on(async {
            Mqtt::spawn(settings, Outbox::open(&db).unwrap(), StatusBoard::new(device), None).unwrap()
        });
        (mqtt, db)
    };

    let (mut good, db) = connect("ca.pem", "good.password", "box-tls");
    let link = runtime.block_on(good.wait_for(Duration::from_secs(10), |s| s.delivered >= 1));
    assert!(
        link.connected && link.delivered == 1,
        "TLS with the right CA and password: {link:?}"
    );
    assert_eq!(Outbox::open(&db).unwrap().depth().unwrap().pending, 0);
    runtime.block_on(good.shutdown());

    let (mut bad, _) = connect("ca.pem", "bad.password", "box-badpw");
    let link = runtime.block_on(bad.wait_for(Duration::from_secs(5), |s| s.last_error.is_some()));
    assert!(
        link.connects == 0 && link.last_error.as_deref().is_some_and(|e| e.contains("NotAuthorized")),
        "a wrong password is refused: {link:?}"
    );
    runtime.block_on(bad.shutdown());

    std::fs::create_dir_all(dir.join("other")).unwrap();
    make_certificates(&dir.join("other"), "ca");
    std::fs::copy(dir.join("other/ca.pem"), dir.join("other-ca.pem")).unwrap();
    let (mut stranger, _) = connect("other-ca.pem", "good.password", "box-badca");
    let link = runtime.block_on(stranger.wait_for(Duration::from_secs(5), |s| s.last_error.is_some()));
    assert!(
        link.connects == 0 && link.last_error.as_deref().is_some_and(|e| e.contains("TLS")),
        "a broker whose certificate the CA did not sign is refused: {link:?}"
    );
    runtime.block_on(stranger.shutdown());
    std::fs::remove_dir_all(dir).unwrap();
}

/// The device's `[mqtt]` at `port`, running on the store at `db`, with a backend subscribed to
/// everything the device publishes.
fn device_and_backend(
    db: &Path,
    port: u16,
    device: &str,
    config: MqttConfig,
) -> (tokio::runtime::Runtime, Mqtt, Subscriber) {
    let backend = Subscriber::start(
        port,
        &format!("backend-{device}"),
        &[&format!("rollcall/v1/{SITE}/#")],
        false,
    );
    let settings = MqttSettings::new(&config, device, SITE).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mqtt = runtime
        .block_on(async { Mqtt::spawn(settings, Outbox::open(db).unwrap(), StatusBoard::new(device), None) })
        .unwrap();
    (runtime, mqtt, backend)
}

#[test]
fn an_outbox_row_the_broker_cannot_take_is_set_aside_and_delivery_goes_on() {
    let dir = scratch("set-aside");
    let db = dir.join("rollcall.db");
    let store = Store::open(&db, Key::generate()).unwrap();
    let broker = Broker::start("set-aside");
    let before = event(1, "box-a");
    store.record_attendance(&before, "s1").unwrap();
    // A row above the 1 MiB packet limit, first in line for everything recorded after it.
    let huge = format!(r#"{{"event_id":"oversized","person_id":"{}"}}"#, "x".repeat(2 << 20));
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO outbox (event_id, kind, payload, created_ms) VALUES ('oversized', 'attendance', ?1, ?2)",
            rusqlite::params![huge, rollcall::store::now_ms()],
        )
        .unwrap();
    let after: Vec<AttendanceEvent> = (2..=5).map(|i| event(i, "box-a")).collect();
    for (i, e) in after.iter().enumerate() {
        store.record_attendance(e, &format!("s{}", i + 2)).unwrap();
    }

    let (runtime, mut mqtt, backend) =
        device_and_backend(&db, broker.port, "box-a", testkit::broker::device_config(broker.port));
    let set_aside_alert = |m: &[testkit::broker::Message]| {
        m.iter()
            .any(|(t, p, _)| t.ends_with("/alert") && String::from_utf8_lossy(p).contains("\"outbox_set_aside\""))
    };
    let got = backend.wait_for(Duration::from_secs(20), |m| {
        event_ids(m).len() == 5 && set_aside_alert(m)
    });
    let ids = event_ids(&got);
    for e in std::iter::once(&before).chain(&after) {
        assert!(
            ids.contains_key(&e.event_id),
            "{} not delivered: {:?}",
            e.person_id,
            ids.keys()
        );
    }
    assert!(set_aside_alert(&got), "no outbox_set_aside alert");
    let link = runtime.block_on(mqtt.wait_for(Duration::from_secs(5), |s| s.delivered >= 6));
    assert_eq!(link.losses, 0, "the connection never dropped: {link:?}");
    let depth = Outbox::open(&db).unwrap().depth().unwrap();
    assert_eq!((depth.pending, depth.set_aside), (0, 1), "{depth:?}");
    // Kept locally with its reason.
    let reason: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT set_aside FROM outbox WHERE event_id = 'oversized'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(reason.contains("above the limit"), "{reason}");
    println!("set aside: {reason}; {} of 5 events delivered", ids.len());
    runtime.block_on(mqtt.shutdown());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_write_lock_held_on_the_store_never_stops_status_updates_or_delivery() {
    let dir = scratch("locked");
    let db = dir.join("rollcall.db");
    let store = Store::open(&db, Key::generate()).unwrap();
    let broker = Broker::start("locked");
    let events: Vec<AttendanceEvent> = (0..30).map(|i| event(i, "box-l")).collect();
    for (i, e) in events.iter().enumerate() {
        store.record_attendance(e, &format!("s{i}")).unwrap();
    }
    // Another process holds the write lock, as a slow or busy disk would: every write through
    // the outbox waits its busy timeout (5 s), then fails. Reads go on (WAL).
    let locker = rusqlite::Connection::open(&db).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let config = MqttConfig {
        status_interval_s: 1,
        max_inflight: 4,
        ..testkit::broker::device_config(broker.port)
    };
    let (runtime, mut mqtt, backend) = device_and_backend(&db, broker.port, "box-l", config);
    let status_count = |m: &[testkit::broker::Message]| m.iter().filter(|(t, _, _)| t.ends_with("/status")).count();
    let locked_at = Instant::now();
    let mut arrivals = Vec::new();
    let mut seen = 0;
    while locked_at.elapsed() < Duration::from_secs(10) {
        let n = status_count(&backend.messages());
        if n > seen {
            seen = n;
            arrivals.push(locked_at.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    locker.execute_batch("COMMIT").unwrap();
    let gaps: Vec<f32> = std::iter::once(Duration::ZERO)
        .chain(arrivals.iter().copied())
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f32())
        .chain(arrivals.last().map(|l| (Duration::from_secs(10) - *l).as_secs_f32()))
        .collect();
    let longest = gaps.iter().copied().fold(0.0, f32::max);
    println!(
        "write lock held 10 s: {} status messages, longest gap {longest:.1} s",
        arrivals.len()
    );
    assert!(
        longest < 3.0,
        "status stopped for {longest:.1} s while the store was locked: {gaps:?}"
    );

    // Once the lock goes, every event is delivered and marked.
    let got = backend.wait_for(Duration::from_secs(30), |m| event_ids(m).len() == events.len());
    assert_eq!(event_ids(&got).len(), events.len());
    let link = runtime.block_on(mqtt.wait_for(Duration::from_secs(20), |s| s.delivered >= events.len() as u64));
    assert!(link.delivered >= events.len() as u64, "{link:?}");
    assert_eq!(Outbox::open(&db).unwrap().depth().unwrap().pending, 0);
    runtime.block_on(mqtt.shutdown());
    std::fs::remove_dir_all(dir).unwrap();
}
