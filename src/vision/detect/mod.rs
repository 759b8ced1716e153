//! Face detection: frames in, face boxes with 5 landmarks out, in frame pixels.
//!
//! Two families, chosen by the model's description: YuNet (anchor-free) and SCRFD (anchors).
//! Both search a frame in the views [`layout`] plans (an overview for big faces, the frame at its
//! own resolution for small ones, regions around tracked faces between full passes) and share
//! the same mapping back to frame pixels and one NMS over all views, in which a face the overview
//! sees small gives way to the same face at the frame's own resolution.

pub mod layout;
mod nms;
mod scrfd;
mod yunet;

use ndarray::{Array4, Axis};
use opencv::core::Mat;
use opencv::imgproc;
use opencv::prelude::*;
use serde::Serialize;

use crate::config::{InputSpec, ModelFamily};
use crate::vision::model::{ModelError, OnnxModel, OutputTensor, fill_chw};

pub use layout::{InputShape, Layout, Placement};
pub use nms::{Candidate, nms};

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
    /// Letterbox every frame into exactly this input (scaling small frames up), as the
    /// reference implementations do, instead of searching the frame at its own resolution.
    pub input_size: Option<[u32; 2]>,
}

/// Frames prepared for one inference call: the input batch and where each part of the frame
/// went in it.
#[derive(Debug, Clone)]
pub struct DetectorInput {
    /// NCHW input tensor, one image per item of the layout.
    pub tensor: Array4<f32>,
    /// What is in it.
    pub layout: Layout,
}

/// A loaded face detector.
#[derive(Debug)]
pub struct Detector {
    model: OnnxModel,
    family: ModelFamily,
    input: InputSpec,
    shape: InputShape,
    strides: Vec<u32>,
    anchors: usize,
    score_threshold: f32,
    sure_face_score: f32,
    nms_threshold: f32,
    min_face_px: f32,
    input_size: Option<[u32; 2]>,
}

