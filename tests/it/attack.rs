//! A hostile publisher against a real mosquitto: whoever may publish on the topics a device reads,
//! without the backend's signing key, must not be able to stop delivery, grow the outbox, or
//! change what the device believes; not even with a stolen box's keys. And an authentic message
//! meant for someone else, or an old one, is refused.
//!
//! Each test starts its own broker on a free 127.0.0.1 port, a device (the store, the MQTT task
//! and the roster sync, as the daemon wires them, with attendance recorded through the store
//! every 40 ms as the engine does), a persistent backend subscriber, and attacks with
//! `mosquitto_pub`, a separate client that has no key. Every attendance event produced during an
//! attack must reach the backend.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rollcall::attend::matching::{Gallery, SharedGallery};
use rollcall::attend::session::{SharedTimetable, Timetable};
use rollcall::config::{MqttConfig, TimetableConfig};
use rollcall::store::{Key, Outbox, Store};
use rollcall::sync::mqtt::{Mqtt, MqttSettings};
use rollcall::sync::roster::{Kind, Roster, RosterPerson, RosterSync, RosterSyncSettings, Scope};
use rollcall::sync::status::StatusBoard;
use testkit::broker::{Broker, Subscriber};
use testkit::keys::Site;

const SITE: &str = "test";
const RECOGNIZER: &str = "sface-2021dec";
/// The gate's window in these tests: short, so its summaries are seen.
const WINDOW: Duration = Duration::from_secs(2);

fn topic(rest: &str) -> String {
    format!("rollcall/v1/{SITE}/{rest}")
}

/// A device: store, MQTT task with the roster sync, and an "engine" recording attendance.
struct Device {
    name: String,
    db: PathBuf,
    key: Key,
    gallery: SharedGallery,
    runtime: tokio::runtime::Runtime,
    mqtt: Option<Mqtt>,
    produced: Arc<Mutex<Vec<String>>>,
    recording: Arc<AtomicBool>,
}

impl Device {
    fn start(dir: &Path, port: u16, site: &Site, name: &str) -> Device {
        let db = dir.join(format!("{name}.db"));
        let key = Key::generate();
        let mut device = Device {
            name: name.into(),
            gallery: SharedGallery::new(Gallery::new(RECOGNIZER.into(), 128)),
            db,
            key,
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
            mqtt: None,
            produced: Arc::new(Mutex::new(Vec::new())),
            recording: Arc::new(AtomicBool::new(false)),
        };
        device.connect(port, site);
        device
    }

    /// Starts (or starts again, as after a restart) the MQTT task and the roster sync on the
    /// device's store.
    fn connect(&mut self, port: u16, site: &Site) {
        let store = Store::open(&self.db, self.key.clone()).unwrap();
        let version = store.roster_version().unwrap().map_or(0, |r| r.version);
        self.gallery
            .replace(Gallery::new(RECOGNIZER.into(), 128).with_version(version));
        let timetable_version = store.timetable().unwrap().map_or(0, |t| t.0);
        let sync = RosterSync::new(RosterSyncSettings {
            store,
            opener: site.opener(&self.name),
            gallery: self.gallery.clone(),
            timetable: Some(SharedTimetable::new(
                Timetable::new(&TimetableConfig::default()).unwrap(),
                timetable_version,
            )),
            dim: 128,
            max_bytes: MqttConfig::default().roster_max_bytes,
            int8_above: 5000,
            device: self.name.clone(),
            site: SITE.into(),
            refusal_window: WINDOW,
        })
        .unwrap();
        let settings = MqttSettings::new(&testkit::broker::device_config(port), &self.name, SITE).unwrap();
        let outbox = Outbox::open(&self.db).unwrap();
        let name = self.name.clone();
        let mut mqtt = self
            .runtime
            .block_on(async { Mqtt::spawn(settings, outbox, StatusBoard::new(&name), Some(sync)).unwrap() });
        let link = self
            .runtime
            .block_on(mqtt.wait_for(Duration::from_secs(10), |s| s.connected));
        assert!(link.connected, "{link:?}");
        self.mqtt = Some(mqtt);
    }

