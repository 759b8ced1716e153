//! Decisions that fit a lesson, on real models: a student in view for a long time is marked
//! when they first show their face well, whether that is after a poor start or after the bell,
//! and a face that stays unknown costs the recognizer little however long it stays.

use chrono::{DateTime, Duration, Utc};
use opencv::core::{Mat, Rect, Scalar};
use rollcall::attend::engine::{Engine, Outcome};
use rollcall::store::{Key, Store};
use testkit::degrade;

/// Obama's face at 50 px in a 640x480 frame of a low-bitrate stream (JPEG 10), with a hand over
/// the lower `hand` share of his face. At 0.6 (mouth and nose) he is still detected and live,
/// but too little of him shows to recognise: similarity 0.21 against his enrolled photo, where
/// his whole face gives 0.51.
fn obama_at_50_px(analyzer: &mut rollcall::vision::analyze::FaceAnalyzer, hands: &[f32]) -> Vec<Mat> {
    let photo = rollcall::capture::image::load(&testkit::face("ageitgey/identities/obama_2.jpg"), u64::MAX).unwrap();
    let clear = degrade::camera_frame_without_edges(&photo, 403.0, 50.0 * 403.0 / 275.0);
    let b = analyzer.analyze(&clear).unwrap().faces[0].face.bbox;
    hands
        .iter()
        .map(|&hand| {
            let mut frame = clear.clone();
            if hand > 0.0 {
                let y = b.y1 + (b.y2 - b.y1) * (1.0 - hand);
                let hand = Rect::new(
                    b.x1 as i32 - 4,
                    y as i32,
                    (b.x2 - b.x1) as i32 + 8,
                    (b.y2 - y) as i32 + 10,
                );
                let skin = Scalar::new(40.0, 60.0, 90.0, 0.0);
                opencv::imgproc::rectangle(&mut frame, hand, skin, -1, opencv::imgproc::LINE_8, 0).unwrap();
            }
            degrade::jpeg(&frame, 10)
        })
        .collect()
}

fn engine_with_obama(name: &str) -> (Engine, std::path::PathBuf) {
    let dir = testkit::scratch_dir("lesson", name);
    let mut config = testkit::config("yunet-2023mar", "sface-2021dec");
    config.timetable.sessions = vec![testkit::monday_session()];
    let mut store = Store::open(&dir.join("rollcall.db"), Key::generate()).unwrap();
    let mut analyzer = testkit::analyzer_for(&config);
    testkit::enroll_identities(
        &mut analyzer,
        &mut store,
        &[("obama", "obama_1.jpg"), ("biden", "biden_1.jpg"), ("kit", "kit_1.jpg")],
    );
    let mut engine = Engine::new(&config, analyzer, store).unwrap();
    engine.keep_reports();
    (engine, dir)
}

fn at(hms: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-11-23T{hms}Z"))
        .unwrap()
        .with_timezone(&Utc)
}

/// Plays `frames` at 5 fps from `start`, then ends the camera's tracks.
fn play(engine: &mut Engine, frames: &[&Mat], start: DateTime<Utc>) -> Vec<(DateTime<Utc>, Outcome)> {
    let mut out = Vec::new();
    let mut t = start;
    for (i, frame) in frames.iter().enumerate() {
        t = start + Duration::milliseconds(200 * i as i64);
        out.extend(
            engine
                .process("front", "101", frame, t)
                .unwrap()
                .into_iter()
                .map(|o| (t, o)),
        );
    }
    out.extend(engine.finish("front", "101").unwrap().into_iter().map(|o| (t, o)));
    out
}

#[test]
fn a_student_judged_unknown_early_is_marked_when_they_show_their_face() {
    let (mut engine, dir) = engine_with_obama("looks-up");
    let mut analyzer = testkit::analyzer("yunet-2023mar", "sface-2021dec");
    // Six seconds behind a hand (judged unknown after three); the hand drops over two seconds,
    // and the face shows for ten.
    let hands: Vec<f32> = std::iter::repeat_n(0.6, 30)
        .chain((1..=10).map(|i| 0.6 - 0.06 * i as f32))
        .chain(std::iter::repeat_n(0.0, 50))
        .collect();
    let shown = obama_at_50_px(&mut analyzer, &hands);
    let frames: Vec<&Mat> = shown.iter().collect();
    let outcomes = play(&mut engine, &frames, at("09:05:00"));
    let reports = engine.take_reports();
    println!("{outcomes:#?}\n{reports:#?}\n{:?}", engine.stats());
    assert_eq!(reports.len(), 1, "one track throughout");
    let unknown_at = outcomes.iter().position(|(_, o)| matches!(o, Outcome::Unknown { .. }));
    let marked_at = outcomes
        .iter()
        .position(|(_, o)| matches!(o, Outcome::Attendance(e) if e.person_id == "obama"));
    assert!(unknown_at.is_some(), "judged unknown behind the hand: {outcomes:?}");
    assert!(marked_at > unknown_at, "then marked when the face shows: {outcomes:?}");
    assert_eq!(
        outcomes.len(),
        2,
        "one unknown, one attendance, nothing else: {outcomes:?}"
    );
    let Outcome::Attendance(event) = &outcomes[1].1 else {
        unreachable!()
    };
    assert!(
        event.first_seen == at("09:05:00"),
        "placed by when the track began: {event:?}"
    );
    assert_eq!(reports[0].verdict, "recognised");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_unknown_face_in_view_for_a_minute_costs_the_recognizer_a_few_runs() {
    let (mut engine, dir) = engine_with_obama("stranger-stays");
    let stranger = rollcall::capture::image::load(&testkit::face("vectron/yaoming.jpg"), u64::MAX).unwrap();
    let frames: Vec<&Mat> = std::iter::repeat_n(&stranger, 300).collect();
    let outcomes = play(&mut engine, &frames, at("09:05:00"));
    let stats = engine.stats();
    println!("{outcomes:?}\n{stats:?}\n{:#?}", engine.take_reports());
    assert!(
        matches!(&outcomes[..], [(_, Outcome::Unknown { .. })]),
        "reported unknown once: {outcomes:?}"
    );
    // A still face never gets clearly better: its kept frames are embedded once, at most.
    assert!(stats.embeddings <= 5, "{stats:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_student_seated_before_the_bell_is_marked_when_the_session_begins() {
    let (mut engine, dir) = engine_with_obama("before-the-bell");
    let photo = rollcall::capture::image::load(&testkit::face("ageitgey/identities/obama_2.jpg"), u64::MAX).unwrap();
    // From 08:59:50 to 09:00:20, one track throughout.
    let frames: Vec<&Mat> = std::iter::repeat_n(&photo, 150).collect();
    let outcomes = play(&mut engine, &frames, at("08:59:50"));
    println!("{outcomes:#?}");
    let marked: Vec<_> = outcomes
        .iter()
        .filter_map(|(t, o)| match o {
            Outcome::Attendance(e) => Some((*t, e)),
            _ => None,
        })
        .collect();
    assert_eq!(marked.len(), 1, "{outcomes:?}");
    let (when, event) = marked[0];
    assert_eq!(event.person_id, "obama");
    assert_eq!(event.session_id.as_deref(), Some("7B-MATHS@2026-11-23"));
    assert_eq!(event.status, rollcall::event::Status::Present);
    assert!(
        event.first_seen >= at("09:00:00") && event.first_seen < at("09:00:01"),
        "{event:?}"
    );
    assert!(when < at("09:00:05"), "marked as the session begins, at {when}");
    assert!(
        matches!(&outcomes[0].1, Outcome::OutsideSession { .. }),
        "recognised before the bell, outside any session: {outcomes:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
