//! The gates an INT8 build must pass against its FP32 original before the catalogue lists it
//! (`int8 = {...}` in models/manifest.toml, which is what `[models] precision` can load), on every
//! shared photo (`../shared/faces`, about 4000, with the 3500 distractors calibration never saw):
//! - detectors: every face both builds find has its box corners and landmarks within 2 px, and a
//!   face only one build finds is borderline, scoring within 0.1 of the detector's threshold;
//! - recognizers: every face's two embeddings (of the same aligned crop) have cosine 0.99 or
//!   more, and on the shared identities every same-person pair still scores above every
//!   different-person pair, with the default threshold between them;
//! - anti-spoofing (the fused pair): no verdict changes on the spoof samples, and at most 1% of
//!   all faces' verdicts change (three samples alone are too few to trust).
//!
//! Each gate is a test of its own, one per model (the anti-spoofing pair is one), and checks that
//! the catalogue lists the model's build if and only if it passes: a listed build that fails, or a
//! passing build left unlisted, fails. A plain test checks that every quantizable model has one.
//! The FP32 side of each comparison is cached (`testkit::figure_cache`), so YuNet's faces are
//! found once for every gate, and a second run measures the INT8 builds alone.
//! `rollcall models quantize` makes the builds (scripts/test.sh runs it first);
//! `cargo test --release --test it int8_gates -- --ignored --nocapture` prints the figures of docs/int8.md.

use std::path::{Path, PathBuf};

use opencv::core::Mat;
use rollcall::config::{Catalogue, Config, ModelKind, ModelSpec};
use rollcall::vision::analyze::FaceAnalyzer;
use rollcall::vision::detect::{BBox, Face};
use rollcall::vision::fidelity::{MAX_SHIFT_PX, MIN_COSINE, cosine, pair, shift};

/// How far from the detector's threshold a face found by one build only may score.
const BORDERLINE: f32 = 0.1;
/// The share of all faces whose live/spoof verdict may change.
const MAX_VERDICTS_CHANGED: f64 = 0.01;
/// The detector whose FP32 faces the recognizer and anti-spoofing gates measure.
const FACE_FINDER: &str = "yunet-2023mar";

/// Every shared photo, in a fixed order: the rows of every cached figure follow it.
fn photo_paths() -> Vec<PathBuf> {
    testkit::photos_under(&testkit::shared().join("faces"))
}

/// Every shared photo that reads as an image, with room around the tight crops (as calibration
/// pads them), with its place in [`photo_paths`].
fn every_photo(paths: &[PathBuf]) -> impl Iterator<Item = (usize, &PathBuf, Mat)> {
    paths.iter().enumerate().filter_map(|(i, p)| {
        let image = rollcall::capture::image::load(p, rollcall::config::DEFAULT_MAX_PIXELS).ok()?;
        Some((i, p, rollcall::capture::image::with_room(image).ok()?))
    })
}

/// The model file of catalogue model `name` under `config`.
fn model_file(config: &Config, name: &str) -> PathBuf {
    let catalogue = Catalogue::builtin();
    let spec = catalogue.iter().find(|s| s.name == name).unwrap();
    config.models.dir.join(&spec.file)
}

/// A face as 15 numbers (box, score, landmarks), for the figure cache.
fn face_numbers(f: &Face) -> [f32; 15] {
    let [[a, b], [c, d], [e, g], [h, i], [j, k]] = f.landmarks;
    let BBox { x1, y1, x2, y2 } = f.bbox;
    [x1, y1, x2, y2, f.score, a, b, c, d, e, g, h, i, j, k]
}

/// The faces a row of [`face_numbers`] holds.
fn faces_of(row: &[f32]) -> Vec<Face> {
    row.chunks_exact(15)
        .map(|n| Face {
            bbox: BBox {
                x1: n[0],
                y1: n[1],
                x2: n[2],
                y2: n[3],
            },
            score: n[4],
            landmarks: [
                [n[5], n[6]],
                [n[7], n[8]],
                [n[9], n[10]],
                [n[11], n[12]],
                [n[13], n[14]],
            ],
        })
        .collect()
}

/// The settings that decide which faces are found, besides the detector's file: part of the
/// cache key of the faces and of every figure computed from them.
fn face_settings(config: &Config) -> String {
    format!("{:?} {:?}", config.detect, config.images)
}

