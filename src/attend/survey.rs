//! Whether a camera shows faces well enough to take attendance: the installer's check
//! (`rollcall cameras check`), as a rule over what its frames showed.
//!
//! The bars are the engine's own: a face is compared with the gallery from [`MIN_COMPARE_PX`]
//! (the smallest size the open-set calibration accepts students at, docs/calibration.md, "Face
//! size"); a smaller one is seen but too small to recognise. Its liveness is assessed when
//! [`assessable`] (40 px and sharp).

use serde::Serialize;

use crate::attend::decide::{LIVENESS_MIN_PX, LIVENESS_MIN_SHARPNESS, MIN_COMPARE_PX, assessable};
/// Faces whose mean grey level is below this are too dark.
pub const DARK: f32 = 50.0;
/// Faces whose mean grey level is above this are washed out.
pub const BRIGHT: f32 = 210.0;
/// A good camera shows at least this share of its faces big enough to recognise...
pub const GOOD_RECOGNISABLE: f32 = 0.8;
/// ...and at least this share well enough to assess their liveness.
pub const GOOD_ASSESSABLE: f32 = 0.5;

/// One face a camera showed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeenFace {
    /// Shorter side of its box, frame pixels.
    pub size_px: f32,
    /// Variance of the Laplacian of its aligned crop.
    pub sharpness: f32,
    /// Mean grey level of its aligned crop, 0 to 255.
    pub brightness: f32,
}

/// What a camera showed over the check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Survey {
    /// Frames analysed.
    pub frames: u64,
    /// Every face in them.
    pub faces: Vec<SeenFace>,
}

/// How fit a camera is for attendance; its exit status for install scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fitness {
    /// Most faces are big and sharp enough to recognise and to assess.
    Good,
    /// It works for some faces; the advice says what to change.
    Marginal,
    /// It will not recognise anyone as it is.
    Unusable,
}

impl Fitness {
    /// 0 good, 1 marginal, 2 unusable.
    pub fn exit_code(self) -> u8 {
        match self {
            Fitness::Good => 0,
            Fitness::Marginal => 1,
            Fitness::Unusable => 2,
        }
    }
}

/// The check's figures, verdict and advice.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Good, marginal or unusable.
    pub fitness: Fitness,
    /// Frames analysed.
    pub frames: u64,
    /// Faces per frame, on average.
    pub faces_per_frame: f32,
    /// Face sizes (shorter side, px): 10th percentile, median, 90th percentile.
    pub face_px: [f32; 3],
    /// Median sharpness of the faces.
    pub sharpness: f32,
    /// Median grey level of the faces, 0 to 255.
    pub brightness: f32,
    /// Share of faces big enough to recognise.
    pub recognisable: f32,
    /// Faces per frame seen but too small to recognise (under [`MIN_COMPARE_PX`]): the students
    /// this camera cannot serve, as the daemon's status counts them per track.
    pub too_small_per_frame: f32,
    /// Share of faces big and sharp enough to assess liveness.
    pub assessable: f32,
    /// What to change, in plain words (empty when good).
    pub advice: Vec<String>,
}

fn percentile(sorted: &[f32], q: f32) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((q * (sorted.len() - 1) as f32).round() as usize).min(sorted.len() - 1)]
}

fn sorted(values: impl Iterator<Item = f32>) -> Vec<f32> {
    let mut v: Vec<f32> = values.collect();
    v.sort_by(f32::total_cmp);
    v
}

fn share(faces: &[SeenFace], pass: impl Fn(&SeenFace) -> bool) -> f32 {
    faces.iter().filter(|f| pass(f)).count() as f32 / faces.len().max(1) as f32
}

