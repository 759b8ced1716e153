//! Face quality from what is cheap: size, sharpness, pose and detector confidence.
//!
//! Later stages use it to pick the frames worth embedding; an installer uses it to judge camera
//! placement. Each factor is mapped to 0..1 and the score is their geometric mean, so one bad
//! factor (a tiny, blurred or profile face) pulls the whole score down.

use opencv::core::Mat;
use opencv::imgproc;
use opencv::prelude::*;
use serde::Serialize;

use crate::vision::detect::Face;

/// A face's quality and the measurements behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    /// Overall score, 0..1.
    pub score: f32,
    /// Shorter side of the face box, in frame pixels.
    pub size_px: f32,
    /// Variance of the Laplacian of the aligned grey crop: low means blurred.
    pub sharpness: f32,
    /// Horizontal nose offset from the eye midpoint over the eye distance: 0 frontal, about
    /// ±0.5 at a half profile. Sign: positive when the nose is right of centre in the image.
    pub yaw: f32,
    /// Tilt of the eye line, degrees.
    pub roll: f32,
}

/// Faces with a shorter side of this many pixels or more count as fully sized.
const FULL_SIZE_PX: f32 = 80.0;
/// Faces at or below this size score zero on size.
const MIN_SIZE_PX: f32 = 12.0;
/// Laplacian variance of an aligned 112x112 crop at which a face counts as sharp.
const SHARP: f32 = 150.0;
/// Yaw offset at which the pose factor reaches zero.
const PROFILE_YAW: f32 = 0.6;

/// Pose from the landmarks: (yaw offset, roll in degrees).
pub fn pose(face: &Face) -> (f32, f32) {
    let [le, re, nose, _, _] = face.landmarks;
    let (dx, dy) = (re[0] - le[0], re[1] - le[1]);
    let eye_dist = (dx * dx + dy * dy).sqrt().max(1e-3);
    let mid = ((le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0);
    // Project the nose offset on the eye line so roll does not read as yaw.
    let yaw = ((nose[0] - mid.0) * dx + (nose[1] - mid.1) * dy) / (eye_dist * eye_dist);
    (yaw, dy.atan2(dx).to_degrees())
}

/// Variance of the Laplacian of an 8-bit BGR crop.
pub fn sharpness(crop: &Mat) -> opencv::Result<f32> {
    let mut grey = Mat::default();
    imgproc::cvt_color_def(crop, &mut grey, imgproc::COLOR_BGR2GRAY)?;
    let mut lap = Mat::default();
    imgproc::laplacian(
        &grey,
        &mut lap,
        opencv::core::CV_32F,
        1,
        1.0,
        0.0,
        opencv::core::BORDER_DEFAULT,
    )?;
    // Into Mats, not `Vector<f64>`s: the opencv crate generates no vector of doubles for the
    // modules we use on OpenCV 4.5 (JetPack 6's), and the build fails there.
    let mut mean = Mat::default();
    let mut std = Mat::default();
    opencv::core::mean_std_dev(&lap, &mut mean, &mut std, &opencv::core::no_array())?;
    let sd = *std.at::<f64>(0)?;
    Ok((sd * sd) as f32)
}

/// Scores a face from its detection and its aligned crop.
pub fn assess(face: &Face, aligned: &Mat) -> opencv::Result<Quality> {
    let size_px = face.bbox.min_side();
    let sharp = sharpness(aligned)?;
    let (yaw, roll) = pose(face);
    let factors = [
        ((size_px - MIN_SIZE_PX) / (FULL_SIZE_PX - MIN_SIZE_PX)).clamp(0.0, 1.0),
        (sharp / SHARP).clamp(0.0, 1.0),
        (1.0 - yaw.abs() / PROFILE_YAW).clamp(0.0, 1.0) * roll.to_radians().cos().max(0.0),
        face.score.clamp(0.0, 1.0),
    ];
    let score = factors.iter().product::<f32>().powf(1.0 / factors.len() as f32);
    Ok(Quality {
        score,
        size_px,
        sharpness: sharp,
        yaw,
        roll,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::align::ARCFACE_TEMPLATE;
    use crate::vision::detect::BBox;

    fn face(landmarks: [[f32; 2]; 5]) -> Face {
        Face {
            bbox: BBox {
                x1: 0.0,
                y1: 0.0,
                x2: 112.0,
                y2: 112.0,
            },
            score: 0.9,
            landmarks,
        }
    }

    #[test]
    fn the_template_is_frontal_and_a_turned_face_is_not() {
        let (yaw, roll) = pose(&face(ARCFACE_TEMPLATE));
        assert!(yaw.abs() < 0.02 && roll.abs() < 1.0, "{yaw} {roll}");
        let mut turned = ARCFACE_TEMPLATE;
        turned[2][0] += 15.0;
        assert!(pose(&face(turned)).0 > 0.4);
    }
}
