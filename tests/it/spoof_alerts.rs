//! Spoof alerts must mean an attack. Real people in the shared videos, shown through the engine
//! small, compressed, out of focus, smeared by motion, or as a starved, subtitled broadcast,
//! raise none; the spoof samples waved at the camera with faces of 80 px and more, also through
//! that broadcast, are still caught.

use chrono::{DateTime, Duration, Utc};
use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;
use rollcall::attend::engine::{Engine, Outcome};
use rollcall::capture::FileFrames;
use rollcall::store::{Key, Store};

/// How a video is spoilt on its way to the engine.
#[derive(Debug, Clone, Copy)]
enum Spoilt {
    Clean,
    Compressed,
    Defocused,
    Moving,
}

fn spoil(frame: &Mat, scale: f64, how: Spoilt) -> Mat {
    use testkit::degrade::{defocus, jpeg, motion_blur};
    let mut small = Mat::default();
    let size = Size::new(
        (frame.cols() as f64 * scale) as i32 & !1,
        (frame.rows() as f64 * scale) as i32 & !1,
    );
    imgproc::resize(frame, &mut small, size, 0.0, 0.0, imgproc::INTER_AREA).unwrap();
    match how {
        Spoilt::Clean => jpeg(&small, 90),
        Spoilt::Compressed => jpeg(&small, 15),
        Spoilt::Defocused => jpeg(&defocus(&small, 1.5), 90),
        Spoilt::Moving => jpeg(&motion_blur(&small, 7), 90),
    }
}

/// Plays `frames` through a fresh engine with nobody enrolled, at 5 fps: its outcomes.
fn play(frames: &[Mat]) -> Vec<Outcome> {
    play_with(&testkit::config("yunet-2023mar", "sface-2021dec"), &[], frames).0
}

/// Plays `frames` at 5 fps, from Monday 09:00 UTC, through a fresh engine of `config` with
/// `enrolled` (person, photo under ageitgey/identities): its outcomes, and the attendance the
/// store then holds.
fn play_with(
    config: &rollcall::config::Config,
    enrolled: &[(&str, &str)],
    frames: &[Mat],
) -> (Vec<Outcome>, Vec<rollcall::event::AttendanceEvent>) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = testkit::scratch_dir("spoof_alerts", &format!("store-{run}"));
    let mut store = Store::open(&dir.join("rollcall.db"), Key::generate()).unwrap();
    let mut analyzer = testkit::analyzer_for(config);
    testkit::enroll_identities(&mut analyzer, &mut store, enrolled);
    let mut engine = Engine::new(config, analyzer, store).unwrap();
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z").unwrap().into();
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let at = start + Duration::milliseconds(200 * i as i64);
        out.extend(engine.process("cam", "101", frame, at).unwrap());
    }
    out.extend(engine.finish("cam", "101").unwrap());
    let stored = engine.store().attendance().unwrap();
    drop(engine);
    std::fs::remove_dir_all(dir).unwrap();
    (out, stored)
}

/// The clip `video` scaled to `w` x `h` and re-encoded as H.264 at `bits_per_pixel` per frame at
/// 25 fps (as a camera's starved sub-stream delivers it), read back at 5 fps; with the bitrate.
fn low_bitrate(video: &str, size: (i32, i32), bits_per_pixel: f64) -> (u32, Vec<Mat>) {
    reencode(
        &testkit::shared().join("videos").join(video),
        size,
        None,
        bits_per_pixel,
    )
}

/// A broadcast, as the podium speaker came: 15 fps, a subtitle burned in.
struct Broadcast {
    fps: u32,
    caption: &'static str,
}

/// `source` scaled to `w` x `h`, as a `broadcast` when given (else at the source's own rate,
/// taken as 25 fps), re-encoded as H.264 at `bits_per_pixel` per frame and read back at 5 fps;
/// with the bitrate. One encoder thread: with several, x264's output differs from run to run,
/// and so did the verdicts (docs/calibration.md: two such runs raised a spoof alert on a real
/// face).
fn reencode(
    source: &std::path::Path,
    (w, h): (i32, i32),
    broadcast: Option<&Broadcast>,
    bits_per_pixel: f64,
) -> (u32, Vec<Mat>) {
    let fps = broadcast.map_or(25, |b| b.fps);
    let kbps = ((w * h) as f64 * f64::from(fps) * bits_per_pixel / 1000.0).max(16.0) as u32;
    let stem = source.file_name().unwrap_or_default().to_string_lossy();
    let name = match broadcast {
        Some(b) => format!("broadcast-{stem}-{w}x{h}-{kbps}-{}fps", b.fps),
        None => format!("h264-{stem}-{w}x{h}"),
    };
    let out = testkit::scratch_dir("spoof_alerts", &name).join("low.mp4");
    let on_air = broadcast.map_or(String::new(), |b| {
        format!(
            "! videorate ! video/x-raw,framerate={}/1 ! textoverlay text=\"{}\" valignment=bottom halignment=center font-desc=\"Sans Bold 20\" ! videoconvert ",
            b.fps, b.caption
        )
    });
    testkit::encode::run_to_eos(
        &format!(
            "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,width={w},height={h} {on_air}\
             ! x264enc bitrate={kbps} speed-preset=ultrafast key-int-max=50 threads=1 ! mp4mux ! filesink location={}",
            source.display(),
            out.display()
        ),
        120,
    );
    (
        kbps,
        FileFrames::open(&out, 5.0, 1920).unwrap().map(|(m, _)| m).collect(),
    )
}

