//! `rollcall run` end to end on the demo config (`config/demo.toml`, with its roster and its
//! camera video made from the shared photos), a broker started by the test: attendance arrives
//! over MQTT, SIGHUP reloads the cameras, and SIGTERM stops the daemon cleanly with the device
//! reported offline.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::broker::{Broker, Subscriber};
use testkit::demo::{Running, demo_in, lines_of};

/// The five students of the demo roster.
const STUDENTS: [&str; 5] = ["alex", "biden", "kit", "obama", "rose"];

#[test]
fn the_demo_publishes_attendance_and_stops_cleanly_on_sigterm() {
    let dir = testkit::scratch_dir("daemon", "run");
    let broker = Broker::start("daemon");
    let backend = Subscriber::start(broker.port, "backend-daemon", &["rollcall/v1/demo/#"], true);
    let config = demo_in(&dir, Some(broker.port));
    let rollcall = testkit::rollcall_exe();

    let mut daemon = Running(
        Command::new(&rollcall)
            .arg("--config")
            .arg(&config)
            .args(["--log", "error", "run", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let printed = lines_of(daemon.0.stdout.take().unwrap());
    let attendance_of = |m: &[testkit::broker::Message]| -> Vec<serde_json::Value> {
        m.iter()
            .filter(|(t, _, _)| t == "rollcall/v1/demo/demo/attendance")
            .map(|(_, p, _)| serde_json::from_slice(p).unwrap())
            .collect()
    };
    // One pass of the video is 24 s; everyone is in the first.
    let arrived = backend.wait_for(Duration::from_secs(120), |m| attendance_of(m).len() >= STUDENTS.len());
    let attendance = attendance_of(&arrived);
    let mut people: Vec<&str> = attendance.iter().map(|e| e["person_id"].as_str().unwrap()).collect();
    people.sort();
    assert_eq!(people, STUDENTS, "each student once, no one else: {attendance:#?}");
    assert!(
        attendance
            .iter()
            .all(|e| e["session_id"].as_str().unwrap().starts_with("DEMO@") && e["status"] == "present"),
        "{attendance:#?}"
    );
    // The photos of photos raise alerts, and nothing else does.
    let alerts = backend.wait_for(Duration::from_secs(30), |m| {
        m.iter().filter(|(t, _, _)| t.ends_with("/alert")).count() >= 2
    });
    let alerts: Vec<serde_json::Value> = alerts
        .iter()
        .filter(|(t, _, _)| t.ends_with("/alert"))
        .map(|(_, p, _)| serde_json::from_slice(p).unwrap())
        .collect();
    assert!(
        alerts.len() >= 2 && alerts.iter().all(|a| a["kind"] == "spoof"),
        "{alerts:#?}"
    );
    // The audit trail went out too: the five enrolled before the start, then the start's settings.
    let audit: Vec<serde_json::Value> = arrived
        .iter()
        .filter(|(t, _, _)| t == "rollcall/v1/demo/demo/audit")
        .map(|(_, p, _)| serde_json::from_slice(p).unwrap())
        .collect();
    let actions: Vec<&str> = audit.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["enroll"; 5]
            .iter()
            .copied()
            .chain(["settings_changed"])
            .collect::<Vec<_>>(),
        "{audit:#?}"
    );
    assert!(
        audit.windows(2).all(|w| w[1]["prev_hash"] == w[0]["hash"]),
        "one chain: {audit:#?}"
    );
    let status = arrived
        .iter()
        .rev()
        .find(|(t, _, _)| t.ends_with("/status"))
        .map(|(_, p, _)| serde_json::from_slice::<serde_json::Value>(p).unwrap())
        .expect("a status");
    assert_eq!(status["state"], "online");
    assert_eq!(status["roster"]["people"], 5, "{status}");
    assert_eq!(
        status["models"][0],
        serde_json::json!({"model": "yunet-s", "provider": "cpu", "precision": "fp32"}),
        "{status}"
    );
    let camera = &status["cameras"]["classroom"];
    assert!(camera["state"].is_string() && camera["lag_ms"].is_u64(), "{status}");
    // What it printed is what it published. A decision reaches the outbox inside the frame's
    // analysis, and the printout only when that frame is done: the broker may be first.
    let mut printed_ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while printed_ids.len() < STUDENTS.len() {
        let Ok(line) = printed.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            break;
        };
        let decision: serde_json::Value = serde_json::from_str(&line).unwrap();
        if decision.get("person_id").is_some() {
            printed_ids.push(decision["event_id"].as_str().unwrap().to_string());
        }
    }
    let mut published_ids: Vec<String> = attendance
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().into())
        .collect();
    printed_ids.sort();
    published_ids.sort();
    assert_eq!(printed_ids, published_ids);

    // `rollcall status` reads the running daemon's state.
    let status = Command::new(&rollcall)
        .arg("--config")
        .arg(&config)
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("running on demo") && text.contains("camera classroom"),
        "{text}"
    );
    assert!(text.contains("roster: version 0, 5 people"), "{text}");
    assert!(
        text.contains("models: yunet-s fp32 on cpu, sface-2021dec fp32 on cpu"),
        "{text}"
    );

    let asked = Instant::now();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let exit = daemon.0.wait().unwrap();
    let took = asked.elapsed();
    assert!(exit.success(), "exit status {exit:?}");
    assert!(took < Duration::from_secs(8), "stopping took {took:?}");
    let after = backend.wait_for(Duration::from_secs(5), |m| {
        m.last()
            .is_some_and(|(t, p, _)| t.ends_with("/status") && String::from_utf8_lossy(p).contains("\"offline\""))
    });
    assert!(
        after
            .last()
            .is_some_and(|(t, p, _)| t.ends_with("/status") && String::from_utf8_lossy(p).contains("\"offline\"")),
        "offline status after SIGTERM"
    );
    println!(
        "stopped in {:.1} s after SIGTERM; offline published",
        took.as_secs_f32()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Waits until the daemon's status file lists exactly `cameras`.
fn wait_for_cameras(status: &std::path::Path, cameras: &[&str]) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = std::fs::read(status)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        {
            let mut ids: Vec<&str> = s["cameras"]
                .as_object()
                .map(|m| m.keys().map(|k| k.as_str()).collect())
                .unwrap_or_default();
            ids.sort();
            if ids == cameras {
                return s;
            }
        }
        assert!(Instant::now() < deadline, "the status never listed {cameras:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sighup_reloads_the_cameras_and_refuses_a_broken_config() {
    let dir = testkit::scratch_dir("daemon", "reload");
    let config = demo_in(&dir, None);
    let base = std::fs::read_to_string(&config).unwrap();
    let clip = testkit::shared().join("videos/short_hamilton_clip.mp4");
    let rollcall = testkit::rollcall_exe();
    let mut daemon = Running(
        Command::new(&rollcall)
            .arg("--config")
            .arg(&config)
            .args(["--log", "rollcall::daemon=info", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let logged = lines_of(daemon.0.stderr.take().unwrap());
    let wait_log = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Ok(line) = logged.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("the daemon never logged {needle:?}");
    };
    let status = dir.join("rollcall.db.status.json");
    wait_for_cameras(&status, &["classroom"]);
    let hup = |pid: u32| {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) }, 0);
    };

    // A second camera: the first keeps streaming, the second starts.
    std::fs::write(
        &config,
        format!(
            "{base}[[cameras]]\nid = \"door\"\nkind = \"uri\"\nuri = {clip:?}\nloop = true\nroom = \"demo-room\"\n"
        ),
    )
    .unwrap();
    hup(daemon.0.id());
    let line = wait_log("config reloaded");
    assert!(
        line.contains(r#"kept=["classroom"]"#) && line.contains(r#"started=["door"]"#),
        "{line}"
    );
    wait_for_cameras(&status, &["classroom", "door"]);

    // A broken config is refused; both cameras go on.
    std::fs::write(
        &config,
        format!("{base}[[cameras]]\nid = \"classroom\"\nkind = \"usb\"\n"),
    )
    .unwrap();
    hup(daemon.0.id());
    let line = wait_log("config not reloaded");
    assert!(line.contains("rollcall.toml"), "the refusal names the file: {line}");
    std::thread::sleep(Duration::from_secs(2));
    wait_for_cameras(&status, &["classroom", "door"]);

    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    assert!(daemon.0.wait().unwrap().success());
    assert!(!status.exists(), "a stopped daemon leaves no status file behind");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `GET path` from the daemon's metrics endpoint: the status code and the body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// The value of the series `name` (labels included, as printed) in a scrape, 0 when absent.
fn series(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn metrics_move_during_the_demo_and_health_follows_the_broker() {
    let dir = testkit::scratch_dir("daemon", "metrics");
    let mut broker = Broker::start("daemon-metrics");
    let config = demo_in(&dir, Some(broker.port));
    let port = testkit::rtsp::free_port();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n")).unwrap();
    let mut daemon = Running(
        Command::new(testkit::rollcall_exe())
            .arg("--config")
            .arg(&config)
            .args(["--log", "error", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let wait_health = |code: u16| -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((c, body)) = http_get(port, "/healthz")
                && c == code
            {
                return serde_json::from_str(&body).unwrap();
            }
            assert!(Instant::now() < deadline, "/healthz never answered {code}");
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let healthy = wait_health(200);
    assert_eq!(healthy["status"], "ok");
    assert_eq!(healthy["broker"], "connected");
    assert_eq!(healthy["cameras"]["classroom"], "streaming");

    let (code, first) = http_get(port, "/metrics").unwrap();
    assert_eq!(code, 200);
    // Once everyone is marked the figures have moved: frames analysed, decisions, model time.
    let deadline = Instant::now() + Duration::from_secs(90);
    let later = loop {
        let started = Instant::now();
        let (_, now) = http_get(port, "/metrics").unwrap();
        let took = started.elapsed();
        if series(&now, "rollcall_decisions_total{outcome=\"attendance\"}") >= STUDENTS.len() as f64 {
            println!("scrape: {} bytes in {:.1} ms", now.len(), took.as_secs_f64() * 1000.0);
            break now;
        }
        assert!(Instant::now() < deadline, "attendance never counted:\n{now}");
        std::thread::sleep(Duration::from_secs(1));
    };
    let analysed = "rollcall_camera_frames_analysed_total{camera=\"classroom\"}";
    assert!(series(&later, analysed) > series(&first, analysed), "{later}");
    let detect = "rollcall_model_stage_seconds_count{stage=\"detect\"}";
    assert!(series(&later, detect) > series(&first, detect), "{later}");
    assert!(
        series(&later, "rollcall_alerts_total{kind=\"spoof\"}") >= 1.0,
        "the demo's photos of photos: {later}"
    );
    assert_eq!(
        series(
            &later,
            "rollcall_camera_state{camera=\"classroom\",state=\"streaming\"}"
        ),
        1.0
    );
    assert_eq!(series(&later, "rollcall_roster_people"), 5.0);
    assert_eq!(series(&later, "rollcall_broker_connected"), 1.0);
    assert!(
        series(&later, "rollcall_outbox_delivered_total") >= STUDENTS.len() as f64,
        "{later}"
    );
    assert!(
        series(&later, "rollcall_process_resident_memory_bytes") > 50e6,
        "{later}"
    );
    // Prometheus's own checker takes the format.
    let scrape = dir.join("scrape.txt");
    std::fs::write(&scrape, &later).unwrap();
    let checked = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&scrape).unwrap())
        .output()
        .expect("promtool (Debian's prometheus package; scripts/setup.sh --test-extras installs it)");
    assert!(
        checked.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // Every metric the documented alert rules and dashboard use is there.
    let documented = testkit::metric_names(
        &(testkit::doc_block("docs/operations.md", "yaml", "groups:")
            + &testkit::doc_block("docs/operations.md", "json", "\"panels\"")),
    );
    for name in &documented {
        assert!(
            later.contains(&format!("\n{name}")),
            "docs/operations.md uses {name}, which is not exported:\n{later}"
        );
    }

    // The broker goes away: degraded, and it says why.
    broker.stop();
    let degraded = wait_health(503);
    assert_eq!(degraded["broker"], "disconnected", "{degraded}");
    assert!(
        degraded["problems"][0].as_str().unwrap().contains("broker"),
        "{degraded}"
    );
    let (code, _) = http_get(port, "/nothing").unwrap();
    assert_eq!(code, 404);

    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    assert!(daemon.0.wait().unwrap().success());
    std::fs::remove_dir_all(dir).unwrap();
}

/// `rollcall run` on `config`, logging at `info` as text: the daemon, and its log lines as they
/// come.
fn run_logging_info(config: &std::path::Path) -> (Running, std::sync::mpsc::Receiver<String>) {
    let mut daemon = Running(
        Command::new(testkit::rollcall_exe())
            .arg("--config")
            .arg(config)
            .args(["--log", "info", "--log-format", "text", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let logged = lines_of(daemon.0.stderr.take().unwrap());
    (daemon, logged)
}

/// 5000 junk messages on the roster topic of a running daemon, from a client without the site
/// key (half of them shaped like envelopes): each is refused and counted, but the journal hears
/// of them a few times, not 5000, and the audit trail, kept for good, not at all. Before, each
/// refusal wrote a warning (5000 lines), and each refusal alert an audit record.
#[test]
fn a_junk_flood_at_a_running_daemon_costs_a_few_log_lines_and_no_audit_record() {
    const JUNK: usize = 5000;
    let dir = testkit::scratch_dir("daemon", "junk");
    let broker = Broker::start("daemon-junk");
    let backend = Subscriber::start(broker.port, "backend-junk", &["rollcall/v1/demo/demo/status"], true);
    let site = testkit::keys::Site::new();
    let config = testkit::demo::demo_edited(&dir, |config| {
        let mqtt = format!(
            "host = \"127.0.0.1\"\nport = {}\nstatus_interval_s = 1\naccept_roster = true\nroster_verify_key = \"{}\"",
            broker.port,
            site.backend().verify_key()
        );
        config.insert("mqtt".into(), mqtt.parse::<toml::Table>().unwrap().into());
    });
    let (mut daemon, logged) = run_logging_info(&config);
    let status = |m: &[testkit::broker::Message]| -> Option<serde_json::Value> {
        m.iter()
            .rev()
            .filter_map(|(_, p, _)| serde_json::from_slice::<serde_json::Value>(p).ok())
            .find(|s| s["state"] == "online")
    };
    let online = backend.wait_for(Duration::from_secs(60), |m| status(m).is_some());
    let keys = &status(&online).unwrap()["keys"];
    let made = rollcall::keys::DeviceKey::from_seed(&rollcall::store::Key::from_file(&dir.join("device.key")).unwrap());
    assert_eq!(
        (keys["sealing"].as_str(), keys["signing"].as_str()),
        (
            Some(made.public().sealing.as_str()),
            Some(made.public().signing.as_str())
        ),
        "the device made its own key pair beside its store on first start, and says its public keys"
    );

    let junk: String = (0..JUNK)
        .map(|i| {
            if i % 2 == 0 {
                format!(
                    "{{\"format\":\"rollcall-roster/3\",\"version\":{i},\"site\":\"demo\",\"created_at\":\"2026-12-05T00:00:00Z\",\"nonce\":\"AAAAAAAAAAAAAAAA\",\"ciphertext\":\"AAAAAAAAAAAAAAAAAAAAAA{i:08}\",\"signature\":\"{i:088}\"}}\n"
                )
            } else {
                format!("junk {i}\n")
            }
        })
        .collect();
    let mut publisher = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port.to_string(),
            "-t",
            "rollcall/v1/demo/roster",
            "-l",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    publisher.stdin.take().unwrap().write_all(junk.as_bytes()).unwrap();
    assert!(publisher.wait().unwrap().success());
    let counted = |m: &[testkit::broker::Message]| {
        status(m)
            .and_then(|s| s["roster"]["refused_unauthentic"].as_u64())
            .unwrap_or(0)
    };
    let seen = backend.wait_for(Duration::from_secs(120), |m| counted(m) >= JUNK as u64);
    assert_eq!(unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    assert!(daemon.0.wait().unwrap().success(), "a clean stop");
    // The daemon is gone, so its stderr has ended and every line is in.
    let lines: Vec<String> = logged.iter().collect();
    assert_eq!(
        counted(&seen),
        JUNK as u64,
        "every junk message refused and counted; the daemon said:\n{}",
        lines.join("\n")
    );
    let about_refusals: Vec<&String> = lines.iter().filter(|l| l.contains("refus")).collect();
    println!(
        "junk flood: {JUNK} messages, {} log lines in all, {} about refusals",
        lines.len(),
        about_refusals.len()
    );
    assert!(about_refusals.len() <= 60, "{about_refusals:#?}");
    let store = rusqlite::Connection::open(dir.join("rollcall.db")).unwrap();
    let audited: i64 = store
        .query_row("SELECT COUNT(*) FROM audit WHERE action = 'roster_refused'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(audited, 0, "junk never reaches the audit trail");
    let counter: i64 = store
        .query_row(
            "SELECT value FROM counters WHERE name = 'unauthentic_refused'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(counter, JUNK as i64, "the store keeps the count through a stop");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A `uri` camera whose location carries a user and password, at a port where nothing answers:
/// the daemon logs the camera starting and failing, and says so in its status, without the
/// password or the user. Before, the "camera starting" line printed the whole pipeline.
#[test]
fn a_cameras_password_stays_out_of_the_log_and_the_status() {
    let dir = testkit::scratch_dir("daemon", "secret");
    let config = testkit::demo::demo_edited(&dir, |config| {
        let cameras = config["cameras"].as_array_mut().unwrap();
        let camera = cameras[0].as_table_mut().unwrap();
        camera.insert("uri".into(), "rtsp://warden:Pa55w0rd@127.0.0.1:9/stream".into());
        camera.insert("loop".into(), false.into());
    });
    let (mut daemon, logged) = run_logging_info(&config);
    // Read until the camera has failed once and been retried.
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines.iter().filter(|l: &&String| l.contains("camera failed")).count() < 2 {
        match logged.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("the camera never failed twice:\n{}", lines.join("\n")),
        }
    }
    let status_file = rollcall::sync::status::status_file(&dir.join("rollcall.db"));
    let status: serde_json::Value = serde_json::from_slice(&std::fs::read(&status_file).unwrap()).unwrap();
    assert_eq!(unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let _ = daemon.0.wait();
    lines.extend(logged.iter());
    let log = lines.join("\n");
    let status = status.to_string();
    println!("{log}\n{status}");
    assert!(log.contains("camera starting") && log.contains("127.0.0.1:9"), "{log}");
    for secret in ["Pa55w0rd", "warden"] {
        assert!(!log.contains(secret), "the log shows {secret}:\n{log}");
        assert!(!status.contains(secret), "the status shows {secret}: {status}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// What a device publishes is its own, and its audit trail is anchored: the documented Python
/// backend (docs/examples/backend_verify.py) checks a running daemon's events, alerts, audit
/// records and status through mosquitto. An attendance event altered on the way is flagged; so is
/// the daemon started again on a store whose newest audit record was removed, which
/// `rollcall audit --verify` alone does not see and `--verify --head` does.
#[test]
fn a_backend_flags_an_altered_event_and_a_trail_cut_short() {
    let dir = testkit::scratch_dir("daemon", "signed");
    let broker = Broker::start("daemon-signed");
    let prefix = "rollcall/v1/demo";
    let site = testkit::keys::Site::new();
    let config = testkit::demo::demo_edited(&dir, |config| {
        let mqtt = format!("host = \"127.0.0.1\"\nport = {}\nstatus_interval_s = 1", broker.port);
        config.insert("mqtt".into(), mqtt.parse::<toml::Table>().unwrap().into());
    });
    // The device's key, where the daemon looks for it by default, registered with the backend.
    site.write_device_key("demo", &dir.join("device.key"));
    let signing = site.device("demo").public().signing;
    let mut verifier = Command::new("python3")
        .arg(testkit::root().join("docs/examples/backend_verify.py"))
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &broker.port.to_string(),
            "--prefix",
            prefix,
        ])
        .args(["--device", &format!("demo={signing}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let found = lines_of(verifier.stdout.take().unwrap());
    assert!(
        found
            .recv_timeout(Duration::from_secs(20))
            .unwrap()
            .contains("connected"),
        "the backend connects first"
    );
    let watcher = Subscriber::start(
        broker.port,
        "watcher-signed",
        &[&format!("{prefix}/demo/attendance"), &format!("{prefix}/demo/status")],
        true,
    );
    let online = |m: &[testkit::broker::Message]| -> Option<serde_json::Value> {
        m.iter()
            .rev()
            .filter(|(t, _, _)| t.ends_with("/status"))
            .filter_map(|(_, p, _)| serde_json::from_slice::<serde_json::Value>(p).ok())
            .find(|s| s["state"] == "online" && s["audit"]["seq"].is_u64())
    };
    let (mut daemon, _logged) = run_logging_info(&config);
    let seen = watcher.wait_for(Duration::from_secs(120), |m| {
        online(m).is_some() && m.iter().any(|(t, _, _)| t.ends_with("/attendance"))
    });
    let event = seen
        .iter()
        .find(|(t, _, _)| t.ends_with("/attendance"))
        .map(|(_, p, _)| p.clone())
        .expect("the demo marks someone");
    // Altered on the way: someone else marked present, republished by a client with broker
    // credentials but without the device's key.
    let forged = String::from_utf8(event)
        .unwrap()
        .replacen("\"person_id\":\"", "\"person_id\":\"x", 1);
    watcher.publish(&format!("{prefix}/demo/attendance"), forged.into_bytes(), false);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    assert!(daemon.0.wait().unwrap().success());
    let head = online(&watcher.messages()).unwrap()["audit"].clone();
    let head = format!("{}:{}", head["seq"], head["hash"].as_str().unwrap());

    // The store as it is reaches the head; with its newest record removed (around the table's
    // triggers, as someone with the file would), its chain still holds but it no longer does.
    let audit = |extra: &[&str]| {
        let out = Command::new(testkit::rollcall_exe())
            .arg("--config")
            .arg(&config)
            .args(["audit", "--verify"])
            .args(extra)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert!(audit(&["--head", &head]).0, "{}", audit(&["--head", &head]).1);
    {
        let db = rusqlite::Connection::open(dir.join("rollcall.db")).unwrap();
        let triggers: Vec<String> = db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for t in triggers {
            db.execute(&format!("DROP TRIGGER {t}"), []).unwrap();
        }
        db.execute("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)", [])
            .unwrap();
    }
    assert!(audit(&[]).0, "the chain alone cannot tell: {}", audit(&[]).1);
    let (ok, said) = audit(&["--head", &head]);
    assert!(!ok && said.contains("records were removed"), "{said}");

    // Started again on that store, the device's own status says its trail is shorter than what
    // the backend already holds.
    let (mut daemon, _logged) = run_logging_info(&config);
    let cut = head.split(':').next().unwrap().parse::<u64>().unwrap() - 1;
    watcher.wait_for(Duration::from_secs(120), |m| {
        online(m).is_some_and(|s| s["audit"]["seq"] == cut)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    assert!(daemon.0.wait().unwrap().success());
    assert_eq!(unsafe { libc::kill(verifier.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = verifier.wait().unwrap();
    let lines: Vec<String> = found.iter().collect();
    let flags: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("flag").is_some())
        .collect();
    println!("backend_verify.py said:\n{}", lines.join("\n"));
    assert!(!status.success(), "it exits 1 when something was flagged");
    assert!(
        flags
            .iter()
            .any(|f| f["flag"] == "bad_signature" && f["topic"].as_str().unwrap().ends_with("/attendance")),
        "the altered event is flagged: {flags:?}"
    );
    assert!(
        flags.iter().any(|f| f["flag"] == "truncated"),
        "the cut trail is flagged: {flags:?}"
    );
    assert_eq!(
        flags.iter().filter(|f| f["flag"] == "bad_signature").count(),
        1,
        "everything the device itself sent verifies: {flags:?}"
    );
    let summary = lines.iter().rev().find(|l| l.contains("\"verified\"")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(summary).unwrap();
    assert!(summary["verified"]["attendance"].as_u64() >= Some(1), "{summary}");
    assert!(summary["verified"]["audit"].as_u64() >= Some(1), "{summary}");
    std::fs::remove_dir_all(dir).unwrap();
}
