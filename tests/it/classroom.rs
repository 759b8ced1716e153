//! A classroom scene through `rollcall eval`: twelve people seated in three rows of a 1920x1080
//! picture, faces from 40 px at the back to 120 px at the front, each showing their own photos in
//! turn. Nine are enrolled from a photo they never show; three are strangers. Every enrolled
//! person must be marked within the first minute, and no stranger, nor anyone taken for someone
//! else.
//!
//! Liveness: every face in this scene is a photo, a presentation attack by nature, so the scene
//! runs with anti-spoofing off (`--no-antispoof`) and tests recognition alone. Liveness is tested
//! on real footage (tests/it/spoof_alerts.rs, tests/it/liveness_quality.rs) and on waved prints.

use std::collections::BTreeSet;
use std::process::Command;

use opencv::prelude::*;
use testkit::classroom;

const PEOPLE: [&str; 9] = [
    "John_Simm",
    "Angelina_Jolie",
    "Katy_Perry",
    "Scarlett_Johansson",
    "Jim_Parsons",
    "Matt_Damon",
    "Mark_Zuckerberg",
    "Kaley_Cuoco",
    "Mayim_Bialik",
];
const STRANGERS: [&str; 3] = ["Amy_Adams.jpg", "Azure_Family3_Lady.jpg", "Azure_Family3_Man.jpg"];

