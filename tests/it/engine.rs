//! The attendance engine end to end on real models: enroll from the shared identities, play
//! clips through it, and check who is marked, who is not, and what is refused.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use rollcall::attend::engine::{Engine, Outcome};
use rollcall::capture::FileFrames;
use rollcall::config::{Config, LivenessConfig};
use rollcall::enroll::{EnrollPolicy, Enrollee, enroll_person};
use rollcall::store::{Enrollment, Key, Store};

/// The Hamilton test plays its clip through a real-time camera: frames it cannot analyse in time
/// are dropped, so it runs alone (write) while the other tests, which read files at their own
/// pace, share the machine (read).
static CPU: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared_cpu() -> std::sync::RwLockReadGuard<'static, ()> {
    CPU.read().unwrap_or_else(|e| e.into_inner())
}

fn scratch(name: &str) -> PathBuf {
    testkit::scratch_dir("engine", name)
}

/// Monday 2026-11-23, 09:00 UTC: the start of the test session.
fn session_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn config_with_session() -> Config {
    let mut c = testkit::config("yunet-2023mar", "sface-2021dec");
    c.timetable.sessions = vec![testkit::monday_session()];
    c
}

const ENROLLED: [(&str, &str); 5] = [
    ("obama", "obama_1.jpg"),
    ("biden", "biden_1.jpg"),
    ("kit", "kit_1.jpg"),
    ("rose", "rose_1.jpg"),
    ("alex", "alex_1.jpg"),
];

fn enroll_all(config: &Config, store: &mut Store) {
    let mut p = testkit::analyzer_for(config);
    let reports = testkit::enroll_identities(&mut p, store, &ENROLLED);
    for ((person, _), r) in ENROLLED.iter().zip(reports) {
        assert_eq!(r.accepted.len(), 1, "{person}: {:?}", r.rejected);
    }
}

/// The slideshow: (photo, the enrolled person it shows, or None for a stranger or a spoof).
fn slides() -> Vec<(&'static str, Option<&'static str>)> {
    vec![
        ("ageitgey/identities/obama_2.jpg", Some("obama")),
        ("vectron/yaoming.jpg", None),
        ("ageitgey/identities/kit_3.jpg", Some("kit")),
        ("silent_face_samples/image_F1.jpg", None),
        ("ageitgey/identities/biden_2.jpg", Some("biden")),
        ("ageitgey/identities/linmanuel_1.png", None),
        ("ageitgey/identities/rose_2.jpg", Some("rose")),
        ("silent_face_samples/image_F2.jpg", None),
        ("ageitgey/identities/alex_2.jpg", Some("alex")),
        ("ageitgey/identities/obama_3.jpg", Some("obama")),
        ("silent_face_samples/image_T1.jpg", None),
        ("insightface_t1_group.jpg", None),
    ]
}

const SECONDS_EACH: u32 = 2;

/// Plays the clip through the engine as if it started at `start`.
fn play(engine: &mut Engine, clip: &std::path::Path, start: DateTime<Utc>) -> Vec<(DateTime<Utc>, Outcome)> {
    let mut out = Vec::new();
    let mut last = start;
    for (image, pts) in FileFrames::open(clip, 5.0, 1280).unwrap() {
        last = start + Duration::from_std(pts).unwrap();
        for o in engine.process("front", "101", &image, last).unwrap() {
            out.push((last, o));
        }
    }
    for o in engine.finish("front", "101").unwrap() {
        out.push((last, o));
    }
    out
}

/// Which slide was showing at `t`: videorate shows each photo from halfway after the previous
/// one's time to halfway before the next one's.
fn slide_at(start: DateTime<Utc>, t: DateTime<Utc>) -> usize {
    let each = SECONDS_EACH as i64 * 1000;
    (((t - start).num_milliseconds() + each / 2) / each) as usize
}

