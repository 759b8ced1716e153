//! Camera ingest against real streams: an RTSP server (gstreamer-rtsp-server, H.264 made from the
//! shared photos) on 127.0.0.1, killed, frozen and restarted; files with and without looping; a
//! USB camera that is not there. No mocks: real GStreamer pipelines, real decoders, real faces.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rollcall::capture::{Camera, CameraState, CameraStatus};
use rollcall::config::{CameraConfig, SourceKind};
use testkit::rtsp::{RtspServer, make_slides};

#[test]
fn rtsp_server_child() {
    testkit::rtsp::child_main();
}

fn slides(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollcall-slides-{}-{name}", std::process::id()));
    let photos = [
        "ageitgey/group/two_people.jpg",
        "insightface_t1_group.jpg",
        "ageitgey/group/kit_with_rose.jpg",
    ]
    .map(testkit::face);
    make_slides(&dir, &photos, 640, 480);
    dir
}

fn rtsp_camera(id: &str, url: &str) -> CameraConfig {
    let mut c = CameraConfig::new(id, SourceKind::Rtsp);
    c.url = Some(url.to_string());
    c.latency_ms = 50;
    c.analysis_fps = 10.0;
    c.analysis_width = 640;
    c.stall_timeout_s = 3.0;
    c.backoff_initial_s = 0.5;
    c.backoff_max_s = 4.0;
    c
}

