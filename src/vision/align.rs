//! Alignment: a face's 5 landmarks mapped onto the ArcFace 112x112 template.

use opencv::core::{BORDER_CONSTANT, Mat, Scalar, Size};
use opencv::imgproc;

use crate::vision::detect::Landmarks;

/// Where the 5 landmarks go in a 112x112 ArcFace crop (InsightFace's `arcface_dst`).
pub const ARCFACE_TEMPLATE: Landmarks = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A 2x3 affine matrix, row-major.
pub type Affine = [[f64; 3]; 2];

/// The least-squares similarity transform (rotation, uniform scale, translation; no reflection)
/// taking `src` onto `dst`: Umeyama's estimate.
///
/// In two dimensions Umeyama's SVD solution has a closed form: with points as complex numbers
/// z (source) and w (target), centred, the best `a = s·e^{iθ}` is `Σ conj(z)·w / Σ|z|²`. This is
/// the same transform scikit-image's `SimilarityTransform.estimate` (InsightFace) and OpenCV's
/// FaceRecognizerSF compute, without an SVD.
pub fn similarity_transform(src: &Landmarks, dst: &Landmarks) -> Affine {
    let n = src.len() as f64;
    let mean = |p: &Landmarks| {
        let (sx, sy) = p
            .iter()
            .fold((0.0, 0.0), |(x, y), q| (x + q[0] as f64, y + q[1] as f64));
        (sx / n, sy / n)
    };
    let (mzx, mzy) = mean(src);
    let (mwx, mwy) = mean(dst);
    let (mut re, mut im, mut norm) = (0.0, 0.0, 0.0);
    for (z, w) in src.iter().zip(dst) {
        let (zx, zy) = (z[0] as f64 - mzx, z[1] as f64 - mzy);
        let (wx, wy) = (w[0] as f64 - mwx, w[1] as f64 - mwy);
        // conj(z) * w
        re += zx * wx + zy * wy;
        im += zx * wy - zy * wx;
        norm += zx * zx + zy * zy;
    }
    if norm <= f64::EPSILON {
        // All landmarks on one point: no rotation or scale can be estimated; translate only.
        return [[1.0, 0.0, mwx - mzx], [0.0, 1.0, mwy - mzy]];
    }
    let (a, b) = (re / norm, im / norm);
    [[a, -b, mwx - (a * mzx - b * mzy)], [b, a, mwy - (b * mzx + a * mzy)]]
}

/// Warps the face into a `size` x `size` crop aligned to the ArcFace template (scaled from 112).
pub fn align(frame: &Mat, landmarks: &Landmarks, size: u32) -> opencv::Result<Mat> {
    let k = size as f32 / 112.0;
    let dst = ARCFACE_TEMPLATE.map(|[x, y]| [x * k, y * k]);
    let m = similarity_transform(landmarks, &dst);
    let matrix = Mat::from_slice_2d(&m)?;
    let mut out = Mat::default();
    imgproc::warp_affine(
        frame,
        &mut out,
        &matrix,
        Size::new(size as i32, size as i32),
        imgproc::INTER_LINEAR,
        BORDER_CONSTANT,
        Scalar::all(0.0),
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_similarity_exactly() {
        // Rotate by 20 degrees, scale by 1.7, shift by (13, -4).
        let (s, t) = (1.7f64, 20f64.to_radians());
        let (a, b) = (s * t.cos(), s * t.sin());
        let dst = ARCFACE_TEMPLATE.map(|[x, y]| {
            let (x, y) = (x as f64, y as f64);
            [(a * x - b * y + 13.0) as f32, (b * x + a * y - 4.0) as f32]
        });
        let m = similarity_transform(&ARCFACE_TEMPLATE, &dst);
        for (want, got) in [a, -b, 13.0, b, a, -4.0].iter().zip(m.iter().flatten()) {
            assert!((want - got).abs() < 1e-4, "{m:?}");
        }
    }

    #[test]
    fn a_mirrored_face_gets_the_best_rotation_not_a_reflection() {
        let mirrored = ARCFACE_TEMPLATE.map(|[x, y]| [112.0 - x, y]);
        let m = similarity_transform(&mirrored, &ARCFACE_TEMPLATE);
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        assert!(det > 0.0, "{m:?}");
    }
}