#[test]
fn a_slideshow_of_students_and_strangers_marks_each_student_once() {
    let _cpu = shared_cpu();
    let dir = scratch("slideshow");
    let config = config_with_session();
    let key = Key::generate();
    let mut store = Store::open(&dir.join("rollcall.db"), key.clone()).unwrap();
    enroll_all(&config, &mut store);
    let photos: Vec<PathBuf> = slides().iter().map(|s| testkit::face(s.0)).collect();
    let clip = testkit::make_clip(&dir, &photos, 1280, 720, SECONDS_EACH, 10);

    let mut engine = Engine::new(&config, testkit::analyzer_for(&config), store).unwrap();
    let start = session_start() + Duration::minutes(2);
    let outcomes = play(&mut engine, &clip, start);
    let stats = engine.stats();
    println!(
        "{} frames, {} faces: {} recognizer runs instead of {} ({:.0}%)",
        stats.frames,
        stats.faces,
        stats.embeddings,
        stats.faces,
        100.0 * stats.embeddings as f64 / stats.faces as f64
    );
    for (t, o) in &outcomes {
        let what = match o {
            Outcome::Attendance(e) => format!(
                "attendance {} sim {:.2} margin {:.2} live {:.2}",
                e.person_id,
                e.similarity,
                e.margin,
                e.liveness.unwrap_or(f32::NAN)
            ),
            Outcome::Spoof(a) => format!("spoof: {}", a.detail),
            other => format!("{other:?}"),
        };
        println!(
            "{:>5} ms  slide {:>2}  {what}",
            (*t - start).num_milliseconds(),
            slide_at(start, *t)
        );
    }
    let mut marked: Vec<String> = Vec::new();
    let mut spoof_slides = Vec::new();
    for (t, o) in &outcomes {
        let (photo, shows) = slides()[slide_at(start, *t).min(slides().len() - 1)];
        match o {
            Outcome::Attendance(e) => {
                assert_eq!(
                    Some(e.person_id.as_str()),
                    shows,
                    "{} marked while {photo} was showing",
                    e.person_id
                );
                assert_eq!(e.session_id.as_deref(), Some("7B-MATHS@2026-11-23"));
                assert_eq!(e.status, rollcall::event::Status::Present);
                marked.push(e.person_id.clone());
            }
            Outcome::AlreadyMarked { person_id, .. } => assert_eq!(Some(person_id.as_str()), shows, "{photo}"),
            Outcome::Spoof(_) => spoof_slides.push(photo),
            _ => {}
        }
    }
    marked.sort();
    let mut want: Vec<String> = ENROLLED.iter().map(|e| e.0.to_string()).collect();
    want.sort();
    assert_eq!(marked, want, "each enrolled person exactly once");
    for spoof in ["silent_face_samples/image_F1.jpg", "silent_face_samples/image_F2.jpg"] {
        assert!(
            spoof_slides.contains(&spoof),
            "{spoof} raised no alert: {spoof_slides:?}"
        );
    }
    // Only kept frames are embedded, each at most once.
    assert!(stats.embeddings < stats.faces, "{stats:?}");
    assert_eq!(engine.store().attendance().unwrap().len(), 5);
    assert!(engine.store().alert_count(rollcall::event::AlertKind::Spoof).unwrap() >= 2);

    // Restart in the middle of the session: the same clip again marks no one twice.
    drop(engine);
    let store = Store::open(&dir.join("rollcall.db"), key).unwrap();
    let mut engine = Engine::new(&config, testkit::analyzer_for(&config), store).unwrap();
    let again = play(&mut engine, &clip, start + Duration::minutes(5));
    assert!(
        !again.iter().any(|(_, o)| matches!(o, Outcome::Attendance(_))),
        "{again:?}"
    );
    assert!(again.iter().any(|(_, o)| matches!(o, Outcome::AlreadyMarked { .. })));
    assert_eq!(engine.store().attendance().unwrap().len(), 5);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn per_class_matching_and_late_arrivals() {
    let _cpu = shared_cpu();
    let dir = scratch("class");
    let mut config = config_with_session();
    config.timetable.sessions[0].group = Some("7b".into());
    let mut store = Store::open(&dir.join("rollcall.db"), Key::generate()).unwrap();
    enroll_all(&config, &mut store);
    // Only Kit is in 7B.
    store
        .enroll(&Enrollment {
            person_id: "kit",
            name: None,
            groups: Some(&["7b".into()]),
            templates: &[],
            replace: false,
        })
        .unwrap();
    let photos: Vec<PathBuf> = ["ageitgey/identities/kit_3.jpg", "ageitgey/identities/obama_2.jpg"]
        .map(testkit::face)
        .to_vec();
    let clip = testkit::make_clip(&dir, &photos, 1280, 720, SECONDS_EACH, 10);
    let mut engine = Engine::new(&config, testkit::analyzer_for(&config), store).unwrap();
    let outcomes = play(&mut engine, &clip, session_start() + Duration::minutes(15));
    let events: Vec<_> = outcomes
        .iter()
        .filter_map(|(_, o)| if let Outcome::Attendance(e) = o { Some(e) } else { None })
        .collect();
    assert_eq!(events.len(), 1, "{outcomes:?}");
    assert_eq!(events[0].person_id, "kit");
    assert_eq!(
        events[0].status,
        rollcall::event::Status::Late,
        "15 minutes in, grace 10"
    );
    assert!(
        outcomes.iter().any(|(_, o)| matches!(o, Outcome::Unknown { .. })),
        "Obama is not in 7B: unknown here"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn outside_sessions_nobody_is_marked_by_default() {
    let _cpu = shared_cpu();
    let dir = scratch("outside");
    let config = config_with_session();
    let mut store = Store::open(&dir.join("rollcall.db"), Key::generate()).unwrap();
    enroll_all(&config, &mut store);
    let clip = testkit::make_clip(
        &dir,
        &[testkit::face("ageitgey/identities/obama_2.jpg")],
        1280,
        720,
        SECONDS_EACH,
        10,
    );
    let mut engine = Engine::new(&config, testkit::analyzer_for(&config), store).unwrap();
    let outcomes = play(&mut engine, &clip, session_start() + Duration::hours(3));
    assert!(
        matches!(&outcomes[..], [(_, Outcome::OutsideSession { person_id })] if person_id == "obama"),
        "{outcomes:?}"
    );
    assert!(engine.store().attendance().unwrap().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_hamilton_clip_marks_obama_and_lin_manuel_once_and_no_one_else() {
    let _alone = CPU.write().unwrap_or_else(|e| e.into_inner());
    use rollcall::capture::Camera;
    use rollcall::config::{CameraConfig, SourceKind};
    let dir = scratch("hamilton");
    let mut config = config_with_session();
    // The session runs all of today (UTC); should the test straddle midnight, once-per-day
    // attendance still gives each person one event.
    let now = Utc::now();
    config.timetable.sessions[0].days = vec![now.format("%a").to_string().to_lowercase()];
    config.timetable.sessions[0].start = "00:00".into();
    config.timetable.sessions[0].end = "23:59".into();
    config.timetable.outside_sessions = rollcall::config::OutsideSessions::OncePerDay;
    let mut store = Store::open(&dir.join("rollcall.db"), Key::generate()).unwrap();
    let mut p = testkit::analyzer_for(&config);
    let policy = EnrollPolicy::default();
    for (person, photos) in [
        (
            "obama",
            vec!["obama_1.jpg", "obama_2.jpg", "obama_3.jpg", "obama_4.jpg"],
        ),
        ("linmanuel", vec!["linmanuel_1.png"]),
        ("biden", vec!["biden_1.jpg"]),
        ("kit", vec!["kit_1.jpg"]),
    ] {
        let photos: Vec<PathBuf> = photos
            .iter()
            .map(|f| testkit::face(&format!("ageitgey/identities/{f}")))
            .collect();
        let who = Enrollee {
            person,
            name: None,
            groups: &[],
        };
        let r = enroll_person(&mut p, &mut store, &who, &photos, &policy, u64::MAX).unwrap();
        println!(
            "{person}: {} photos accepted, rejected {:?}",
            r.accepted.len(),
            r.rejected
        );
    }
    drop(p);

    let mut cam = CameraConfig::new("stage", SourceKind::Uri);
    cam.uri = Some(
        testkit::shared()
            .join("videos/short_hamilton_clip.mp4")
            .to_string_lossy()
            .into_owned(),
    );
    cam.analysis_fps = 5.0;
    let camera = Camera::start(cam).unwrap();
    let mut engine = Engine::new(&config, testkit::analyzer_for(&config), store).unwrap();
    let mut outcomes = Vec::new();
    let started = std::time::Instant::now();
    // The clip is 10 s long and plays in real time; it ends, the camera reconnects and replays.
    while started.elapsed() < std::time::Duration::from_secs(11) {
        if let Some(frame) = camera.next_frame(std::time::Duration::from_secs(2)) {
            let at: DateTime<Utc> = frame.captured_at.into();
            outcomes.extend(engine.process("stage", "101", &frame.image, at).unwrap());
        }
    }
    outcomes.extend(engine.finish("stage", "101").unwrap());
    for o in &outcomes {
        println!("{o:?}");
    }
    let stats = engine.stats();
    println!(
        "{} frames, {} faces, {} recognizer runs",
        stats.frames, stats.faces, stats.embeddings
    );
    let mut marked: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| {
            if let Outcome::Attendance(e) = o {
                Some(e.person_id.as_str())
            } else {
                None
            }
        })
        .collect();
    marked.sort();
    assert_eq!(marked, vec!["linmanuel", "obama"], "{outcomes:?}");
    assert!(!outcomes.iter().any(
        |o| matches!(o, Outcome::AlreadyMarked { person_id, .. } if person_id != "obama" && person_id != "linmanuel")
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn photos_waved_at_the_camera_raise_alerts_and_mark_no_one() {
    let _cpu = shared_cpu();
    let config = config_with_session();
    for sample in ["image_F1.jpg", "image_F2.jpg"] {
        let dir = scratch(&format!("wave-{sample}"));
        let mut store = Store::open(&dir.join("rollcall.db"), Key::generate()).unwrap();
        // The person in the attack is enrolled (from the live sample): a match must still not count.
        let mut p = testkit::analyzer_for(&config);
        let who = Enrollee {
            person: "target",
            name: None,
            groups: &[],
        };
        let photo = testkit::face("silent_face_samples/image_T1.jpg");
        enroll_person(
            &mut p,
            &mut store,
            &who,
            std::slice::from_ref(&photo),
            &EnrollPolicy::default(),
            u64::MAX,
        )
        .unwrap();
        drop(p);
        let clip = testkit::make_moving_clip(
            &dir,
            &testkit::face(&format!("silent_face_samples/{sample}")),
            12,
            640,
            480,
            0.0,
        );
        let mut engine = Engine::new(&config, testkit::analyzer_for(&config), store).unwrap();
        let outcomes: Vec<Outcome> = play(&mut engine, &clip, session_start() + Duration::minutes(1))
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        for o in &outcomes {
            match o {
                Outcome::Spoof(a) => println!("{sample}: {}", a.detail),
                other => println!("{sample}: {other:?}"),
            }
        }
        assert!(
            outcomes.iter().any(|o| matches!(o, Outcome::Spoof(_))),
            "{sample}: no alert: {outcomes:?}"
        );
        assert!(
            !outcomes.iter().any(|o| matches!(o, Outcome::Attendance(_))),
            "{sample}: {outcomes:?}"
        );
        assert!(engine.store().attendance().unwrap().is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// The measurement behind the motion half of the liveness fusion: a photo moved as a flat plane
/// is flagged rigid (its figures are printed; real faces' are in the Hamilton test's log).
#[test]
fn landmark_motion_flags_a_waved_photo_as_rigid() {
    let _cpu = shared_cpu();
    let config = config_with_session();
    let mut p = testkit::analyzer_for(&config);
    let dir = scratch("motion");
    let clip = testkit::make_moving_clip(
        &dir,
        &testkit::face("silent_face_samples/image_T1.jpg"),
        12,
        640,
        480,
        0.0,
    );
    let mut landmarks = Vec::new();
    for (image, _) in FileFrames::open(&clip, 5.0, 640).unwrap() {
        let obs = p.observe(&image).unwrap();
        if let Some(o) = obs
            .into_iter()
            .max_by(|a, b| a.face.bbox.area().total_cmp(&b.face.bbox.area()))
        {
            landmarks.push(o.face.landmarks);
        }
    }
    let photo = rollcall::vision::liveness::landmark_motion(&landmarks);
    let l = LivenessConfig::default();
    println!("waved photo of image_T1 over {} frames: {photo:?}", landmarks.len());
    assert!(
        photo.looks_rigid(l.rigid_min_travel, l.rigid_max_deformation),
        "{photo:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Eye openings of the largest face on each frame of `clip`, read at `fps`.
fn eye_openings(p: &mut rollcall::vision::analyze::FaceAnalyzer, clip: &std::path::Path, fps: f64) -> Vec<f32> {
    let mut out = Vec::new();
    for (image, _) in FileFrames::open(clip, fps, 1280).unwrap() {
        let obs = p.observe(&image).unwrap();
        if let Some(o) = obs
            .into_iter()
            .max_by(|a, b| a.face.bbox.area().total_cmp(&b.face.bbox.area()))
        {
            let points = p.dense_landmarks(&image, &o.face.bbox).unwrap().unwrap();
            out.push(rollcall::vision::landmarks::eye_openness(&points, &o.face.landmarks));
        }
    }
    out
}

/// The measurement behind the blink half of the liveness fusion: her blink is seen at 5 fps, and
/// photos waved at the camera (flat pictures: the live sample printed, the two spoof samples)
/// never blink.
#[test]
fn a_blink_is_seen_on_a_real_face_and_never_on_a_waved_photo() {
    let _cpu = shared_cpu();
    let mut config = config_with_session();
    config.models.landmarks = Some("landmarks-2d106".into());
    let mut p = testkit::analyzer_for(&config);
    let dir = scratch("blink");
    let real = testkit::shared().join("videos/liveportrait_s18.mp4");
    let fmt = |v: &[f32]| v.iter().map(|o| format!("{o:.2}")).collect::<Vec<_>>().join(" ");
    for fps in [5.0, 10.0] {
        let eyes = eye_openings(&mut p, &real, fps);
        println!("liveportrait_s18 at {fps} fps: {}", fmt(&eyes));
        assert!(rollcall::vision::liveness::blinked(&eyes), "no blink seen at {fps} fps");
    }
    for (name, squeeze) in [
        ("silent_face_samples/image_T1.jpg", 0.0),
        ("silent_face_samples/image_T1.jpg", 0.3),
        ("silent_face_samples/image_F1.jpg", 0.0),
        ("silent_face_samples/image_F2.jpg", 0.0),
        ("ageitgey/identities/obama_2.jpg", 0.3),
    ] {
        let clip = testkit::make_moving_clip(&dir, &testkit::face(name), 12, 640, 480, squeeze);
        let eyes = eye_openings(&mut p, &clip, 5.0);
        println!("{name} waved (squeeze {squeeze}): {}", fmt(&eyes));
        assert!(!rollcall::vision::liveness::blinked(&eyes), "{name} blinked: {eyes:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// The blink cue in the engine, with the 106-point model configured: her track is decided after
/// a blink; the waved print of image_T1, which moves like a flat picture, never blinks and so
/// keeps its flat-picture penalty.
#[test]
fn the_engine_sees_her_blink_and_no_blink_on_a_waved_print() {
    let _cpu = shared_cpu();
    let dir = scratch("engine-blink");
    let mut config = config_with_session();
    config.models.landmarks = Some("landmarks-2d106".into());
    // Tracks decided after 8 frames (1.6 s), not 3: her first blink comes at 0.4 to 0.8 s.
    config.recognize.min_frames = 8;
    let store = Store::open(&dir.join("rollcall.db"), Key::generate()).unwrap();
    let mut engine = Engine::new(&config, testkit::analyzer_for(&config), store).unwrap();
    let start = session_start();
    let real = testkit::shared().join("videos/liveportrait_s18.mp4");
    let her = play(&mut engine, &real, start);
    println!(
        "her clip: {:?}; {:?}",
        her.iter().map(|o| &o.1).collect::<Vec<_>>(),
        engine.stats()
    );
    assert!(engine.stats().blinked >= 1, "{:?}", engine.stats());
    assert!(!her.iter().any(|(_, o)| matches!(o, Outcome::Spoof(_))), "{her:?}");

    let before = engine.stats();
    let clip = testkit::make_moving_clip(
        &dir,
        &testkit::face("silent_face_samples/image_T1.jpg"),
        12,
        640,
        480,
        0.0,
    );
    let print = play(&mut engine, &clip, start + Duration::minutes(1));
    let after = engine.stats();
    println!(
        "waved print of image_T1: {:?}; {after:?}",
        print.iter().map(|o| &o.1).collect::<Vec<_>>()
    );
    assert!(after.decisions > before.decisions, "the print's track was decided");
    assert_eq!(after.blinked, before.blinked, "a print cannot blink");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn people_neither_seen_nor_re_enrolled_are_expired_audited_and_matched_no_more() {
    let _cpu = shared_cpu();
    let config = config_with_session();
    let dir = scratch("expire");
    let mut store = Store::open(&dir.join("rollcall.db"), rollcall::store::Key::generate()).unwrap();
    enroll_all(&config, &mut store);
    // Obama was seen after the cutoff; the other four were last enrolled before it.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let cutoff = Utc::now();
    let mut seen = testkit::events::attendance("obama", "box");
    seen.decided_at = cutoff + chrono::Duration::seconds(1);
    store.record_attendance(&seen, "once").unwrap();
    let mut engine = Engine::new(&config, testkit::analyzer_for(&config), store).unwrap();
    assert_eq!(engine.gallery().people(), 5);

    let gone = engine.expire_unseen(cutoff).unwrap();
    assert_eq!(gone, ["alex", "biden", "kit", "rose"]);
    assert_eq!(engine.gallery().people(), 1, "the gallery in use shrinks at once");
    let trail = engine.store().audit_trail().unwrap();
    assert_eq!(trail.len(), 4);
    assert!(trail.iter().all(|r| r.action.as_str() == "expire"), "{trail:?}");
    assert!(engine.expire_unseen(cutoff).unwrap().is_empty(), "nothing twice");
    std::fs::remove_dir_all(dir).unwrap();
}

/// docs/deploy.md: two boxes watching the same room each publish their own event for a student,
/// which a backend merges by person and session.
#[test]
fn two_devices_watching_one_room_each_mark_the_same_person_and_session() {
    let _cpu = shared_cpu();
    let dir = scratch("two-devices");
    let photos: Vec<PathBuf> = slides().iter().take(2).map(|s| testkit::face(s.0)).collect();
    let clip = testkit::make_clip(&dir, &photos, 1280, 720, SECONDS_EACH, 10);
    let start = session_start() + Duration::minutes(2);
    let mut marks = Vec::new();
    for device in ["box-a", "box-b"] {
        let mut config = config_with_session();
        config.device.id = Some(device.into());
        let mut store = Store::open(&dir.join(format!("{device}.db")), Key::generate()).unwrap();
        enroll_all(&config, &mut store);
        let mut engine = Engine::new(&config, testkit::analyzer_for(&config), store).unwrap();
        for (_, o) in play(&mut engine, &clip, start) {
            if let Outcome::Attendance(e) = o {
                marks.push(e);
            }
        }
    }
    let first = slides()[0].1.unwrap();
    let of_first: Vec<_> = marks.iter().filter(|e| e.person_id == first).collect();
    assert_eq!(of_first.len(), 2, "one event per device: {marks:#?}");
    assert_eq!(
        of_first[0].session_id, of_first[1].session_id,
        "the same session: the backend's merge key"
    );
    assert!(of_first[0].session_id.is_some());
    assert_ne!(of_first[0].device, of_first[1].device);
    assert_ne!(of_first[0].event_id, of_first[1].event_id);
    std::fs::remove_dir_all(dir).unwrap();
}
