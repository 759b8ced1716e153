//! A class of 30 seated faces at 5 fps (1920x1080, faces 40 to 120 px, each seat showing its
//! person's photos in turn, a new one every 4 s), played through the engine as `rollcall eval`
//! plays a clip, with the default models (YuNet, SFace, the MiniFASNet pair). Prints the
//! recognizer runs per minute, processor time per analysed frame, and the share of one core the
//! analysis needs at 5 fps.
//!
//!     cargo bench --bench classroom

// Only some of what the camera benches share is used here.

use std::path::PathBuf;

use rollcall::attend::engine::Engine;
use rollcall::attend::eval::evaluate;
use rollcall::capture::FileFrames;
use rollcall::config::OutsideSessions;
use rollcall::enroll::{EnrollPolicy, Enrollee, enroll_person};
use rollcall::store::{Key, Store};
use rollcall::vision::analyze::FaceAnalyzer;
use testkit::classroom;

const SEATS: usize = 30;
const STRANGERS: usize = 6;

fn has_one_face(analyzer: &mut FaceAnalyzer, photo: &std::path::Path) -> bool {
    rollcall::capture::image::load(photo, u64::MAX)
        .ok()
        .and_then(|m| analyzer.analyze(&m).ok())
        .is_some_and(|a| !a.faces.is_empty())
}

fn sorted(dir: PathBuf) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn main() {
    if !testkit::bench::asked_to_measure() {
        return;
    }
    let mut config = testkit::bench::config();
    config.models.detector = "yunet-2023mar".into();
    config.models.recognizer = "sface-2021dec".into();
    config.timetable.outside_sessions = OutsideSessions::OncePerDay;
    let mut analyzer = FaceAnalyzer::from_config(&config).expect("models (run scripts/setup.sh)");
    // Seated people: identities whose every photo shows a face, at least three of them.
    let calibration = testkit::face("calibration");
    let people: Vec<String> = sorted(calibration.join("identities"))
        .into_iter()
        .filter(|d| {
            let photos = sorted(d.clone());
            photos.len() >= 3 && photos.iter().all(|p| has_one_face(&mut analyzer, p))
        })
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .take(SEATS - STRANGERS)
        .collect();
    let strangers: Vec<String> = sorted(calibration.join("strangers"))
        .into_iter()
        .filter(|p| has_one_face(&mut analyzer, p))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .take(STRANGERS)
        .collect();
    let people: Vec<&str> = people.iter().map(String::as_str).collect();
    let strangers: Vec<&str> = strangers.iter().map(String::as_str).collect();
    let seats = classroom::seats(&people, &strangers, 5, 6);
    let dir = std::env::temp_dir().join(format!("rollcall-bench-classroom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    println!(
        "rollcall classroom bench: {SEATS} seated faces ({STRANGERS} strangers), 1920x1080 at {} fps, 60 s, YuNet + SFace + MiniFASNet pair",
        classroom::FPS
    );
    println!(
        "  (every face is a photo, so liveness turns many away: `marked` is not recall here; see tests/it/classroom.rs)"
    );
    for (scene, seconds_each) in [
        ("a class sitting still", f64::INFINITY),
        ("a new view of every face every 4 s", classroom::SECONDS_EACH),
    ] {
        let clip = dir.join("classroom30.mp4");
        classroom::write_clip(&mut analyzer, &seats, 60, seconds_each, &clip);
        let mut store = Store::open_in_memory(Key::generate()).expect("store");
        for seat in &seats {
            if let (Some(person), Some(photo)) = (&seat.person, &seat.enrolled_from) {
                let who = Enrollee {
                    person,
                    name: None,
                    groups: &[],
                };
                let photos = std::slice::from_ref(photo);
                let _ = enroll_person(
                    &mut analyzer,
                    &mut store,
                    &who,
                    photos,
                    &EnrollPolicy::default(),
                    u64::MAX,
                );
            }
        }
        let mut engine =
            Engine::new(&config, FaceAnalyzer::from_config(&config).expect("models"), store).expect("engine");
        let frames = FileFrames::open(&clip, classroom::FPS as f64, 1920).expect("clip");
        let report = evaluate(&mut engine, frames, chrono::Utc::now()).expect("evaluation");
        println!("{scene}:");
        println!(
            "  {:.1} faces per frame; {} tracks; {} of {} enrolled marked; {} spoof alerts (and {} spoof tracks counted in them)",
            report.faces_per_frame,
            report.tracks.len(),
            report.marked.len(),
            SEATS - STRANGERS,
            report.spoof_alerts,
            report.spoof_repeats
        );
        println!(
            "  recognizer runs: {} ({:.0} per minute)",
            report.recognizer_runs, report.recognizer_runs_per_minute
        );
        println!(
            "  per analysed frame: {:.1} ms processor time, {:.1} ms wall; at {} fps the analysis needs {:.2} of one core",
            report.cpu_ms_per_frame,
            report.wall_ms_per_frame,
            classroom::FPS,
            report.cpu_ms_per_frame * classroom::FPS as f64 / 1000.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("  resident memory at the end: {:.0} MB", testkit::bench::rss_mb());
}
