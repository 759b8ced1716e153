//! What the camera benches share: the models they run, how long, memory, and one fresh process
//! per camera count.

use rollcall::config::Config;

use super::{encode, root, shared};

/// Seconds each run measures (`ROLLCALL_BENCH_SECONDS`, 30 by default).
pub fn seconds() -> u64 {
    std::env::var("ROLLCALL_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

/// Defaults with SCRFD-500M + w600k_mbf, the pair for its speed goals, or with the
/// default set's models when `ROLLCALL_BENCH_SET=default` (what a school runs);
/// `ROLLCALL_BENCH_THREADS` and `ROLLCALL_BENCH_SPIN` (`1` or `0`) set `[runtime] threads` and
/// `spin`.
pub fn config() -> Config {
    let mut config = Config::default();
    config.models.dir = root().join("models");
    if std::env::var("ROLLCALL_BENCH_SET").as_deref() != Ok("default") {
        config.models.detector = "scrfd-500m".into();
        config.models.recognizer = "arcface-w600k-mbf".into();
    }
    config.runtime.onnxruntime = Some(root().join(rollcall::vision::model::default_library()));
    // For measuring the runtime's own settings (docs/speed.md, threads).
    if let Some(threads) = std::env::var("ROLLCALL_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.runtime.threads = Some(threads);
    }
    if let Ok(spin) = std::env::var("ROLLCALL_BENCH_SPIN") {
        config.runtime.spin = spin == "1";
    }
    config
}

/// Resident memory of this process, MB.
pub fn rss_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        * 4096.0
        / 1e6
}

/// Whether `cargo bench` runs this bench: it passes `--bench`. `cargo test --all-targets` runs
/// every bench without it, only to see that it starts, and a bench then returns at once.
pub fn asked_to_measure() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The camera count this process is to measure; `None` in the parent, which first runs one child
/// per count in `counts` (so memory figures are not inflated by earlier runs) after printing
/// `title`. Also `None` when not run by `cargo bench`.
pub fn camera_count(title: &str, counts: &[usize]) -> Option<usize> {
    let runs: Vec<(usize, &str)> = counts.iter().map(|&n| (n, "")).collect();
    camera_runs(title, &runs).map(|(n, _)| n)
}

/// [`camera_count`] for runs that also differ in what the cameras show: each run is a camera
/// count and a scene name the bench knows (`ROLLCALL_BENCH_SCENE` in the child, empty for its
/// first scene).
pub fn camera_runs(title: &str, runs: &[(usize, &str)]) -> Option<(usize, String)> {
    if !asked_to_measure() {
        return None;
    }
    if let Some(n) = std::env::var("ROLLCALL_BENCH_CAMERAS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return Some((n, std::env::var("ROLLCALL_BENCH_SCENE").unwrap_or_default()));
    }
    println!("{title}, {} s per run", seconds());
    // Made once, before the children race to make it.
    encode::long_hamilton_clip(&shared());
    for (n, scene) in runs {
        let exe = std::env::current_exe().unwrap_or_default();
        let status = std::process::Command::new(exe)
            .arg("--bench")
            .env("ROLLCALL_BENCH_CAMERAS", n.to_string())
            .env("ROLLCALL_BENCH_SCENE", scene)
            .status()
            .unwrap();
        assert!(status.success());
    }
    None
}
