//! Dense landmarks (InsightFace's 2d106det): 106 points per face, for what five points cannot
//! tell, such as whether the eyes are open.
//!
//! Optional, and off by default: the model is licensed for non-commercial research only.

use ndarray::{Array4, Axis};
use opencv::core::{Mat, Scalar, Size};
use opencv::imgproc;

use crate::vision::detect::{BBox, Landmarks};
use crate::vision::model::{ModelError, OnnxModel, fill_chw};

/// The 106-point landmark model.
#[derive(Debug)]
pub struct DenseLandmarks {
    model: OnnxModel,
}

/// The crop around a face box the model expects: a square of 1.5 times the box's longer side,
/// centred on the box, as InsightFace crops it (zero padding past the frame's edge).
fn crop_transform(bbox: &BBox, side: f32) -> (f32, f32, f32) {
    let scale = side / (bbox.width().max(bbox.height()).max(1.0) * 1.5);
    let (cx, cy) = ((bbox.x1 + bbox.x2) / 2.0, (bbox.y1 + bbox.y2) / 2.0);
    (scale, side / 2.0 - scale * cx, side / 2.0 - scale * cy)
}

impl DenseLandmarks {
    /// Wraps a loaded landmark model.
    pub fn new(model: OnnxModel) -> DenseLandmarks {
        DenseLandmarks { model }
    }

    /// The 106 points of the face at `bbox`, in frame pixels.
    pub fn points(&mut self, frame: &Mat, bbox: &BBox) -> Result<Vec<[f32; 2]>, ModelError> {
        let input = self.model.spec().input;
        let side = input.width as f32;
        let cv = |source| ModelError::OpenCv {
            name: self.model.spec().name.clone(),
            source,
        };
        let (s, tx, ty) = crop_transform(bbox, side);
        let m = Mat::from_slice_2d(&[[s as f64, 0.0, tx as f64], [0.0, s as f64, ty as f64]]).map_err(cv)?;
        let mut crop = Mat::default();
        imgproc::warp_affine(
            frame,
            &mut crop,
            &m,
            Size::new(input.width as i32, input.height as i32),
            imgproc::INTER_LINEAR,
            opencv::core::BORDER_CONSTANT,
            Scalar::all(0.0),
        )
        .map_err(cv)?;
        let mut t = Array4::<f32>::zeros((1, 3, input.height as usize, input.width as usize));
        fill_chw(&crop, &input, t.index_axis_mut(Axis(0), 0)).map_err(cv)?;
        let out = self.model.run(t.view())?;
        let data = &out[0].data;
        if data.len() < 212 {
            return Err(ModelError::Inference {
                name: self.model.spec().name.clone(),
                reason: format!("{} values out, 212 expected", data.len()),
            });
        }
        Ok(data[..212]
            .chunks_exact(2)
            .map(|p| {
                // (-1, 1) over the crop, back through the crop's transform to the frame.
                let (x, y) = ((p[0] + 1.0) * side / 2.0, (p[1] + 1.0) * side / 2.0);
                [(x - tx) / s, (y - ty) / s]
            })
            .collect())
    }
}

/// How open the eyes are: the height of each eye's outline over its width, averaged over both
/// eyes (about 0.3 open, under 0.1 closed). The outline is the dense points around each eye centre
/// of the five-point landmarks, so no index table of the 106-point layout is needed.
pub fn eye_openness(points: &[[f32; 2]], five: &Landmarks) -> f32 {
    let (le, re) = (five[0], five[1]);
    let (dx, dy) = (re[0] - le[0], re[1] - le[1]);
    let eye = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / eye, dy / eye);
    let openness = |centre: [f32; 2]| {
        // In eye-line coordinates: along the line (u) and across it (v).
        let near: Vec<(f32, f32)> = points
            .iter()
            .map(|p| {
                let (px, py) = (p[0] - centre[0], p[1] - centre[1]);
                ((px * ux + py * uy) / eye, (-px * uy + py * ux) / eye)
            })
            .filter(|(u, v)| u.abs() <= 0.3 && v.abs() <= 0.15)
            .collect();
        if near.len() < 4 {
            return 0.0;
        }
        let span = |f: fn(&(f32, f32)) -> f32| {
            let (lo, hi) = near
                .iter()
                .map(f)
                .fold((f32::MAX, f32::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
            hi - lo
        };
        span(|p| p.1) / span(|p| p.0).max(1e-3)
    };
    (openness(le) + openness(re)) / 2.0
}