    fn disconnect(&mut self) {
        if let Some(mqtt) = self.mqtt.take() {
            self.runtime.block_on(mqtt.shutdown());
        }
    }

    /// Records one attendance event every 40 ms through the store, as the engine does, until
    /// [`Device::stop_recording`].
    fn start_recording(&self) {
        self.recording.store(true, Ordering::SeqCst);
        let (db, key, name) = (self.db.clone(), self.key.clone(), self.name.clone());
        let (produced, recording) = (self.produced.clone(), self.recording.clone());
        std::thread::spawn(move || {
            let store = Store::open(&db, key).unwrap();
            while recording.load(Ordering::SeqCst) {
                let n = produced.lock().unwrap().len();
                let event = testkit::events::attendance(&format!("p{n:05}"), &name);
                assert!(store.record_attendance(&event, &format!("once-{n}")).unwrap());
                produced.lock().unwrap().push(event.event_id);
                std::thread::sleep(Duration::from_millis(40));
            }
        });
    }

    /// Stops recording; returns the ids of every event produced so far.
    fn stop_recording(&self) -> Vec<String> {
        self.recording.store(false, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(100));
        self.produced.lock().unwrap().clone()
    }

    /// Rows in the store's alerts and outbox tables.
    fn rows(&self) -> (usize, usize) {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        let count = |table: &str| -> usize {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get::<_, i64>(0))
                .unwrap() as usize
        };
        (count("alerts"), count("outbox"))
    }

    /// The store's audit trail: (action, subject) of each record, and whether the chain holds.
    fn audit(&self) -> (Vec<(String, String)>, bool) {
        let store = rollcall::store::Store::open(&self.db, self.key.clone()).unwrap();
        let trail = store.audit_trail().unwrap();
        let holds = rollcall::store::audit::verify_chain(&trail).is_ok();
        (
            trail
                .into_iter()
                .map(|r| (r.action.as_str().to_string(), r.subject))
                .collect(),
            holds,
        )
    }

    /// Alert details of `kind` recorded so far.
    fn alerts(&self, kind: &str) -> Vec<String> {
        let conn = rusqlite::Connection::open(&self.db).unwrap();
        let mut stmt = conn
            .prepare("SELECT detail FROM alerts WHERE kind = ?1 ORDER BY rowid")
            .unwrap();
        stmt.query_map([kind], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.recording.store(false, Ordering::SeqCst);
        self.disconnect();
    }
}

/// The backend: a persistent QoS 1 subscriber to every device's attendance and alerts.
fn backend(broker: &Broker, name: &str) -> Subscriber {
    Subscriber::start(
        broker.port,
        &format!("backend-{name}"),
        &[&topic("+/attendance"), &topic("+/alert")],
        true,
    )
}

/// An attack's stage: a scratch dir, a broker, a backend subscribed to everything, the site's
/// keys, and device box-a on that broker, already recording attendance.
fn recording_scene(name: &str) -> (PathBuf, Broker, Subscriber, Site, Device) {
    let dir = testkit::scratch_dir("attack", name);
    let broker = Broker::start(&format!("attack-{name}"));
    let backend = backend(&broker, name);
    let site = Site::new();
    let device = Device::start(&dir, broker.port, &site, "box-a");
    device.start_recording();
    (dir, broker, backend, site, device)
}

/// Event ids the backend received on attendance topics.
fn delivered(backend: &Subscriber) -> HashSet<String> {
    backend
        .messages()
        .iter()
        .filter(|(t, _, _)| t.ends_with("/attendance"))
        .filter_map(|(_, p, _)| serde_json::from_slice::<serde_json::Value>(p).ok())
        .filter_map(|v| v["event_id"].as_str().map(str::to_string))
        .collect()
}

