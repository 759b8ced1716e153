//! `rollcall run` end to end: a real video as the camera, a roster enrolled from the shared
//! photos, a broker started by the test; attendance arrives over MQTT, and SIGTERM stops the
//! daemon cleanly with the device reported offline.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::broker::{Broker, Subscriber};

/// The lines a child writes to `pipe`, as they come.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The daemon as a child process, killed if the test fails before it is stopped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn the_daemon_publishes_attendance_and_stops_cleanly_on_sigterm() {
    let dir = common::scratch_dir("daemon", "run");
    let broker = Broker::start("daemon");
    let backend = Subscriber::start(broker.port, "backend-daemon", &["rollcall/v1/school/#"], true);
    let ort = std::env::var("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| common::root().join(rollcall::model::DEFAULT_ORT_LIBRARY));
    let today = chrono::Utc::now().format("%a").to_string().to_lowercase();
    let config = dir.join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\nonnxruntime = {ort:?}\n[models]\ndir = {models:?}\n[store]\npath = \"rollcall.db\"\nkey_file = \"key\"\n\
             [device]\nid = \"room-101\"\nsite = \"school\"\n\
             [timetable]\ntimezone = \"UTC\"\noutside_sessions = \"once_per_day\"\n\
             [[timetable.sessions]]\nid = \"ALLDAY\"\nroom = \"101\"\ndays = [\"{today}\"]\nstart = \"00:00\"\nend = \"23:59\"\ngrace_min = 1439\n\
             [[cameras]]\nid = \"front\"\nkind = \"uri\"\nuri = {clip:?}\nloop = true\nroom = \"101\"\n\
             [mqtt]\nhost = \"127.0.0.1\"\nport = {port}\nstatus_interval_s = 2\naccept_roster = false\n",
            models = common::root().join("models"),
            clip = common::shared().join("videos/short_hamilton_clip.mp4"),
            port = broker.port
        ),
    )
    .unwrap();
    let rollcall = env!("CARGO_BIN_EXE_rollcall");
    let ok = |out: std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    ok(Command::new(rollcall)
        .args(["keygen", "--out"])
        .arg(dir.join("key"))
        .output()
        .unwrap());
    let ids = common::shared().join("faces/ageitgey/identities");
    for (person, photo) in [
        ("obama", "obama_1.jpg"),
        ("linmanuel", "linmanuel_1.png"),
        ("biden", "biden_1.jpg"),
    ] {
        ok(Command::new(rollcall)
            .arg("--config")
            .arg(&config)
            .args(["enroll", "--person", person])
            .arg(ids.join(photo))
            .output()
            .unwrap());
    }

    let mut daemon = Running(
        Command::new(rollcall)
            .arg("--config")
            .arg(&config)
            .args(["--log", "error", "run", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let printed = lines_of(daemon.0.stdout.take().unwrap());
    let arrived = backend.wait_for(Duration::from_secs(90), |m| {
        let people: Vec<String> = m
            .iter()
            .filter(|(t, _, _)| t.ends_with("/attendance"))
            .map(|(_, p, _)| serde_json::from_slice::<serde_json::Value>(p).unwrap()["person_id"].to_string())
            .collect();
        people.iter().any(|p| p.contains("obama")) && people.iter().any(|p| p.contains("linmanuel"))
    });
    let attendance: Vec<serde_json::Value> = arrived
        .iter()
        .filter(|(t, _, _)| t == "rollcall/v1/school/room-101/attendance")
        .map(|(_, p, _)| serde_json::from_slice(p).unwrap())
        .collect();
    let mut people: Vec<&str> = attendance.iter().map(|e| e["person_id"].as_str().unwrap()).collect();
    people.sort();
    assert_eq!(
        people,
        ["linmanuel", "obama"],
        "each once, no one else: {attendance:#?}"
    );
    assert!(
        attendance
            .iter()
            .all(|e| e["session_id"].as_str().unwrap().starts_with("ALLDAY@"))
    );
    let status = arrived
        .iter()
        .rev()
        .find(|(t, _, _)| t.ends_with("/status"))
        .map(|(_, p, _)| serde_json::from_slice::<serde_json::Value>(p).unwrap())
        .expect("a status");
    assert_eq!(status["state"], "online");
    assert_eq!(status["roster"]["people"], 3, "{status}");
    assert!(status["cameras"]["front"]["state"].is_string(), "{status}");
    // What it printed is what it published.
    // A decision reaches the outbox inside the frame's analysis, and the printout only when that
    // frame is done: the broker may be first. Wait for both lines.
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines.len() < 2 {
        match printed.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => lines.push(l),
            Err(_) => break,
        }
    }
    assert_eq!(lines.len(), 2, "{lines:?}");

    // `rollcall status` reads the running daemon's state.
    let status = Command::new(rollcall)
        .arg("--config")
        .arg(&config)
        .arg("status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("running on room-101") && text.contains("camera front"),
        "{text}"
    );
    assert!(text.contains("roster: version 0, 3 people"), "{text}");

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
    let dir = common::scratch_dir("daemon", "reload");
    let ort = std::env::var("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| common::root().join(rollcall::model::DEFAULT_ORT_LIBRARY));
    let clip = common::shared().join("videos/short_hamilton_clip.mp4");
    let base = format!(
        "[runtime]\nonnxruntime = {ort:?}\n[models]\ndir = {:?}\n[store]\npath = \"rollcall.db\"\nkey_file = \"key\"\n\
         [[cameras]]\nid = \"front\"\nkind = \"uri\"\nuri = {clip:?}\nloop = true\n",
        common::root().join("models")
    );
    let config = dir.join("rollcall.toml");
    std::fs::write(&config, &base).unwrap();
    let rollcall = env!("CARGO_BIN_EXE_rollcall");
    assert!(
        Command::new(rollcall)
            .args(["keygen", "--out"])
            .arg(dir.join("key"))
            .status()
            .unwrap()
            .success()
    );
    let mut daemon = Running(
        Command::new(rollcall)
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
    wait_for_cameras(&status, &["front"]);
    let hup = |pid: u32| {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) }, 0);
    };

    // A second camera: the first keeps streaming, the second starts.
    std::fs::write(
        &config,
        format!("{base}[[cameras]]\nid = \"back\"\nkind = \"uri\"\nuri = {clip:?}\nloop = true\n"),
    )
    .unwrap();
    hup(daemon.0.id());
    let line = wait_log("config reloaded");
    assert!(
        line.contains(r#"kept=["front"]"#) && line.contains(r#"started=["back"]"#),
        "{line}"
    );
    wait_for_cameras(&status, &["back", "front"]);

    // A broken config is refused; both cameras go on.
    std::fs::write(&config, format!("{base}[[cameras]]\nid = \"front\"\nkind = \"usb\"\n")).unwrap();
    hup(daemon.0.id());
    let line = wait_log("config not reloaded");
    assert!(line.contains("rollcall.toml"), "the refusal names the file: {line}");
    std::thread::sleep(Duration::from_secs(2));
    wait_for_cameras(&status, &["back", "front"]);

    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    assert!(daemon.0.wait().unwrap().success());
    assert!(!status.exists(), "a stopped daemon leaves no status file behind");
    std::fs::remove_dir_all(dir).unwrap();
}