/// The faces `fp32` (an FP32 analyzer of `config`) finds in each photo: cached, since every
/// gate starts from them and the FP32 build never changes between runs.
fn fp32_faces(config: &Config, fp32: &mut FaceAnalyzer, paths: &[PathBuf]) -> Vec<Vec<Face>> {
    let detector = model_file(config, &config.models.detector);
    let rows = testkit::figure_cache::rows("fp32-faces", &[&detector], &face_settings(config), paths, || {
        let mut rows = vec![Vec::new(); paths.len()];
        for (i, _, frame) in every_photo(paths) {
            rows[i] = fp32
                .observe(&frame)
                .unwrap()
                .iter()
                .flat_map(|o| face_numbers(&o.face))
                .collect();
        }
        rows
    });
    rows.iter().map(|r| faces_of(r)).collect()
}

/// The crops `analyzer`'s recognizer embeds, one per face, as `observe` cuts them.
fn aligned(analyzer: &FaceAnalyzer, frame: &Mat, faces: &[Face]) -> Vec<Mat> {
    let size = analyzer.recognizer().crop_size();
    faces
        .iter()
        .map(|f| rollcall::vision::align::align(frame, &f.landmarks, size).unwrap())
        .collect()
}

/// The catalogue's models of `kind`.
fn models(kind: ModelKind) -> Vec<ModelSpec> {
    Catalogue::builtin()
        .iter()
        .filter(|s| s.kind == kind)
        .cloned()
        .collect()
}

/// The FP32 analyzer of `config`, and the same with `edit` swapping models for their INT8
/// candidates (described as custom models of their own, so even an unlisted build loads).
fn fp32_and_int8(mut config: Config, candidates: &[&ModelSpec], edit: impl FnOnce(&mut Config)) -> [FaceAnalyzer; 2] {
    for spec in candidates {
        let file = config.models.dir.join(spec.int8_file());
        assert!(
            file.is_file(),
            "{} missing: run `rollcall models quantize` first (scripts/test.sh does)",
            file.display()
        );
        config.models.custom.push(spec.int8_candidate());
    }
    testkit::pin_custom_models(&mut config);
    let fp32 = testkit::analyzer_for(&config);
    edit(&mut config);
    [fp32, testkit::analyzer_for(&config)]
}

