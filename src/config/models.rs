//! `[models]`: which models to run, and the catalogue their names are looked up in: the shipped
//! `models/manifest.toml` plus the config's `[[models.custom]]`, both in one schema (what each
//! model is for, how it is fed, what it returns). Loading and running them is `vision::model`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// A model description or name that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogueError {
    /// The name in the config is in neither the built-in catalogue nor `[[models.custom]]`.
    #[error("unknown model `{name}`; known models: {known}. Add a [[models.custom]] entry to describe a new one")]
    UnknownModel { name: String, known: String },
    /// A model is used for a job its description does not allow.
    #[error("model `{name}` is a {actual} model, but it is configured as the {wanted}")]
    WrongKind {
        name: String,
        actual: String,
        wanted: &'static str,
    },
    /// A description that cannot be right (zero sizes, missing section for its kind).
    #[error("the description of model `{name}` is invalid: {reason}")]
    BadDescription { name: String, reason: String },
}

/// Which models to run and where their files are.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Directory holding the model files.
    pub dir: PathBuf,
    /// Detector model name.
    pub detector: String,
    /// Recognizer model name; its id tags every embedding.
    pub recognizer: String,
    /// Anti-spoofing models, fused; empty turns passive liveness off.
    pub antispoof: Vec<String>,
    /// Dense landmark model (`landmarks-2d106`, non-commercial licence), for live enrollment's
    /// eyes-open check and for seeing blinks in tracks; none by default.
    pub landmarks: Option<String>,
    /// Extra model descriptions (same schema as models/manifest.toml).
    pub custom: Vec<ModelSpec>,
    /// FP32 models or their INT8 builds (`rollcall models quantize`).
    pub precision: Precision,
}

/// Which build of each model to load. The same names serve the config and `--precision`, so a
/// value the config refuses is refused on the command line too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// INT8 for each model whose INT8 build passed the gates and was faster on the reference
    /// machine (the catalogue's `int8.faster`), FP32 for the rest.
    #[default]
    Auto,
    /// INT8 for every model that has a gated INT8 build, FP32 for the rest.
    Int8,
    /// The original FP32 models.
    Fp32,
}

impl Precision {
    /// The name the config uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::Int8 => "int8",
            Precision::Fp32 => "fp32",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: PathBuf::from("models"),
            detector: "yunet-s".into(),
            recognizer: "sface-2021dec".into(),
            antispoof: vec!["minifasnet-v2".into(), "minifasnet-v1se".into()],
            landmarks: None,
            custom: Vec::new(),
            precision: Precision::Auto,
        }
    }
}

/// The built-in catalogue, the same file `scripts/fetch_models.py` fetches from.
pub const BUILTIN_MANIFEST: &str = include_str!("../../models/manifest.toml");

/// The ONNX Runtime version that `scripts/setup.sh` and `rollcall models fetch` fetch: the
/// manifest's `[onnxruntime] version`, the one place it is written.
pub fn fetched_onnxruntime_version() -> String {
    #[derive(Deserialize)]
    struct Runtime {
        version: String,
    }
    #[derive(Deserialize)]
    struct Pin {
        onnxruntime: Runtime,
    }
    // Part of the source tree and checked by a unit test, as in `Catalogue::builtin`.
    toml::from_str::<Pin>(BUILTIN_MANIFEST)
        .map(|p| p.onnxruntime.version)
        .unwrap_or_else(|e| panic!("models/manifest.toml has no [onnxruntime] version: {e}"))
}

/// The sha256 of the ONNX Runtime library rollcall fetches, for `arch` (`std::env::consts::ARCH`):
/// the manifest's `[onnxruntime.sha256]`, or `None` where it pins none.
pub fn pinned_onnxruntime_sha256(arch: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Runtime {
        #[serde(default)]
        sha256: BTreeMap<String, String>,
    }
    #[derive(Deserialize)]
    struct Pin {
        onnxruntime: Runtime,
    }
    toml::from_str::<Pin>(BUILTIN_MANIFEST)
        .ok()
        .and_then(|p| p.onnxruntime.sha256.get(arch).cloned())
}

