//! Enrollment from photos: each photo must hold exactly one good face (big enough, sharp,
//! frontal enough, live); its embedding becomes an encrypted template. Rejected photos are
//! reported with the reason, and a person with no accepted photo is not enrolled at all.
//!
//! Live enrollment, a student at a camera guided through head poses, is in [`live`].
//!
//! Both save through [`Store::enroll`], as roster import does. This part may import `capture`,
//! `vision`, `store` and `config`; nothing of `attend` or `sync`.

pub mod live;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::capture::image;
use crate::store::{Enrollment, Store, StoreError};
use crate::vision::analyze::FaceAnalyzer;
use crate::vision::embed::Embedding;
use crate::vision::model::ModelError;

/// What a photo must be to become a template.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnrollPolicy {
    /// Shorter side of the face, pixels.
    pub min_face_px: f32,
    /// Laplacian variance of the aligned face.
    pub min_sharpness: f32,
    /// Largest |yaw| offset (0 frontal, about 0.5 at a half profile).
    pub max_yaw: f32,
    /// Faces at least this big count when checking "exactly one face".
    pub other_face_px: f32,
    /// Reject photos whose face fails passive anti-spoofing.
    pub require_live: bool,
}

impl Default for EnrollPolicy {
    fn default() -> Self {
        EnrollPolicy {
            min_face_px: 80.0,
            min_sharpness: 30.0,
            max_yaw: 0.35,
            other_face_px: 40.0,
            require_live: true,
        }
    }
}

/// Why a photo was not used.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
pub enum Rejection {
    /// Could not be read or decoded.
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// No face at all.
    #[error("no face found")]
    NoFace,
    /// More than one face: which one is the student?
    #[error("{0} faces; a photo must show exactly one person")]
    SeveralFaces(usize),
    /// Face too small.
    #[error("face is {0:.0} px, needs at least {1:.0} px")]
    TooSmall(f32, f32),
    /// Face blurred.
    #[error("face is blurred (sharpness {0:.0}, needs {1:.0})")]
    Blurred(f32, f32),
    /// Face turned away.
    #[error("face is turned away (yaw {0:.2}, at most {1:.2})")]
    TurnedAway(f32, f32),
    /// Failed passive anti-spoofing.
    #[error("face looks like a photo of a photo or a screen (live score {0:.2}, needs {1:.2})")]
    NotLive(f32, f32),
}

/// The template a photo gave, with its quality.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The photo.
    pub photo: PathBuf,
    /// Its embedding.
    pub embedding: Embedding,
    /// Face quality.
    pub quality: f32,
}

/// What happened to one person's photos.
#[derive(Debug, Clone, Default)]
pub struct EnrollReport {
    /// Photos used.
    pub accepted: Vec<Accepted>,
    /// Photos refused, with why.
    pub rejected: Vec<(PathBuf, Rejection)>,
}

/// Why enrollment failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// A model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Not one photo was usable.
    #[error("`{person}` was not enrolled: no photo was accepted ({reasons})")]
    NothingAccepted { person: String, reasons: String },
}

/// Who is being enrolled.
#[derive(Debug, Clone, Copy)]
pub struct Enrollee<'a> {
    /// Stable id from the school's system.
    pub person: &'a str,
    /// Display name.
    pub name: Option<&'a str>,
    /// Class groups.
    pub groups: &'a [String],
}

/// Checks one photo against the policy and returns its template.
pub fn assess_photo(
    analyzer: &mut FaceAnalyzer,
    photo: &Path,
    policy: &EnrollPolicy,
    max_pixels: u64,
) -> Result<Accepted, Rejection> {
    let frame = image::load(photo, max_pixels).map_err(|e| Rejection::Unreadable(e.to_string()))?;
    let faces = analyzer
        .analyze(&frame)
        .map_err(|e| Rejection::Unreadable(e.to_string()))?
        .faces;
    let big: Vec<_> = faces
        .into_iter()
        .filter(|f| f.quality.size_px >= policy.other_face_px)
        .collect();
    let face = match big.len() {
        0 => return Err(Rejection::NoFace),
        1 => &big[0],
        n => return Err(Rejection::SeveralFaces(n)),
    };
    if face.quality.size_px < policy.min_face_px {
        return Err(Rejection::TooSmall(face.quality.size_px, policy.min_face_px));
    }
    if face.quality.sharpness < policy.min_sharpness {
        return Err(Rejection::Blurred(face.quality.sharpness, policy.min_sharpness));
    }
    if face.quality.yaw.abs() > policy.max_yaw {
        return Err(Rejection::TurnedAway(face.quality.yaw, policy.max_yaw));
    }
    if policy.require_live
        && let (Some(l), Some(a)) = (face.liveness, analyzer.antispoof())
        && !l.live
    {
        return Err(Rejection::NotLive(l.score, a.threshold()));
    }
    Ok(Accepted {
        photo: photo.to_path_buf(),
        embedding: face.embedding.clone(),
        quality: face.quality.score,
    })
}

/// Enrolls `person` from `photos`: their accepted templates replace any earlier ones of this
/// recognizer. Nothing is stored if no photo is accepted.
pub fn enroll_person(
    analyzer: &mut FaceAnalyzer,
    store: &mut Store,
    who: &Enrollee<'_>,
    photos: &[PathBuf],
    policy: &EnrollPolicy,
    max_pixels: u64,
) -> Result<EnrollReport, EnrollError> {
    let Enrollee { person, name, groups } = *who;
    let mut report = EnrollReport::default();
    for photo in photos {
        match assess_photo(analyzer, photo, policy, max_pixels) {
            Ok(a) => report.accepted.push(a),
            Err(r) => report.rejected.push((photo.clone(), r)),
        }
    }
    if report.accepted.is_empty() {
        let reasons = report
            .rejected
            .iter()
            .map(|(p, r)| format!("{}: {r}", p.display()))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(EnrollError::NothingAccepted {
            person: person.to_string(),
            reasons,
        });
    }
    let templates: Vec<(Embedding, f32)> = report
        .accepted
        .iter()
        .map(|a| (a.embedding.clone(), a.quality))
        .collect();
    store.enroll(&Enrollment {
        person_id: person,
        name,
        groups: Some(groups),
        templates: &templates,
        replace: true,
    })?;
    Ok(report)
}
