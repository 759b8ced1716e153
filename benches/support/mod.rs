//! What the camera benches share: the models they run, the clip they play, how long, memory, and
//! one fresh process per camera count.

use std::path::PathBuf;

use rollcall::config::Config;

#[allow(dead_code)]
#[path = "../../tests/common/encode.rs"]
pub mod encode;

#[allow(dead_code)]
#[path = "../../tests/common/classroom.rs"]
pub mod classroom;

/// A photo under `../shared/faces`.
#[allow(dead_code)]
pub fn face(rel: &str) -> PathBuf {
    shared().join("faces").join(rel)
}

/// The repository, where the models and ONNX Runtime are.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared` beside the repository (or `$ROLLCALL_SHARED`).
pub fn shared() -> PathBuf {
    std::env::var_os("ROLLCALL_SHARED").map_or_else(|| root().join("../shared"), PathBuf::from)
}

/// Seconds each run measures (`ROLLCALL_BENCH_SECONDS`, 30 by default).
pub fn seconds() -> u64 {
    std::env::var("ROLLCALL_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

/// Defaults with SCRFD-500M + w600k_mbf, the pair for its speed goals.
pub fn config() -> Config {
    let mut config = Config::default();
    config.models.dir = root().join("models");
    config.models.detector = "scrfd-500m".into();
    config.models.recognizer = "arcface-w600k-mbf".into();
    config.runtime.onnxruntime = Some(root().join(rollcall::vision::model::default_library()));
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

/// The camera count this process is to measure; `None` in the parent, which first runs one child
/// per count in `counts` (so memory figures are not inflated by earlier runs) after printing
/// `title`. Also `None` when not run by `cargo bench`.
pub fn camera_count(title: &str, counts: &[usize]) -> Option<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        return None;
    }
    if let Some(n) = std::env::var("ROLLCALL_BENCH_CAMERAS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return Some(n);
    }
    println!("{title}, {} s per run", seconds());
    // Made once, before the children race to make it.
    encode::long_hamilton_clip(&shared());
    for n in counts {
        let exe = std::env::current_exe().unwrap_or_default();
        let status = std::process::Command::new(exe)
            .arg("--bench")
            .env("ROLLCALL_BENCH_CAMERAS", n.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
    None
}