/// Stops the device's recording and waits until the backend holds every event it produced;
/// prints how many were produced and delivered under `attack`, and fails unless all were.
fn every_event_delivered(device: &Device, backend: &Subscriber, attack: &str) {
    let produced = device.stop_recording();
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = delivered(backend);
        let n = produced.iter().filter(|id| got.contains(*id)).count();
        if n == produced.len() || Instant::now() >= deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("{attack}: {} events produced, {got} delivered", produced.len());
    assert_eq!(
        got,
        produced.len(),
        "{attack}: every attendance event reaches the backend"
    );
}

/// `mosquitto_pub` as the attacker: no key, its own client id, `args` after the broker's address.
fn attacker(broker: &Broker, args: &[&str], stdin: Option<Vec<u8>>) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run mosquitto_pub ({e}); run scripts/setup.sh --test-extras"));
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(&bytes).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn person(id: &str, seed: f32) -> RosterPerson {
    let mut t: Vec<f32> = (0..128).map(|i| ((i as f32) * 0.37 + seed).sin()).collect();
    let norm = t.iter().map(|v| v * v).sum::<f32>().sqrt();
    t.iter_mut().for_each(|v| *v /= norm);
    RosterPerson {
        person_id: id.into(),
        name: None,
        groups: vec![],
        templates: vec![t],
    }
}

/// A roster of `people` from the backend, sealed to the device its scope names (box-a for the
/// whole site).
fn sealed_roster(people: Vec<RosterPerson>, version: u64, scope: &Scope, site: &Site) -> Vec<u8> {
    let roster = Roster {
        people,
        ..Roster::default()
    };
    let to = match scope {
        Scope::Device { device, .. } => device.as_str(),
        Scope::Site(_) => "box-a",
    };
    site.roster(&roster, version, RECOGNIZER, scope, &[to])
}

fn for_device(device: &str) -> Scope {
    Scope::Device {
        site: SITE.into(),
        device: device.into(),
    }
}

