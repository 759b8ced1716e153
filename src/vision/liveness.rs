//! Passive anti-spoofing: is this face live, or a photo or a screen held to the camera?
//!
//! Silent-Face's MiniFASNet pair, each fed a differently scaled crop around the face box; their
//! softmax outputs are averaged, and the probability of the "real" class is the live score.
//! Over a track, [`landmark_motion`] adds what movement shows: a flat picture moves as a plane.

use ndarray::{Array4, Axis};
use opencv::core::{Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;
use serde::Serialize;

use crate::config::AntispoofSpec;
use crate::vision::detect::{BBox, Landmarks};
use crate::vision::model::{ModelError, OnnxModel, fill_chw};

/// A face's liveness verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Liveness {
    /// Fused probability that the face is real, 0..1.
    pub score: f32,
    /// `score >= threshold`.
    pub live: bool,
}

/// One anti-spoofing model with its crop geometry.
#[derive(Debug)]
struct SpoofModel {
    model: OnnxModel,
    spec: AntispoofSpec,
}

/// The fused anti-spoofing models.
#[derive(Debug)]
pub struct AntiSpoof {
    models: Vec<SpoofModel>,
    threshold: f32,
}

/// Silent-Face's crop: the box scaled by `scale` around its centre (less if the frame is too
/// small), shifted, not shrunk, to stay inside the frame.
pub fn spoof_crop(frame_w: i32, frame_h: i32, bbox: &BBox, scale: f32) -> Rect {
    let (box_w, box_h) = (bbox.width().max(1.0), bbox.height().max(1.0));
    let (src_w, src_h) = (frame_w as f32, frame_h as f32);
    let scale = scale.min((src_h - 1.0) / box_h).min((src_w - 1.0) / box_w);
    let (new_w, new_h) = (box_w * scale, box_h * scale);
    let (cx, cy) = (bbox.x1 + box_w / 2.0, bbox.y1 + box_h / 2.0);
    let (mut x1, mut y1, mut x2, mut y2) = (cx - new_w / 2.0, cy - new_h / 2.0, cx + new_w / 2.0, cy + new_h / 2.0);
    if x1 < 0.0 {
        x2 -= x1;
        x1 = 0.0;
    }
    if y1 < 0.0 {
        y2 -= y1;
        y1 = 0.0;
    }
    if x2 > src_w - 1.0 {
        x1 -= x2 - src_w + 1.0;
        x2 = src_w - 1.0;
    }
    if y2 > src_h - 1.0 {
        y1 -= y2 - src_h + 1.0;
        y2 = src_h - 1.0;
    }
    let (x1, y1) = ((x1 as i32).max(0), (y1 as i32).max(0));
    let (x2, y2) = ((x2 as i32).min(frame_w - 1), (y2 as i32).min(frame_h - 1));
    Rect::new(x1, y1, (x2 - x1 + 1).max(1), (y2 - y1 + 1).max(1))
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

impl AntiSpoof {
    /// Fuses the given anti-spoofing models.
    pub fn new(models: Vec<OnnxModel>, threshold: f32) -> Result<AntiSpoof, ModelError> {
        let models = models
            .into_iter()
            .map(|model| {
                let spec = model.spec().antispoof.clone().ok_or_else(|| {
                    ModelError::bad_description(
                        model.spec().name.clone(),
                        "an antispoof model needs an `antispoof` table".into(),
                    )
                })?;
                Ok(SpoofModel { model, spec })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        Ok(AntiSpoof { models, threshold })
    }

    /// The fused models' names, in the order `prepare` gives their inputs.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|m| m.model.spec().name.as_str())
    }

    /// The live threshold in force.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Whether every model takes several faces a run.
    pub fn takes_batches(&self) -> bool {
        self.models.iter().all(|m| m.model.is_batched())
    }

    /// One input tensor per model for the faces at `boxes`, one item per face.
    pub fn prepare(&self, frame: &Mat, boxes: &[BBox]) -> Result<Vec<Array4<f32>>, ModelError> {
        self.models
            .iter()
            .map(|m| {
                let input = &m.model.spec().input;
                let cv = |source| ModelError::OpenCv {
                    name: m.model.spec().name.clone(),
                    source,
                };
                let size = Size::new(input.width as i32, input.height as i32);
                let mut t = Array4::<f32>::zeros((boxes.len(), 3, input.height as usize, input.width as usize));
                for (bbox, slot) in boxes.iter().zip(t.axis_iter_mut(Axis(0))) {
                    let rect = spoof_crop(frame.cols(), frame.rows(), bbox, m.spec.crop_scale);
                    let roi = Mat::roi(frame, rect).map_err(cv)?;
                    let mut crop = Mat::default();
                    imgproc::resize(&roi, &mut crop, size, 0.0, 0.0, imgproc::INTER_LINEAR).map_err(cv)?;
                    fill_chw(&crop, input, slot).map_err(cv)?;
                }
                Ok(t)
            })
            .collect()
    }

    /// Runs the models alone on prepared inputs and fuses them: one verdict per face.
    pub fn infer(&mut self, inputs: &[Array4<f32>]) -> Result<Vec<Liveness>, ModelError> {
        let faces = inputs.first().map_or(0, |i| i.len_of(Axis(0)));
        if faces == 0 {
            return Ok(Vec::new());
        }
        let mut live = vec![0.0f32; faces];
        for (m, input) in self.models.iter_mut().zip(inputs) {
            let logits = m.model.run_items(input.view())?;
            let per_face = logits.len() / faces;
            if per_face < m.spec.classes || logits.len() != per_face * faces {
                return Err(ModelError::Inference {
                    name: m.model.spec().name.clone(),
                    reason: format!("expected {faces} x {} values, got {}", m.spec.classes, logits.len()),
                });
            }
            for (sum, face) in live.iter_mut().zip(logits.chunks_exact(per_face)) {
                let probs = softmax(&face[..m.spec.classes]);
                *sum += probs.get(m.spec.live_class).copied().unwrap_or(0.0);
            }
        }
        let models = self.models.len().max(1) as f32;
        Ok(live
            .into_iter()
            .map(|sum| {
                let score = sum / models;
                Liveness {
                    score,
                    live: score >= self.threshold,
                }
            })
            .collect())
    }

    /// Scores the faces at `boxes` in `frame`, in one run per model where the models allow.
    pub fn check(&mut self, frame: &Mat, boxes: &[BBox]) -> Result<Vec<Liveness>, ModelError> {
        let inputs = self.prepare(frame, boxes)?;
        self.infer(&inputs)
    }
}

/// Eye opening (see [`crate::vision::landmarks::eye_openness`]) at or above which eyes count as open:
/// open eyes read 0.30 to 0.36 on the shared video, 0.26 and up on the shared photos.
pub const EYES_OPEN: f32 = 0.25;

/// Eye opening under which eyes count as closed: a blink reads 0.14 at its deepest.
pub const EYES_CLOSED: f32 = 0.2;

/// Whether a track's eye openings, in frame order, show a blink: a frame with the eyes closed
/// (under [`EYES_CLOSED`] and under 60% of the track's median), between frames with them open,
/// and deeper than 4 times the readings' own scatter (median absolute deviation). A flat
/// picture keeps one opening, give or take landmark noise; on a small, waved print that noise
/// is large (0.11 to 0.54 over 12 frames of image_T1, median 0.19: never open enough to blink).
/// At 5 fps a blink (100 to 300 ms) falls on a frame or on none, so a face that did
/// not blink is no less live: the cue only ever helps.
pub fn blinked(openings: &[f32]) -> bool {
    if openings.len() < 3 {
        return false;
    }
    let median_of = |v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let median = median_of(&mut openings.to_vec());
    if median < EYES_OPEN {
        return false;
    }
    let scatter = median_of(&mut openings.iter().map(|o| (o - median).abs()).collect());
    let closed = EYES_CLOSED.min(0.6 * median).min(median - 4.0 * scatter);
    openings.iter().enumerate().any(|(i, &o)| {
        o < closed && openings[..i].iter().any(|&b| b >= EYES_OPEN) && openings[i + 1..].iter().any(|&a| a >= EYES_OPEN)
    })
}

#[cfg(test)]
mod blink_tests {
    use super::*;

    #[test]
    fn a_dip_between_open_frames_is_a_blink_and_noise_is_not() {
        // Her blink at 5 fps (tests/it/engine.rs prints the real readings).
        assert!(blinked(&[0.35, 0.35, 0.23, 0.17, 0.28, 0.32, 0.32]));
        // Closed and never opened again, or never open: no blink.
        assert!(!blinked(&[0.32, 0.33, 0.31, 0.12, 0.11]));
        assert!(!blinked(&[0.15, 0.12, 0.16, 0.13]));
        // image_T1 printed and waved (tests/it/engine.rs): its readings scatter as deep as a blink.
        assert!(!blinked(&[
            0.39, 0.11, 0.54, 0.15, 0.34, 0.16, 0.21, 0.17, 0.19, 0.19, 0.19, 0.34
        ]));
        // Open eyes whose readings scatter by 0.05: a dip must go 4 times deeper than that.
        assert!(!blinked(&[0.40, 0.30, 0.35, 0.45, 0.19, 0.35, 0.30, 0.40, 0.35]));
    }
}

/// How a face's landmarks moved over a track.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Motion {
    /// Largest displacement of the landmarks from the first frame, in eye distances (after
    /// removing nothing): how much the face moved at all.
    pub travel: f32,
    /// Mean RMS of what an affine map of the first frame's landmarks cannot explain, in eye
    /// distances: how much the face changed shape (3-D turns, expressions, blinks).
    pub deformation: f32,
    /// Frames measured.
    pub frames: usize,
}

impl Motion {
    /// A flat picture moved around: plenty of travel, almost no change of shape.
    pub fn looks_rigid(&self, min_travel: f32, max_deformation: f32) -> bool {
        self.frames >= 4 && self.travel >= min_travel && self.deformation <= max_deformation
    }

    /// A face that changed shape as a live one does (speech, expression), by at least
    /// `min_deformation` eye distances: no flat picture does.
    pub fn looks_alive(&self, min_deformation: f32) -> bool {
        self.frames >= 4 && self.deformation >= min_deformation
    }
}

/// Solves the 3x3 system `a x = b` (Cramer's rule; the system is small and well posed here).
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-9 {
        return None;
    }
    let mut x = [0.0; 3];
    for (i, xi) in x.iter_mut().enumerate() {
        let mut m = a;
        for r in 0..3 {
            m[r][i] = b[r];
        }
        *xi = det(m) / d;
    }
    Some(x)
}

