//! Parity with the reference implementations on every shared photo.
//!
//! The fixtures were made once by tools/reference/make_fixtures.py: OpenCV's FaceDetectorYN +
//! FaceRecognizerSF for YuNet/SFace, the insightface package for SCRFD/ArcFace. Boxes and
//! landmarks must agree within [`MAX_PX`] and embeddings with cosine >= [`MIN_COSINE`]: the same
//! numbers as the README.
//!
//! The same fixtures judge rollcall on another ONNX Runtime (the oldest it accepts, here) and on
//! another machine (arm64 under emulation, `arm64.rs`): there the faces come from
//! `rollcall embed --json`, run as a separate process with that runtime.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The fixtures hold coordinates to 3 decimals (0.0005 px of rounding); measured here, the worst
/// is 0.0006 px. The bound leaves room for another CPU's kernels (AVX2 against AVX-512), and is
/// still far below anything a crop or a decision could notice.
pub const MAX_PX: f64 = 0.01;
/// Measured: 0.99997 (SFace) and 0.99998 (ArcFace) at worst.
const MIN_COSINE: f64 = 0.9999;

/// Faces this close to the score threshold may legitimately flip between implementations.
const BORDERLINE: f64 = 0.03;

/// One face as a fixture, or rollcall, reports it.
pub struct Face {
    /// x1, y1, x2, y2.
    pub bbox: [f64; 4],
    pub landmarks: Vec<[f64; 2]>,
    score: f64,
    embedding: Vec<f64>,
}

impl Face {
    fn analyzed(f: &rollcall::vision::analyze::AnalyzedFace) -> Face {
        let b = f.face.bbox;
        Face {
            bbox: [b.x1, b.y1, b.x2, b.y2].map(f64::from),
            landmarks: f.face.landmarks.iter().map(|p| p.map(f64::from)).collect(),
            score: f64::from(f.face.score),
            embedding: f.embedding.vector.iter().map(|v| f64::from(*v)).collect(),
        }
    }

    /// A face of `rollcall embed --json` or `detect --json` (whose box is an object) or of a
    /// fixture (an array).
    pub fn from_json(v: &Value) -> Face {
        let num = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
        let b = &v["bbox"];
        let bbox = match b.as_array() {
            Some(a) => [num(&a[0]), num(&a[1]), num(&a[2]), num(&a[3])],
            None => [num(&b["x1"]), num(&b["y1"]), num(&b["x2"]), num(&b["y2"])],
        };
        let list = |key: &str| v[key].as_array().unwrap_or_else(|| panic!("no {key} in {v}")).clone();
        Face {
            bbox,
            landmarks: list("landmarks").iter().map(|p| [num(&p[0]), num(&p[1])]).collect(),
            score: num(&v["score"]),
            // `rollcall detect --json` has none.
            embedding: v["embedding"]
                .as_array()
                .map_or_else(Vec::new, |e| e.iter().map(num).collect()),
        }
    }
}

/// A fixture: the reference's settings and its faces per photo (relative to `../shared/faces`).
pub struct Fixture {
    name: String,
    reference: Value,
}

impl Fixture {
    pub fn load(name: &str) -> Fixture {
        let path = testkit::root().join("tests/fixtures/reference").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Fixture {
            name: name.to_string(),
            reference: serde_json::from_str(&text).unwrap(),
        }
    }

    fn threshold(&self) -> f64 {
        self.reference["score_threshold"].as_f64().unwrap()
    }

    fn detector(&self) -> &str {
        self.reference["detector"].as_str().unwrap()
    }

    fn recognizer(&self) -> &str {
        self.reference["recognizer"].as_str().unwrap()
    }

    /// The photos, relative to `../shared/faces`.
    pub fn photos(&self) -> Vec<String> {
        self.reference["images"].as_object().unwrap().keys().cloned().collect()
    }

    /// The config the references ran with, for an in-process analyzer.
    fn config(&self) -> rollcall::config::Config {
        let mut config = testkit::config(self.detector(), self.recognizer());
        config.detect.score_threshold = Some(self.threshold() as f32);
        config.detect.nms_threshold = Some(self.reference["nms_threshold"].as_f64().unwrap() as f32);
        config.detect.min_face_px = 0.0;
        // The references ran at a square 640x640.
        config.detect.input_size = Some([640, 640]);
        config
    }

    /// The same settings as a config file, and the arguments that make `rollcall embed --json`
    /// analyse `photos` with them: for a rollcall run elsewhere (another runtime, another machine).
    pub fn embed_command(&self, config_file: &str, models_dir: &str, photos: &[String]) -> (String, Vec<String>) {
        self.command("embed", config_file, models_dir, photos)
    }

    /// [`Fixture::embed_command`] for another subcommand that takes the same model options and
    /// `--json` (`detect`).
    pub fn command(
        &self,
        subcommand: &str,
        config_file: &str,
        models_dir: &str,
        photos: &[String],
    ) -> (String, Vec<String>) {
        let toml = format!(
            "[models]\ndir = {models_dir:?}\n\n[detect]\nscore_threshold = {}\nnms_threshold = {}\n\
             min_face_px = 0.0\ninput_size = [640, 640]\n",
            self.threshold(),
            self.reference["nms_threshold"]
        );
        let mut args: Vec<String> = [
            "--config",
            config_file,
            subcommand,
            "--json",
            "--detector",
            self.detector(),
            "--recognizer",
            self.recognizer(),
            "--no-antispoof",
            "--precision",
            "fp32",
        ]
        .map(String::from)
        .into();
        args.extend(photos.iter().cloned());
        (toml, args)
    }

