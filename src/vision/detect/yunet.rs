//! YuNet decoding, as OpenCV's FaceDetectorYN does it.

use super::{BBox, Face, Grid};

/// Outputs are cls, obj, bbox, kps for each stride, in that grouping. Score is
/// `sqrt(cls * obj)`; the box is a centre offset and log size per cell; landmarks are offsets
/// per cell, all in stride units.
pub(super) fn decode(outputs: &[&[f32]], grid: &Grid<'_>) -> Vec<Face> {
    let n = grid.strides.len();
    let mut faces = Vec::new();
    for (i, &stride) in grid.strides.iter().enumerate() {
        let s = stride as f32;
        let cols = grid.width / stride as usize;
        let rows = grid.height / stride as usize;
        let (cls, obj) = (outputs[i], outputs[i + n]);
        let (bbox, kps) = (outputs[i + 2 * n], outputs[i + 3 * n]);
        let cells = (rows * cols)
            .min(cls.len())
            .min(obj.len())
            .min(bbox.len() / 4)
            .min(kps.len() / 10);
        for idx in 0..cells {
            let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
            if score < grid.threshold {
                continue;
            }
            let (r, c) = ((idx / cols) as f32, (idx % cols) as f32);
            let b = &bbox[idx * 4..idx * 4 + 4];
            let cx = (c + b[0]) * s;
            let cy = (r + b[1]) * s;
            let w = b[2].exp() * s;
            let h = b[3].exp() * s;
            let k = &kps[idx * 10..idx * 10 + 10];
            let landmarks = std::array::from_fn(|p| [(k[2 * p] + c) * s, (k[2 * p + 1] + r) * s]);
            faces.push(Face {
                bbox: BBox {
                    x1: cx - w / 2.0,
                    y1: cy - h / 2.0,
                    x2: cx + w / 2.0,
                    y2: cy + h / 2.0,
                },
                score,
                landmarks,
            });
        }
    }
    faces
}
