//! Detection on real photos: face counts a person would give, with both detectors, and the
//! minimum-size and threshold settings doing what they say.

use rollcall::attend::track::likeness;

/// Photos whose faces a person counts unambiguously, with that count.
const COUNTS: [(&str, usize); 6] = [
    ("insightface_t1_group.jpg", 6),
    ("ageitgey/group/two_people.jpg", 2),
    ("ageitgey/group/kit_with_rose.jpg", 2),
    ("ageitgey/identities/obama_1.jpg", 1),
    ("silent_face_samples/image_T1.jpg", 1),
    ("vectron/yaoming.jpg", 1),
];

#[test]
fn both_detectors_count_faces_as_a_person_does() {
    for (detector, recognizer) in testkit::PAIRS {
        let mut p = testkit::analyzer(detector, recognizer);
        for (photo, want) in COUNTS {
            let faces = testkit::analyze(&mut p, &testkit::face(photo));
            assert_eq!(faces.len(), want, "{detector} on {photo}");
            for f in &faces {
                let b = f.face.bbox;
                // Landmarks inside (or at the edge of) their face box, eyes above the mouth.
                for [x, y] in f.face.landmarks {
                    assert!(
                        x >= b.x1 - 5.0 && x <= b.x2 + 5.0 && y >= b.y1 - 5.0 && y <= b.y2 + 5.0,
                        "{photo}: {f:?}"
                    );
                }
                assert!(
                    f.face.landmarks[0][1] < f.face.landmarks[3][1],
                    "{photo}: eyes below mouth"
                );
                assert!(f.quality.score > 0.0 && f.quality.score <= 1.0);
            }
        }
    }
}

#[test]
fn min_face_size_and_score_threshold_filter_faces() {
    let photo = testkit::face("insightface_t1_group.jpg");
    let mut config = testkit::config("yunet-2023mar", "sface-2021dec");
    config.detect.min_face_px = 100.0;
    let faces = testkit::analyze(&mut testkit::analyzer_for(&config), &photo);
    assert!(!faces.is_empty() && faces.len() < 6, "{} faces", faces.len());
    assert!(faces.iter().all(|f| f.face.bbox.min_side() >= 100.0));

    let mut config = testkit::config("yunet-2023mar", "sface-2021dec");
    config.detect.score_threshold = Some(0.99);
    assert!(testkit::analyze(&mut testkit::analyzer_for(&config), &photo).is_empty());
}

#[test]
fn scrfd_runs_at_a_configured_input_size() {
    let mut config = testkit::config("scrfd-500m", "arcface-w600k-mbf");
    config.detect.input_size = Some([320, 320]);
    let faces = testkit::analyze(
        &mut testkit::analyzer_for(&config),
        &testkit::face("insightface_t1_group.jpg"),
    );
    assert_eq!(faces.len(), 6);
}

/// Between full passes a frame is searched only around the tracked faces: there the same faces
/// are found, at the same places, and nothing else.
/// A search around tracked faces must find each one as a full pass does: the tracker joins a
/// face to its track by overlap and by the likeness of the aligned crops, so a box or landmarks
/// found at another scale would start a new track (and a second decision) for the same face.
#[test]
fn a_search_around_tracked_faces_finds_them_as_a_full_pass_does() {
    let min_likeness = rollcall::attend::track::TrackerSettings::default().min_likeness;
    for (detector, photo) in [
        ("yunet-s", "insightface_t1_group.jpg"),
        ("yunet-2023mar", "insightface_t1_group.jpg"),
        ("yunet-2023mar", "silent_face_samples/image_F1.jpg"),
        ("yunet-2023mar", "ageitgey/identities/biden_2.jpg"),
    ] {
        let mut analyzer = testkit::analyzer(detector, "sface-2021dec");
        let frame = rollcall::capture::image::load(&testkit::face(photo), u64::MAX).unwrap();
        let full = analyzer.observe(&frame).unwrap();
        assert!(!full.is_empty(), "{detector} on {photo}");
        let tracked: Vec<_> = full.iter().map(|o| o.face.bbox).collect();
        let again = analyzer.observe_around(&frame, &tracked).unwrap();
        println!(
            "{detector} on {photo}: {} faces in a full pass, {} around them",
            full.len(),
            again.len()
        );
        for f in &full {
            let best = again
                .iter()
                .map(|g| (g.face.bbox.iou(&f.face.bbox), likeness(&f.thumb, &g.thumb)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            println!("  {:?}: found again at (iou, likeness) {best:?}", f.face.bbox);
            assert!(
                best.is_some_and(|(iou, like)| iou > 0.8 && like >= min_likeness),
                "{detector} on {photo}: {:?} found again as the same face: {best:?}",
                f.face.bbox
            );
        }
    }
    let mut analyzer = testkit::analyzer("yunet-s", "sface-2021dec");
    let group = rollcall::capture::image::load(&testkit::face("insightface_t1_group.jpg"), u64::MAX).unwrap();
    let full = analyzer.observe(&group).unwrap();
    let one = analyzer.observe_around(&group, &[full[0].face.bbox]).unwrap();
    assert!(one.iter().any(|g| g.face.bbox.iou(&full[0].face.bbox) > 0.8));
    assert!(
        one.len() < full.len(),
        "only near the face searched around: {}",
        one.len()
    );
}
