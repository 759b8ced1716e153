//! The face analyzer: a frame in; faces with quality, liveness and embeddings out. ("Pipeline"
//! is kept for GStreamer pipelines, in `capture`.)
//!
//! Detect, align, assess quality, embed (one batch for all faces of the frame), and score
//! liveness, timing each stage so benchmarks and status reports can say where time goes.

use std::path::Path;
use std::time::{Duration, Instant};

use ndarray::Array4;
use opencv::core::Mat;
use serde::Serialize;

use crate::config::Config;
use crate::config::{Catalogue, ModelKind, ModelSpec, Precision};
use crate::vision::align::align;
use crate::vision::detect::{BBox, DetectSettings, Detector, Face, frame_size};
use crate::vision::embed::{Embedding, Recognizer};
use crate::vision::landmarks::DenseLandmarks;
use crate::vision::liveness::{AntiSpoof, Liveness};
use crate::vision::model::{ModelError, OnnxModel, Runtime, RuntimeSettings};
use crate::vision::quality::{Quality, assess};

/// One face and everything the analyzer learned about it.
#[derive(Debug, Clone, Serialize)]
pub struct AnalyzedFace {
    /// Box, landmarks, detector score.
    #[serde(flatten)]
    pub face: Face,
    /// Quality score and its parts.
    pub quality: Quality,
    /// Passive liveness (absent when no anti-spoofing model is configured).
    pub liveness: Option<Liveness>,
    /// The recognizer's embedding.
    pub embedding: Embedding,
}

/// Wall time per stage for one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// Letterbox, detector model, decode and NMS.
    pub detect: Duration,
    /// Alignment warps and quality.
    pub align: Duration,
    /// Batch packing and the recognizer.
    pub embed: Duration,
    /// Crops and the anti-spoofing models.
    pub antispoof: Duration,
    /// The whole frame.
    pub total: Duration,
}

/// Model-only time per stage, measured with the inputs already prepared.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ModelTimes {
    /// Detector session run.
    pub detect: Duration,
    /// Recognizer session run(s).
    pub embed: Duration,
    /// Anti-spoofing session runs.
    pub antispoof: Duration,
}

impl ModelTimes {
    /// All model time for the frame.
    pub fn total(&self) -> Duration {
        self.detect + self.embed + self.antispoof
    }
}

/// A model stage the daemon times, for the metrics' latency histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Detection, alignment and quality of one frame.
    Detect,
    /// One anti-spoofing check (both models) of one face.
    Antispoof,
    /// One recognizer batch.
    Embed,
    /// The 106 landmarks of one face.
    Landmarks,
}

impl Stage {
    /// The name it has in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Detect => "detect",
            Stage::Antispoof => "antispoof",
            Stage::Embed => "embed",
            Stage::Landmarks => "landmarks",
        }
    }
}

/// Stage timings since they were last taken. Bounded: a caller that never takes them (a bench,
/// `rollcall eval`) costs a few kilobytes, and the daemon takes them every second.
#[derive(Debug, Default)]
pub struct StageClock {
    samples: Vec<(Stage, Duration)>,
}

/// Timings kept at most between two takes; later ones are not kept.
const MAX_STAGE_SAMPLES: usize = 4096;

impl StageClock {
    fn record(&mut self, stage: Stage, since: Instant) {
        if self.samples.len() < MAX_STAGE_SAMPLES {
            self.samples.push((stage, since.elapsed()));
        }
    }

    /// The timings recorded since the last take.
    pub fn take(&mut self) -> Vec<(Stage, Duration)> {
        std::mem::take(&mut self.samples)
    }
}

/// A frame's result.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Faces found, best detector score first.
    pub faces: Vec<AnalyzedFace>,
    /// Where the time went.
    pub times: StageTimes,
}

/// Where one loaded model runs, for `rollcall bench` and the status: what a Jetson's owner
/// reads to know whether the GPU is in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ModelPlacement {
    /// The model's catalogue name.
    pub model: String,
    /// The execution provider its session got.
    pub provider: crate::config::Provider,
    /// Which build of it: `fp32` or `int8`.
    pub precision: Precision,
}