/// Fails unless the catalogue lists exactly the builds that passed.
fn listed_iff_passed(results: &[(String, bool, bool)]) {
    let wrong: Vec<String> = results
        .iter()
        .filter(|(_, listed, passed)| listed != passed)
        .map(|(name, listed, _)| {
            if *listed {
                format!("{name}: the catalogue lists its INT8 build, which fails the gates")
            } else {
                format!("{name}: its INT8 build passes the gates; list it in models/manifest.toml")
            }
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The catalogue's quantizable models, each with a gate of its own below: one test per model,
/// so the gates of two models run side by side.
const GATED: [(ModelKind, &[&str]); 2] = [
    (ModelKind::Detector, &["scrfd-500m", "yunet-2023mar", "yunet-s"]),
    (ModelKind::Recognizer, &["arcface-w600k-mbf", "sface-2021dec"]),
];

#[test]
fn every_quantizable_detector_and_recognizer_has_a_gate() {
    for (kind, gated) in GATED {
        let names: Vec<String> = models(kind).into_iter().map(|s| s.name).collect();
        assert_eq!(names, gated, "add a gate test for each new {kind:?}");
    }
}

/// The catalogue's model `name` of `kind`.
fn model(kind: ModelKind, name: &str) -> ModelSpec {
    models(kind).into_iter().find(|s| s.name == name).unwrap()
}

#[test]
#[ignore = "figure suite: each INT8 build against FP32 on ~4000 photos; release, scripts/test.sh"]
fn int8_scrfd_is_listed_only_if_it_finds_the_same_faces_within_two_pixels() {
    detector_gate("scrfd-500m");
}

#[test]
#[ignore = "figure suite: each INT8 build against FP32 on ~4000 photos; release, scripts/test.sh"]
fn int8_yunet_s_is_listed_only_if_it_finds_the_same_faces_within_two_pixels() {
    detector_gate("yunet-s");
}

#[test]
#[ignore = "figure suite: each INT8 build against FP32 on ~4000 photos; release, scripts/test.sh"]
fn int8_yunet_is_listed_only_if_it_finds_the_same_faces_within_two_pixels() {
    detector_gate("yunet-2023mar");
}

/// A detector's INT8 build finds the faces its FP32 original finds, within 2 px, and a face
/// only one of them finds is borderline.
fn detector_gate(name: &str) {
    let spec = model(ModelKind::Detector, name);
    let config = testkit::config(&spec.name, "sface-2021dec");
    let [mut fp32, mut int8] = fp32_and_int8(config.clone(), &[&spec], |c| {
        c.models.detector = spec.int8_candidate().name
    });
    let threshold = fp32.detector().score_threshold();
    let (mut paired, mut widest, mut widest_at) = (0, 0.0f32, String::new());
    let mut lone: Vec<(String, f32)> = Vec::new();
    let mut photos = 0;
    let paths = photo_paths();
    let found = fp32_faces(&config, &mut fp32, &paths);
    for (i, path, frame) in every_photo(&paths) {
        photos += 1;
        let a = &found[i];
        let b: Vec<_> = int8.observe(&frame).unwrap().into_iter().map(|o| o.face).collect();
        let p = pair(a, &b);
        for &(i, j) in &p.pairs {
            paired += 1;
            let s = shift(&a[i], &b[j]);
            if s > widest {
                (widest, widest_at) = (s, path.display().to_string());
            }
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        lone.extend(p.only_fp32.iter().map(|&i| (format!("{name} (fp32 only)"), a[i].score)));
        lone.extend(p.only_int8.iter().map(|&j| (format!("{name} (int8 only)"), b[j].score)));
    }
    let farthest = lone.iter().map(|(_, s)| (s - threshold).abs()).fold(0.0, f32::max);
    let passed = widest <= MAX_SHIFT_PX && farthest <= BORDERLINE;
    println!(
        "{}: {photos} photos, {paired} faces found by both, widest shift {widest:.2} px ({widest_at}); {} found by one \
         build only, farthest {farthest:.3} from the threshold {threshold}; gates {}",
        spec.name,
        lone.len(),
        if passed { "passed" } else { "failed" }
    );
    listed_iff_passed(&[(spec.name.clone(), spec.int8.is_some(), passed)]);
}

#[test]
#[ignore = "figure suite: each INT8 build against FP32 on ~4000 photos; release, scripts/test.sh"]
fn int8_arcface_is_listed_only_if_every_embedding_keeps_cosine_0_99() {
    recognizer_gate("arcface-w600k-mbf");
}

#[test]
#[ignore = "figure suite: each INT8 build against FP32 on ~4000 photos; release, scripts/test.sh"]
fn int8_sface_is_listed_only_if_every_embedding_keeps_cosine_0_99() {
    recognizer_gate("sface-2021dec");
}

/// A recognizer's INT8 build keeps every face's embedding within cosine 0.99 of FP32, and still
/// separates the shared identities at the default threshold.
fn recognizer_gate(name: &str) {
    let spec = model(ModelKind::Recognizer, name);
    let config = testkit::config(FACE_FINDER, &spec.name);
    let [mut fp32, mut int8] = fp32_and_int8(config.clone(), &[&spec], |c| {
        c.models.recognizer = spec.int8_candidate().name
    });
    let paths = photo_paths();
    let found = fp32_faces(&config, &mut fp32, &paths);
    let (finder, recognizer) = (model_file(&config, FACE_FINDER), model_file(&config, &spec.name));
    let settings = face_settings(&config);
    let references = testkit::figure_cache::rows("fp32-embeddings", &[&finder, &recognizer], &settings, &paths, || {
        let mut rows = vec![Vec::new(); paths.len()];
        for (i, _, frame) in every_photo(&paths).filter(|(i, _, _)| !found[*i].is_empty()) {
            let crops = aligned(&fp32, &frame, &found[i]);
            rows[i] = fp32
                .embed(&crops)
                .unwrap()
                .iter()
                .flat_map(|e| e.vector.to_vec())
                .collect();
        }
        rows
    });
    let mut cosines: Vec<(f32, String)> = Vec::new();
    for (i, path, frame) in every_photo(&paths).filter(|(i, _, _)| !found[*i].is_empty()) {
        let faces = &found[i];
        let b = int8.embed(&aligned(&int8, &frame, faces)).unwrap();
        let dim = references[i].len() / faces.len();
        for ((x, y), face) in references[i].chunks_exact(dim).zip(&b).zip(faces) {
            let at = format!("{} ({:.0} px)", path.display(), face.bbox.min_side());
            cosines.push((cosine(x, &y.vector), at));
        }
    }
    cosines.sort_by(|x, y| x.0.total_cmp(&y.0));
    let (least, at) = cosines.first().cloned().unwrap();
    let threshold = int8.recognizer().threshold();
    let (same, different) = testkit::separation(&mut int8);
    let separates = different.0 < threshold && threshold <= same.0;
    let passed = least >= MIN_COSINE && separates;
    println!(
        "{}: {} faces, cosine to FP32: least {least:.4} ({at}), p1 {:.4}, median {:.4}; identities with INT8: \
         lowest same-person {:.3}, highest different-person {:.3}, threshold {threshold} {}; gates {}",
        spec.name,
        cosines.len(),
        cosines[cosines.len() / 100].0,
        cosines[cosines.len() / 2].0,
        same.0,
        different.0,
        if separates { "between" } else { "NOT between" },
        if passed { "passed" } else { "failed" }
    );
    listed_iff_passed(&[(spec.name.clone(), spec.int8.is_some(), passed)]);
}

#[test]
#[ignore = "figure suite: each INT8 build against FP32 on ~4000 photos; release, scripts/test.sh"]
fn int8_anti_spoofing_is_listed_only_if_its_verdicts_hold() {
    let pair_specs = models(ModelKind::Antispoof);
    let specs: Vec<&ModelSpec> = pair_specs.iter().collect();
    let config = testkit::config(FACE_FINDER, "sface-2021dec");
    let [mut fp32, mut int8] = fp32_and_int8(config.clone(), &specs, |c| {
        c.models.antispoof = specs.iter().map(|s| s.int8_candidate().name).collect();
    });
    let threshold = fp32.antispoof().unwrap().threshold();
    let samples = testkit::photos_under(&testkit::face("silent_face_samples"));
    let paths = photo_paths();
    let found = fp32_faces(&config, &mut fp32, &paths);
    let pair_files: Vec<PathBuf> = [FACE_FINDER]
        .into_iter()
        .chain(specs.iter().map(|s| s.name.as_str()))
        .map(|name| model_file(&config, name))
        .collect();
    let inputs: Vec<&Path> = pair_files.iter().map(PathBuf::as_path).collect();
    let settings = format!("{} {:?}", face_settings(&config), config.liveness);
    let references = testkit::figure_cache::rows("fp32-live-scores", &inputs, &settings, &paths, || {
        let mut rows = vec![Vec::new(); paths.len()];
        for (i, _, frame) in every_photo(&paths) {
            let boxes: Vec<_> = found[i].iter().map(|f| f.bbox).collect();
            rows[i] = fp32.live_scores(&frame, &boxes).unwrap().unwrap();
        }
        rows
    });
    let (mut changed, mut on_samples, mut faces, mut widest) = (0usize, Vec::new(), 0usize, 0.0f32);
    for (i, path, frame) in every_photo(&paths) {
        let boxes: Vec<_> = found[i].iter().map(|f| f.bbox).collect();
        let scores = int8.live_scores(&frame, &boxes).unwrap().unwrap();
        for (&a, b) in references[i].iter().zip(scores) {
            faces += 1;
            widest = widest.max((a - b).abs());
            if (a >= threshold) != (b >= threshold) {
                changed += 1;
                if samples.contains(path) {
                    on_samples.push((path.clone(), a, b));
                }
            }
        }
    }
    let share = changed as f64 / faces.max(1) as f64;
    let passed = on_samples.is_empty() && share <= MAX_VERDICTS_CHANGED;
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    println!(
        "{}: {faces} faces, widest live-score change {widest:.3}; verdicts changed on the samples {on_samples:?}, \
         on all faces {changed} ({:.1}%); gates {}",
        names.join(" + "),
        share * 100.0,
        if passed { "passed" } else { "failed" }
    );
    let listed = specs.iter().all(|s| s.int8.is_some());
    let half = specs.iter().any(|s| s.int8.is_some()) && !listed;
    assert!(!half, "the fused pair's INT8 builds are listed for one model only");
    listed_iff_passed(&[(names.join(" + "), listed, passed)]);
}