/// Polls `cam` until `done` holds, failing with the last status after `limit`.
fn wait_for(cam: &Camera, limit: Duration, what: &str, done: impl Fn(&CameraStatus) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let s = cam.status();
        if done(&s) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{what} not seen within {limit:?}; status: {s:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn states(s: &CameraStatus) -> Vec<CameraState> {
    let mut v: Vec<CameraState> = s.history.iter().map(|h| h.0).collect();
    v.dedup();
    v
}

#[test]
fn rtsp_frames_arrive_newest_only_and_hold_faces_the_detector_finds() {
    let dir = slides("faces");
    let server = RtspServer::start(&dir, 10);
    let cam = Camera::start(rtsp_camera("front", &server.url())).unwrap();
    let first = cam
        .next_frame(Duration::from_secs(20))
        .expect("no frame from the RTSP server");
    assert_eq!(&*first.camera, "front");
    let status = cam.status();
    assert_eq!(status.state, CameraState::Streaming);
    assert_eq!(status.frame_size, Some((640, 480)));
    wait_for(&cam, Duration::from_secs(2), "the source description", |s| {
        s.codec.is_some()
    });
    let status = cam.status();
    assert_eq!(status.codec.as_deref(), Some("H.264"), "{status:#?}");
    assert_eq!(status.source_size, Some((640, 480)));
    assert_eq!(status.source_fps, Some(10.0));
    assert!(status.decoder.is_some(), "decoder not reported");
    assert!(
        first.age() < Duration::from_secs(2),
        "frame already {:?} old",
        first.age()
    );

    let mut analyzer = testkit::analyzer("yunet-2023mar", "sface-2021dec");
    let mut seen = 0;
    for _ in 0..40 {
        let frame = cam.next_frame(Duration::from_secs(5)).expect("stream stopped");
        seen = seen.max(analyzer.analyze(&frame.image).unwrap().faces.len());
        if seen >= 2 {
            break;
        }
    }
    assert!(
        seen >= 2,
        "the detector found at most {seen} faces in the streamed slides"
    );

    // A consumer that stops taking frames builds nothing up: the slot holds one frame and the
    // rest are counted as dropped.
    std::thread::sleep(Duration::from_secs(2));
    let s = cam.status();
    assert!(s.frames_dropped >= 5, "{s:#?}");
    let newest = cam.next_frame(Duration::from_secs(1)).unwrap();
    assert!(
        newest.age() < Duration::from_millis(700),
        "after a pause the frame handed over is {:?} old",
        newest.age()
    );
    cam.stop();
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn analysis_is_paced_to_analysis_fps() {
    let dir = slides("pace");
    let server = RtspServer::start(&dir, 25);
    let mut cfg = rtsp_camera("paced", &server.url());
    cfg.analysis_fps = 4.0;
    let cam = Camera::start(cfg).unwrap();
    cam.next_frame(Duration::from_secs(20)).expect("no frame");
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(3) {
        if cam.next_frame(Duration::from_secs(2)).is_some() {
            n += 1;
        }
    }
    assert!((10..=14).contains(&n), "took {n} frames in 3 s at analysis_fps 4");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_killed_server_is_reconnected_when_it_comes_back() {
    let dir = slides("kill");
    let mut server = RtspServer::start(&dir, 10);
    let cam = Camera::start(rtsp_camera("killed", &server.url())).unwrap();
    wait_for(&cam, Duration::from_secs(20), "streaming", |s| {
        s.state == CameraState::Streaming
    });

    server.kill();
    wait_for(&cam, Duration::from_secs(6), "backing off after SIGKILL", |s| {
        s.state == CameraState::BackingOff
    });
    std::thread::sleep(Duration::from_secs(2));
    let before = cam.status().frames_in;
    server.restart();
    let restarted = Instant::now();
    wait_for(&cam, Duration::from_secs(4 + 5), "frames after the restart", |s| {
        s.frames_in > before
    });
    println!("frames resumed {:?} after the server came back", restarted.elapsed());
    let s = cam.status();
    let seq = states(&s);
    let pos = |st| seq.iter().position(|x| *x == st);
    let (first_stream, backoff) = (
        pos(CameraState::Streaming).unwrap(),
        pos(CameraState::BackingOff).unwrap(),
    );
    assert!(first_stream < backoff, "{seq:?}");
    assert_eq!(*seq.last().unwrap(), CameraState::Streaming, "{seq:?} {s:#?}");
    assert!(s.reconnects >= 1 && s.last_error.is_some(), "{s:#?}");
}

#[test]
fn a_frozen_server_trips_the_stall_watchdog_and_recovers_after_thaw() {
    let dir = slides("freeze");
    let server = RtspServer::start(&dir, 10);
    let cam = Camera::start(rtsp_camera("frozen", &server.url())).unwrap();
    wait_for(&cam, Duration::from_secs(20), "streaming", |s| {
        s.state == CameraState::Streaming
    });

    server.freeze();
    // stall_timeout is 3 s: the watchdog must fire within 3 + 2 s.
    let fired = wait_for(&cam, Duration::from_secs(5), "the stall watchdog", |s| {
        s.state != CameraState::Streaming
    });
    let s = cam.status();
    println!("watchdog fired {fired:?} after SIGSTOP: {:?}", s.last_error);
    assert!(
        s.last_error.as_deref().unwrap_or_default().contains("stalled"),
        "{s:#?}"
    );

    server.thaw();
    let before = cam.status().frames_in;
    wait_for(&cam, Duration::from_secs(20), "frames after SIGCONT", |s| {
        s.frames_in > before
    });
}

#[test]
fn a_dead_camera_never_disturbs_a_live_one() {
    let dir = slides("two");
    let server = RtspServer::start(&dir, 10);
    let live = Camera::start(rtsp_camera("live", &server.url())).unwrap();
    let dead_url = format!("rtsp://127.0.0.1:{}/cam", testkit::rtsp::free_port());
    let dead = Camera::start(rtsp_camera("dead", &dead_url)).unwrap();
    wait_for(&live, Duration::from_secs(20), "streaming", |s| {
        s.state == CameraState::Streaming
    });
    let mut last = live.status().frames_in;
    for _ in 0..6 {
        std::thread::sleep(Duration::from_secs(1));
        let s = live.status();
        assert_eq!(s.state, CameraState::Streaming, "{s:#?}");
        assert!(
            s.frames_in > last,
            "live camera stopped while the dead one retried: {s:#?}"
        );
        last = s.frames_in;
    }
    let d = dead.status();
    assert!(d.reconnects >= 2 && d.frames_in == 0, "{d:#?}");
    assert!(d.last_error.is_some() && d.state != CameraState::Streaming, "{d:#?}");
    assert_eq!(live.status().reconnects, 0);
}

/// A 2-second H.264 MP4: two photos, one second each, 10 fps (about 21 frames).
fn short_clip(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollcall-clip-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let photos = ["ageitgey/group/two_people.jpg", "insightface_t1_group.jpg"].map(testkit::face);
    testkit::make_clip(&dir, &photos, 640, 480, 1, 10)
}

#[test]
fn a_file_plays_in_real_time_and_loops_when_asked() {
    let clip = short_clip("file");
    let mut cfg = CameraConfig::new("file", SourceKind::Uri);
    cfg.uri = Some(clip.to_string_lossy().into_owned());
    cfg.analysis_fps = 10.0;
    cfg.looping = true;
    let looping = Camera::start(cfg.clone()).unwrap();
    cfg.id = "once".into();
    cfg.looping = false;
    let once = Camera::start(cfg).unwrap();
    wait_for(&looping, Duration::from_secs(20), "streaming", |s| {
        s.state == CameraState::Streaming
    });
    std::thread::sleep(Duration::from_secs(5));
    let s = looping.status();
    // 5 s of a 2 s clip: more than one and a half passes, without ever reconnecting.
    assert!(s.frames_in >= 32, "{s:#?}");
    assert_eq!(s.reconnects, 0, "{s:#?}");
    assert_eq!(s.state, CameraState::Streaming);
    let o = once.status();
    assert!(o.reconnects >= 1, "{o:#?}");
    assert!(
        o.last_error.as_deref().unwrap_or_default().contains("end of stream"),
        "{o:#?}"
    );
    let file_frame = looping.next_frame(Duration::from_secs(2)).unwrap();
    use opencv::prelude::*;
    assert_eq!((file_frame.image.cols(), file_frame.image.rows()), (640, 480));
}

#[test]
fn a_missing_usb_camera_fails_cleanly_and_keeps_retrying() {
    let mut cfg = CameraConfig::new("usb", SourceKind::V4l2);
    cfg.device = Some("/dev/v4l/by-id/usb-not-plugged-in-video-index0".into());
    cfg.width = Some(640);
    cfg.height = Some(480);
    cfg.fps = Some(15);
    cfg.backoff_initial_s = 0.2;
    cfg.backoff_max_s = 0.5;
    let cam = Camera::start(cfg).unwrap();
    wait_for(&cam, Duration::from_secs(10), "two retries", |s| s.reconnects >= 2);
    let s = cam.status();
    let err = s.last_error.clone().unwrap_or_default();
    assert!(
        err.contains("usb-not-plugged-in") || err.to_lowercase().contains("device"),
        "{s:#?}"
    );
    assert_ne!(s.state, CameraState::Streaming);
}

/// A config file with the given cameras, models and runtime from this checkout.
fn config_file(dir: &std::path::Path, cameras: &str) -> PathBuf {
    let root = testkit::root();
    let text = format!(
        "[runtime]\nonnxruntime = \"{}\"\n[models]\ndir = \"{}\"\n{cameras}",
        root.join(rollcall::vision::model::default_library()).display(),
        root.join("models").display()
    );
    let path = dir.join("rollcall.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run_cli(args: &[&str]) -> (bool, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .args(args)
        .env_remove("ROLLCALL_CONFIG")
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn probe_and_snapshot_tell_an_installer_what_a_camera_sees() {
    let dir = slides("probe");
    let server = RtspServer::start(&dir, 10);
    let dead = format!("rtsp://user:hunter2@127.0.0.1:{}/cam", testkit::rtsp::free_port());
    let cfg = config_file(
        &dir,
        &format!(
            "[[cameras]]\nid = \"front\"\nkind = \"rtsp\"\nurl = \"{}\"\nanalysis_width = 640\n\
             [[cameras]]\nid = \"back\"\nkind = \"rtsp\"\nurl = \"{dead}\"\n",
            server.url()
        ),
    );
    let cfg = cfg.to_string_lossy().into_owned();

    let (ok, out, err) = run_cli(&["--config", &cfg, "cameras", "probe", "--timeout", "8"]);
    assert!(!ok, "a dead camera must fail the probe: {out}{err}");
    assert!(
        out.contains("front") && out.contains("H.264 640x480 @ 10.0 fps, decoder"),
        "{out}"
    );
    assert!(out.contains("first frame after"), "{out}");
    assert!(out.contains("back") && out.contains("FAILED"), "{out}");
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "password leaked: {out}{err}"
    );
    assert!(err.contains("no frames from: back"), "{err}");

    let (ok, out, err) = run_cli(&[
        "--config",
        &cfg,
        "cameras",
        "probe",
        "--camera",
        "front",
        "--timeout",
        "8",
    ]);
    assert!(ok, "{out}{err}");

    let (ok, _, err) = run_cli(&["--config", &cfg, "cameras", "probe", "--camera", "side"]);
    assert!(
        !ok && err.contains("no camera `side` in the config; cameras: front, back"),
        "{err}"
    );

    let shot = dir.join("front.jpg");
    let (ok, out, err) = run_cli(&[
        "--config",
        &cfg,
        "snapshot",
        "--camera",
        "front",
        "--annotate",
        &shot.to_string_lossy(),
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("camera front:") && out.contains(" px, quality "), "{out}");
    let img = rollcall::capture::image::load(&shot, u64::MAX).unwrap();
    use opencv::prelude::*;
    assert_eq!((img.cols(), img.rows()), (640, 480));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_slideshow_is_a_gapless_video_of_its_photos() {
    let dir = std::env::temp_dir().join(format!("rollcall-slideshow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let photos = ["ageitgey/identities/obama_2.jpg", "ageitgey/identities/linmanuel_1.png"].map(testkit::face);
    let show = rollcall::capture::slideshow::Slideshow {
        width: 640,
        height: 360,
        seconds_each: 1,
        fps: 10,
    };
    let clip = dir.join("show.webm");
    show.write(&photos, &clip).unwrap();
    assert!(!dir.join("show.partial.webm").exists());
    // Every frame, evenly spaced, at the size asked for: 2 photos x 1 s x 10 fps.
    let frames: Vec<_> = rollcall::capture::FileFrames::open(&clip, 10.0, 640).unwrap().collect();
    assert_eq!(frames.len(), 20);
    for (n, (image, pts)) in frames.iter().enumerate() {
        use opencv::prelude::*;
        assert_eq!((image.cols(), image.rows()), (640, 360));
        assert_eq!(pts.as_millis(), n as u128 * 100, "frame {n}");
    }
    // The two halves show different photos.
    let mean = |i: usize| opencv::core::mean_def(&frames[i].0).unwrap()[0];
    assert!((mean(5) - mean(15)).abs() > 1.0, "{} {}", mean(5), mean(15));
    // Anything but .webm or .mp4 is refused before work; so is a photo that is not there.
    assert!(show.write(&photos, &dir.join("show.avi")).is_err());
    let missing = show.write(&[dir.join("nobody.jpg")], &dir.join("x.webm")).unwrap_err();
    assert!(missing.to_string().contains("nobody.jpg"), "{missing}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_camera_silent_for_down_after_s_raises_camera_down_once_and_camera_up_when_back() {
    use rollcall::event::AlertKind;
    let dir = slides("down");
    let mut server = RtspServer::start(&dir, 10);
    let scratch = testkit::scratch_dir("capture", "down");
    let mut config = testkit::daemon_config(&scratch);
    let mut cam = rtsp_camera("door", &server.url());
    cam.analysis_fps = 2.0;
    cam.backoff_max_s = 1.0;
    cam.down_after_s = 3.0;
    config.cameras = vec![cam];

    let (tx, alerts) = std::sync::mpsc::channel();
    let on_outcome = |o: &rollcall::attend::engine::Outcome| {
        if let rollcall::attend::engine::Outcome::Alert(a) = o {
            let _ = tx.send((Instant::now(), a.clone()));
        }
    };
    testkit::with_daemon(&config, on_outcome, || {
        let next = |limit: Duration| alerts.recv_timeout(limit).ok();
        // Streaming from the start: nothing to say for longer than down_after_s.
        assert!(
            next(Duration::from_secs(8)).is_none(),
            "an alert while the camera streams"
        );
        server.kill();
        let killed = Instant::now();
        let (at, down) = next(Duration::from_secs(20)).expect("no camera_down after the server died");
        assert_eq!(down.kind, AlertKind::CameraDown, "{down:?}");
        assert_eq!(
            (down.camera_id.as_deref(), down.room.as_deref()),
            (Some("door"), Some("door"))
        );
        assert!(
            at - killed >= Duration::from_secs(3),
            "down before down_after_s: {:?}",
            at - killed
        );
        println!(
            "camera_down {:.1} s after the server died: {}",
            (at - killed).as_secs_f32(),
            down.detail
        );
        // Down is said once, however often the camera retries meanwhile.
        assert!(
            next(Duration::from_secs(5)).is_none(),
            "a second alert while still down"
        );
        server.restart();
        let restarted = Instant::now();
        let (at, up) = next(Duration::from_secs(20)).expect("no camera_up after the server came back");
        assert_eq!(up.kind, AlertKind::CameraUp, "{up:?}");
        println!(
            "camera_up {:.1} s after the server came back: {}",
            (at - restarted).as_secs_f32(),
            up.detail
        );
        assert!(next(Duration::from_secs(5)).is_none(), "a second alert once back");
    });
    // Both are in the store's alerts, and so in the outbox for the backend.
    let store = rollcall::store::Store::open(
        &config.store.path,
        rollcall::store::Key::from_file(config.store.key_file.as_ref().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(store.alert_count(AlertKind::CameraDown).unwrap(), 1);
    assert_eq!(store.alert_count(AlertKind::CameraUp).unwrap(), 1);
    let _ = std::fs::remove_dir_all(scratch);
}