/// The median face size (shorter side, pixels) over every fifth frame.
fn median_face_px(analyzer: &mut rollcall::vision::analyze::FaceAnalyzer, frames: &[Mat]) -> f32 {
    let mut sizes: Vec<f32> = frames
        .iter()
        .step_by(5)
        .flat_map(|f| analyzer.analyze(f).unwrap().faces)
        .map(|f| f.quality.size_px)
        .collect();
    sizes.sort_by(f32::total_cmp);
    sizes.get(sizes.len() / 2).copied().unwrap_or(0.0)
}

/// How the engine judged the liveness of a clip's tracks: live (went on to be recognised or
/// called unknown), spoof, not assessed.
#[derive(Debug, Default, Clone, Copy)]
struct Judged {
    live: usize,
    spoof: usize,
    not_assessed: usize,
}

fn judged(outcomes: &[Outcome]) -> Judged {
    let mut j = Judged::default();
    for o in outcomes {
        match o {
            Outcome::Spoof(_) | Outcome::SpoofRepeated { .. } => j.spoof += 1,
            Outcome::NotAssessed { .. } => j.not_assessed += 1,
            Outcome::Attendance(_)
            | Outcome::AlreadyMarked { .. }
            | Outcome::OutsideSession { .. }
            | Outcome::Unknown { .. } => j.live += 1,
            Outcome::Alert(_) | Outcome::TooSmall { .. } => {}
        }
    }
    j
}

#[test]
fn real_people_raise_no_spoof_alert_however_poor_the_picture() {
    // Scales that make the faces about 25 to 120 px: hers fill much of a 1280x720 frame, the
    // Hamilton clip's are 60 to 130 px in 640x360.
    let videos = [
        ("liveportrait_s18.mp4", [0.1, 0.2, 0.4]),
        ("short_hamilton_clip.mp4", [0.4, 0.7, 1.0]),
    ];
    let mut analyzer = testkit::analyzer("yunet-2023mar", "sface-2021dec");
    let mut alerts = Vec::new();
    let mut table =
        vec!["video                     face px  picture              live  spoof  not assessed".to_string()];
    for (video, scales) in videos {
        let frames: Vec<Mat> = FileFrames::open(&testkit::shared().join("videos").join(video), 5.0, 1920)
            .unwrap()
            .map(|(m, _)| m)
            .collect();
        for scale in scales {
            let mut pictures: Vec<(String, Vec<Mat>)> =
                [Spoilt::Clean, Spoilt::Compressed, Spoilt::Defocused, Spoilt::Moving]
                    .into_iter()
                    .map(|how| {
                        (
                            format!("{how:?}"),
                            frames.iter().map(|f| spoil(f, scale, how)).collect(),
                        )
                    })
                    .collect();
            let clean = &pictures[0].1;
            let px = median_face_px(&mut analyzer, clean);
            let size = (clean[0].cols(), clean[0].rows());
            // 0.05 bits per pixel at 25 fps, a starved sub-stream: blocky, smeared faces. At 0.08
            // YuNet finds a "face" in the pot plant behind her, which MiniFASNet calls not live.
            for bits_per_pixel in [0.05, 0.08] {
                let (kbps, starved) = low_bitrate(video, size, bits_per_pixel);
                pictures.push((format!("H.264 {kbps} kb/s"), starved));
            }
            for (how, spoilt) in pictures {
                let outcomes = play(&spoilt);
                let j = judged(&outcomes);
                table.push(format!(
                    "{video:<25} {px:>7.0}  {how:<19} {:>5} {:>6} {:>13}",
                    j.live, j.spoof, j.not_assessed
                ));
                alerts.extend(outcomes.iter().filter_map(|o| match o {
                    Outcome::Spoof(a) => Some(format!("{video} at {scale} {how}: {}", a.detail)),
                    _ => None,
                }));
            }
        }
    }
    println!("{}", table.join("\n"));
    assert!(alerts.is_empty(), "spoof alerts on real people:\n{}", alerts.join("\n"));
}

