//! The daemon under overload: 2, 4, 6 and 8 cameras (each playing the Hamilton clip in real time)
//! at analysis_fps 5 through `rollcall::daemon::run`, with SCRFD-500M + w600k_mbf, on this machine.
//! Prints each camera's analysed frames per second and the longest a frame waited from capture
//! to the end of its analysis (both as the daemon reports them in its status), and resident
//! memory. Fair means every camera's fps drops alike, none starves, and the lag stays flat.
//!
//!     cargo bench --bench daemon            (ROLLCALL_BENCH_SECONDS=30 by default)

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rollcall::config::{CameraConfig, SourceKind};
use rollcall::daemon::Signals;
use rollcall::store::Key;

fn main() {
    let Some(cameras) = testkit::bench::camera_count(
        "rollcall daemon bench: SCRFD-500M + w600k_mbf + MiniFASNet pair, analysis_fps 5",
        &[2, 4, 6, 8],
    ) else {
        return;
    };
    let seconds = testkit::bench::seconds();
    let clip = testkit::encode::long_hamilton_clip(&testkit::shared());
    let dir = std::env::temp_dir().join(format!("rollcall-daemon-bench-{}-{cameras}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = testkit::bench::config();
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
        "{cameras} camera(s): analysed fps per camera [{}] (total {:.1}, slowest/fastest {:.2}); lag ms mean/worst per camera [{}]; resident memory {:.0} MB",
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