/// Residual RMS of the least-squares affine map from `src` to `dst`.
fn affine_residual(src: &Landmarks, dst: &Landmarks) -> Option<f64> {
    let mut ata = [[0.0; 3]; 3];
    let (mut atx, mut aty) = ([0.0; 3], [0.0; 3]);
    for (s, d) in src.iter().zip(dst) {
        let row = [s[0] as f64, s[1] as f64, 1.0];
        for i in 0..3 {
            for j in 0..3 {
                ata[i][j] += row[i] * row[j];
            }
            atx[i] += row[i] * d[0] as f64;
            aty[i] += row[i] * d[1] as f64;
        }
    }
    let (px, py) = (solve3(ata, atx)?, solve3(ata, aty)?);
    let sq: f64 = src
        .iter()
        .zip(dst)
        .map(|(s, d)| {
            let x = px[0] * s[0] as f64 + px[1] * s[1] as f64 + px[2];
            let y = py[0] * s[0] as f64 + py[1] * s[1] as f64 + py[2];
            (x - d[0] as f64).powi(2) + (y - d[1] as f64).powi(2)
        })
        .sum();
    Some((sq / src.len() as f64).sqrt())
}

/// Measures how a track's landmarks moved: a real face turns and changes shape; a photo or a
/// screen held to the camera only moves as a flat plane, which an affine map explains.
pub fn landmark_motion(landmarks: &[Landmarks]) -> Motion {
    let Some(first) = landmarks.first() else {
        return Motion {
            travel: 0.0,
            deformation: 0.0,
            frames: 0,
        };
    };
    let eye = ((first[1][0] - first[0][0]).powi(2) + (first[1][1] - first[0][1]).powi(2))
        .sqrt()
        .max(1.0);
    let mut travel = 0.0f32;
    let mut residuals = Vec::new();
    for l in &landmarks[1..] {
        let moved = l
            .iter()
            .zip(first)
            .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
            .fold(0.0, f32::max);
        travel = travel.max(moved / eye);
        if let Some(r) = affine_residual(first, l) {
            residuals.push(r as f32 / eye);
        }
    }
    let deformation = if residuals.is_empty() {
        0.0
    } else {
        residuals.iter().sum::<f32>() / residuals.len() as f32
    };
    Motion {
        travel,
        deformation,
        frames: landmarks.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_is_scaled_around_the_centre_and_shifted_inside_the_frame() {
        let b = BBox {
            x1: 100.0,
            y1: 100.0,
            x2: 140.0,
            y2: 150.0,
        };
        let r = spoof_crop(1000, 1000, &b, 2.0);
        assert_eq!((r.x, r.y, r.width, r.height), (80, 75, 81, 101));
        // Near the left edge the crop slides right instead of shrinking.
        let b = BBox {
            x1: 0.0,
            y1: 100.0,
            x2: 40.0,
            y2: 150.0,
        };
        let r = spoof_crop(1000, 1000, &b, 2.0);
        assert_eq!((r.x, r.width), (0, 81));
        // A face larger than the frame allows is scaled less.
        let r = spoof_crop(
            100,
            100,
            &BBox {
                x1: 10.0,
                y1: 10.0,
                x2: 90.0,
                y2: 90.0,
            },
            4.0,
        );
        assert!(
            r.x >= 0 && r.y >= 0 && r.x + r.width <= 100 && r.y + r.height <= 100,
            "{r:?}"
        );
    }

    #[test]
    fn a_moved_photo_is_rigid_and_a_turning_face_is_not() {
        let face: Landmarks = [[40.0, 50.0], [72.0, 50.0], [56.0, 70.0], [44.0, 90.0], [68.0, 90.0]];
        // The photo: shifted, scaled and rotated as a whole.
        let photo: Vec<Landmarks> = (0..8)
            .map(|i| {
                let (a, s) = (i as f32 * 0.05, 1.0 + i as f32 * 0.05);
                face.map(|[x, y]| {
                    [
                        s * (x * a.cos() - y * a.sin()) + 10.0 * i as f32,
                        s * (x * a.sin() + y * a.cos()),
                    ]
                })
            })
            .collect();
        let m = landmark_motion(&photo);
        assert!(
            m.travel > 1.0 && m.deformation < 1e-3 && m.looks_rigid(0.3, 0.02),
            "{m:?}"
        );
        // The person: turning, so the nose moves relative to eyes and mouth.
        let turning: Vec<Landmarks> = (0..8)
            .map(|i| {
                let mut l = face.map(|[x, y]| [x + 6.0 * i as f32, y]);
                l[2][0] += 2.5 * i as f32;
                l
            })
            .collect();
        let m = landmark_motion(&turning);
        assert!(m.deformation > 0.05 && !m.looks_rigid(0.3, 0.02), "{m:?}");
    }

    #[test]
    fn softmax_sums_to_one() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
    }
}
