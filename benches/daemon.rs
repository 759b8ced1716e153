//! The daemon under overload: 2, 4, 6 and 8 cameras (each playing the Hamilton clip in real time)
//! at analysis_fps 5 through `rollcall::daemon::run`, with SCRFD-500M + w600k_mbf (the default
//! set with `ROLLCALL_BENCH_SET=default`), on this machine; then 4 cameras of a 1080p classroom
//! (rows of faces from 20 px at the back to 48 px at the front, sitting still), searched at the
//! camera's own resolution as by default, and letterboxed into 640x640 as before (`[detect]
//! input_size`), which finds no face under about 40 px.
//! Prints each camera's analysed frames per second and the longest a frame waited from capture
//! to the end of its analysis (both as the daemon reports them in its status), and resident
//! memory. Fair means every camera's fps drops alike, none starves, and the lag stays flat.
//!
//!     cargo bench --bench daemon            (ROLLCALL_BENCH_SECONDS=30 by default)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rollcall::config::{CameraConfig, SourceKind};
use rollcall::daemon::Signals;
use rollcall::store::Key;

/// The classroom the 1080p runs show, made once per machine: 30 seats in rows of 20, 24, 28, 36
/// and 48 px, each showing one photo throughout, 30 s (looped by the cameras).
fn classroom_clip() -> PathBuf {
    use testkit::classroom;
    let out = std::env::temp_dir().join("rollcall-bench-classroom-rows-1080p.mp4");
    if out.exists() {
        return out;
    }
    let people = classroom::people_with(30, 2);
    let people: Vec<&str> = people.iter().map(String::as_str).collect();
    let room = classroom::rows(&people, &[], &[20.0, 24.0, 28.0, 36.0, 48.0], 6, (1920, 1080));
    let mut analyzer = testkit::analyzer("yunet-s", "sface-2021dec");
    classroom::write_room_clip(&mut analyzer, &room, 30, f64::INFINITY, &out);
    out
}

fn main() {
    let mut config = testkit::bench::config();
    let title = format!(
        "rollcall daemon bench: {} + {} + {}, analysis_fps 5",
        config.models.detector,
        config.models.recognizer,
        config.models.antispoof.join(" + ")
    );
    let Some((cameras, scene)) = testkit::bench::camera_runs(
        &title,
        &[
            (2, ""),
            (4, ""),
            (6, ""),
            (8, ""),
            (4, "classroom"),
            (4, "classroom-letterboxed"),
        ],
    ) else {
        return;
    };
    let seconds = testkit::bench::seconds();
    let clip = match scene.as_str() {
        "" => testkit::encode::long_hamilton_clip(&testkit::shared()),
        "classroom" => classroom_clip(),
        "classroom-letterboxed" => {
            config.detect.input_size = Some([640, 640]);
            classroom_clip()
        }
        other => panic!("no scene {other}"),
    };
    let dir = std::env::temp_dir().join(format!("rollcall-daemon-bench-{}-{cameras}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    config.store.path = dir.join("bench.db");
    config.store.key_file = Some(dir.join("bench.key"));
    Key::generate().write_new(&dir.join("bench.key")).unwrap();
    config.cameras = (0..cameras)
        .map(|i| {
            let mut c = CameraConfig::new(&format!("cam{i}"), SourceKind::Uri);
            c.uri = Some(clip.to_string_lossy().into_owned());
            c.looping = true;
            c.analysis_fps = 5.0;
            c
        })
        .collect();
    let status_path = rollcall::sync::status::status_file(&config.store.path);

    let stop = rollcall::shutdown::Shutdown::new();
    let reload = AtomicBool::new(false);
    // Per camera: the status's fps and lag_ms, once a second after a warm-up.
    let mut fps: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut lag: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut rss = 0.0f64;
    std::thread::scope(|scope| {
        let daemon = scope.spawn(|| {
            let signals = Signals {
                stop: &stop,
                reload: &reload,
                config_path: None,
            };
            rollcall::daemon::run(&config, &signals, &mut |_| {})
        });
        std::thread::sleep(Duration::from_secs(10));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(seconds) {
            std::thread::sleep(Duration::from_secs(1));
            let Some(s) = std::fs::read(&status_path)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            else {
                continue;
            };
            for (id, c) in s["cameras"].as_object().into_iter().flatten() {
                fps.entry(id.clone())
                    .or_default()
                    .push(c["fps"].as_f64().unwrap_or(0.0));
                lag.entry(id.clone())
                    .or_default()
                    .push(c["lag_ms"].as_f64().unwrap_or(0.0));
            }
            rss = rss.max(testkit::bench::rss_mb());
        }
        stop.trigger();
        daemon.join().unwrap().unwrap();
    });
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let worst = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let per_camera: Vec<f64> = fps.values().map(|v| mean(v)).collect();
    let (lo, hi) = per_camera
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), &f| (lo.min(f), hi.max(f)));
    let lags: Vec<String> = lag
        .values()
        .map(|v| format!("{:.0}/{:.0}", mean(v), worst(v)))
        .collect();
    println!(
        "{cameras} camera(s){}: analysed fps per camera [{}] (total {:.1}, slowest/fastest {:.2}); lag ms mean/worst per camera [{}]; resident memory {:.0} MB",
        match scene.as_str() {
            "" => String::new(),
            "classroom" => " of the 1080p classroom".to_string(),
            _ => " of the 1080p classroom letterboxed into 640x640".to_string(),
        },
        per_camera
            .iter()
            .map(|f| format!("{f:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        per_camera.iter().sum::<f64>(),
        lo / hi.max(1e-9),
        lags.join(", "),
        rss
    );
    let _ = std::fs::remove_dir_all(dir);
}