#[test]
fn every_enrolled_student_is_marked_within_a_minute_and_no_stranger_is() {
    let dir = testkit::scratch_dir("classroom", "rows");
    let seats = classroom::seats(&PEOPLE, &STRANGERS, 3, 4);
    let mut analyzer = testkit::analyzer("yunet-2023mar", "sface-2021dec");
    let clip = dir.join("classroom.mp4");
    classroom::write_clip(&mut analyzer, &seats, 60, classroom::SECONDS_EACH, &clip);
    let roster = dir.join("roster.csv");
    classroom::write_roster(&seats, &roster);

    let out = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .current_dir(testkit::root())
        .env_remove("ROLLCALL_CONFIG")
        .args(["eval", "--json", "--no-antispoof", "--roster"])
        .arg(&roster)
        .arg(&clip)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let seat_of = |t: &serde_json::Value| {
        let centre = (
            t["centre"][0].as_f64().unwrap() as f32,
            t["centre"][1].as_f64().unwrap() as f32,
        );
        classroom::seat_at(&seats, centre)
    };
    for t in report["tracks"].as_array().unwrap() {
        println!(
            "seat {:<20} track {:>3} frames {:>3} face {:>3.0}-{:<3.0} {:<12} {:<20} {}",
            seat_of(t).person.as_deref().unwrap_or("(stranger)"),
            t["track"],
            t["frames"],
            t["face_px"][0].as_f64().unwrap_or(0.0),
            t["face_px"][1].as_f64().unwrap_or(0.0),
            t["verdict"].as_str().unwrap_or(""),
            t["person_id"].as_str().unwrap_or("-"),
            t["why"].as_str().unwrap_or("")
        );
    }
    for m in report["marked"].as_array().unwrap() {
        println!("marked {} at {:.1} s", m["person_id"], m["after_s"].as_f64().unwrap());
    }
    println!(
        "classroom: {} of {} marked; {} recognizer runs ({:.0} per minute); {:.1} ms of processor time and {:.1} ms wall per analysed frame, {:.1} faces per frame",
        report["marked"].as_array().unwrap().len(),
        PEOPLE.len(),
        report["recognizer_runs"],
        report["recognizer_runs_per_minute"].as_f64().unwrap(),
        report["cpu_ms_per_frame"].as_f64().unwrap(),
        report["wall_ms_per_frame"].as_f64().unwrap(),
        report["faces_per_frame"].as_f64().unwrap(),
    );

    // Nobody is taken for someone else: each recognised track sits in its person's seat.
    let mut wrong = Vec::new();
    for t in report["tracks"].as_array().unwrap() {
        if let Some(person) = t["person_id"].as_str() {
            let seat = seat_of(t);
            if seat.person.as_deref() != Some(person) {
                wrong.push(format!("{person} recognised in the seat of {:?}", seat.person));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let marked: BTreeSet<&str> = report["marked"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["after_s"].as_f64().unwrap() < 60.0)
        .map(|m| m["person_id"].as_str().unwrap())
        .collect();
    let everyone: BTreeSet<&str> = PEOPLE.into_iter().collect();
    assert_eq!(marked, everyone, "everyone enrolled is marked within the first minute");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Back rows of 20, 24 and 28 px, and rows of 36 and 48 px in front of them: the sizes of a real
/// classroom seen by one camera at the front.
const ROWS_PX: [f32; 5] = [20.0, 24.0, 28.0, 36.0, 48.0];
const PER_ROW: usize = 6;

/// Detection alone, on frames of the room that went through H.264 as a camera's do: every face
/// of every row is found, at 1080p and in the 3840x2160 version of the room. (With the frame
/// letterboxed into 640x640, as before, the rows of 20 to 28 px were never found.)
#[test]
fn every_row_is_found_at_the_cameras_own_resolution() {
    let dir = testkit::scratch_dir("classroom", "back-rows");
    let config = testkit::config("yunet-s", "sface-2021dec");
    let mut analyzer = testkit::analyzer_for(&config);
    let people = classroom::people_with(ROWS_PX.len() * PER_ROW, 2);
    let people: Vec<&str> = people.iter().map(String::as_str).collect();
    for frame in [(1920, 1080), (3840, 2160)] {
        let room = classroom::rows(&people, &[], &ROWS_PX, PER_ROW, frame);
        let clip = dir.join(format!("room-{}.mp4", frame.0));
        classroom::write_room_clip(&mut analyzer, &room, 2, classroom::SECONDS_EACH, &clip);
        let frames = rollcall::capture::FileFrames::open(&clip, classroom::FPS as f64, 3840).unwrap();
        let (mut worst, mut best) = (vec![usize::MAX; ROWS_PX.len()], vec![0; ROWS_PX.len()]);
        let mut seen = 0;
        for (image, _) in frames.take(3) {
            assert_eq!((image.cols(), image.rows()), frame, "decoded at the camera's own size");
            let faces = analyzer.detector_mut().detect(&image).unwrap();
            let found = classroom::found_per_row(&room, PER_ROW, &faces);
            println!(
                "{}x{}: found per row {ROWS_PX:?} px: {found:?} of {PER_ROW}",
                frame.0, frame.1
            );
            worst = worst.iter().zip(&found).map(|(w, f)| (*w).min(*f)).collect();
            best = best.iter().zip(&found).map(|(b, f)| (*b).max(*f)).collect();
            seen += 1;
        }
        assert_eq!(seen, 3);
        // One child of the 20 px row (Azure_Family1_Daughter, hands at her face) is found by
        // neither YuNet at 20 px, only from 24 px: the row of 20 px may miss one. From 24 px,
        // every face is found at 1080p over the three frames; at 4K one face of 36 px is missed
        // in every frame. In each frame, every row is found but for at most one face.
        assert!(worst.iter().all(|&w| w + 1 >= PER_ROW), "at {frame:?}: {worst:?}");
        if frame.0 == 1920 {
            assert_eq!(
                best[1..],
                vec![PER_ROW; ROWS_PX.len() - 1],
                "every face from 24 px, at {frame:?}"
            );
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Seats per row in the lesson: five students and one stranger.
const LESSON_PER_ROW: usize = 6;
/// Distractor people enrolled beside the class: a school's gallery.
const GALLERY: usize = 3000;
/// Seconds of lesson played: every student of the rows from 28 px that is marked at all is
/// marked within 9 s (see the table in docs/calibration.md).
const LESSON_S: u32 = 24;

/// A lesson in rooms of back rows (20, 24, 28 px) and front rows (36, 48 px), at 1080p and in
/// the 4K version of the room, through the engine with the default models and anti-spoofing off
/// (every face is a photo): five students and a stranger per row, each showing a new photo of
/// themselves every 4 s, against a gallery of 3000 distractor people and the class.
///
/// Per row: how many were marked, when, and how many tracks ended too small to recognise.
/// Nobody is taken for someone else, no stranger is marked, the rows under 28 px are never
/// guessed at but counted as too small, and the rows from 28 px are marked within the lesson.
#[test]
#[ignore = "figure suite: a 24 s lesson at 1080p and 4K against a gallery of 3000; release, scripts/test.sh"]
fn a_lesson_marks_each_row_it_can_and_counts_the_rest_as_too_small() {
    use rollcall::attend::engine::Engine;
    use rollcall::attend::eval::evaluate;
    use rollcall::store::{Enrollment, Key, Store};
    use rollcall::vision::embed::Embedding;

    let dir = testkit::scratch_dir("classroom", "lesson");
    let mut config = testkit::config("yunet-s", "sface-2021dec");
    config.models.antispoof.clear();
    config.timetable.outside_sessions = rollcall::config::OutsideSessions::OncePerDay;
    let mut analyzer = testkit::analyzer_for(&config);
    let distractors: Vec<(String, Vec<f32>)> = testkit::figure_cache::distractor_templates(&config, &mut analyzer)
        .into_iter()
        .take(GALLERY)
        .map(|(name, v)| (format!("distractor-{name}"), v))
        .collect();
    assert_eq!(distractors.len(), GALLERY, "calibration distractors with a face");
    let per_row = LESSON_PER_ROW - 1;
    let people = classroom::enrollable(&mut analyzer, ROWS_PX.len() * per_row, 3);
    let people: Vec<&str> = people.iter().map(String::as_str).collect();
    let strangers: Vec<String> = testkit::photos_under(&testkit::face("calibration/strangers"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let strangers: Vec<&str> = strangers.iter().take(ROWS_PX.len()).map(String::as_str).collect();
    let recognizer = analyzer.recognizer().id().clone();

    let mut table = Vec::new();
    for frame in [(1920, 1080), (3840, 2160)] {
        let room = classroom::rows(&people, &strangers, &ROWS_PX, LESSON_PER_ROW, frame);
        let clip = dir.join(format!("lesson-{}.mp4", frame.0));
        classroom::write_room_clip(&mut analyzer, &room, LESSON_S, classroom::SECONDS_EACH, &clip);

        let mut store = Store::open_in_memory(Key::generate()).unwrap();
        for (person, vector) in &distractors {
            let template = Embedding {
                recognizer: recognizer.clone(),
                vector: vector.clone(),
            };
            store
                .enroll(&Enrollment {
                    person_id: person,
                    name: None,
                    groups: None,
                    templates: &[(template, 1.0)],
                    replace: false,
                })
                .unwrap();
        }
        for seat in &room.seats {
            if let (Some(person), Some(photo)) = (&seat.person, &seat.enrolled_from) {
                let who = rollcall::enroll::Enrollee {
                    person,
                    name: None,
                    groups: &[],
                };
                let report = rollcall::enroll::enroll_person(
                    &mut analyzer,
                    &mut store,
                    &who,
                    std::slice::from_ref(photo),
                    &rollcall::enroll::EnrollPolicy::default(),
                    u64::MAX,
                )
                .unwrap();
                assert_eq!(report.accepted.len(), 1, "{person} enrolled from {}", photo.display());
            }
        }
        let mut engine = Engine::new(&config, testkit::analyzer_for(&config), store).unwrap();
        let frames = rollcall::capture::FileFrames::open(&clip, classroom::FPS as f64, 3840).unwrap();
        let start = chrono::Utc::now();
        let report = evaluate(&mut engine, frames, start).unwrap();

        // Nobody is taken for someone else: each recognised track sits in its person's seat.
        let row_of = |centre: (f32, f32)| {
            let seat = room.seat_at(centre);
            let i = room.seats.iter().position(|s| std::ptr::eq(s, seat)).unwrap();
            (i / LESSON_PER_ROW, seat)
        };
        let mut wrong = Vec::new();
        let mut too_small = vec![0usize; ROWS_PX.len()];
        for t in &report.tracks {
            let (row, seat) = row_of(t.centre);
            if let Some(person) = &t.person_id
                && seat.person.as_deref() != Some(person.as_str())
            {
                wrong.push(format!("{person} recognised in the seat of {:?}", seat.person));
            }
            if t.verdict == "too_small" {
                too_small[row] += 1;
            }
        }
        assert!(wrong.is_empty(), "at {frame:?}: {wrong:#?}");
        let mut marked = vec![Vec::new(); ROWS_PX.len()];
        for m in &report.marked {
            let row = room
                .seats
                .iter()
                .position(|s| s.person.as_deref() == Some(m.person_id.as_str()))
                .unwrap()
                / LESSON_PER_ROW;
            marked[row].push(m.after_s);
        }
        for (row, px) in ROWS_PX.iter().enumerate() {
            let times = &mut marked[row];
            times.sort_by(f64::total_cmp);
            let line = format!(
                "{}x{} row {px:>2} px: {} of {per_row} marked (first at {}, last at {}); {} tracks too small to recognise",
                frame.0,
                frame.1,
                times.len(),
                times.first().map_or("-".into(), |t| format!("{t:.1} s")),
                times.last().map_or("-".into(), |t| format!("{t:.1} s")),
                too_small[row]
            );
            println!("{line}");
            table.push(line);
        }
        println!(
            "{}x{}: {:.1} ms processor time per frame ({} frames, {} full passes), {} recognizer runs",
            frame.0, frame.1, report.cpu_ms_per_frame, report.frames, report.full_passes, report.recognizer_runs
        );
        // Under 28 px nobody is guessed at, and every such seat is counted as too small.
        for row in 0..2 {
            assert!(
                marked[row].is_empty(),
                "row of {} px at {frame:?}: {:?}",
                ROWS_PX[row],
                marked[row]
            );
            assert!(
                too_small[row] >= LESSON_PER_ROW,
                "row of {} px at {frame:?}: {} too small",
                ROWS_PX[row],
                too_small[row]
            );
        }
        // From 28 px, the rows are marked within the lesson.
        for row in 2..ROWS_PX.len() {
            assert!(
                marked[row].len() >= per_row - 1,
                "row of {} px at {frame:?}: {:?}",
                ROWS_PX[row],
                marked[row]
            );
        }
    }
    println!("{}", table.join("\n"));
    std::fs::remove_dir_all(dir).unwrap();
}
