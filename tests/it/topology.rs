//! The broker topologies of docs/deploy.md on real mosquitto processes: the ACL of
//! config/brokers/rollcall.acl keeps each device to its own topics, and an edge broker bridged to
//! a central one (config/brokers/edge.conf's bridge) carries every event of two daemons through an
//! outage of the central broker, and backend consumers sharing a subscription split the events
//! between them, each event to one.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rollcall::config::MqttConfig;
use rollcall::store::{Key, Outbox, Store};
use rollcall::sync::mqtt::{Mqtt, MqttSettings};
use rollcall::sync::status::StatusBoard;
use testkit::broker::{Broker, Subscriber};
use testkit::demo::{Running, demo_edited};

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

/// A mosquitto password file in `dir` in which each of `users` has the password "{user}-pw".
fn passwords(dir: &Path, users: &[&str]) -> PathBuf {
    let passwd = dir.join("rollcall.passwd");
    for (i, user) in users.iter().enumerate() {
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
            .expect("mosquitto_passwd (scripts/setup.sh --test-extras)");
        assert!(ok.success());
    }
    // mosquitto, started as root, reads it as its own user.
    std::fs::set_permissions(&passwd, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    passwd
}

/// The broker lines that log users in with `passwd` and hold them to config/brokers/rollcall.acl.
fn with_acl(passwd: &Path) -> String {
    let acl = testkit::root().join("config/brokers/rollcall.acl");
    format!("password_file {}\nacl_file {}\n", passwd.display(), acl.display())
}

#[test]
fn each_device_publishes_only_as_itself_and_never_a_roster() {
    let dir = testkit::scratch_dir("topology", "acl");
    let passwd = passwords(&dir, &["box-a", "box-b", "backend"]);
    let broker = Broker::start_with("acl", &with_acl(&passwd));
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

fn device(dir: &Path, name: &str, port: u16, runtime: &tokio::runtime::Runtime) -> Device {
    device_with(dir, name, &testkit::broker::device_config(port), runtime)
}

/// [`device`] with its own `[mqtt]`.
fn device_with(dir: &Path, name: &str, mqtt: &MqttConfig, runtime: &tokio::runtime::Runtime) -> Device {
    let db = dir.join(format!("{name}.db"));
    let store = Store::open(&db, Key::generate()).unwrap();
    let outbox = Outbox::open(&db).unwrap();
    let settings = MqttSettings::new(mqtt, name, SITE).unwrap();
    let mqtt = runtime.block_on(async { Mqtt::spawn(settings, outbox, StatusBoard::new(name), None).unwrap() });
    Device {
        store,
        mqtt: Some(mqtt),
    }
}

#[test]
fn two_devices_through_an_edge_bridge_lose_nothing_when_the_central_broker_goes_away() {
    let dir = testkit::scratch_dir("topology", "bridge");
    let mut central = Broker::start("central");
    let edge = Broker::start_with("edge", &edge_bridge_to(central.port));
    let backend = Subscriber::start(central.port, "backend-central", &[&topic("+/attendance")], true);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut devices = [
        device(&dir, "box-a", edge.port, &runtime),
        device(&dir, "box-b", edge.port, &runtime),
    ];

    let mut produced = HashSet::new();
    let mut record = |devices: &[Device], round: usize| {
        for (d, name) in devices.iter().zip(["box-a", "box-b"]) {
            let event = testkit::events::attendance(&format!("p{round}"), name);
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
    let delivered = |m: &[testkit::broker::Message]| -> HashSet<String> {
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

/// The bridge section of config/brokers/edge.conf as shipped, pointed at the central broker on
/// `port` and quicker to retry than production needs.
fn edge_bridge_to(port: u16) -> String {
    let shipped = std::fs::read_to_string(testkit::root().join("config/brokers/edge.conf")).unwrap();
    let bridge = &shipped[shipped.find("connection central").expect("edge.conf has a bridge")..];
    let mut lines: Vec<String> = bridge
        .lines()
        .map(|l| match l.split_whitespace().next() {
            Some("address") => format!("address 127.0.0.1:{port}"),
            Some("restart_timeout") => "restart_timeout 1 2".into(),
            _ => l.to_string(),
        })
        .collect();
    lines.push(String::new());
    lines.join("\n")
}

/// The event ids of the attendance events, alerts and audit records in `messages`, by device.
fn events_by_device(messages: &[testkit::broker::Message]) -> HashMap<String, HashSet<String>> {
    let mut events: HashMap<String, HashSet<String>> = HashMap::new();
    for (t, p, _) in messages {
        let parts: Vec<&str> = t.split('/').collect();
        let [_, _, _, device, "attendance" | "alert" | "audit"] = parts[..] else {
            continue;
        };
        let id = serde_json::from_slice::<serde_json::Value>(p)
            .ok()
            .and_then(|e| e["event_id"].as_str().map(str::to_string));
        events.entry(device.to_string()).or_default().extend(id);
    }
    events
}

/// How many of `wanted`'s events `got` lacks.
fn missing(wanted: &HashMap<String, HashSet<String>>, got: &HashMap<String, HashSet<String>>) -> usize {
    wanted
        .iter()
        .map(|(device, ids)| got.get(device).map_or(ids.len(), |g| ids.difference(g).count()))
        .sum()
}

/// The demo daemon as `name` of site hillside, logged in to the edge broker on `port` as itself.
fn demo_box(dir: &Path, name: &str, port: u16) -> Running {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let password = dir.join("mqtt.password");
    std::fs::write(&password, format!("{name}-pw")).unwrap();
    std::fs::set_permissions(&password, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = demo_edited(&dir, |config| {
        let device = config["device"].as_table_mut().unwrap();
        device.insert("id".into(), name.into());
        device.insert("site".into(), SITE.into());
        let mqtt = format!(
            "host = \"127.0.0.1\"\nport = {port}\nusername = \"{name}\"\npassword_file = {:?}\n\
             allow_plaintext_password = true\nstatus_interval_s = 2\naccept_roster = false\n\
             reconnect_max_s = 1.0",
            password.to_string_lossy()
        );
        config.insert("mqtt".into(), mqtt.parse::<toml::Table>().unwrap().into());
    });
    Running(
        Command::new(testkit::rollcall_exe())
            .arg("--config")
            .arg(&config)
            .args(["--log", "error", "run"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn two_daemons_through_an_edge_bridge_deliver_every_event_across_a_central_outage() {
    let dir = testkit::scratch_dir("topology", "daemons");
    let passwd = passwords(&dir, &["box-a", "box-b", "backend"]);
    let mut central = Broker::start("central-daemons");
    let filters: Vec<String> = ["attendance", "alert", "audit", "status"]
        .iter()
        .map(|kind| topic(&format!("+/{kind}")))
        .collect();
    let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
    let backend = Subscriber::start(central.port, "backend-central", &filters, true);
    let edge = Broker::start_with("edge-daemons", &(with_acl(&passwd) + &edge_bridge_to(central.port)));
    // What reached the edge: the school's own copy, read as the backend user the ACL allows.
    let at_edge = Subscriber::start_as(
        edge.port,
        "backend-edge",
        Some(("backend", "backend-pw")),
        &filters,
        true,
    );
    let mut daemons = [demo_box(&dir, "box-a", edge.port), demo_box(&dir, "box-b", edge.port)];

    let online = backend.wait_for(Duration::from_secs(90), |m| {
        ["box-a", "box-b"]
            .iter()
            .all(|d| m.iter().any(|(t, _, _)| *t == topic(&format!("{d}/status"))))
    });
    assert!(
        ["box-a", "box-b"]
            .iter()
            .all(|d| online.iter().any(|(t, _, _)| *t == topic(&format!("{d}/status")))),
        "both daemons' status reached the central broker through the edge"
    );
    // The central broker goes away while the daemons take the register.
    central.stop();
    let before_outage = events_by_device(&online);
    let attendance_of = |m: &[testkit::broker::Message], device: &str| {
        m.iter()
            .filter(|(t, _, _)| *t == topic(&format!("{device}/attendance")))
            .count()
    };
    let during = at_edge.wait_for(Duration::from_secs(180), |m| {
        ["box-a", "box-b"].iter().all(|d| attendance_of(m, d) >= 5)
    });
    assert!(
        ["box-a", "box-b"].iter().all(|d| attendance_of(&during, d) >= 5),
        "both daemons took the register during the outage"
    );
    let produced = events_by_device(&during);
    let in_outage = missing(&produced, &before_outage);
    central.restart();
    let back = Instant::now();
    let got = backend.wait_for(Duration::from_secs(60), |m| {
        missing(&produced, &events_by_device(m)) == 0
    });
    let caught_up = back.elapsed();
    assert_eq!(
        missing(&produced, &events_by_device(&got)),
        0,
        "every event of both daemons reaches the central broker"
    );

    // Stopped, the daemons have published everything; the central broker holds all of it.
    for d in &mut daemons {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(d.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
        assert!(d.0.wait().unwrap().success());
    }
    let all = events_by_device(&at_edge.wait_for(Duration::from_secs(3), |_| false));
    let got = backend.wait_for(Duration::from_secs(30), |m| missing(&all, &events_by_device(m)) == 0);
    let total: usize = all.values().map(HashSet::len).sum();
    println!(
        "bridge, two daemons: {total} events (attendance, alerts, audit) produced, {} delivered to the central subscriber; \
         {in_outage} produced during the outage, caught up {:.1} s after the central broker came back",
        total - missing(&all, &events_by_device(&got)),
        caught_up.as_secs_f32()
    );
    assert_eq!(missing(&all, &events_by_device(&got)), 0);
    assert!(
        in_outage >= 10,
        "the register was taken during the outage: {in_outage} events"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn backend_consumers_sharing_a_subscription_get_each_event_once() {
    let dir = testkit::scratch_dir("topology", "shared");
    let passwd = passwords(&dir, &["box-a", "backend"]);
    let broker = Broker::start_with("shared", &with_acl(&passwd));
    let filter = format!("$share/backend/{}", topic("+/attendance"));
    let consumers: Vec<Subscriber> = (0..2)
        .map(|i| {
            let id = format!("backend-{i}");
            Subscriber::start_as(broker.port, &id, Some(("backend", "backend-pw")), &[&filter], true)
        })
        .collect();
    let password = dir.join("box-a.password");
    std::fs::write(&password, "box-a-pw").unwrap();
    std::fs::set_permissions(&password, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mqtt = MqttConfig {
        username: Some("box-a".into()),
        password_file: Some(password),
        allow_plaintext_password: true,
        ..testkit::broker::device_config(broker.port)
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut d = device_with(&dir, "box-a", &mqtt, &runtime);
    let produced: HashSet<String> = (0..200)
        .map(|i| {
            let event = testkit::events::attendance(&format!("p{i}"), "box-a");
            d.store.record_attendance(&event, &format!("once-{i}")).unwrap();
            event.event_id
        })
        .collect();

    let received = |c: &Subscriber| -> Vec<String> {
        events_by_device(&c.messages())
            .remove("box-a")
            .unwrap_or_default()
            .into_iter()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while consumers.iter().map(|c| received(c).len()).sum::<usize>() < produced.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let [first, second] = [received(&consumers[0]), received(&consumers[1])];
    let twice = first.iter().filter(|id| second.contains(id)).count();
    let union: HashSet<String> = first.iter().chain(&second).cloned().collect();
    println!(
        "shared subscription: {} events, consumer 1 got {}, consumer 2 got {}, {twice} to both",
        produced.len(),
        first.len(),
        second.len()
    );
    assert_eq!(union, produced, "the group gets every event");
    assert_eq!(twice, 0, "each event goes to one consumer of the group");
    assert!(!first.is_empty() && !second.is_empty(), "both consumers share the load");
    if let Some(m) = d.mqtt.take() {
        runtime.block_on(m.shutdown());
    }
    std::fs::remove_dir_all(dir).unwrap();
}