/// The build of `spec` that `precision` asks for, and which it is. Under `auto` an INT8 build
/// that has not been made yet is no error: the FP32 model runs, and the box says once how to
/// make it.
fn build_for(spec: &ModelSpec, precision: Precision, dir: &Path) -> (ModelSpec, Precision) {
    match spec.int8_build() {
        Some(int8) if spec.wants_int8(precision) => {
            if precision == Precision::Auto && !dir.join(&int8.file).is_file() {
                crate::vision::model::report_once(format!(
                    "the INT8 build of {} is not in {}: it runs in FP32. `rollcall models \
                     quantize` makes the INT8 builds; [models] precision = \"fp32\" silences this",
                    spec.name,
                    dir.display()
                ));
                (spec.clone(), Precision::Fp32)
            } else {
                (int8, Precision::Int8)
            }
        }
        _ => (spec.clone(), Precision::Fp32),
    }
}

/// The loaded models and their settings.
#[derive(Debug)]
pub struct FaceAnalyzer {
    /// Where each model runs, in load order.
    placements: Vec<ModelPlacement>,
    detector: Detector,
    recognizer: Recognizer,
    antispoof: Option<AntiSpoof>,
    /// The 106-point model, when configured (live enrollment's eyes-open check, blinks in tracks).
    landmarks: Option<DenseLandmarks>,
    /// Timings of the calls the engine makes (`observe`, `live_score`, `embed`,
    /// `dense_landmarks`).
    clock: StageClock,
}