    /// Compares `ours` (the faces rollcall found in each photo) with the reference, panicking on
    /// the first face out of bounds, and returns the worst box/landmark error and cosine.
    pub fn check(&self, mut ours: impl FnMut(&str) -> Vec<Face>) -> (f64, f64) {
        let threshold = self.threshold();
        let (mut faces, mut worst_px, mut worst_cos) = (0, 0.0f64, 1.0f64);
        for (rel, expected) in self.reference["images"].as_object().unwrap() {
            let ours = ours(rel);
            let expected: Vec<Face> = expected.as_array().unwrap().iter().map(Face::from_json).collect();
            for e in &expected {
                // The face whose top-left corner is nearest the reference's, if within 10 px.
                let corner_gap = |f: &&Face| (f.bbox[0] - e.bbox[0]).abs().max((f.bbox[1] - e.bbox[1]).abs());
                let Some(f) = ours
                    .iter()
                    .min_by(|a, b| corner_gap(a).total_cmp(&corner_gap(b)))
                    .filter(|f| corner_gap(f) < 10.0)
                else {
                    assert!(
                        e.score < threshold + BORDERLINE,
                        "{rel}: reference face {:?} (score {}) not found",
                        e.bbox,
                        e.score
                    );
                    continue;
                };
                for (got, want) in f.bbox.iter().zip(&e.bbox) {
                    worst_px = worst_px.max((got - want).abs());
                }
                for (p, q) in f.landmarks.iter().zip(&e.landmarks) {
                    worst_px = worst_px.max((p[0] - q[0]).abs()).max((p[1] - q[1]).abs());
                }
                let cos: f64 = f.embedding.iter().zip(&e.embedding).map(|(a, b)| a * b).sum();
                worst_cos = worst_cos.min(cos);
                assert!(
                    worst_px <= MAX_PX,
                    "{rel}: box/landmarks off by {worst_px:.4} px from the reference"
                );
                assert!(cos >= MIN_COSINE, "{rel}: embedding cosine {cos:.6} with the reference");
                faces += 1;
            }
            let ours_strong = ours.iter().filter(|f| f.score >= threshold + BORDERLINE).count();
            assert!(
                ours_strong <= expected.len(),
                "{rel}: {ours_strong} confident faces here, the reference found {}",
                expected.len()
            );
        }
        println!(
            "{}: {faces} faces, worst box/landmark error {worst_px:.5} px, worst embedding cosine {worst_cos:.6}",
            self.name
        );
        assert!(faces >= 40, "only {faces} faces compared");
        (worst_px, worst_cos)
    }

    /// Checks the output of [`Fixture::embed_command`]: one JSON line per photo, each naming its
    /// photo by a path that ends with the photo's name in the fixture.
    pub fn check_embed_output(&self, stdout: &str) -> (f64, f64) {
        let photos = self.photos();
        let mut by_photo: BTreeMap<String, Vec<Face>> = BTreeMap::new();
        for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let image = v["image"].as_str().unwrap_or_default();
            let rel = photos
                .iter()
                .find(|rel| image.ends_with(rel.as_str()))
                .cloned()
                .unwrap_or_else(|| panic!("{image} is not a photo of {}", self.name));
            let faces = v["faces"].as_array().unwrap().iter().map(Face::from_json).collect();
            by_photo.insert(rel, faces);
        }
        assert_eq!(by_photo.len(), photos.len(), "not every photo was reported");
        self.check(|rel| by_photo.remove(rel).unwrap_or_default())
    }
}

fn check_in_process(name: &str) {
    let fixture = Fixture::load(name);
    let mut analyzer = testkit::analyzer_for(&fixture.config());
    fixture.check(|rel| {
        testkit::analyze(&mut analyzer, &testkit::face(rel))
            .iter()
            .map(Face::analyzed)
            .collect()
    });
}

#[test]
fn yunet_and_sface_match_opencv() {
    check_in_process("yunet_sface.json");
}

#[test]
fn scrfd_and_arcface_match_insightface() {
    check_in_process("scrfd_arcface.json");
}

/// The oldest ONNX Runtime rollcall accepts (models/manifest.toml's `[onnxruntime_oldest]`, which
/// `scripts/setup.sh --test-extras` fetches) gives the reference's answers too, on both sets.
#[test]
fn the_oldest_onnx_runtime_accepted_gives_the_same_answers() {
    let lib = oldest_runtime();
    let dir = testkit::scratch_dir("parity", "oldest-runtime");
    for name in ["yunet_sface.json", "scrfd_arcface.json"] {
        let fixture = Fixture::load(name);
        let photos: Vec<String> = fixture
            .photos()
            .iter()
            .map(|rel| testkit::face(rel).to_string_lossy().into_owned())
            .collect();
        let config = dir.join("parity.toml");
        let models = testkit::root().join("models");
        let (toml, args) = fixture.embed_command(&config.to_string_lossy(), &models.to_string_lossy(), &photos);
        std::fs::write(&config, toml).unwrap();
        let out = Command::new(testkit::rollcall_exe())
            .current_dir(testkit::root())
            .args(&args)
            .env("ORT_DYLIB_PATH", &lib)
            .env_remove("ROLLCALL_CONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", lib.display());
        fixture.check_embed_output(&String::from_utf8_lossy(&out.stdout));
    }
}

/// The library `[onnxruntime_oldest]` names, where the test setup put it.
fn oldest_runtime() -> std::path::PathBuf {
    let manifest: toml::Value = toml::from_str(rollcall::config::BUILTIN_MANIFEST).unwrap();
    let version = manifest["onnxruntime_oldest"]["version"].as_str().unwrap();
    let lib = testkit::root()
        .join(".local/onnxruntime-oldest")
        .join(format!("libonnxruntime.so.{version}"));
    assert!(
        Path::new(&lib).exists(),
        "{} is missing: run scripts/setup.sh --test-extras (scripts/test.sh does)",
        lib.display()
    );
    lib
}