/// What a model is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Finds faces and their 5 landmarks.
    Detector,
    /// Turns an aligned face into an embedding.
    Recognizer,
    /// Scores a face crop as live or spoof.
    Antispoof,
    /// Dense landmarks (used by later liveness checks).
    Landmarks,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Detector => "detector",
            ModelKind::Recognizer => "recognizer",
            ModelKind::Antispoof => "antispoof",
            ModelKind::Landmarks => "landmarks",
        })
    }
}

/// How a model's raw outputs are decoded; a new model of a known family needs no code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFamily {
    /// Anchor-free detector: cls, obj, bbox, kps per stride (OpenCV Zoo YuNet).
    Yunet,
    /// Anchor-based detector: score, bbox distances, kps distances per stride (InsightFace SCRFD).
    Scrfd,
    /// Any recognizer fed an ArcFace-aligned 5-point crop and returning one vector per face.
    Arcface,
    /// Silent-Face MiniFASNet: a scaled crop around the face box, softmax over classes.
    Minifasnet,
    /// InsightFace 2d106det: 106 points in (-1, 1) on a square crop.
    #[serde(rename = "2d106")]
    Landmarks2d106,
}

/// Channel order a model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    /// Blue, green, red (OpenCV's native order).
    Bgr,
    /// Red, green, blue.
    Rgb,
}

/// How pixels become the input tensor: `(pixel - mean) / std`, in `channels` order, NCHW.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Input width in pixels.
    pub width: u32,
    /// Input height in pixels.
    pub height: u32,
    /// Channel order.
    pub channels: ChannelOrder,
    /// Subtracted from every channel value (0..255).
    pub mean: f32,
    /// Divides every channel value after the mean is subtracted.
    pub std: f32,
}

/// Detector decoding parameters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSpec {
    /// Feature-map strides, one output group each.
    pub strides: Vec<u32>,
    /// Anchors per feature-map cell.
    pub anchors: u32,
    /// Default minimum face score.
    pub score_threshold: f32,
    /// Default IoU above which the weaker of two boxes is suppressed.
    pub nms_threshold: f32,
    /// Detections scoring below this may not be faces at all, so their low liveness scores
    /// raise no spoof alert: in starved H.264 copies YuNet found a background pot plant at 0.60
    /// to 0.72, which MiniFASNet rightly called no live face (docs/calibration.md). Unset, every
    /// detection counts as a face.
    #[serde(default)]
    pub sure_face_score: Option<f32>,
}

/// Recognizer output and default decision threshold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognizerSpec {
    /// Embedding length.
    pub dim: usize,
    /// Default cosine similarity at or above which two faces are the same person.
    pub threshold: f32,
}

/// Anti-spoofing crop and classes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AntispoofSpec {
    /// The crop is the face box scaled by this around its centre.
    pub crop_scale: f32,
    /// Number of output classes.
    pub classes: usize,
    /// Index of the "real face" class.
    pub live_class: usize,
}

/// One model: identity, file, and how to feed and read it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Stable id; recognizer ids travel with every embedding.
    pub name: String,
    /// What it is for.
    pub kind: ModelKind,
    /// How its outputs are decoded.
    pub family: ModelFamily,
    /// File name, relative to the models directory (or absolute).
    pub file: PathBuf,
    /// The file's sha256, checked every time it loads; required.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Licence of the weights.
    #[serde(default)]
    pub licence: Option<String>,
    /// Input description.
    pub input: InputSpec,
    /// Detector parameters (detectors only).
    #[serde(default)]
    pub detector: Option<DetectorSpec>,
    /// Recognizer parameters (recognizers only).
    #[serde(default)]
    pub recognizer: Option<RecognizerSpec>,
    /// Anti-spoofing parameters (antispoof models only).
    #[serde(default)]
    pub antispoof: Option<AntispoofSpec>,
    /// Where the setup step fetches the file from; rollcall itself ignores it.
    #[serde(default)]
    pub source: Option<toml::Table>,
    /// Its INT8 build, listed only once it passed the gates against this FP32 original
    /// (`tests/int8_gates.rs`).
    #[serde(default)]
    pub int8: Option<Int8Spec>,
    /// Whether `rollcall models quantize` builds it (landmark models never are). False where
    /// another entry's INT8 build already answers for the same network, so that building and
    /// gating it again would cost minutes for the same verdict.
    #[serde(default = "default_quantize")]
    pub quantize: bool,
}

fn default_quantize() -> bool {
    true
}

