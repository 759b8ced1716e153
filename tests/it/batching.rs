//! Several faces in one run. SFace and the MiniFASNet pair were exported for one face a run; the
//! loader frees their batch in memory (`vision::model::onnx_edit::free_batch`) and proves on the
//! model itself that a batch gives what single runs give, else keeps one face a run.

use opencv::core::{CV_8UC3, Mat, Scalar};
use rollcall::config::Config;
use rollcall::vision::analyze::FaceAnalyzer;
use rollcall::vision::detect::BBox;

#[test]
fn every_face_model_takes_batches_and_gives_what_single_runs_give() {
    for recognizer in ["sface-2021dec", "arcface-w600k-mbf"] {
        let mut analyzer = testkit::analyzer("yunet-s", recognizer);
        assert!(
            analyzer.recognizer().takes_batches(),
            "{recognizer} runs one face at a time"
        );
        let antispoof = analyzer.antispoof().expect("the default config has anti-spoofing");
        assert!(
            antispoof.takes_batches(),
            "the anti-spoofing pair runs one face at a time"
        );
        let (mut faces, mut worst_cosine, mut worst_live) = (0, 1.0f32, 0.0f32);
        for photo in testkit::speed_photos() {
            let frame = rollcall::capture::image::load(&photo, rollcall::config::DEFAULT_MAX_PIXELS).unwrap();
            let observed = analyzer.observe(&frame).unwrap();
            let crops: Vec<Mat> = observed.iter().map(|o| o.aligned.clone()).collect();
            let boxes: Vec<BBox> = observed.iter().map(|o| o.face.bbox).collect();
            let together = analyzer.embed(&crops).unwrap();
            let scores = analyzer.live_scores(&frame, &boxes).unwrap().unwrap();
            for (i, (crop, bbox)) in crops.iter().zip(&boxes).enumerate() {
                let alone = analyzer.embed(std::slice::from_ref(crop)).unwrap();
                worst_cosine = worst_cosine.min(alone[0].similarity(&together[i]).unwrap());
                let score = analyzer
                    .live_scores(&frame, std::slice::from_ref(bbox))
                    .unwrap()
                    .unwrap();
                worst_live = worst_live.max((score[0] - scores[i]).abs());
            }
            faces += crops.len();
        }
        println!(
            "{recognizer}: {faces} faces, batch against single runs: least cosine {worst_cosine:.7}, widest live-score change {worst_live:.2e}"
        );
        assert!(faces >= 60, "only {faces} faces found");
        testkit::assert_unchanged(recognizer, worst_cosine, worst_live);
    }
}

/// A model on which freeing the batch would be wrong: it transposes batch and channels before
/// flattening to `[1, -1]`, so a batch of two comes out mixed. Encoded by hand (ONNX's protobuf),
/// as a recognizer of 2x2 crops and 12 values.
fn mixing_model() -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn bytes(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(number << 3 | 2, &mut out);
        varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    }
    fn int(number: u64, value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(number << 3, &mut out);
        varint(value, &mut out);
        out
    }
    let value_info = |name: &str, dims: &[u64]| {
        let shape: Vec<u8> = dims.iter().flat_map(|&d| bytes(1, &int(1, d))).collect();
        let tensor = [int(1, 1), bytes(2, &shape)].concat();
        [bytes(1, name.as_bytes()), bytes(2, &bytes(1, &tensor))].concat()
    };
    let perm: Vec<u8> = [1u64, 0, 2, 3].iter().flat_map(|&p| int(8, p)).collect();
    let transpose = [
        bytes(1, b"x"),
        bytes(2, b"t"),
        bytes(4, b"Transpose"),
        bytes(5, &[bytes(1, b"perm"), perm, int(20, 7)].concat()),
    ]
    .concat();
    let target: Vec<u8> = [1i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
    let shape_tensor = [int(1, 2), int(2, 7), bytes(9, &target)].concat();
    let constant = [
        bytes(2, b"shape"),
        bytes(4, b"Constant"),
        bytes(5, &[bytes(1, b"value"), bytes(5, &shape_tensor), int(20, 4)].concat()),
    ]
    .concat();
    let reshape = [bytes(1, b"t"), bytes(1, b"shape"), bytes(2, b"y"), bytes(4, b"Reshape")].concat();
    let graph = [
        bytes(1, &transpose),
        bytes(1, &constant),
        bytes(1, &reshape),
        bytes(2, b"mixer"),
        bytes(11, &value_info("x", &[1, 3, 2, 2])),
        bytes(12, &value_info("y", &[1, 12])),
    ]
    .concat();
    [int(1, 7), bytes(7, &graph), bytes(8, &int(2, 13))].concat()
}

#[test]
fn a_model_a_batch_would_mix_up_keeps_one_face_a_run() {
    let dir = testkit::scratch_dir("batching", "mixer");
    let file = dir.join("mixer.onnx");
    std::fs::write(&file, mixing_model()).unwrap();
    let toml = format!(
        r#"
        [[models.custom]]
        name = "mixer"
        kind = "recognizer"
        family = "arcface"
        file = "{}"
        input = {{ width = 2, height = 2, channels = "bgr", mean = 0.0, std = 1.0 }}
        recognizer = {{ dim = 12, threshold = 0.5 }}
    "#,
        file.display()
    );
    let parsed = Config::parse(&toml, &testkit::root().join("config/test.toml")).unwrap();
    let mut config = testkit::config("yunet-s", "mixer");
    config.models.custom = parsed.models.custom;
    config.models.antispoof.clear();
    testkit::pin_custom_models(&mut config);
    let mut analyzer = FaceAnalyzer::from_config(&config).unwrap();
    assert!(
        !analyzer.recognizer().takes_batches(),
        "the batch was freed although a batch mixes the faces up"
    );
    let crop = |v: f64| Mat::new_rows_cols_with_default(2, 2, CV_8UC3, Scalar::new(v, 2.0 * v, 3.0 * v, 0.0)).unwrap();
    let (a, b) = (crop(10.0), crop(40.0));
    let together = analyzer.embed(&[a.clone(), b.clone()]).unwrap();
    let alone = [analyzer.embed(&[a]).unwrap(), analyzer.embed(&[b]).unwrap()];
    for (t, s) in together.iter().zip(&alone) {
        assert_eq!(
            t.vector, s[0].vector,
            "two faces embedded together differ from each alone"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_fixed_size_detector_searches_its_tiles_one_a_run() {
    // All of a 1080p frame's tiles in one run held twice the memory for no speed (docs/speed.md).
    let analyzer = testkit::analyzer("yunet-2023mar", "sface-2021dec");
    assert!(
        !analyzer.detector().shape().batched,
        "yunet-2023mar takes its tiles in one run"
    );
    let layouts = analyzer.detector().full_pass((1920, 1080));
    assert!(layouts.iter().all(|l| l.items == 1), "{layouts:?}");
}
