//! Passive anti-spoofing on the shared samples, with the default threshold, on both detectors'
//! boxes (MiniFASNet scores depend on how the box is drawn).
//!
//! The calibration behind the default threshold is re-measured here: it must sit above every
//! spoof sample and below every single-person portrait in ageitgey/identities.

use rollcall::config::DEFAULT_LIVE_THRESHOLD;

fn score(p: &mut rollcall::vision::analyze::FaceAnalyzer, photo: &std::path::Path) -> f32 {
    let faces = testkit::analyze(p, photo);
    let main = faces
        .iter()
        .max_by(|a, b| a.face.bbox.area().total_cmp(&b.face.bbox.area()))
        .unwrap();
    main.liveness.expect("anti-spoofing is on by default").score
}

#[test]
fn spoof_samples_are_spoofs_and_the_live_sample_is_live() {
    for (detector, recognizer) in testkit::PAIRS {
        let mut p = testkit::analyzer(detector, recognizer);
        for (photo, live) in [("image_F1.jpg", false), ("image_F2.jpg", false), ("image_T1.jpg", true)] {
            let faces = testkit::analyze(&mut p, &testkit::face(&format!("silent_face_samples/{photo}")));
            assert_eq!(faces.len(), 1);
            let l = faces[0].liveness.unwrap();
            assert_eq!(l.live, live, "{detector}: {photo} scored {}", l.score);
        }
    }
}

#[test]
fn default_threshold_sits_between_spoofs_and_bona_fide_portraits() {
    for (detector, recognizer) in testkit::PAIRS {
        let mut p = testkit::analyzer(detector, recognizer);
        let spoof_max = ["image_F1.jpg", "image_F2.jpg"]
            .iter()
            .map(|f| score(&mut p, &testkit::face(&format!("silent_face_samples/{f}"))))
            .fold(0.0f32, f32::max);
        let portrait_min = testkit::photos_under(&testkit::face("ageitgey/identities"))
            .iter()
            .map(|photo| score(&mut p, photo))
            .fold(1.0f32, f32::min);
        println!(
            "{detector}: highest spoof {spoof_max:.3}, lowest portrait {portrait_min:.3}, threshold {DEFAULT_LIVE_THRESHOLD}"
        );
        assert!(spoof_max < DEFAULT_LIVE_THRESHOLD && DEFAULT_LIVE_THRESHOLD < portrait_min);
    }
}