/// A model's INT8 build, made at setup by `rollcall models quantize` (static QDQ quantization
/// with per-channel weights, calibrated on the shared photos).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Int8Spec {
    /// File name, in the models directory.
    pub file: PathBuf,
    /// The sha256 of the build made on the reference machine. Another machine's build may
    /// differ in its last bits (see docs/int8.md); `rollcall models quantize` then checks it
    /// against the gates instead.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Faster than FP32 on the reference machine, so `precision = "auto"` takes it.
    pub faster: bool,
}

impl ModelSpec {
    /// This description with its file swapped for the INT8 build's, if it has a gated one.
    pub fn int8_build(&self) -> Option<ModelSpec> {
        let int8 = self.int8.as_ref()?;
        Some(ModelSpec {
            file: int8.file.clone(),
            sha256: int8.sha256.clone(),
            int8: None,
            ..self.clone()
        })
    }

    /// Where `rollcall models quantize` writes this model's INT8 build: the catalogue's name
    /// for a gated build, else the FP32 file's with `.int8.onnx`.
    pub fn int8_file(&self) -> PathBuf {
        self.int8
            .as_ref()
            .map_or_else(|| self.file.with_extension("int8.onnx"), |i| i.file.clone())
    }

    /// The INT8 build described as a model of its own, named `{name}+int8`, whether or not it
    /// passed the gates: what the gates load to measure it.
    pub fn int8_candidate(&self) -> ModelSpec {
        ModelSpec {
            name: format!("{}+int8", self.name),
            file: self.int8_file(),
            sha256: None,
            int8: None,
            ..self.clone()
        }
    }

    /// Whether `rollcall models quantize` makes an INT8 build of it.
    pub fn quantizable(&self) -> bool {
        self.quantize && self.kind != ModelKind::Landmarks
    }

    /// Whether `precision` asks for this model's INT8 build (when there is one).
    pub fn wants_int8(&self, precision: Precision) -> bool {
        match (precision, &self.int8) {
            (Precision::Fp32, _) | (_, None) => false,
            (Precision::Int8, Some(_)) => true,
            (Precision::Auto, Some(i)) => i.faster,
        }
    }
}

impl ModelSpec {
    /// Checks that the description is complete and sane for its kind and family.
    pub fn validate(&self) -> Result<(), CatalogueError> {
        let bad = |reason: &str| CatalogueError::BadDescription {
            name: self.name.clone(),
            reason: reason.to_string(),
        };
        if self.input.width == 0 || self.input.height == 0 {
            return Err(bad("input width and height must be positive"));
        }
        if !(self.input.std.is_finite() && self.input.std != 0.0 && self.input.mean.is_finite()) {
            return Err(bad("input mean must be finite and std finite and non-zero"));
        }
        let family_fits = matches!(
            (self.kind, self.family),
            (ModelKind::Detector, ModelFamily::Yunet | ModelFamily::Scrfd)
                | (ModelKind::Recognizer, ModelFamily::Arcface)
                | (ModelKind::Antispoof, ModelFamily::Minifasnet)
                | (ModelKind::Landmarks, ModelFamily::Landmarks2d106)
        );
        if !family_fits {
            return Err(bad(&format!(
                "family {:?} cannot be a {} model",
                self.family, self.kind
            )));
        }
        match self.kind {
            ModelKind::Detector => {
                let d = self
                    .detector
                    .as_ref()
                    .ok_or_else(|| bad("a detector needs a `detector` table"))?;
                if d.strides.is_empty() || d.strides.contains(&0) || d.anchors == 0 {
                    return Err(bad("detector strides must be non-empty and positive, anchors positive"));
                }
                if d.sure_face_score.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
                    return Err(bad("detector sure_face_score must be between 0 and 1"));
                }
            }
            ModelKind::Recognizer => {
                let r = self
                    .recognizer
                    .as_ref()
                    .ok_or_else(|| bad("a recognizer needs a `recognizer` table"))?;
                if r.dim == 0 {
                    return Err(bad("recognizer dim must be positive"));
                }
            }
            ModelKind::Antispoof => {
                let a = self
                    .antispoof
                    .as_ref()
                    .ok_or_else(|| bad("an antispoof model needs an `antispoof` table"))?;
                if a.live_class >= a.classes || a.crop_scale <= 0.0 {
                    return Err(bad("antispoof live_class must be below classes, crop_scale positive"));
                }
            }
            ModelKind::Landmarks => {}
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "model")]
    models: Vec<ModelSpec>,
}

