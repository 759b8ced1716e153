//! Attendance engine throughput: 1, 2 and 4 cameras (file cameras playing the Hamilton clip,
//! six times over, in real time) at analysis_fps 5, with SCRFD-500M + w600k_mbf, on this machine. Prints the frames
//! per second sustained per camera, the latency from a face's first frame to its decision, and
//! resident memory.
//!
//!     cargo bench --bench engine            (ROLLCALL_BENCH_SECONDS=30 by default)

use std::time::{Duration, Instant};

use rollcall::attend::engine::Engine;
use rollcall::capture::Camera;
use rollcall::config::{CameraConfig, SessionSlot, SourceKind};
use rollcall::enroll::{EnrollPolicy, Enrollee, enroll_person};
use rollcall::store::{Key, Store};
use rollcall::vision::analyze::FaceAnalyzer;
use testkit::bench::rss_mb;

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn main() {
    let Some(cameras) = testkit::bench::camera_count(
        "rollcall engine bench: SCRFD-500M + w600k_mbf + MiniFASNet pair, analysis_fps 5",
        &[1, 2, 4],
    ) else {
        return;
    };
    let shared = testkit::shared();
    let seconds = testkit::bench::seconds();
    let clip = testkit::encode::long_hamilton_clip(&shared);
    let mut config = testkit::bench::config();
    config.timetable.sessions = vec![SessionSlot {
        id: "BENCH".into(),
        room: "101".into(),
        days: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .map(String::from)
            .to_vec(),
        start: "00:00".into(),
        end: "23:59".into(),
        grace_min: 10,
        group: None,
    }];
    config.timetable.outside_sessions = rollcall::config::OutsideSessions::OncePerDay;
    {
        let dir = std::env::temp_dir().join(format!("rollcall-engine-bench-{}-{cameras}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::open(&dir.join("bench.db"), Key::generate()).unwrap();
        let mut analyzer = FaceAnalyzer::from_config(&config).unwrap();
        for (person, photo) in [
            ("obama", "obama_1.jpg"),
            ("linmanuel", "linmanuel_1.png"),
            ("biden", "biden_1.jpg"),
        ] {
            let photos = [shared.join("faces/ageitgey/identities").join(photo)];
            let who = Enrollee {
                person,
                name: None,
                groups: &[],
            };
            enroll_person(
                &mut analyzer,
                &mut store,
                &who,
                &photos,
                &EnrollPolicy::default(),
                u64::MAX,
            )
            .unwrap();
        }
        let mut engine = Engine::new(&config, analyzer, store).unwrap();
        let rss_models = rss_mb();
        let cams: Vec<Camera> = (0..cameras)
            .map(|i| {
                let mut c = CameraConfig::new(&format!("cam{i}"), SourceKind::Uri);
                c.uri = Some(clip.to_string_lossy().into_owned());
                c.looping = true;
                c.analysis_fps = 5.0;
                Camera::start(c).unwrap()
            })
            .collect();
        // Warm up: every camera streaming.
        for c in &cams {
            c.next_frame(Duration::from_secs(20)).expect("no frame");
        }
        let rss_cameras = rss_mb();
        // Analysed from the start, counted after SETTLE: four pipelines starting together on two
        // cores deliver their first second or so unevenly, which is not what a box sustains.
        const SETTLE: Duration = Duration::from_secs(5);
        let begun = Instant::now();
        let mut start = begun;
        let mut processed = vec![0u64; cameras];
        let mut busy = Vec::new();
        while begun.elapsed() < SETTLE + Duration::from_secs(seconds) {
            if begun.elapsed() < SETTLE {
                start = Instant::now();
                processed.iter_mut().for_each(|n| *n = 0);
                busy.clear();
            }
            for (i, c) in cams.iter().enumerate() {
                if let Some(f) = c.next_frame(Duration::from_millis(2)) {
                    let t = Instant::now();
                    engine.process(c.id(), "101", &f.image, f.captured_at.into()).unwrap();
                    busy.push(t.elapsed().as_secs_f64() * 1e3);
                    processed[i] += 1;
                }
            }
        }
        let wall = start.elapsed().as_secs_f64();
        let busy_share = busy.iter().sum::<f64>() / 10.0 / wall;
        let all = engine.decision_latencies();
        let mut lat: Vec<f64> = all.iter().filter(|d| d.1).map(|d| d.0.as_secs_f64() * 1e3).collect();
        let mut lat_all: Vec<f64> = all.iter().map(|d| d.0.as_secs_f64() * 1e3).collect();
        let fps: Vec<String> = processed.iter().map(|n| format!("{:.2}", *n as f64 / wall)).collect();
        let stats = engine.stats();
        println!(
            "{cameras} camera(s): frames/s per camera [{}]; recognised decisions {}: latency median {:.0} ms, p95 {:.0} ms (all {} decisions, unknowns included: median {:.0} ms); \
             recognizer runs {} for {} faces; engine time per frame median {:.0} ms, p95 {:.0} ms (busy {:.0}% of the time); resident memory {:.0} MB (models loaded {:.0}, cameras up {:.0})",
            fps.join(", "),
            lat.len(),
            quantile(&mut lat, 0.5),
            quantile(&mut lat, 0.95),
            lat_all.len(),
            quantile(&mut lat_all, 0.5),
            stats.embeddings,
            stats.faces,
            quantile(&mut busy, 0.5),
            quantile(&mut busy, 0.95),
            busy_share,
            rss_mb(),
            rss_models,
            rss_cameras
        );
        drop(cams);
        drop(engine);
        let _ = std::fs::remove_dir_all(dir);
    }
}
