//! SCRFD decoding, as InsightFace's `SCRFD.forward` does it.

use super::{BBox, Face, Grid};

/// Outputs are score, bbox, kps for each stride. Each cell has `anchors` anchors centred on the
/// cell's top-left corner; boxes are distances to the four sides and landmarks offsets from the
/// centre, both in stride units.
pub(super) fn decode(outputs: &[&[f32]], grid: &Grid<'_>) -> Vec<Face> {
    let n = grid.strides.len();
    let mut faces = Vec::new();
    for (i, &stride) in grid.strides.iter().enumerate() {
        let s = stride as f32;
        let cols = grid.width / stride as usize;
        let rows = grid.height / stride as usize;
        let (scores, bbox, kps) = (outputs[i], outputs[i + n], outputs[i + 2 * n]);
        let count = (rows * cols * grid.anchors)
            .min(scores.len())
            .min(bbox.len() / 4)
            .min(kps.len() / 10);
        for k in 0..count {
            let score = scores[k];
            if score < grid.threshold {
                continue;
            }
            let cell = k / grid.anchors;
            let cx = (cell % cols) as f32 * s;
            let cy = (cell / cols) as f32 * s;
            let d = &bbox[k * 4..k * 4 + 4];
            let p = &kps[k * 10..k * 10 + 10];
            faces.push(Face {
                bbox: BBox {
                    x1: cx - d[0] * s,
                    y1: cy - d[1] * s,
                    x2: cx + d[2] * s,
                    y2: cy + d[3] * s,
                },
                score,
                landmarks: std::array::from_fn(|j| [cx + p[2 * j] * s, cy + p[2 * j + 1] * s]),
            });
        }
    }
    faces
}
