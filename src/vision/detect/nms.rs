//! Greedy non-maximum suppression.

use super::Face;

/// Keeps the best-scoring face of every group overlapping by more than `iou_threshold`.
///
/// Plain IoU on float boxes. The references differ in rounding (OpenCV's YuNet rounds boxes to
/// integers, InsightFace adds one pixel to each side); that moves only borderline overlaps.
pub fn nms(mut faces: Vec<Face>, iou_threshold: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::with_capacity(faces.len().min(64));
    for f in faces {
        if kept.iter().all(|k| k.bbox.iou(&f.bbox) <= iou_threshold) {
            kept.push(f);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::detect::BBox;

    fn face(x: f32, score: f32) -> Face {
        Face {
            bbox: BBox {
                x1: x,
                y1: 0.0,
                x2: x + 10.0,
                y2: 10.0,
            },
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    #[test]
    fn overlapping_weaker_boxes_are_dropped_and_distant_ones_kept() {
        let kept = nms(vec![face(1.0, 0.8), face(0.0, 0.9), face(50.0, 0.6)], 0.4);
        let xs: Vec<f32> = kept.iter().map(|f| f.bbox.x1).collect();
        assert_eq!(xs, vec![0.0, 50.0]);
    }
}