#[test]
fn spoof_samples_waved_with_faces_of_80_px_and_more_are_still_caught() {
    for sample in ["image_F1.jpg", "image_F2.jpg"] {
        for (width, height) in [(640, 480), (960, 720)] {
            let dir = testkit::scratch_dir("spoof_alerts", &format!("wave-{sample}-{width}"));
            let clip = testkit::make_moving_clip(
                &dir,
                &testkit::face(&format!("silent_face_samples/{sample}")),
                12,
                width,
                height,
                0.0,
            );
            let frames: Vec<Mat> = FileFrames::open(&clip, 5.0, 1920).unwrap().map(|(m, _)| m).collect();
            let outcomes = play(&frames);
            println!("{sample} at {width}x{height}: {outcomes:?}");
            assert!(
                outcomes.iter().any(|o| matches!(o, Outcome::Spoof(_))),
                "{sample} at {width}x{height}: no alert: {outcomes:?}"
            );
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}

/// A spoof sample waved at the camera, lowered out of sight for two seconds and raised again:
/// two tracks, each a spoof, but one attack at one place. One alert goes out, and the second
/// track is counted in it. With the episode window at zero, as every track was judged before,
/// the same frames raise two alerts.
#[test]
fn a_photo_raised_twice_at_one_place_is_one_alert_counting_both_tracks() {
    let dir = testkit::scratch_dir("spoof_alerts", "episode");
    let clip = testkit::make_moving_clip(
        &dir,
        &testkit::face("silent_face_samples/image_F1.jpg"),
        12,
        640,
        480,
        0.0,
    );
    let waved: Vec<Mat> = FileFrames::open(&clip, 5.0, 1920).unwrap().map(|(m, _)| m).collect();
    let lowered =
        Mat::new_rows_cols_with_default(480, 640, opencv::core::CV_8UC3, opencv::core::Scalar::all(90.0)).unwrap();
    let mut frames = waved.clone();
    frames.extend(std::iter::repeat_n(lowered, 10));
    frames.extend(waved);
    let alerts_and_repeats = |episode_s: f64| {
        let mut config = testkit::config("yunet-2023mar", "sface-2021dec");
        config.liveness.alert_episode_s = episode_s;
        let (outcomes, _) = play_with(&config, &[], &frames);
        println!("episode window {episode_s} s: {outcomes:?}");
        let alerts: Vec<String> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Spoof(a) => Some(a.event_id.clone()),
                _ => None,
            })
            .collect();
        let repeats: Vec<(String, u32)> = outcomes
            .into_iter()
            .filter_map(|o| match o {
                Outcome::SpoofRepeated { alert_id, tracks, .. } => Some((alert_id, tracks)),
                _ => None,
            })
            .collect();
        (alerts, repeats)
    };
    let (alerts, repeats) = alerts_and_repeats(600.0);
    assert_eq!(alerts.len(), 1, "one alert for the episode");
    assert_eq!(repeats, vec![(alerts[0].clone(), 2)], "the second track counted in it");
    let (alerts, repeats) = alerts_and_repeats(0.0);
    assert_eq!(
        (alerts.len(), repeats.len()),
        (2, 0),
        "one alert per track without episodes"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_recognised_face_that_could_not_be_assessed_is_marked_only_where_its_camera_allows() {
    use rollcall::config::Unassessed;
    use rollcall::event::LivenessBasis;
    let frames: Vec<Mat> = FileFrames::open(&testkit::shared().join("videos/short_hamilton_clip.mp4"), 5.0, 1920)
        .unwrap()
        .map(|(m, _)| spoil(&m, 0.45, Spoilt::Clean))
        .collect();
    let enrolled = [("obama", "obama_1.jpg"), ("linmanuel", "linmanuel_1.png")];
    let mut config = testkit::config("yunet-2023mar", "sface-2021dec");
    config.timetable.sessions = vec![testkit::monday_session()];
    let (outcomes, stored) = play_with(&config, &enrolled, &frames);
    println!("require: {outcomes:?}");
    assert!(
        stored
            .iter()
            .all(|e| e.liveness_basis == LivenessBasis::Passive && e.liveness.is_some()),
        "require marks only faces judged live: {stored:?}"
    );
    // The camera's own setting wins over [liveness]: `allow` on a ceiling camera while the
    // section requires, and `require` on a kiosk while the section allows.
    let mut camera = rollcall::config::CameraConfig::new("cam", rollcall::config::SourceKind::Uri);
    camera.unassessed = Some(Unassessed::Require);
    config.cameras = vec![camera.clone()];
    config.liveness.unassessed = Unassessed::Allow;
    let (outcomes, stored) = play_with(&config, &enrolled, &frames);
    println!("allow, but the camera requires: {outcomes:?}");
    assert!(
        stored.iter().all(|e| e.liveness.is_some()),
        "the camera's require wins: {stored:?}"
    );
    camera.unassessed = Some(Unassessed::Allow);
    config.cameras = vec![camera];
    config.liveness.unassessed = Unassessed::Require;
    let (outcomes, stored) = play_with(&config, &enrolled, &frames);
    println!("require, but the camera allows: {outcomes:?}");
    let unassessed: Vec<_> = stored
        .iter()
        .filter(|e| e.liveness_basis == LivenessBasis::NotAssessed)
        .collect();
    assert!(
        !unassessed.is_empty(),
        "allow marks recognised faces without a verdict: {stored:?}"
    );
    assert!(unassessed.iter().all(|e| e.liveness.is_none()));
    let sent = serde_json::to_value(unassessed[0]).unwrap();
    assert_eq!(sent["liveness"], serde_json::Value::Null);
    assert_eq!(sent["liveness_basis"], "not_assessed");
}

/// The podium speaker, as near as the shared videos come: each real video as a starved
/// broadcast (15 fps, a subtitle burned in, 0.03 and 0.05 bits per pixel) with faces of about
/// 150 px, raises no spoof alert; the spoof samples waved at the camera, through the same
/// broadcast, are still caught. Each is also judged by the rule before the doubtful band and the
/// non-rigid bonus (`spoof_below` at the threshold, no bonus), for the figures.
#[test]
fn a_starved_subtitled_broadcast_alerts_on_the_spoof_samples_and_on_no_real_face() {
    let on_air = Broadcast {
        fps: 15,
        caption: "THE SPEAKER - LIVE FROM THE PODIUM",
    };
    let now = testkit::config("yunet-2023mar", "sface-2021dec");
    let mut before = now.clone();
    before.liveness.spoof_below = before.liveness.threshold;
    before.liveness.nonrigid_bonus = 0.0;
    let dir = testkit::scratch_dir("spoof_alerts", "broadcast-samples");
    let samples: Vec<(String, std::path::PathBuf)> = ["image_F1.jpg", "image_F2.jpg"]
        .iter()
        .map(|s| {
            let photo = testkit::face(&format!("silent_face_samples/{s}"));
            (
                s.to_string(),
                testkit::make_moving_clip(&dir, &photo, 12, 640, 480, 0.0),
            )
        })
        .collect();
    let real = [
        ("liveportrait_s18.mp4", (640, 360)),
        ("short_hamilton_clip.mp4", (832, 468)),
    ];
    let mut table = vec!["clip                      kb/s  before: live spoof n/a   now: live spoof n/a".to_string()];
    let (mut real_alerts, mut samples_missed) = (Vec::new(), Vec::new());
    for bits_per_pixel in [0.03, 0.05] {
        let clips = real
            .iter()
            .map(|(video, size)| {
                (
                    video.to_string(),
                    testkit::shared().join("videos").join(video),
                    *size,
                    false,
                )
            })
            .chain(
                samples
                    .iter()
                    .map(|(name, clip)| (name.clone(), clip.clone(), (640, 480), true)),
            );
        for (name, source, size, spoof) in clips {
            let (kbps, frames) = reencode(&source, size, Some(&on_air), bits_per_pixel);
            let old = judged(&play_with(&before, &[], &frames).0);
            let outcomes = play_with(&now, &[], &frames).0;
            let new = judged(&outcomes);
            table.push(format!(
                "{name:<25} {kbps:>4}  {:>12} {:>5} {:>3} {:>10} {:>5} {:>3}",
                old.live, old.spoof, old.not_assessed, new.live, new.spoof, new.not_assessed
            ));
            if spoof && new.spoof == 0 {
                samples_missed.push(format!("{name} at {kbps} kb/s: {outcomes:?}"));
            }
            if !spoof {
                real_alerts.extend(outcomes.iter().filter_map(|o| match o {
                    Outcome::Spoof(a) => Some(format!("{name} at {kbps} kb/s: {}", a.detail)),
                    _ => None,
                }));
            }
        }
    }
    println!("{}", table.join("\n"));
    assert!(
        real_alerts.is_empty(),
        "spoof alerts on real people:\n{}",
        real_alerts.join("\n")
    );
    assert!(
        samples_missed.is_empty(),
        "spoof samples not caught:\n{}",
        samples_missed.join("\n")
    );
    std::fs::remove_dir_all(dir).unwrap();
}
