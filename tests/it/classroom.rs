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
