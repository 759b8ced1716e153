//! Face detection: frames in, face boxes with 5 landmarks out, in frame pixels.
//!
//! Two families, chosen by the model's description: YuNet (anchor-free) and SCRFD (anchors).
//! Both are fed a letterboxed frame and share the same mapping back and the same NMS.

mod nms;
mod scrfd;
mod yunet;

use ndarray::{Array4, Axis};
use opencv::core::Mat;
use opencv::prelude::*;
use serde::Serialize;

use crate::config::{InputSpec, ModelFamily};
use crate::vision::model::{ModelError, OnnxModel, OutputTensor, fill_chw, letterbox};

pub use nms::nms;

/// An axis-aligned box in pixels, corners inclusive of the face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BBox {
    /// Width in pixels.
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }

    /// Height in pixels.
    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }

    /// The shorter side: what "face size" means for quality and the minimum-size filter.
    pub fn min_side(&self) -> f32 {
        self.width().min(self.height())
    }

    /// Area (zero for degenerate boxes).
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    /// Intersection over union with `other`.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    fn scaled(&self, k: f32) -> BBox {
        BBox {
            x1: self.x1 * k,
            y1: self.y1 * k,
            x2: self.x2 * k,
            y2: self.y2 * k,
        }
    }
}

/// Five landmarks in ArcFace order: left eye, right eye, nose, left mouth, right mouth (as seen
/// in the image).
pub type Landmarks = [[f32; 2]; 5];

/// One detected face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Face {
    /// Face box in frame pixels.
    pub bbox: BBox,
    /// Detector confidence, 0..1.
    pub score: f32,
    /// Five landmarks in frame pixels.
    pub landmarks: Landmarks,
}

/// Detector settings from the config; `None` takes the model's default.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectSettings {
    /// Minimum face score.
    pub score_threshold: Option<f32>,
    /// IoU above which the weaker box is dropped.
    pub nms_threshold: Option<f32>,
    /// Faces whose shorter side is below this many frame pixels are ignored.
    pub min_face_px: f32,
    /// For models of free input size, shape the input to the frame's aspect instead of padding
    /// it square (a 16:9 frame costs 640x384 instead of 640x640).
    pub fit_input: bool,
}

/// A frame prepared for the detector: the input tensor and the frame-to-model scale.
#[derive(Debug, Clone)]
pub struct DetectorInput {
    /// NCHW input tensor.
    pub tensor: Array4<f32>,
    /// Model pixels per frame pixel.
    pub scale: f32,
    /// Input width used.
    pub width: u32,
    /// Input height used.
    pub height: u32,
}

/// A loaded face detector.
#[derive(Debug)]
pub struct Detector {
    model: OnnxModel,
    family: ModelFamily,
    input: InputSpec,
    strides: Vec<u32>,
    anchors: usize,
    score_threshold: f32,
    sure_face_score: f32,
    nms_threshold: f32,
    min_face_px: f32,
    fit_input: bool,
}

impl Detector {
    /// Wraps a loaded detector model with its decoding settings.
    pub fn new(model: OnnxModel, settings: &DetectSettings) -> Result<Detector, ModelError> {
        let spec = model.spec().clone();
        let bad = |reason: String| ModelError::bad_description(spec.name.clone(), reason);
        let d = spec
            .detector
            .clone()
            .ok_or_else(|| bad("a detector needs a `detector` table".into()))?;
        let max_stride = d.strides.iter().copied().max().unwrap_or(1);
        if !spec.input.width.is_multiple_of(max_stride) || !spec.input.height.is_multiple_of(max_stride) {
            return Err(bad(format!(
                "input {}x{} must be a multiple of the largest stride {max_stride}",
                spec.input.width, spec.input.height
            )));
        }
        Ok(Detector {
            family: spec.family,
            input: spec.input,
            strides: d.strides,
            anchors: d.anchors as usize,
            score_threshold: settings.score_threshold.unwrap_or(d.score_threshold),
            sure_face_score: d.sure_face_score.unwrap_or(0.0),
            nms_threshold: settings.nms_threshold.unwrap_or(d.nms_threshold),
            min_face_px: settings.min_face_px,
            fit_input: settings.fit_input && model.has_free_size(),
            model,
        })
    }