/// All model descriptions rollcall knows: the built-in manifest plus the config's custom ones.
#[derive(Debug, Clone)]
pub struct Catalogue {
    models: BTreeMap<String, ModelSpec>,
}

impl Catalogue {
    /// The catalogue compiled from `models/manifest.toml`.
    pub fn builtin() -> Self {
        // The manifest is part of the source tree and checked by a unit test, so a parse failure
        // here is a build defect, not bad input.
        let manifest: Manifest =
            toml::from_str(BUILTIN_MANIFEST).unwrap_or_else(|e| panic!("models/manifest.toml is invalid: {e}"));
        let mut catalogue = Catalogue {
            models: BTreeMap::new(),
        };
        for m in manifest.models {
            catalogue.models.insert(m.name.clone(), m);
        }
        catalogue
    }

    /// Adds (or overrides) descriptions, e.g. from the config's `[[models.custom]]`.
    pub fn with(mut self, custom: &[ModelSpec]) -> Result<Self, CatalogueError> {
        for m in custom {
            m.validate()?;
            self.models.insert(m.name.clone(), m.clone());
        }
        Ok(self)
    }

    /// The description named `name`, checked to be of `kind`.
    pub fn get(&self, name: &str, kind: ModelKind, role: &'static str) -> Result<&ModelSpec, CatalogueError> {
        let spec = self.models.get(name).ok_or_else(|| CatalogueError::UnknownModel {
            name: name.to_string(),
            known: self.models.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        if spec.kind != kind {
            return Err(CatalogueError::WrongKind {
                name: name.to_string(),
                actual: spec.kind.to_string(),
                wanted: role,
            });
        }
        Ok(spec)
    }

    /// Every description, by name.
    pub fn iter(&self) -> impl Iterator<Item = &ModelSpec> {
        self.models.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_every_entry_is_valid() {
        let c = Catalogue::builtin();
        for m in c.iter() {
            m.validate().unwrap();
        }
        assert!(c.get("yunet-2023mar", ModelKind::Detector, "detector").is_ok());
        assert!(c.get("arcface-w600k-mbf", ModelKind::Recognizer, "recognizer").is_ok());
    }

    #[test]
    fn the_manifest_pins_one_full_onnxruntime_version() {
        let v = fetched_onnxruntime_version();
        let parts: Vec<u32> = v.split('.').map(|p| p.parse().unwrap()).collect();
        assert_eq!(parts.len(), 3, "{v} is not MAJOR.MINOR.PATCH");
        assert_eq!(parts[0], 1);
    }

    #[test]
    fn wrong_kind_and_unknown_names_are_refused_with_the_name() {
        let c = Catalogue::builtin();
        let e = c.get("sface-2021dec", ModelKind::Detector, "detector").unwrap_err();
        assert!(
            e.to_string().contains("sface-2021dec is a recognizer model")
                || e.to_string().contains("is a recognizer model"),
            "{e}"
        );
        let e = c.get("nope", ModelKind::Detector, "detector").unwrap_err();
        assert!(e.to_string().contains("unknown model `nope`"), "{e}");
    }

    #[test]
    fn a_description_missing_its_kind_table_is_refused() {
        let mut m = Catalogue::builtin()
            .get("sface-2021dec", ModelKind::Recognizer, "r")
            .unwrap()
            .clone();
        m.recognizer = None;
        assert!(
            m.validate()
                .unwrap_err()
                .to_string()
                .contains("needs a `recognizer` table")
        );
    }

    #[test]
    fn a_sure_face_score_outside_0_to_1_is_refused() {
        let mut m = Catalogue::builtin()
            .get("yunet-2023mar", ModelKind::Detector, "d")
            .unwrap()
            .clone();
        assert_eq!(m.detector.as_ref().and_then(|d| d.sure_face_score), Some(0.8));
        if let Some(d) = m.detector.as_mut() {
            d.sure_face_score = Some(1.5);
        }
        assert!(
            m.validate()
                .unwrap_err()
                .to_string()
                .contains("sure_face_score must be between 0 and 1")
        );
    }
}
