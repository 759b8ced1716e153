//! Parity with the reference implementations on every shared photo.
//!
//! The fixtures were made once by tools/reference/make_fixtures.py: OpenCV's FaceDetectorYN +
//! FaceRecognizerSF for YuNet/SFace, the insightface package for SCRFD/ArcFace. Boxes and
//! landmarks must agree within [`MAX_PX`] and embeddings with cosine >= [`MIN_COSINE`]: the same
//! numbers as the README.

use serde_json::Value;

/// The fixtures hold coordinates to 3 decimals (0.0005 px of rounding); measured here, the worst
/// is 0.0006 px. The bound leaves room for another CPU's kernels (AVX2 against AVX-512), and is
/// still far below anything a crop or a decision could notice.
const MAX_PX: f64 = 0.01;
/// Measured: 0.99997 (SFace) and 0.99998 (ArcFace) at worst.
const MIN_COSINE: f64 = 0.9999;

/// Faces this close to the score threshold may legitimately flip between implementations.
const BORDERLINE: f64 = 0.03;

fn check(fixture: &str) {
    let text = std::fs::read_to_string(testkit::root().join("tests/fixtures/reference").join(fixture)).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let threshold = reference["score_threshold"].as_f64().unwrap();
    let mut config = testkit::config(
        reference["detector"].as_str().unwrap(),
        reference["recognizer"].as_str().unwrap(),
    );
    config.detect.score_threshold = Some(threshold as f32);
    config.detect.nms_threshold = Some(reference["nms_threshold"].as_f64().unwrap() as f32);
    config.detect.min_face_px = 0.0;
    // The references ran at a square 640x640.
    config.detect.input_size = Some([640, 640]);
    let mut analyzer = testkit::analyzer_for(&config);

    let (mut faces, mut worst_px, mut worst_cos) = (0, 0.0f64, 1.0f64);
    for (rel, expected) in reference["images"].as_object().unwrap() {
        let ours = testkit::analyze(&mut analyzer, &testkit::face(rel));
        let expected = expected.as_array().unwrap();
        for e in expected {
            let score = e["score"].as_f64().unwrap();
            let ebox: Vec<f64> = e["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            // The face whose top-left corner is nearest the reference's, if within 10 px.
            let corner_gap = |f: &&rollcall::vision::analyze::AnalyzedFace| {
                (f.face.bbox.x1 as f64 - ebox[0])
                    .abs()
                    .max((f.face.bbox.y1 as f64 - ebox[1]).abs())
            };
            let Some(f) = ours
                .iter()
                .min_by(|a, b| corner_gap(a).total_cmp(&corner_gap(b)))
                .filter(|f| corner_gap(f) < 10.0)
            else {
                assert!(
                    score < threshold + BORDERLINE,
                    "{rel}: reference face {ebox:?} (score {score}) not found"
                );
                continue;
            };
            let b = f.face.bbox;
            for (got, want) in [b.x1, b.y1, b.x2, b.y2].iter().zip(&ebox) {
                worst_px = worst_px.max((*got as f64 - want).abs());
            }
            for (p, q) in f.face.landmarks.iter().zip(e["landmarks"].as_array().unwrap()) {
                worst_px = worst_px.max((p[0] as f64 - q[0].as_f64().unwrap()).abs());
                worst_px = worst_px.max((p[1] as f64 - q[1].as_f64().unwrap()).abs());
            }
            let cos: f64 = f
                .embedding
                .vector
                .iter()
                .zip(e["embedding"].as_array().unwrap())
                .map(|(a, b)| *a as f64 * b.as_f64().unwrap())
                .sum();
            worst_cos = worst_cos.min(cos);
            assert!(
                worst_px <= MAX_PX,
                "{rel}: box/landmarks off by {worst_px:.4} px from the reference"
            );
            assert!(cos >= MIN_COSINE, "{rel}: embedding cosine {cos:.6} with the reference");
            faces += 1;
        }
        let strong = |s: f64| s >= threshold + BORDERLINE;
        let ours_strong = ours.iter().filter(|f| strong(f.face.score as f64)).count();
        let ref_all = expected.len();
        assert!(
            ours_strong <= ref_all,
            "{rel}: {ours_strong} confident faces here, the reference found {ref_all}"
        );
    }
    println!(
        "{fixture}: {faces} faces, worst box/landmark error {worst_px:.5} px, worst embedding cosine {worst_cos:.6}"
    );
    assert!(faces >= 40, "only {faces} faces compared");
}

#[test]
fn yunet_and_sface_match_opencv() {
    check("yunet_sface.json");
}

#[test]
fn scrfd_and_arcface_match_insightface() {
    check("scrfd_arcface.json");
}