/// Judges what a camera showed.
pub fn judge(survey: &Survey) -> Verdict {
    let faces = &survey.faces;
    let sizes = sorted(faces.iter().map(|f| f.size_px));
    let face_px = [
        percentile(&sizes, 0.1),
        percentile(&sizes, 0.5),
        percentile(&sizes, 0.9),
    ];
    let sharpness = percentile(&sorted(faces.iter().map(|f| f.sharpness)), 0.5);
    let brightness = percentile(&sorted(faces.iter().map(|f| f.brightness)), 0.5);
    let recognisable = share(faces, |f| f.size_px >= MIN_COMPARE_PX);
    let assessed = share(faces, |f| assessable(f.size_px, f.sharpness));
    let mut advice = Vec::new();
    let fitness = if survey.frames == 0 {
        advice.push(
            "the camera sent no frame during the check: check its address, credentials and network (rollcall cameras probe says more)."
                .to_string(),
        );
        Fitness::Unusable
    } else if faces.is_empty() {
        advice.push(format!(
            "no face was seen in {} frames. Have a few people face the camera during the check. If they did, their faces are too small or too dark for the detector: use the camera's main stream (1920x1080 or more), or place it nearer the class.",
            survey.frames
        ));
        Fitness::Unusable
    } else if face_px[1] < MIN_COMPARE_PX {
        advice.push(format!(
            "median face {:.0} px: too small to recognise anyone. Use the camera's main stream (1920x1080 or more), or place it nearer the class; recognition needs about {MIN_COMPARE_PX:.0} px and liveness about {LIVENESS_MIN_PX:.0} px.",
            face_px[1]
        ));
        Fitness::Unusable
    } else {
        if recognisable < GOOD_RECOGNISABLE {
            advice.push(format!(
                "{:.0}% of faces are under {MIN_COMPARE_PX:.0} px (the smallest are {:.0} px), too small to recognise: use a higher resolution, a longer lens, or a second camera for the back of the room.",
                100.0 * (1.0 - recognisable),
                face_px[0]
            ));
        }
        if assessed < GOOD_ASSESSABLE {
            advice.push(if sharpness < LIVENESS_MIN_SHARPNESS {
                format!(
                    "faces are blurred (median sharpness {sharpness:.0}; liveness needs {LIVENESS_MIN_SHARPNESS:.0}): focus the lens, clean it, shorten the exposure, or raise the stream's bitrate."
                )
            } else {
                format!(
                    "only {:.0}% of faces are {LIVENESS_MIN_PX:.0} px and sharp enough to assess liveness: unassessed faces are not marked until they are (see [liveness] unassessed).",
                    100.0 * assessed
                )
            });
        }
        if brightness < DARK {
            advice.push(format!(
                "faces are dark (median level {brightness:.0} of 255): add light, or turn the camera away from windows behind the class."
            ));
        } else if brightness > BRIGHT {
            advice.push(format!(
                "faces are washed out (median level {brightness:.0} of 255): reduce the exposure or keep direct sun off the class."
            ));
        }
        if advice.is_empty() {
            Fitness::Good
        } else {
            Fitness::Marginal
        }
    };
    Verdict {
        fitness,
        frames: survey.frames,
        faces_per_frame: faces.len() as f32 / survey.frames.max(1) as f32,
        face_px,
        sharpness,
        brightness,
        recognisable,
        too_small_per_frame: faces.iter().filter(|f| f.size_px < MIN_COMPARE_PX).count() as f32
            / survey.frames.max(1) as f32,
        assessable: assessed,
        advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faces(n: usize, size_px: f32, sharpness: f32, brightness: f32) -> Vec<SeenFace> {
        vec![
            SeenFace {
                size_px,
                sharpness,
                brightness,
            };
            n
        ]
    }

    fn survey(faces: Vec<SeenFace>) -> Survey {
        Survey { frames: 100, faces }
    }

    #[test]
    fn big_sharp_well_lit_faces_are_good() {
        let v = judge(&survey(faces(300, 90.0, 150.0, 120.0)));
        assert_eq!(v.fitness, Fitness::Good, "{v:?}");
        assert!(v.advice.is_empty());
        assert_eq!(v.faces_per_frame, 3.0);
        assert_eq!(v.face_px, [90.0, 90.0, 90.0]);
    }

    #[test]
    fn tiny_faces_or_none_are_unusable_and_say_what_to_do() {
        let v = judge(&survey(faces(200, 14.0, 150.0, 120.0)));
        assert_eq!(v.fitness, Fitness::Unusable);
        assert!(v.advice[0].starts_with("median face 14 px: too small"), "{v:?}");
        assert!(v.advice[0].contains("main stream"), "{v:?}");
        let v = judge(&survey(Vec::new()));
        assert_eq!(v.fitness, Fitness::Unusable);
        assert!(v.advice[0].contains("no face was seen in 100 frames"), "{v:?}");
        let v = judge(&Survey::default());
        assert_eq!(v.fitness, Fitness::Unusable);
        assert!(v.advice[0].contains("sent no frame"), "{v:?}");
        assert_eq!(Fitness::Unusable.exit_code(), 2);
    }

    #[test]
    fn a_small_back_row_blur_or_darkness_is_marginal_with_each_reason() {
        let mut mixed = faces(60, 80.0, 150.0, 120.0);
        mixed.extend(faces(40, MIN_COMPARE_PX - 4.0, 150.0, 120.0));
        let v = judge(&survey(mixed));
        assert_eq!(v.fitness, Fitness::Marginal);
        let under = format!("40% of faces are under {MIN_COMPARE_PX:.0} px");
        assert!(v.advice[0].starts_with(&under), "{v:?}");
        assert_eq!(v.too_small_per_frame, 40.0 / v.frames as f32);

        let v = judge(&survey(faces(100, 80.0, 12.0, 120.0)));
        assert_eq!(v.fitness, Fitness::Marginal);
        assert!(
            v.advice[0].starts_with("faces are blurred (median sharpness 12"),
            "{v:?}"
        );

        let v = judge(&survey(faces(100, 80.0, 150.0, 30.0)));
        assert_eq!(v.fitness, Fitness::Marginal);
        assert!(v.advice[0].starts_with("faces are dark"), "{v:?}");
        assert_eq!(Fitness::Marginal.exit_code(), 1);
    }
}