fn wait_until(what: &str, timeout: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_oversized_field_from_an_unkeyed_publisher_silences_nothing() {
    let (dir, broker, backend, _site, device) = recording_scene("oversized");
    // One retained roster whose `format` is 2 MB of text, and one whose unknown field's name is.
    let huge = "A".repeat(2 << 20);
    let junk = serde_json::json!({"format": huge, "version": 1, "site": SITE, "created_at": "2026-11-30T00:00:00Z",
        "nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "AAAA"});
    let file = dir.join("junk.json");
    std::fs::write(&file, junk.to_string()).unwrap();
    attacker(
        &broker,
        &["-t", &topic("roster"), "-r", "-f", file.to_str().unwrap()],
        None,
    );
    std::fs::write(&file, format!("{{\"{huge}\": 1}}")).unwrap();
    attacker(
        &broker,
        &["-t", &topic("box-a/roster"), "-r", "-f", file.to_str().unwrap()],
        None,
    );
    std::thread::sleep(Duration::from_secs(4));
    every_event_delivered(&device, &backend, "oversized fields");
    let refusals = device.alerts("roster_rejected");
    assert_eq!(refusals.len(), 2, "one alert per message: {refusals:?}");
    for detail in &refusals {
        assert!(
            detail.len() < 400,
            "the refusal is a short summary: {} bytes",
            detail.len()
        );
        assert!(!detail.contains(
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ));
    }
    let status = device.mqtt.as_ref().unwrap().link();
    assert!(status.connected, "{status:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_junk_flood_costs_a_bounded_number_of_rows() {
    let (dir, broker, backend, _site, device) = recording_scene("flood");
    let (alerts_before, _) = device.rows();
    // 10 000 distinct messages on each of the roster and timetable topics, as fast as the broker
    // takes them: envelopes that look right but are not sealed with the key, and plain junk.
    let lines = |kind: &str| -> Vec<u8> {
        (0..10_000)
            .map(|i| {
                if i % 2 == 0 {
                    format!(
                        "{{\"format\":\"rollcall-{kind}/2\",\"version\":{i},\"site\":\"{SITE}\",\"created_at\":\"2026-11-30T00:00:00Z\",\"nonce\":\"AAAAAAAAAAAAAAAA\",\"ciphertext\":\"AAAAAAAAAAAAAAAAAAAAAA{i:08}\"}}\n"
                    )
                } else {
                    format!("junk {i}\n")
                }
            })
            .collect::<String>()
            .into_bytes()
    };
    let started = Instant::now();
    attacker(&broker, &["-t", &topic("roster"), "-l"], Some(lines("roster")));
    attacker(&broker, &["-t", &topic("timetable"), "-l"], Some(lines("timetable")));
    println!(
        "flood: 20 000 messages published in {:.1} s",
        started.elapsed().as_secs_f32()
    );
    // Let the device read them all and the gate's window close.
    std::thread::sleep(WINDOW * 3);
    every_event_delivered(&device, &backend, "junk flood");
    let (alerts_after, _) = device.rows();
    let written = alerts_after - alerts_before;
    println!("junk flood: {written} alert rows written for 20 000 junk messages");
    // Per topic, two reasons (not an envelope, not authentic), each one alert at once and one
    // summary per window: a handful, however many messages.
    assert!(written <= 12, "{written} rows");
    let rejected: Vec<String> = ["roster_rejected", "timetable_rejected"]
        .iter()
        .flat_map(|k| device.alerts(k))
        .collect();
    let summed: u64 = rejected
        .iter()
        .filter_map(|d| d.split(" more ").next()?.parse::<u64>().ok())
        .sum();
    let single = rejected.iter().filter(|d| !d.contains(" more ")).count() as u64;
    assert_eq!(summed + single, 20_000, "every refusal is accounted for: {rejected:#?}");
    // The audit trail, kept for good, never hears of junk: it is counted instead.
    let (audit, holds) = device.audit();
    assert!(holds);
    assert!(audit.is_empty(), "junk is not audited: {audit:?}");
    let store = rollcall::store::Store::open(&device.db, device.key.clone()).unwrap();
    assert_eq!(
        store.counter(rollcall::store::counters::UNAUTHENTIC_REFUSED).unwrap(),
        20_000,
        "every junk message counted"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn rosters_for_someone_else_and_old_ones_are_refused() {
    let (dir, broker, backend, site, device) = recording_scene("scope");
    let publish = |t: &str, payload: Vec<u8>| {
        let file = dir.join("payload.json");
        std::fs::write(&file, payload).unwrap();
        attacker(&broker, &["-t", &topic(t), "-r", "-f", file.to_str().unwrap()], None);
    };
    // The backend's roster for box-a, version 5: applied on first use.
    publish(
        "box-a/roster",
        sealed_roster(vec![person("ann", 0.0)], 5, &for_device("box-a"), &site),
    );
    let t = Instant::now();
    wait_until("roster 5", Duration::from_secs(10), || {
        device.gallery.current().version() == 5
    });
    println!("roster 5 applied after {:?}", t.elapsed());
    assert_eq!(device.alerts("first_use").len(), 1, "first use is said");
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "a roster for box-b on box-a's topic",
            "box-a/roster",
            sealed_roster(vec![person("bob", 1.0)], 6, &for_device("box-b"), &site),
            "sealed for device `box-b`",
        ),
        (
            "a site roster on box-a's topic",
            "box-a/roster",
            sealed_roster(vec![person("bob", 1.0)], 7, &Scope::Site(SITE.into()), &site),
            "sealed for site `test`, but arrived where device `box-a`",
        ),
        (
            "box-a's roster on the site topic",
            "roster",
            sealed_roster(vec![person("bob", 1.0)], 8, &for_device("box-a"), &site),
            "sealed for device `box-a` of site `test`, but arrived where site `test`",
        ),
        (
            "another site's roster",
            "roster",
            sealed_roster(vec![person("bob", 1.0)], 9, &Scope::Site("elsewhere".into()), &site),
            "sealed for site `elsewhere`",
        ),
        (
            "an old authentic roster",
            "box-a/roster",
            sealed_roster(vec![person("bob", 1.0)], 4, &for_device("box-a"), &site),
            "version 4 is not newer than version 5",
        ),
        (
            "a template of length 3",
            "box-a/roster",
            {
                let mut p = person("bob", 1.0);
                p.templates[0].iter_mut().for_each(|v| *v *= 3.0);
                sealed_roster(vec![p], 10, &for_device("box-a"), &site)
            },
            "has length 3.000, not 1",
        ),
    ];
    for (what, t, payload, reason) in cases {
        // Refusals for one reason on one topic within the gate's window would be summed up in
        // one alert: give each case a window of its own.
        std::thread::sleep(WINDOW + Duration::from_millis(1500));
        publish(t, payload);
        wait_until(what, Duration::from_secs(10), || {
            device.alerts("roster_rejected").iter().any(|d| d.contains(reason))
        });
        let g = device.gallery.current();
        assert_eq!((g.version(), g.people()), (5, 1), "{what}: the roster in use stays");
        println!("{what}: refused");
    }
    every_event_delivered(&device, &backend, "rosters for someone else");
    let (audit, holds) = device.audit();
    assert!(holds, "one unbroken chain");
    assert_eq!(audit[0], ("roster_applied".to_string(), "roster version 5".to_string()));
    assert_eq!(
        audit.iter().filter(|(action, _)| action == "roster_refused").count(),
        6,
        "each refusal audited: {audit:?}"
    );
    // An authentic, newer roster for another recognizer is refused, but its tombstones are the
    // backend's word: ann is deleted all the same.
    std::thread::sleep(WINDOW + Duration::from_millis(1500));
    let tombstones = Roster {
        people: Vec::new(),
        removed: vec!["ann".into()],
    };
    publish(
        "box-a/roster",
        site.roster(&tombstones, 11, "arcface-w600k-mbf", &for_device("box-a"), &["box-a"]),
    );
    wait_until("ann deleted by a tombstone", Duration::from_secs(10), || {
        device.gallery.current().people() == 0
    });
    assert!(
        device
            .alerts("roster_rejected")
            .iter()
            .any(|d| d.contains("arcface-w600k-mbf"))
    );
    let (audit, holds) = device.audit();
    assert!(holds);
    assert!(audit.contains(&("remove".to_string(), "ann".to_string())), "{audit:?}");
    // Ann is enrolled again here. The tombstones' roster is still retained on the broker, so a
    // restart delivers it again, its refusal forgotten: it deletes no one a second time.
    let mut device = device;
    {
        let mut store = rollcall::store::Store::open(&device.db, device.key.clone()).unwrap();
        let template = rollcall::vision::embed::Embedding {
            recognizer: RECOGNIZER.into(),
            vector: person("ann", 0.0).templates[0].clone(),
        };
        store
            .enroll(&rollcall::store::Enrollment {
                person_id: "ann",
                name: None,
                groups: None,
                templates: &[(template, 1.0)],
                replace: false,
            })
            .unwrap();
    }
    device.disconnect();
    device.connect(broker.port, &site);
    std::thread::sleep(WINDOW * 2);
    let store = rollcall::store::Store::open(&device.db, device.key.clone()).unwrap();
    assert!(
        store.is_enrolled("ann").unwrap(),
        "a replayed tombstone deletes no one again"
    );
    let (audit, _) = device.audit();
    let removals = audit
        .iter()
        .filter(|(action, who)| action == "remove" && who == "ann")
        .count();
    assert_eq!(removals, 1, "{audit:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_retained_roster_and_timetable_cost_nothing_on_every_reconnect_and_restart() {
    let (dir, mut broker, backend, site, mut device) = recording_scene("retained");
    backend.publish(
        &topic("roster"),
        sealed_roster(vec![person("ann", 0.0)], 3, &Scope::Site(SITE.into()), &site),
        true,
    );
    let timetable = TimetableConfig::default();
    backend.publish(
        &topic("box-a/timetable"),
        site.seal(Kind::Timetable, &timetable, 2, "", &for_device("box-a"), &["box-a"]),
        true,
    );
    wait_until("both applied", Duration::from_secs(20), || {
        device.gallery.current().version() == 3 && device.alerts("first_use").len() == 2
    });
    std::thread::sleep(WINDOW * 2);
    let (alerts, _) = device.rows();
    for round in 0..3 {
        broker.stop();
        std::thread::sleep(Duration::from_millis(300));
        broker.restart();
        let link = device
            .runtime
            .block_on(device.mqtt.as_mut().unwrap().wait_for(Duration::from_secs(15), |s| {
                s.connected && s.connects as usize >= round + 2
            }));
        assert!(link.connected, "{link:?}");
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(WINDOW * 2);
    assert_eq!(device.rows().0, alerts, "reconnects cost no alert");
    device.disconnect();
    device.connect(broker.port, &site);
    std::thread::sleep(WINDOW * 2);
    let after_restart = device.rows().0;
    assert_eq!(after_restart, alerts, "a restart costs no alert");
    assert_eq!(device.gallery.current().version(), 3);
    println!("retained roster and timetable: alerts {alerts} -> {after_restart}");
    every_event_delivered(
        &device,
        &backend,
        "retained roster and timetable through 3 reconnects and a restart",
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_roster_sealed_by_the_documented_python_backend_is_accepted() {
    let dir = testkit::scratch_dir("attack", "python");
    let broker = Broker::start("attack-python");
    let backend = backend(&broker, "python");
    let site = Site::new();
    let key_file = dir.join("backend.key");
    site.backend_seed.write_new(&key_file).unwrap();
    let device = Device::start(&dir, broker.port, &site, "box-a");
    let people: Vec<serde_json::Value> = ["ann", "bob"]
        .iter()
        .enumerate()
        .map(|(i, id)| serde_json::json!({"person_id": id, "name": null, "groups": ["7B"], "templates": person(id, i as f32).templates}))
        .collect();
    let plain = dir.join("roster.json");
    std::fs::write(&plain, serde_json::json!({ "people": people }).to_string()).unwrap();
    let example = testkit::root().join("docs/examples/backend_seal.py");
    let sealing = |d: &str| site.device(d).public().sealing;
    let (to_site, to_box): (&[&str], &[&str]) = (&["box-b", "box-a"], &["box-a"]);
    for (scope, t, version, to) in [
        (None, "roster", "7", to_site),
        (Some("box-a"), "box-a/roster", "8", to_box),
    ] {
        let mut cmd = Command::new("python3");
        cmd.arg(&example)
            .arg(&key_file)
            .arg(&plain)
            .args([version, RECOGNIZER, SITE]);
        for d in to {
            cmd.args(["--to", &sealing(d)]);
        }
        if let Some(d) = scope {
            cmd.args(["--device", d]);
        }
        let out = cmd.output().expect("python3");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        backend.publish(&topic(t), out.stdout, true);
        let want: u64 = version.parse().unwrap();
        wait_until("the Python backend's roster", Duration::from_secs(10), || {
            device.gallery.current().version() == want
        });
        assert_eq!(device.gallery.current().people(), 2);
    }
    assert!(
        device.alerts("roster_rejected").is_empty(),
        "{:?}",
        device.alerts("roster_rejected")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A box stolen and opened gives its thief the box's own key, and the site key while a site
/// migrates. Neither makes a roster another box takes, and the box opens only what was sealed to
/// it.
#[test]
fn a_stolen_boxs_keys_forge_nothing_for_another_box_and_open_nothing_sealed_to_it() {
    let (dir, broker, backend, site, box_a) = recording_scene("stolen");
    let box_b = Device::start(&dir, broker.port, &site, "box-b");
    let publish = |t: &str, payload: Vec<u8>| {
        let file = dir.join("payload.json");
        std::fs::write(&file, payload).unwrap();
        attacker(&broker, &["-t", &topic(t), "-r", "-f", file.to_str().unwrap()], None);
    };
    // The backend's roster for the site, sealed to box-a alone: box-a takes it, box-b cannot
    // open it and says why.
    let ann = Roster {
        people: vec![person("ann", 0.0)],
        ..Roster::default()
    };
    publish(
        "roster",
        site.roster(&ann, 5, RECOGNIZER, &Scope::Site(SITE.into()), &["box-a"]),
    );
    wait_until("box-a's roster", Duration::from_secs(10), || {
        box_a.gallery.current().version() == 5
    });
    let b_key = site.device("box-b").public().sealing;
    wait_until("box-b's refusal", Duration::from_secs(10), || {
        box_b
            .alerts("roster_rejected")
            .iter()
            .any(|d| d.contains("not sealed to this device's key") && d.contains(&b_key))
    });
    assert_eq!(box_b.gallery.current().version(), 0);

    // The thief signs with box-a's own key (its seed is an Ed25519 key too), seals to box-b, and
    // publishes on box-b's topic as the broker lets anyone: a roster with an impostor, and one
    // whose tombstones would delete everyone.
    let stolen = rollcall::keys::SigningKey::from_seed(&{
        let file = dir.join("stolen.key");
        site.write_device_key("box-a", &file);
        Key::from_file(&file).unwrap()
    });
    let to_b = [site.device("box-b").sealing_key().clone()];
    let forged = rollcall::sync::roster::seal(
        &Roster {
            people: vec![person("impostor", 3.0)],
            removed: vec!["ann".into()],
        },
        9,
        RECOGNIZER,
        &for_device("box-b"),
        rollcall::sync::roster::Sealer::Signed { by: &stolen, to: &to_b },
    );
    publish("box-b/roster", serde_json::to_vec(&forged).unwrap());
    // The backend's genuine roster with its signature altered.
    let genuine = site.roster(&ann, 6, RECOGNIZER, &for_device("box-b"), &["box-b"]);
    let mut tampered: serde_json::Value = serde_json::from_slice(&genuine).unwrap();
    let signature = tampered["signature"].as_str().unwrap().to_string();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    tampered["signature"] = format!("{flipped}{}", &signature[1..]).into();
    std::thread::sleep(WINDOW + Duration::from_millis(500));
    publish("box-b/roster", serde_json::to_vec(&tampered).unwrap());
    // And a site-key roster, which box-b, not migrating, takes from no one.
    std::thread::sleep(WINDOW + Duration::from_millis(500));
    let site_key = Key::generate();
    let old = rollcall::sync::roster::seal(
        &ann,
        7,
        RECOGNIZER,
        &for_device("box-b"),
        rollcall::sync::roster::Sealer::SiteKey(&site_key),
    );
    publish("box-b/roster", serde_json::to_vec(&old).unwrap());
    wait_until("box-b's refusals", Duration::from_secs(10), || {
        let alerts = box_b.alerts("roster_rejected");
        alerts.iter().filter(|d| d.contains("does not authenticate")).count() >= 2
            && alerts.iter().any(|d| d.contains("site key"))
    });
    assert_eq!(box_b.gallery.current().version(), 0, "nothing forged was applied");
    // The genuine roster, untampered, is taken: box-b was never broken, only refusing.
    std::thread::sleep(WINDOW + Duration::from_millis(500));
    publish("box-b/roster", genuine);
    wait_until("box-b's genuine roster", Duration::from_secs(10), || {
        box_b.gallery.current().version() == 6
    });
    assert_eq!(box_a.gallery.current().people(), 1, "box-a still has ann");
    every_event_delivered(&box_a, &backend, "a stolen box's keys");
    std::fs::remove_dir_all(dir).unwrap();
}
