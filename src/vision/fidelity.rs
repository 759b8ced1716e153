//! How far a model's INT8 build strays from its FP32 original, face by face, over plain results:
//! which detections are the same face, how far a face moved, how close two embeddings are. The
//! INT8 gates (`tests/int8_gates.rs`) judge builds by the decisions they change, and build those
//! judgements, and their per-face report, from these.

use crate::vision::detect::Face;

/// The most a box corner or landmark of a face the engine aligns may move, in frame pixels.
pub const MAX_SHIFT_PX: f32 = 2.0;
/// Overlap that makes two detections the same face.
const SAME_FACE_IOU: f32 = 0.5;

/// The largest distance, in pixels along either axis, between two detections' box corners and
/// landmarks.
pub fn shift(a: &Face, b: &Face) -> f32 {
    let corners = [
        (a.bbox.x1, b.bbox.x1),
        (a.bbox.y1, b.bbox.y1),
        (a.bbox.x2, b.bbox.x2),
        (a.bbox.y2, b.bbox.y2),
    ];
    let points = a
        .landmarks
        .iter()
        .zip(&b.landmarks)
        .flat_map(|(p, q)| [(p[0], q[0]), (p[1], q[1])]);
    corners
        .into_iter()
        .chain(points)
        .map(|(u, v)| (u - v).abs())
        .fold(0.0, f32::max)
}

/// The cosine of two embedding vectors of one face, one from each build. (The builds count as
/// different recognizers, so `Embedding::similarity` rightly refuses to compare them.)
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b)).max(f32::MIN_POSITIVE)
}

/// One frame's detections paired across the two builds.
#[derive(Debug, Default, PartialEq)]
pub struct Pairing {
    /// (FP32 index, INT8 index) of the same face.
    pub pairs: Vec<(usize, usize)>,
    /// FP32 faces the INT8 build did not find.
    pub only_fp32: Vec<usize>,
    /// INT8 faces the FP32 build did not find.
    pub only_int8: Vec<usize>,
}

/// Pairs each FP32 face with the unpaired INT8 face that overlaps it most, if enough.
pub fn pair(fp32: &[Face], int8: &[Face]) -> Pairing {
    let mut taken = vec![false; int8.len()];
    let mut pairing = Pairing::default();
    for (i, a) in fp32.iter().enumerate() {
        let best = int8
            .iter()
            .enumerate()
            .filter(|(j, _)| !taken[*j])
            .map(|(j, b)| (j, a.bbox.iou(&b.bbox)))
            .filter(|(_, iou)| *iou >= SAME_FACE_IOU)
            .max_by(|x, y| x.1.total_cmp(&y.1));
        match best {
            Some((j, _)) => {
                taken[j] = true;
                pairing.pairs.push((i, j));
            }
            None => pairing.only_fp32.push(i),
        }
    }
    pairing.only_int8 = (0..int8.len()).filter(|j| !taken[*j]).collect();
    pairing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::detect::BBox;

    fn face(x: f32, y: f32, size: f32) -> Face {
        Face {
            bbox: BBox {
                x1: x,
                y1: y,
                x2: x + size,
                y2: y + size,
            },
            score: 0.9,
            landmarks: [[x + 0.3 * size, y + 0.4 * size]; 5],
        }
    }

    #[test]
    fn shift_is_the_largest_move_of_any_corner_or_landmark() {
        let a = face(10.0, 10.0, 50.0);
        assert_eq!(shift(&a, &a), 0.0);
        let mut b = a;
        b.landmarks[3][1] += 1.5;
        b.bbox.x2 -= 0.5;
        assert_eq!(shift(&a, &b), 1.5);
    }

    #[test]
    fn cosine_ignores_length_and_survives_a_zero_vector() {
        assert!((cosine(&[3.0, 4.0], &[0.6, 0.8]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[0.0, 1.0]), 0.0);
    }

    #[test]
    fn faces_pair_by_overlap_and_the_rest_are_named() {
        let fp32 = [face(0.0, 0.0, 40.0), face(100.0, 0.0, 40.0), face(300.0, 0.0, 40.0)];
        let int8 = [face(101.0, 1.0, 40.0), face(1.0, 0.0, 40.0), face(500.0, 0.0, 40.0)];
        let p = pair(&fp32, &int8);
        assert_eq!(p.pairs, vec![(0, 1), (1, 0)]);
        assert_eq!(p.only_fp32, vec![2]);
        assert_eq!(p.only_int8, vec![2]);
    }
}