impl Detector {
    /// Wraps a loaded detector model with its decoding settings.
    pub fn new(model: OnnxModel, settings: &DetectSettings) -> Result<Detector, ModelError> {
        let mut spec = model.spec().clone();
        let bad = |reason: String| ModelError::bad_description(spec.name.clone(), reason);
        let d = spec
            .detector
            .clone()
            .ok_or_else(|| bad("a detector needs a `detector` table".into()))?;
        let max_stride = d.strides.iter().copied().max().unwrap_or(1);
        if let Some([w, h]) = settings.input_size {
            if !model.has_free_size() && [w, h] != [spec.input.width, spec.input.height] {
                return Err(bad(format!(
                    "[detect] input_size [{w}, {h}]: this model takes only {}x{}",
                    spec.input.width, spec.input.height
                )));
            }
            (spec.input.width, spec.input.height) = (w, h);
        }
        if !spec.input.width.is_multiple_of(max_stride) || !spec.input.height.is_multiple_of(max_stride) {
            return Err(bad(format!(
                "input {}x{} must be a multiple of the largest stride {max_stride}",
                spec.input.width, spec.input.height
            )));
        }
        Ok(Detector {
            family: spec.family,
            shape: InputShape {
                width: spec.input.width,
                height: spec.input.height,
                free_size: model.has_free_size(),
                batched: model.is_batched(),
                step: max_stride,
            },
            input: spec.input,
            strides: d.strides,
            anchors: d.anchors as usize,
            score_threshold: settings.score_threshold.unwrap_or(d.score_threshold),
            sure_face_score: d.sure_face_score.unwrap_or(0.0),
            nms_threshold: settings.nms_threshold.unwrap_or(d.nms_threshold),
            min_face_px: settings.min_face_px,
            input_size: settings.input_size,
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

    /// What the model takes: what [`layout`] plans for.
    pub fn shape(&self) -> InputShape {
        self.shape
    }

    /// The inference calls of a full pass over a `w` x `h` frame: the overview, and the detail
    /// at the frame's own resolution when the overview sees it smaller (or the one letterboxed
    /// input of `[detect] input_size`).
    pub fn full_pass(&self, (w, h): (u32, u32)) -> Vec<Layout> {
        if let Some([iw, ih]) = self.input_size {
            return vec![layout::letterbox((w, h), iw, ih)];
        }
        let mut layouts = vec![layout::overview((w, h), &self.shape)];
        if layout::needs_detail((w, h), &self.shape) {
            layouts.extend(layout::detail((w, h), &self.shape));
        }
        layouts
    }

    /// Draws the frame's parts into the input batch `layout` describes.
    pub fn prepare(&self, frame: &Mat, layout: &Layout) -> Result<DetectorInput, ModelError> {
        let cv = |source| ModelError::OpenCv {
            name: self.name().to_string(),
            source,
        };
        let (w, h) = (layout.width as usize, layout.height as usize);
        let mut tensor = Array4::<f32>::zeros((layout.items, 3, h, w));
        for item in 0..layout.items {
            let parts: Vec<&Placement> = layout.placements.iter().filter(|p| p.item == item).collect();
            let image = draw(frame, &parts, layout).map_err(cv)?;
            fill_chw(&image, &self.input, tensor.index_axis_mut(Axis(0), item)).map_err(cv)?;
        }
        Ok(DetectorInput {
            tensor,
            layout: layout.clone(),
        })
    }

    /// Runs the model alone on a prepared input.
    pub fn infer(&mut self, input: &DetectorInput) -> Result<Vec<OutputTensor>, ModelError> {
        self.model.run(input.tensor.view())
    }

    /// The faces in one call's outputs, in frame pixels, before NMS: decoded per image, each
    /// kept by the part of the frame it lies in and mapped back, those cut by a tile's or
    /// region's edge dropped (a neighbouring view sees them whole).
    fn candidates(&self, outputs: &[OutputTensor], layout: &Layout) -> Vec<Candidate> {
        let grid = Grid {
            width: layout.width as usize,
            height: layout.height as usize,
            strides: &self.strides,
            anchors: self.anchors,
            threshold: self.score_threshold,
        };
        let items = layout.items.max(1);
        let mut faces = Vec::new();
        for item in 0..items {
            let slices: Vec<&[f32]> = outputs
                .iter()
                .map(|o| {
                    let per = o.data.len() / items;
                    &o.data[item * per..(item + 1) * per]
                })
                .collect();
            let found = match self.family {
                ModelFamily::Yunet => yunet::decode(&slices, &grid),
                _ => scrfd::decode(&slices, &grid),
            };
            for f in found {
                let Some(p) = layout.placements.iter().find(|p| p.item == item && p.holds(&f.bbox)) else {
                    continue;
                };
                let [x1, y1] = p.to_frame([f.bbox.x1, f.bbox.y1]);
                let [x2, y2] = p.to_frame([f.bbox.x2, f.bbox.y2]);
                let face = Face {
                    bbox: BBox { x1, y1, x2, y2 },
                    score: f.score,
                    landmarks: f.landmarks.map(|pt| p.to_frame(pt)),
                };
                let side = face.bbox.min_side();
                if !p.touches_cut(&face.bbox) && side <= p.max_face {
                    faces.push(Candidate {
                        face,
                        yields: side < p.yields_below,
                    });
                }
            }
        }
        faces
    }

    /// Turns the outputs of every call of a pass into faces in frame pixels: decode, threshold,
    /// map back, one NMS over all views, size filter.
    pub fn decode(&self, runs: &[(&DetectorInput, Vec<OutputTensor>)]) -> Vec<Face> {
        let all = runs
            .iter()
            .flat_map(|(input, outputs)| self.candidates(outputs, &input.layout))
            .collect();
        nms(all, self.nms_threshold)
            .into_iter()
            .filter(|f| f.bbox.min_side() >= self.min_face_px)
            .collect()
    }

    /// The inputs of every call of `layouts` over `frame`.
    pub fn prepare_all(&self, frame: &Mat, layouts: &[Layout]) -> Result<Vec<DetectorInput>, ModelError> {
        layouts.iter().map(|l| self.prepare(frame, l)).collect()
    }

    /// Runs the model on each prepared input: the calls [`Detector::decode`] takes.
    pub fn infer_all<'a>(
        &mut self,
        inputs: &'a [DetectorInput],
    ) -> Result<Vec<(&'a DetectorInput, Vec<OutputTensor>)>, ModelError> {
        inputs.iter().map(|input| Ok((input, self.infer(input)?))).collect()
    }

    /// Runs the calls of `layouts` and gathers their faces.
    pub fn run(&mut self, frame: &Mat, layouts: &[Layout]) -> Result<Vec<Face>, ModelError> {
        if frame.empty() {
            return Ok(Vec::new());
        }
        let inputs = self.prepare_all(frame, layouts)?;
        let runs = self.infer_all(&inputs)?;
        Ok(self.decode(&runs))
    }

    /// Finds every face in a BGR frame: a full pass.
    pub fn detect(&mut self, frame: &Mat) -> Result<Vec<Face>, ModelError> {
        let layouts = self.full_pass(frame_size(frame));
        self.run(frame, &layouts)
    }

    /// Finds the faces near `faces` (frame pixels, e.g. the tracks of the last frame), at the
    /// frame's own resolution: what a frame between full passes costs.
    pub fn detect_around(&mut self, frame: &Mat, faces: &[BBox]) -> Result<Vec<Face>, ModelError> {
        if self.input_size.is_some() {
            return self.detect(frame);
        }
        let layouts = layout::around(frame_size(frame), faces, &self.shape);
        self.run(frame, &layouts)
    }
}

/// A frame's width and height.
pub fn frame_size(frame: &Mat) -> (u32, u32) {
    (frame.cols().max(0) as u32, frame.rows().max(0) as u32)
}

/// One input image of `layout`'s size with `parts` of the frame drawn in (black elsewhere).
fn draw(frame: &Mat, parts: &[&Placement], layout: &Layout) -> opencv::Result<Mat> {
    let piece = |p: &Placement| -> opencv::Result<Mat> {
        let s = p.source;
        let roi = Mat::roi(frame, opencv::core::Rect::new(s.x, s.y, s.w, s.h))?;
        if p.size == (s.w, s.h) {
            return roi.try_clone();
        }
        let mut out = Mat::default();
        imgproc::resize(
            &roi,
            &mut out,
            opencv::core::Size::new(p.size.0, p.size.1),
            0.0,
            0.0,
            imgproc::INTER_LINEAR,
        )?;
        Ok(out)
    };
    // One part at the top left (an overview, a tile): fill_chw pads the rest.
    if let [p] = parts
        && p.at == (0, 0)
    {
        return piece(p);
    }
    let mut canvas = Mat::new_rows_cols_with_default(
        layout.height as i32,
        layout.width as i32,
        frame.typ(),
        opencv::core::Scalar::all(0.0),
    )?;
    for p in parts {
        let image = piece(p)?;
        let w = image.cols().min(layout.width as i32 - p.at.0);
        let h = image.rows().min(layout.height as i32 - p.at.1);
        if w <= 0 || h <= 0 {
            continue;
        }
        let src = Mat::roi(&image, opencv::core::Rect::new(0, 0, w, h))?;
        let mut dst = Mat::roi_mut(&mut canvas, opencv::core::Rect::new(p.at.0, p.at.1, w, h))?;
        src.copy_to(&mut dst)?;
    }
    Ok(canvas)
}

/// The feature-map layout both decoders walk.
struct Grid<'a> {
    width: usize,
    height: usize,
    strides: &'a [u32],
    anchors: usize,
    threshold: f32,
}
