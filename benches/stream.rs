//! Camera ingest benchmark: 1080p H.264 at 25 fps from a local RTSP server, decoded and scaled to
//! the analysis size. Prints the CPU time per decoded frame, the age of the newest frame when
//! analysis takes it, how many such cameras one core can ingest, and resident memory over a run
//! with the consumer stopped (no queue may grow).
//!
//!     cargo bench --bench stream                       # 20 s measure + 10 min soak
//!     ROLLCALL_BENCH_SOAK_S=60 cargo bench --bench stream

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rollcall::capture::Camera;
use rollcall::config::{CameraConfig, SourceKind};

fn cpu_time() -> Duration {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn rss_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1e6
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn camera(url: &str, latency_ms: Option<u32>) -> CameraConfig {
    let mut c = CameraConfig::new("bench", SourceKind::Rtsp);
    c.url = Some(url.into());
    c.latency_ms = latency_ms.unwrap_or(c.latency_ms);
    c.decode = rollcall::config::Decode::Software;
    c
}

fn measure(url: &str, latency_ms: Option<u32>, seconds: u64) {
    let config = camera(url, latency_ms);
    let latency_ms = config.latency_ms;
    let cam = Camera::start(config).unwrap();
    cam.next_frame(Duration::from_secs(30))
        .expect("no frame from the local RTSP server");
    std::thread::sleep(Duration::from_secs(2));
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let mut ages = Vec::new();
    while t0.elapsed() < Duration::from_secs(seconds) {
        if let Some(f) = cam.next_frame(Duration::from_secs(2)) {
            ages.push(f.age().as_secs_f64() * 1e3);
        }
    }
    let (cpu, wall) = (cpu_time() - cpu0, t0.elapsed());
    let s = cam.status();
    let source_fps = s.source_fps.unwrap_or(25.0);
    let decoded = source_fps * wall.as_secs_f64();
    let per_frame_ms = cpu.as_secs_f64() * 1e3 / decoded;
    let core_share = cpu.as_secs_f64() / wall.as_secs_f64();
    println!(
        "rtspsrc latency {latency_ms} ms: {} {:?} -> {:?} via {}, {} frames taken",
        s.codec.as_deref().unwrap_or("?"),
        s.source_size.unwrap_or_default(),
        s.frame_size.unwrap_or_default(),
        s.decoder.as_deref().unwrap_or("?"),
        ages.len()
    );
    println!(
        "  CPU per decoded frame      {per_frame_ms:.2} ms ({:.0}% of one core for the camera)",
        core_share * 100.0
    );
    println!(
        "  newest-frame age at take   median {:.0} ms, p95 {:.0} ms",
        quantile(&mut ages, 0.5),
        quantile(&mut ages, 0.95)
    );
    println!(
        "  cameras per core           {:.1} (at analysis_fps {})",
        1.0 / core_share,
        5
    );
}

fn soak(url: &str, seconds: u64) {
    let cam = Camera::start(camera(url, None)).unwrap();
    cam.next_frame(Duration::from_secs(30)).expect("no frame");
    // From here on nobody takes frames: the camera must hold one frame and drop the rest.
    let start = Instant::now();
    let mut samples = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(10).min(Duration::from_secs(seconds)));
        samples.push((start.elapsed().as_secs(), rss_mb()));
    }
    let s = cam.status();
    let max = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    println!(
        "soak {seconds} s with the consumer stopped: frames in {}, dropped {}",
        s.frames_in, s.frames_dropped
    );
    println!(
        "  resident memory: {:.1} MB after 10 s, {:.1} MB at the end, {max:.1} MB at most",
        samples.first().map_or(0.0, |s| s.1),
        samples.last().map_or(0.0, |s| s.1)
    );
}

fn main() {
    testkit::rtsp::child_main();
    // `cargo bench` passes --bench; anything else (cargo test --benches) only checks it builds.
    if !testkit::bench::asked_to_measure() {
        return;
    }
    rollcall::capture::init().unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var_os("ROLLCALL_SHARED").map_or_else(|| root.join("../shared"), PathBuf::from);
    let dir = std::env::temp_dir().join(format!("rollcall-bench-slides-{}", std::process::id()));
    let photos: Vec<PathBuf> = [
        "insightface_t1_group.jpg",
        "ageitgey/group/two_people.jpg",
        "vectron/players.jpg",
    ]
    .iter()
    .map(|p| shared.join("faces").join(p))
    .collect();
    testkit::rtsp::make_slides(&dir, &photos, 1920, 1080);
    let server = testkit::rtsp::RtspServer::start(&dir, 25);
    println!(
        "rollcall stream bench: 1080p H.264 at 25 fps from 127.0.0.1, analysis 1280 wide at 5 fps, software decoding"
    );
    measure(&server.url(), None, 20);
    measure(&server.url(), Some(200), 20);
    let soak_s = std::env::var("ROLLCALL_BENCH_SOAK_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    soak(&server.url(), soak_s);
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
