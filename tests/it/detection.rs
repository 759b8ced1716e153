//! Detection on real photos: face counts a person would give, with both detectors, and the
//! minimum-size and threshold settings doing what they say.

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
#[test]
fn a_search_around_tracked_faces_finds_them_again() {
    let mut analyzer = testkit::analyzer("yunet-s", "sface-2021dec");
    let photo = rollcall::capture::image::load(&testkit::face("insightface_t1_group.jpg"), u64::MAX).unwrap();
    let detector = analyzer.detector_mut();
    let full = detector.detect(&photo).unwrap();
    assert!(full.len() >= 5, "{} faces", full.len());
    let tracked: Vec<_> = full.iter().map(|f| f.bbox).collect();
    let again = detector.detect_around(&photo, &tracked).unwrap();
    println!("{} faces in a full pass, {} around them", full.len(), again.len());
    assert_eq!(again.len(), full.len());
    for f in &full {
        assert!(
            again.iter().any(|g| g.bbox.iou(&f.bbox) > 0.7),
            "{:?} found again",
            f.bbox
        );
    }
    let one = detector.detect_around(&photo, &tracked[..1]).unwrap();
    assert!(one.iter().any(|g| g.bbox.iou(&full[0].bbox) > 0.7));
    assert!(
        one.len() < full.len(),
        "only near the face searched around: {}",
        one.len()
    );
}
