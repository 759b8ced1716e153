//! Greedy non-maximum suppression over the faces of every view of a pass.

use super::Face;

/// A face as one view found it, before NMS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The face, in frame pixels.
    pub face: Face,
    /// Whether a finer view sees faces of its size better (see
    /// [`super::Placement::yields_below`]): it is kept only where no such view found it.
    pub yields: bool,
}

/// Keeps one face of every group overlapping by more than `iou_threshold`: the best-scoring one
/// among those whose view owns their size, else the best-scoring one.
///
/// Plain IoU on float boxes. The references differ in rounding (OpenCV's YuNet rounds boxes to
/// integers, InsightFace adds one pixel to each side); that moves only borderline overlaps.
pub fn nms(mut candidates: Vec<Candidate>, iou_threshold: f32) -> Vec<Face> {
    candidates.sort_by(|a, b| a.yields.cmp(&b.yields).then(b.face.score.total_cmp(&a.face.score)));
    let mut kept: Vec<Face> = Vec::with_capacity(candidates.len().min(64));
    for c in candidates {
        if kept.iter().all(|k| k.bbox.iou(&c.face.bbox) <= iou_threshold) {
            kept.push(c.face);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::detect::BBox;

    fn face(x: f32, score: f32, yields: bool) -> Candidate {
        Candidate {
            face: Face {
                bbox: BBox {
                    x1: x,
                    y1: 0.0,
                    x2: x + 10.0,
                    y2: 10.0,
                },
                score,
                landmarks: [[0.0; 2]; 5],
            },
            yields,
        }
    }

    fn xs(kept: &[Face]) -> Vec<f32> {
        kept.iter().map(|f| f.bbox.x1).collect()
    }

    #[test]
    fn overlapping_weaker_boxes_are_dropped_and_distant_ones_kept() {
        let kept = nms(
            vec![face(1.0, 0.8, false), face(0.0, 0.9, false), face(50.0, 0.6, false)],
            0.4,
        );
        assert_eq!(xs(&kept), vec![0.0, 50.0]);
    }

    #[test]
    fn a_coarse_views_face_gives_way_to_the_finer_views_but_stands_alone() {
        // The overview's face scores higher, but the detail owns faces of that size.
        let kept = nms(vec![face(0.0, 0.95, true), face(1.0, 0.7, false)], 0.4);
        assert_eq!(xs(&kept), vec![1.0]);
        // Where the detail found nothing, the overview's face is kept.
        let kept = nms(vec![face(0.0, 0.95, true), face(50.0, 0.7, false)], 0.4);
        assert_eq!(xs(&kept), vec![50.0, 0.0]);
    }
}
