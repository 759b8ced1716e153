//! The broker topologies of docs/deploy.md on real mosquitto processes: the ACL of
//! config/brokers/rollcall.acl keeps each device to its own topics, and an edge broker bridged to
//! a central one (as config/brokers/edge.conf) carries every event of two devices through an
//! outage of the central broker.

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::broker::{Broker, Subscriber};
use rollcall::store::{Key, Outbox, Store};
use rollcall::sync::mqtt::{Mqtt, MqttSettings};
use rollcall::sync::status::StatusBoard;

const SITE: &str = "hillside";

fn topic(rest: &str) -> String {
    format!("rollcall/v1/{SITE}/{rest}")
}

/// `mosquitto_pub` as `user`, QoS 1.
fn publish_as(port: u16, user: &str, topic: &str, payload: &str, retain: bool) {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-u",
        user,
        "-P",
        &format!("{user}-pw"),
    ])
    .args(["-q", "1", "-t", topic, "-m", payload]);
    if retain {
        cmd.arg("-r");
    }
    let out = cmd.output().expect("mosquitto_pub (scripts/setup.sh --test-extras)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// What `user` receives on `filter` within `seconds` (retained messages included).
fn read_as(port: u16, user: &str, filter: &str, seconds: u32) -> Vec<String> {
    let out = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            user,
            "-P",
            &format!("{user}-pw"),
        ])
        .args(["-t", filter, "-v", "-W", &seconds.to_string()])
        .stderr(Stdio::null())
        .output()
        .expect("mosquitto_sub");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn each_device_publishes_only_as_itself_and_never_a_roster() {
    let dir = common::scratch_dir("topology", "acl");
    let passwd = dir.join("rollcall.passwd");
    for (i, user) in ["box-a", "box-b", "backend"].iter().enumerate() {
        let mut cmd = Command::new("mosquitto_passwd");
        if i == 0 {
            cmd.arg("-c");
        }
        let ok = cmd
            .arg("-b")
            .arg(&passwd)
            .arg(user)
            .arg(format!("{user}-pw"))
            .status()
            .unwrap();
        assert!(ok.success());
    }
    std::fs::set_permissions(&passwd, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let acl = common::root().join("config/brokers/rollcall.acl");
    let broker = Broker::start_with(
        "acl",
        &format!("password_file {}\nacl_file {}\n", passwd.display(), acl.display()),
    );
    let port = broker.port;
    // The backend listens to every device's events while box-a tries its luck.
    let backend = std::thread::spawn(move || read_as(port, "backend", "rollcall/v1/+/+/#", 4));
    std::thread::sleep(Duration::from_millis(800));
    publish_as(port, "box-a", &topic("box-a/attendance"), "from a, as a", false);
    publish_as(port, "box-a", &topic("box-b/attendance"), "from a, as b", false);
    publish_as(port, "box-a", &topic("box-a/roster"), "a roster from a", true);
    publish_as(port, "box-a", &topic("roster"), "a site roster from a", true);
    let seen = backend.join().unwrap();
    assert_eq!(
        seen,
        vec![format!("{} from a, as a", topic("box-a/attendance"))],
        "{seen:?}"
    );
    // No roster from box-a was kept; the backend's is, and only its device reads it.
    publish_as(port, "backend", &topic("box-a/roster"), "the backend's roster", true);
    assert_eq!(
        read_as(port, "box-a", &topic("+/roster"), 1),
        vec![format!("{} the backend's roster", topic("box-a/roster"))]
    );
    assert!(
        read_as(port, "box-b", &topic("box-a/roster"), 1).is_empty(),
        "box-b cannot read box-a's roster"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A device of the test: its store, outbox and MQTT link to `port`.
struct Device {
    store: Store,
    mqtt: Option<Mqtt>,
}

fn device(dir: &std::path::Path, name: &str, port: u16, runtime: &tokio::runtime::Runtime) -> Device {
    let db = dir.join(format!("{name}.db"));
    let store = Store::open(&db, Key::generate()).unwrap();
    let outbox = Outbox::open(&db).unwrap();
    let settings = MqttSettings::new(&common::broker::device_config(port), name, SITE).unwrap();
    let mqtt = runtime.block_on(async { Mqtt::spawn(settings, outbox, StatusBoard::new(name), None).unwrap() });
    Device {
        store,
        mqtt: Some(mqtt),
    }
}

#[test]
fn two_devices_through_an_edge_bridge_lose_nothing_when_the_central_broker_goes_away() {
    let dir = common::scratch_dir("topology", "bridge");
    let mut central = Broker::start("central");
    let bridge = format!(
        "connection central\naddress 127.0.0.1:{}\nremote_clientid edge-{SITE}\ncleansession false\n\
         bridge_protocol_version mqttv311\nrestart_timeout 1 2\n\
         topic rollcall/v1/{SITE}/+/attendance out 1\ntopic rollcall/v1/{SITE}/+/alert out 1\n\
         topic rollcall/v1/{SITE}/+/audit out 1\n",
        central.port
    );
    let edge = Broker::start_with("edge", &bridge);
    let backend = Subscriber::start(central.port, "backend-central", &[&topic("+/attendance")], true);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut devices = [
        device(&dir, "box-a", edge.port, &runtime),
        device(&dir, "box-b", edge.port, &runtime),
    ];

    let mut produced = HashSet::new();
    let mut record = |devices: &[Device], round: usize| {
        for (d, name) in devices.iter().zip(["box-a", "box-b"]) {
            let event = common::events::attendance(&format!("p{round}"), name);
            d.store.record_attendance(&event, &format!("once-{round}")).unwrap();
            produced.insert(event.event_id);
        }
    };
    for round in 0..50 {
        record(&devices, round);
        std::thread::sleep(Duration::from_millis(20));
    }
    // The central broker goes away mid-run; the devices go on recording through the edge.
    central.stop();
    for round in 50..150 {
        record(&devices, round);
        std::thread::sleep(Duration::from_millis(20));
    }
    central.restart();
    let back = Instant::now();
    let delivered = |m: &[common::broker::Message]| -> HashSet<String> {
        m.iter()
            .filter_map(|(_, p, _)| serde_json::from_slice::<serde_json::Value>(p).ok())
            .filter_map(|e| e["event_id"].as_str().map(str::to_string))
            .collect()
    };
    let got = backend.wait_for(Duration::from_secs(60), |m| delivered(m).is_superset(&produced));
    let caught_up = back.elapsed();
    let missing = produced.difference(&delivered(&got)).count();
    println!(
        "bridge: {} events produced by 2 devices, {} delivered to the central subscriber, caught up {:.1} s after the central broker came back",
        produced.len(),
        produced.len() - missing,
        caught_up.as_secs_f32()
    );
    assert_eq!(missing, 0, "every event of both devices reaches the central broker");
    for d in &mut devices {
        if let Some(m) = d.mqtt.take() {
            runtime.block_on(m.shutdown());
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