    /// The detector's model name.
    pub fn name(&self) -> &str {
        &self.model.spec().name
    }

    /// The score threshold in force.
    pub fn score_threshold(&self) -> f32 {
        self.score_threshold
    }

    /// Detections at or above this score are faces beyond doubt; only they can make a track a
    /// spoof (see [`crate::config::DetectorSpec::sure_face_score`]).
    pub fn sure_face_score(&self) -> f32 {
        self.sure_face_score
    }

    /// The input size for a `w` x `h` frame: the configured one, or for free-size models the
    /// configured size's long side with the short side fitted to the frame (multiple of the
    /// largest stride).
    fn input_size_for(&self, w: u32, h: u32) -> (u32, u32) {
        let (iw, ih) = (self.input.width, self.input.height);
        if !self.fit_input {
            return (iw, ih);
        }
        let step = self.strides.iter().copied().max().unwrap_or(32);
        let fit = |long: u32, num: u32, den: u32| {
            ((long as u64 * num as u64).div_ceil(den as u64 * step as u64) as u32 * step).clamp(step, long)
        };
        if w >= h {
            (iw, fit(iw, h, w).min(ih))
        } else {
            (fit(ih, w, h).min(iw), ih)
        }
    }

    /// Letterboxes the frame into the model's input tensor.
    pub fn prepare(&self, frame: &Mat) -> Result<DetectorInput, ModelError> {
        let cv = |source| ModelError::OpenCv {
            name: self.name().to_string(),
            source,
        };
        let (width, height) = self.input_size_for(frame.cols().max(1) as u32, frame.rows().max(1) as u32);
        let (resized, scale) = letterbox(frame, width, height).map_err(cv)?;
        let mut tensor = Array4::<f32>::zeros((1, 3, height as usize, width as usize));
        fill_chw(&resized, &self.input, tensor.index_axis_mut(Axis(0), 0)).map_err(cv)?;
        Ok(DetectorInput {
            tensor,
            scale,
            width,
            height,
        })
    }

    /// Runs the model alone on a prepared input.
    pub fn infer(&mut self, input: &DetectorInput) -> Result<Vec<OutputTensor>, ModelError> {
        self.model.run(input.tensor.view())
    }

    /// Turns raw outputs into faces in frame pixels: decode, threshold, NMS, map back, size filter.
    pub fn decode(&self, outputs: &[OutputTensor], input: &DetectorInput) -> Vec<Face> {
        let scale = input.scale;
        let grid = Grid {
            width: input.width as usize,
            height: input.height as usize,
            strides: &self.strides,
            anchors: self.anchors,
            threshold: self.score_threshold,
        };
        let candidates = match self.family {
            ModelFamily::Yunet => yunet::decode(outputs, &grid),
            _ => scrfd::decode(outputs, &grid),
        };
        let inv = 1.0 / scale;
        nms(candidates, self.nms_threshold)
            .into_iter()
            .map(|f| Face {
                bbox: f.bbox.scaled(inv),
                score: f.score,
                landmarks: f.landmarks.map(|[x, y]| [x * inv, y * inv]),
            })
            .filter(|f| f.bbox.min_side() >= self.min_face_px)
            .collect()
    }

    /// Finds the faces in a BGR frame.
    pub fn detect(&mut self, frame: &Mat) -> Result<Vec<Face>, ModelError> {
        if frame.empty() {
            return Ok(Vec::new());
        }
        let input = self.prepare(frame)?;
        let outputs = self.infer(&input)?;
        Ok(self.decode(&outputs, &input))
    }
}

/// The feature-map layout both decoders walk.
struct Grid<'a> {
    width: usize,
    height: usize,
    strides: &'a [u32],
    anchors: usize,
    threshold: f32,
}