impl FaceAnalyzer {
    /// Loads ONNX Runtime and every configured model, checking each against its description.
    pub fn from_config(config: &Config) -> Result<FaceAnalyzer, ModelError> {
        let runtime = Runtime::load(&RuntimeSettings::from_config(config))?;
        let catalogue = Catalogue::builtin().with(&config.models.custom)?;
        let dir: &Path = &config.models.dir;
        let mut placements = Vec::new();
        let mut load = |spec: &ModelSpec| -> Result<OnnxModel, ModelError> {
            let (build, precision) = build_for(spec, config.models.precision, dir);
            let model = OnnxModel::load(&runtime, &build, dir)?;
            placements.push(ModelPlacement {
                model: spec.name.clone(),
                provider: model.provider(),
                precision,
            });
            Ok(model)
        };

        let mut det_spec = catalogue
            .get(&config.models.detector, ModelKind::Detector, "detector")?
            .clone();
        if let Some([w, h]) = config.detect.input_size {
            det_spec.input.width = w;
            det_spec.input.height = h;
        }
        let detector = Detector::new(
            load(&det_spec)?,
            &DetectSettings {
                score_threshold: config.detect.score_threshold,
                nms_threshold: config.detect.nms_threshold,
                min_face_px: config.detect.min_face_px,
                input_size: config.detect.input_size,
            },
        )?;
        let rec_spec = catalogue.get(&config.models.recognizer, ModelKind::Recognizer, "recognizer")?;
        let recognizer = Recognizer::new(load(rec_spec)?, config.recognize.threshold)?;
        let antispoof = if config.models.antispoof.is_empty() {
            None
        } else {
            let models = config
                .models
                .antispoof
                .iter()
                .map(|name| {
                    let spec = catalogue.get(name, ModelKind::Antispoof, "anti-spoofing model")?;
                    load(spec)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(AntiSpoof::new(models, config.liveness.threshold)?)
        };
        let landmarks = match &config.models.landmarks {
            Some(name) => {
                let spec = catalogue.get(name, ModelKind::Landmarks, "landmark model")?;
                Some(DenseLandmarks::new(load(spec)?))
            }
            None => None,
        };
        Ok(FaceAnalyzer {
            placements,
            detector,
            recognizer,
            antispoof,
            landmarks,
            clock: StageClock::default(),
        })
    }

    /// Where each loaded model runs.
    pub fn placements(&self) -> &[ModelPlacement] {
        &self.placements
    }

    /// The stage timings recorded since the last call.
    pub fn take_stage_times(&mut self) -> Vec<(Stage, Duration)> {
        self.clock.take()
    }

    /// The 106 landmarks of the face at `bbox`, if the dense landmark model is configured.
    pub fn dense_landmarks(
        &mut self,
        frame: &Mat,
        bbox: &crate::vision::detect::BBox,
    ) -> Result<Option<Vec<[f32; 2]>>, ModelError> {
        let Some(m) = self.landmarks.as_mut() else {
            return Ok(None);
        };
        let start = Instant::now();
        let points = m.points(frame, bbox)?;
        self.clock.record(Stage::Landmarks, start);
        Ok(Some(points))
    }

    /// Whether the dense landmark model (eyes open or closed) is configured.
    pub fn has_dense_landmarks(&self) -> bool {
        self.landmarks.is_some()
    }

    /// The detector.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The detector, to run it alone (`rollcall detect`, benches).
    pub fn detector_mut(&mut self) -> &mut Detector {
        &mut self.detector
    }

    /// The recognizer.
    pub fn recognizer(&self) -> &Recognizer {
        &self.recognizer
    }

    /// The anti-spoofing models, if configured.
    pub fn antispoof(&self) -> Option<&AntiSpoof> {
        self.antispoof.as_ref()
    }

    /// Aligned crops for the recognizer, one per face.
    fn align_all(&self, frame: &Mat, faces: &[Face]) -> Result<Vec<Mat>, ModelError> {
        let size = self.recognizer.crop_size();
        faces
            .iter()
            .map(|f| align(frame, &f.landmarks, size))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ModelError::OpenCv {
                name: self.recognizer.id().to_string(),
                source,
            })
    }

    /// What tracking needs from a frame: faces with quality and aligned crops, but no liveness
    /// and no embedding (tracks ask for those only while they are undecided). A full pass.
    pub fn observe(&mut self, frame: &Mat) -> Result<Vec<Observation>, ModelError> {
        let start = Instant::now();
        let faces = self.detector.detect(frame)?;
        self.observations(frame, faces, start)
    }

    /// [`FaceAnalyzer::observe`] searching only around `tracked` (frame pixels), at the frame's
    /// own resolution: a frame between full passes.
    pub fn observe_around(&mut self, frame: &Mat, tracked: &[BBox]) -> Result<Vec<Observation>, ModelError> {
        let start = Instant::now();
        let faces = self.detector.detect_around(frame, tracked)?;
        self.observations(frame, faces, start)
    }

    /// Quality and aligned crops of the faces found, timed from `start` as one detect stage.
    fn observations(&mut self, frame: &Mat, faces: Vec<Face>, start: Instant) -> Result<Vec<Observation>, ModelError> {
        let aligned = self.align_all(frame, &faces)?;
        let mut out = Vec::with_capacity(faces.len());
        for (face, aligned) in faces.into_iter().zip(aligned) {
            let quality = assess(&face, &aligned).map_err(|source| ModelError::OpenCv {
                name: self.recognizer.id().to_string(),
                source,
            })?;
            let thumb = thumbnail(&aligned);
            out.push(Observation {
                face,
                quality,
                aligned,
                thumb,
            });
        }
        self.clock.record(Stage::Detect, start);
        Ok(out)
    }

    /// Passive live scores of the faces at `boxes`, if anti-spoofing is configured: one run of
    /// each model for them all.
    pub fn live_scores(&mut self, frame: &Mat, boxes: &[BBox]) -> Result<Option<Vec<f32>>, ModelError> {
        let Some(a) = self.antispoof.as_mut() else {
            return Ok(None);
        };
        let start = Instant::now();
        let scores = a.check(frame, boxes)?.into_iter().map(|l| l.score).collect();
        self.clock.record(Stage::Antispoof, start);
        Ok(Some(scores))
    }

    /// Embeds aligned crops in one batch.
    pub fn embed(&mut self, aligned: &[Mat]) -> Result<Vec<Embedding>, ModelError> {
        let start = Instant::now();
        let embeddings = self.recognizer.embed(aligned)?;
        self.clock.record(Stage::Embed, start);
        Ok(embeddings)
    }

    /// The tensors each model is fed for this frame, named by model, exactly as analysis feeds
    /// them: the detector's letterboxed frame, then per face found its aligned crop for the
    /// recognizer and its crops for the anti-spoofing models. What `rollcall models quantize`
    /// calibrates the INT8 builds on, so they see what they will be given.
    pub fn model_inputs(&mut self, frame: &Mat) -> Result<Vec<(String, Array4<f32>)>, ModelError> {
        let prepared = self
            .detector
            .prepare_all(frame, &self.detector.full_pass(frame_size(frame)))?;
        let runs = self.detector.infer_all(&prepared)?;
        let faces = self.detector.decode(&runs);
        let name = self.detector.name().to_string();
        let mut inputs: Vec<(String, Array4<f32>)> = prepared.into_iter().map(|i| (name.clone(), i.tensor)).collect();
        for (face, aligned) in faces.iter().zip(self.align_all(frame, &faces)?) {
            let crop = self.recognizer.prepare(std::slice::from_ref(&aligned))?;
            inputs.push((self.recognizer.id().to_string(), crop));
            if let Some(a) = &self.antispoof {
                let names: Vec<String> = a.names().map(str::to_string).collect();
                inputs.extend(
                    names
                        .into_iter()
                        .zip(a.prepare(frame, std::slice::from_ref(&face.bbox))?),
                );
            }
        }
        Ok(inputs)
    }

    /// Runs every stage on a BGR frame.
    pub fn analyze(&mut self, frame: &Mat) -> Result<Analysis, ModelError> {
        let start = Instant::now();
        let mut times = StageTimes::default();

        let faces = self.detector.detect(frame)?;
        times.detect = start.elapsed();

        let t = Instant::now();
        let aligned = self.align_all(frame, &faces)?;
        let qualities = faces
            .iter()
            .zip(&aligned)
            .map(|(f, a)| assess(f, a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ModelError::OpenCv {
                name: self.recognizer.id().to_string(),
                source,
            })?;
        times.align = t.elapsed();

        let t = Instant::now();
        let embeddings = self.recognizer.embed(&aligned)?;
        times.embed = t.elapsed();

        let t = Instant::now();
        let liveness = match self.antispoof.as_mut() {
            Some(a) => {
                let boxes: Vec<BBox> = faces.iter().map(|f| f.bbox).collect();
                a.check(frame, &boxes)?.into_iter().map(Some).collect()
            }
            None => vec![None; faces.len()],
        };
        times.antispoof = t.elapsed();
        times.total = start.elapsed();

        let faces = faces
            .into_iter()
            .zip(qualities)
            .zip(liveness)
            .zip(embeddings)
            .map(|(((face, quality), liveness), embedding)| AnalyzedFace {
                face,
                quality,
                liveness,
                embedding,
            })
            .collect();
        Ok(Analysis { faces, times })
    }

    /// Times the models alone on this frame's inputs: every input is prepared first, untimed,
    /// so the figure is what the sessions cost with no analyzer around them.
    pub fn time_models(&mut self, frame: &Mat, faces: &[Face]) -> Result<ModelTimes, ModelError> {
        let det_inputs = self
            .detector
            .prepare_all(frame, &self.detector.full_pass(frame_size(frame)))?;
        let aligned = self.align_all(frame, faces)?;
        let batch = self.recognizer.prepare(&aligned)?;
        let spoof_inputs = match self.antispoof.as_ref() {
            Some(a) => Some(a.prepare(frame, &faces.iter().map(|f| f.bbox).collect::<Vec<_>>())?),
            None => None,
        };

        let mut times = ModelTimes::default();
        let t = Instant::now();
        self.detector.infer_all(&det_inputs)?;
        times.detect = t.elapsed();
        let t = Instant::now();
        self.recognizer.infer(&batch)?;
        times.embed = t.elapsed();
        if let (Some(a), Some(inputs)) = (self.antispoof.as_mut(), spoof_inputs) {
            let t = Instant::now();
            a.infer(&inputs)?;
            times.antispoof = t.elapsed();
        }
        Ok(times)
    }
}

/// One face in one frame, as the tracker (`attend::track`) receives it.
#[derive(Debug)]
pub struct Observation {
    /// Detection.
    pub face: Face,
    /// Quality.
    pub quality: Quality,

    /// The aligned crop (kept in memory only, for the best frames; never written anywhere).
    pub aligned: Mat,
    /// Its [`thumbnail`].
    pub thumb: Vec<f32>,
}

/// A tiny, normalised grey picture of an aligned face: cheap to compare, enough to tell that a
/// different person now stands where a track's face was.
pub fn thumbnail(aligned: &Mat) -> Vec<f32> {
    use opencv::imgproc;
    use opencv::prelude::*;
    let mut grey = Mat::default();
    let mut small = Mat::default();
    if imgproc::cvt_color_def(aligned, &mut grey, imgproc::COLOR_BGR2GRAY).is_err()
        || imgproc::resize(
            &grey,
            &mut small,
            opencv::core::Size::new(24, 24),
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )
        .is_err()
    {
        return Vec::new();
    }
    let v: Vec<f32> = small
        .data_bytes()
        .map(|b| b.iter().map(|&x| x as f32).collect())
        .unwrap_or_default();
    let mean = v.iter().sum::<f32>() / v.len().max(1) as f32;
    let mut v: Vec<f32> = v.into_iter().map(|x| x - mean).collect();
    crate::vision::embed::l2_normalise(&mut v);
    v
}

impl std::fmt::Display for ModelPlacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} on {}", self.model, self.precision, self.provider)
    }
}
