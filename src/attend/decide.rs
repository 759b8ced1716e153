//! The rules that decide a track, as pure functions over plain data.
//!
//! The engine gathers the evidence (passive scores, landmark motion, blinks, and the gallery's
//! candidates for each kept frame and for their mean) and asks these rules for a verdict. The
//! rules run no model and read no clock, so they are tested here on made-up numbers.

use chrono::{DateTime, Utc};

use crate::attend::matching::Candidates;
use crate::config::LivenessConfig;
use crate::vision::liveness::Motion;

/// Kept frames of at least this mean quality show a face well enough to call a stranger early.
pub const GOOD_QUALITY: f32 = 0.6;
/// A best similarity this far below the threshold is a clear stranger.
pub const STRANGER_GAP: f32 = 0.15;

/// The mean of `v` (0 when empty).
pub fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f32>() / v.len() as f32
    }
}

/// A track's liveness over all its frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveVerdict {
    /// The mean passive score, less the rigid-motion penalty when it applied.
    pub score: f32,
    /// How its landmarks moved.
    pub motion: Motion,
    /// The eyes closed and opened again during the track.
    pub blinked: bool,
}

/// What the liveness rule says of a track now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LiveCall {
    /// Not enough evidence yet: ask again with more frames.
    Wait,
    /// Live.
    Live(LiveVerdict),
    /// A presentation attack is suspected, on confident evidence.
    Spoof(LiveVerdict),
    /// The track ended without evidence either way: too few frames showed the face well enough
    /// to be assessed, their scores disagreed, or they were doubtful (between `spoof_below` and
    /// the threshold). Neither live nor spoof.
    NotAssessed,
}

/// Faces smaller than this (shorter side, frame pixels) are not assessed for liveness.
pub const LIVENESS_MIN_PX: f32 = 40.0;
/// Faces blurrier than this (variance of the Laplacian of the aligned crop) are not assessed:
/// defocus and motion blur, not size or compression, make real faces score as spoofs
/// (docs/calibration.md).
pub const LIVENESS_MIN_SHARPNESS: f32 = 20.0;
/// Share of a track's assessed frames that must score below the threshold for a spoof verdict
/// on the passive score alone.
pub const SPOOF_AGREEMENT: f32 = 2.0 / 3.0;

/// The flat-motion cue alone makes a spoof verdict only on a passive mean less than this share
/// of `[liveness] rigid_penalty` above the threshold. Higher, the passive model is confident the
/// face is live, and landmark noise on a real face of 50 to 60 px can look as flat as a photo's
/// (a real face in a 288 kb/s H.264 copy of the Hamilton clip scored 0.65 to 0.71 and "moved
/// flat"): the cues disagree, so the track is not assessed rather than alerted on.
pub const MOTION_SPOOF_SHARE: f32 = 0.5;

/// Whether a frame shows a face well enough for its passive score to be evidence.
pub fn assessable(face_px: f32, sharpness: f32) -> bool {
    face_px >= LIVENESS_MIN_PX && sharpness >= LIVENESS_MIN_SHARPNESS
}

/// What a track showed of its liveness.
#[derive(Debug, Clone, Copy)]
pub struct LiveEvidence<'a> {
    /// Anti-spoofing models are configured; without them every track counts as live.
    pub passive: bool,
    /// Passive scores of the frames that were [`assessable`], in order.
    pub scores: &'a [f32],
    /// The detector's score for each of those frames.
    pub detections: &'a [f32],
    /// A detection at or above this is a face beyond doubt. Only such frames make a spoof: a
    /// doubtful detection may be no face at all (a pot plant in a starved stream), which the
    /// passive model rightly calls not live.
    pub sure_face_score: f32,
    /// No more scores will be taken for this track (it holds as many as it samples).
    pub samples_full: bool,
    /// The track has had `[recognize] max_frames`: lacking assessed frames, it is not assessed
    /// for now (the config decides whether that waits or marks).
    pub out_of_frames: bool,
    /// How its landmarks moved.
    pub motion: Motion,
    /// It blinked.
    pub blinked: bool,
    /// The eyes are watched (the 106-point model runs), so a blink may yet settle it.
    pub eyes_watched: bool,
    /// No more frames will come.
    pub final_call: bool,
}

/// The liveness rule: the mean passive score, less a penalty when the face moved like a flat
/// picture, unless it blinked (a flat picture cannot; five landmarks on a real face that hardly
/// moves can look as rigid as a photo's, and a blink settles it), plus a bonus when it changed
/// shape as a speaking face does, unless the passive score alone is low enough to be an attack.
/// A track failing only for its rigid motion waits for its end while the eyes are watched, in
/// case it blinks. A failing score is a spoof only on clear evidence (under `spoof_below`, or
/// a flat picture's motion); between that and the threshold it is doubtful: not assessed.
pub fn judge_liveness(e: &LiveEvidence<'_>, rules: &LivenessConfig) -> LiveCall {
    let rigid_motion = e
        .motion
        .looks_rigid(rules.rigid_min_travel, rules.rigid_max_deformation);
    let verdict = if !e.passive {
        // No anti-spoofing configured: every track counts as live.
        LiveVerdict {
            score: 1.0,
            motion: e.motion,
            blinked: e.blinked,
        }
    } else if (e.scores.len() as u32) < rules.min_frames {
        return if e.final_call || e.out_of_frames {
            LiveCall::NotAssessed
        } else {
            LiveCall::Wait
        };
    } else {
        let passive = mean(e.scores);
        let penalty = if !e.blinked && rigid_motion {
            rules.rigid_penalty
        } else {
            0.0
        };
        let bonus = if passive >= rules.spoof_below && e.motion.looks_alive(rules.nonrigid_min_deformation) {
            rules.nonrigid_bonus
        } else {
            0.0
        };
        LiveVerdict {
            score: passive - penalty + bonus,
            motion: e.motion,
            blinked: e.blinked,
        }
    };
    let fails = verdict.score < rules.threshold;
    let rigid_only = fails && verdict.score + rules.rigid_penalty >= rules.threshold && rigid_motion;
    if rigid_only && e.eyes_watched && !e.final_call {
        return LiveCall::Wait;
    }
    if !fails {
        return LiveCall::Live(verdict);
    }
    // A spoof verdict needs confident evidence on what is surely a face: the flat-motion cue on
    // a passive score near the threshold, or consistently low scores. One odd low frame among
    // live ones is not an attack.
    let enough = SPOOF_AGREEMENT * e.scores.len() as f32;
    let sure = |i: &usize| e.detections.get(*i).is_some_and(|d| *d >= e.sure_face_score);
    let sure_frames = (0..e.scores.len()).filter(sure).count() as f32;
    // Only scores under `spoof_below` are evidence of an attack; between it and the threshold
    // they are doubtful (a real face in a starved stream), and make no alert.
    let sure_low = (0..e.scores.len())
        .filter(sure)
        .filter(|i| e.scores[*i] < rules.spoof_below)
        .count() as f32;
    let motion_tips = rigid_only && mean(e.scores) < rules.threshold + MOTION_SPOOF_SHARE * rules.rigid_penalty;
    if (motion_tips && sure_frames >= enough) || sure_low >= enough {
        LiveCall::Spoof(verdict)
    } else if e.final_call || e.samples_full {
        LiveCall::NotAssessed
    } else {
        LiveCall::Wait
    }
}

/// A gallery of up to this many people (a class) is matched at the recognizer's own threshold.
pub const CLASS_SIZE: usize = 30;
/// Added to the threshold for every tenfold more people than a class: the chance that some
/// enrolled person resembles a stranger grows with the gallery (docs/calibration.md).
pub const RAISE_PER_DECADE: f32 = 0.02;
/// How far above the (raised) threshold one frame must be for a track to be accepted on few
/// frames: a track whose every frame is only marginally above it needs [`MARGINAL_FRAMES`].
pub const CONFIDENT_GAP: f32 = 0.08;
/// Added to [`CONFIDENT_GAP`] for the smallest faces, in proportion between
/// [`SMALL_FACE_PX`] and [`FULL_FACE_PX`]: a small, blurred face is weaker evidence.
pub const SMALL_FACE_GAP: f32 = 0.02;
/// Faces this small (shorter side, frame pixels) or smaller get the whole [`SMALL_FACE_GAP`].
pub const SMALL_FACE_PX: f32 = 36.0;
/// Faces this big or bigger get none of it.
pub const FULL_FACE_PX: f32 = 64.0;
/// Agreeing frames that accept a track with no confident frame: more than the engine's default
/// `min_frames` (3), so a track is never accepted on its minimum frame count when each frame
/// alone is only marginally above the threshold.
pub const MARGINAL_FRAMES: usize = 5;

/// Faces smaller than this (shorter side, frame pixels) are never compared with the gallery: too
/// few pixels to tell one student from another among a school's (docs/calibration.md, "Face
/// size"). A track none of whose kept frames reaches it is "seen, too small to recognise".
pub const MIN_COMPARE_PX: f32 = 28.0;

/// The size bands above [`MIN_COMPARE_PX`]: a frame of a face at least this big (shorter side,
/// frame pixels) is matched at the gallery's threshold plus this much. Smaller faces give
/// strangers higher similarities (docs/calibration.md, "Face size").
pub const SIZE_BANDS: [(f32, f32); 2] = [(MIN_COMPARE_PX, 0.04), (36.0, 0.0)];

/// What a frame of a face `face_px` high adds to the threshold under `bands` (see
/// [`SIZE_BANDS`]); `None` below the smallest band: it is not compared at all.
pub fn size_raise(bands: &[(f32, f32)], face_px: f32) -> Option<f32> {
    bands
        .iter()
        .rev()
        .find(|(from, _)| face_px >= *from)
        .map(|(_, raise)| *raise)
}

/// Whether any of these face sizes is big enough to be compared with the gallery.
pub fn big_enough(face_px: impl IntoIterator<Item = f32>) -> bool {
    face_px.into_iter().any(|px| size_raise(&SIZE_BANDS, px).is_some())
}

/// The open-set rules a track must pass to be taken for someone.
#[derive(Debug, Clone, Copy)]
pub struct OpenSet {
    /// The recognizer's similarity threshold (a pair of faces, or a class-sized gallery).
    pub pair_threshold: f32,
    /// How far the best must lead the second-best person.
    pub margin: f32,
    /// The share of the kept frames' quality the winner's votes must reach.
    pub vote_share: f32,
    /// People the track is matched against: the gallery, or the session's class.
    pub people: usize,
    /// The size bands, smallest first: [`SIZE_BANDS`] but in the figures that choose them.
    pub size_bands: &'static [(f32, f32)],
}

impl OpenSet {
    /// The threshold for this many people: the recognizer's, raised by [`RAISE_PER_DECADE`] for
    /// every tenfold more than [`CLASS_SIZE`].
    pub fn threshold(&self) -> f32 {
        let decades = (self.people.max(CLASS_SIZE) as f32 / CLASS_SIZE as f32).log10();
        self.pair_threshold + RAISE_PER_DECADE * decades
    }

    /// The similarity one frame of a face `face_px` pixels high must reach to make the track's
    /// decision confident.
    pub fn confident(&self, face_px: f32) -> f32 {
        let smallness = ((FULL_FACE_PX - face_px) / (FULL_FACE_PX - SMALL_FACE_PX)).clamp(0.0, 1.0);
        self.threshold() + self.raise(face_px).unwrap_or(0.0) + CONFIDENT_GAP + SMALL_FACE_GAP * smallness
    }

    /// What a frame of a face `face_px` high adds to the threshold; `None`: not compared.
    pub fn raise(&self, face_px: f32) -> Option<f32> {
        size_raise(self.size_bands, face_px)
    }
}

/// One kept frame of a track, as the vote sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameVote {
    /// The frame's quality score, its weight in the vote.
    pub quality: f32,
    /// The face's shorter side, frame pixels.
    pub face_px: f32,
    /// The gallery's best and runner-up people for this frame.
    pub candidates: Candidates,
}

/// The vote: each kept frame big enough to compare ([`OpenSet::raise`]) votes, weighted by quality,
/// for the person it accepts at the gallery's threshold raised for its size band; the winner
/// must hold `vote_share` of all the weight and be the person the mean embedding (`overall`)
/// accepts too, at the band of the voting frames' mean size. The winner is taken only when one of
/// its frames is confident for its face size, or [`MARGINAL_FRAMES`] frames agree. Returns who
/// was recognised, if anyone.
pub fn tally(frames: &[FrameVote], overall: &Candidates, rules: &OpenSet) -> Option<String> {
    let mut votes: Vec<(&str, f32, usize, bool)> = Vec::new();
    let (mut total, mut sizes, mut counted) = (0.0, 0.0, 0);
    for frame in frames {
        let Some(raise) = rules.raise(frame.face_px) else {
            continue;
        };
        total += frame.quality;
        sizes += frame.face_px;
        counted += 1;
        let Some(p) = frame.candidates.accepted(rules.threshold() + raise, rules.margin) else {
            continue;
        };
        let confident = frame
            .candidates
            .best
            .as_ref()
            .is_some_and(|b| b.1 >= rules.confident(frame.face_px));
        match votes.iter_mut().find(|v| v.0 == p) {
            Some(v) => {
                v.1 += frame.quality;
                v.2 += 1;
                v.3 |= confident;
            }
            None => votes.push((p, frame.quality, 1, confident)),
        }
    }
    let (winner, weight, count, confident) = votes.into_iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let overall_raise = rules.raise(sizes / counted.max(1) as f32).unwrap_or(0.0);
    let agreed = overall.accepted(rules.threshold() + overall_raise, rules.margin) == Some(winner);
    let enough = confident || count >= MARGINAL_FRAMES;
    (agreed && enough && weight >= rules.vote_share * total).then(|| winner.to_string())
}

/// What an unrecognised track showed, to tell whether to wait for more frames.
#[derive(Debug, Clone, Copy)]
pub struct Unrecognised {
    /// No more frames will come.
    pub final_call: bool,
    /// Frames seen.
    pub frames: u32,
    /// The configured limit on frames.
    pub max_frames: u32,
    /// Mean quality of the kept frames.
    pub mean_quality: f32,
    /// The mean embedding's best similarity, if the gallery had anyone.
    pub best_similarity: Option<f32>,
    /// The recognizer's threshold.
    pub threshold: f32,
}

/// The early-stranger rule: a track nobody was recognised in is called unknown at its end, at
/// `max_frames`, or at once when it was seen well and is far from everyone.
pub fn unknown_now(u: &Unrecognised) -> bool {
    let seen_well = u.mean_quality >= GOOD_QUALITY;
    let far_off = u.best_similarity.is_none_or(|s| s < u.threshold - STRANGER_GAP);
    u.final_call || u.frames >= u.max_frames || (seen_well && far_off)
}

/// A track judged unknown stays open for the rest of its life (a seated student looks up now
/// and then), but is matched again only on a clearly better frame, and at most this often.
pub const LOOK_AGAIN_AFTER_MS: i64 = 1000;
/// How much better (in quality, 0 to 1) a track's best frame must be than at its last match
/// before the track is matched again: a new pose, a face turned to the camera, not noise.
pub const CLEARLY_BETTER: f32 = 0.05;

/// The last time a track judged unknown was matched, and the best frame it had then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    /// Frame time of that match.
    pub at: DateTime<Utc>,
    /// Quality of the track's best kept frame then.
    pub best_quality: f32,
}

/// Whether a track judged unknown at `last` is worth matching again at `now`, when its best
/// kept frame has `best_quality`: bounds the recognizer's cost of a lesson-long track to what a
/// better view can change.
pub fn look_again(last: &Look, now: DateTime<Utc>, best_quality: f32) -> bool {
    (now - last.at).num_milliseconds() >= LOOK_AGAIN_AFTER_MS && best_quality >= last.best_quality + CLEARLY_BETTER
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> LivenessConfig {
        LivenessConfig {
            threshold: 0.5,
            min_frames: 3,
            rigid_min_travel: 0.3,
            rigid_max_deformation: 0.02,
            rigid_penalty: 0.3,
            spoof_below: 0.25,
            nonrigid_min_deformation: 0.03,
            nonrigid_bonus: 0.1,
            unassessed: crate::config::Unassessed::Require,
            alert_episode_s: 600.0,
        }
    }

    fn motion(rigid: bool) -> Motion {
        Motion {
            travel: if rigid { 1.0 } else { 0.1 },
            deformation: 0.01,
            frames: 8,
        }
    }

    fn evidence(scores: &[f32], rigid: bool, blinked: bool, eyes_watched: bool, final_call: bool) -> LiveEvidence<'_> {
        LiveEvidence {
            passive: true,
            scores,
            detections: &[0.9; 8],
            sure_face_score: 0.8,
            samples_full: false,
            out_of_frames: false,
            motion: motion(rigid),
            blinked,
            eyes_watched,
            final_call,
        }
    }

    fn score(call: LiveCall) -> Option<(bool, f32)> {
        match call {
            LiveCall::Wait | LiveCall::NotAssessed => None,
            LiveCall::Live(v) => Some((true, v.score)),
            LiveCall::Spoof(v) => Some((false, v.score)),
        }
    }

    #[test]
    fn liveness_waits_for_enough_frames_then_judges_the_mean() {
        let r = rules();
        assert_eq!(
            judge_liveness(&evidence(&[0.9, 0.9], false, false, false, false), &r),
            LiveCall::Wait
        );
        assert_eq!(
            score(judge_liveness(
                &evidence(&[1.0, 0.5, 0.75], false, false, false, false),
                &r
            )),
            Some((true, 0.75))
        );
        assert_eq!(
            score(judge_liveness(
                &evidence(&[0.2, 0.3, 0.1], false, false, false, true),
                &r
            ))
            .map(|s| s.0),
            Some(false)
        );
        // Without anti-spoofing, every track is live.
        let off = LiveEvidence {
            passive: false,
            ..evidence(&[], true, false, true, false)
        };
        assert_eq!(score(judge_liveness(&off, &r)), Some((true, 1.0)));
    }

    #[test]
    fn rigid_motion_costs_the_penalty_unless_the_face_blinked() {
        let r = rules();
        let scores = [0.6, 0.6, 0.6];
        // Rigid, not watched: 0.6 - 0.3 = 0.3 fails at once.
        assert_eq!(
            score(judge_liveness(&evidence(&scores, true, false, false, false), &r)).map(|s| s.0),
            Some(false)
        );
        // Rigid but the eyes are watched: wait for the end, in case it blinks...
        assert_eq!(
            judge_liveness(&evidence(&scores, true, false, true, false), &r),
            LiveCall::Wait
        );
        // ...and at the end it fails.
        assert_eq!(
            score(judge_liveness(&evidence(&scores, true, false, true, true), &r)).map(|s| s.0),
            Some(false)
        );
        // A blink lifts the penalty.
        assert_eq!(
            score(judge_liveness(&evidence(&scores, true, true, true, false), &r)),
            Some((true, 0.6))
        );
        // Too low even without the penalty: no point waiting.
        assert_eq!(
            score(judge_liveness(
                &evidence(&[0.1, 0.1, 0.1], true, false, true, false),
                &r
            ))
            .map(|s| s.0),
            Some(false)
        );
    }

    #[test]
    fn flat_motion_alone_raises_no_alert_on_confidently_live_scores() {
        // A real face in CI's 288 kb/s H.264 copy of the Hamilton clip: 56 to 58 px, every frame
        // scored live, its five landmarks moved almost as one plane.
        let r = LivenessConfig {
            threshold: 0.4,
            ..rules()
        };
        let real = LiveEvidence {
            motion: Motion {
                travel: 0.49,
                deformation: 0.018,
                frames: 8,
            },
            ..evidence(&[0.66, 0.65, 0.71], false, false, false, false)
        };
        assert_eq!(judge_liveness(&real, &r), LiveCall::Wait, "not live, not a spoof: wait");
        let at_end = LiveEvidence {
            final_call: true,
            ..real
        };
        assert_eq!(judge_liveness(&at_end, &r), LiveCall::NotAssessed);
        // Near the threshold, the same motion still tips it.
        let near = LiveEvidence {
            scores: &[0.5, 0.52, 0.48],
            ..at_end
        };
        assert!(matches!(judge_liveness(&near, &r), LiveCall::Spoof(_)));
    }

    #[test]
    fn a_doubtful_score_raises_no_alert_and_a_speaking_face_is_lifted_but_a_replay_is_not() {
        let r = LivenessConfig {
            threshold: 0.4,
            ..rules()
        };
        // The speaker at a podium in a starved broadcast: sure faces scoring 0.26 to 0.34,
        // landmarks deforming 0.03 to 0.12 eye distances. Held still, only doubtful: no alert.
        let still = Motion {
            travel: 0.05,
            deformation: 0.01,
            frames: 8,
        };
        let speaker = LiveEvidence {
            motion: still,
            ..evidence(&[0.26, 0.34, 0.30], false, false, false, true)
        };
        assert_eq!(judge_liveness(&speaker, &r), LiveCall::NotAssessed);
        // Speaking, his face changes shape as no picture does: live.
        let speaking = LiveEvidence {
            motion: Motion {
                deformation: 0.06,
                ..still
            },
            ..speaker
        };
        assert!(matches!(judge_liveness(&speaking, &r), LiveCall::Live(v) if (v.score - 0.4).abs() < 1e-6));
        // A still photo (image_F1 scores 0.23) is an attack as before...
        let photo = LiveEvidence {
            scores: &[0.23, 0.23, 0.23],
            ..speaker
        };
        assert!(matches!(judge_liveness(&photo, &r), LiveCall::Spoof(_)));
        // ...and so is a video replayed on a phone: it moves like a face, but its passive score
        // is clearly an attack's and gets no bonus.
        let replay = LiveEvidence {
            scores: &[0.05, 0.12, 0.08],
            ..speaking
        };
        assert!(matches!(judge_liveness(&replay, &r), LiveCall::Spoof(v) if v.score < 0.1));
    }

    #[test]
    fn low_scores_on_a_doubtful_detection_raise_no_alert() {
        // A pot plant behind her in a 300 kb/s H.264 copy of her clip: YuNet found "faces" of 54
        // to 68 px at 0.60 to 0.72, MiniFASNet scored them 0.04 to 0.12, and the old rule
        // raised a spoof alert.
        let r = LivenessConfig {
            threshold: 0.4,
            ..rules()
        };
        let plant = LiveEvidence {
            detections: &[0.65, 0.61, 0.70],
            motion: Motion {
                travel: 0.60,
                deformation: 0.023,
                frames: 8,
            },
            ..evidence(&[0.05, 0.08, 0.12], true, false, false, true)
        };
        assert_eq!(judge_liveness(&plant, &r), LiveCall::NotAssessed);
        // The same scores on a face beyond doubt are an attack.
        let photo = LiveEvidence {
            detections: &[0.92, 0.91, 0.93],
            ..plant
        };
        assert!(matches!(judge_liveness(&photo, &r), LiveCall::Spoof(_)));
        // Two sure frames of three, both low: still an attack.
        let mostly = LiveEvidence {
            detections: &[0.92, 0.65, 0.93],
            ..plant
        };
        assert!(matches!(judge_liveness(&mostly, &r), LiveCall::Spoof(_)));
    }

    #[test]
    fn a_spoof_verdict_needs_consistent_scores_and_poor_faces_are_not_assessed() {
        let r = rules();
        // Blurred or small faces are not evidence.
        assert!(assessable(60.0, 80.0));
        assert!(!assessable(30.0, 80.0), "too small");
        assert!(!assessable(60.0, 8.0), "too blurred");
        // Two assessed frames: wait, and at the track's end, not assessed (not a spoof).
        assert_eq!(
            judge_liveness(&evidence(&[0.1, 0.1], false, false, false, false), &r),
            LiveCall::Wait
        );
        assert_eq!(
            judge_liveness(&evidence(&[0.1, 0.1], false, false, false, true), &r),
            LiveCall::NotAssessed
        );
        // A low mean from one very low frame among live ones: not an attack.
        let mixed = [0.9, 0.0, 0.0, 0.9, 0.0, 0.9];
        assert_eq!(
            score(judge_liveness(&evidence(&mixed[..4], false, false, false, false), &r)),
            None
        );
        let full = LiveEvidence {
            samples_full: true,
            ..evidence(&mixed[..4], false, false, false, false)
        };
        assert_eq!(judge_liveness(&full, &r), LiveCall::NotAssessed);
        // Consistently low: a spoof.
        assert_eq!(
            score(judge_liveness(
                &evidence(&[0.1, 0.2, 0.9], false, false, false, false),
                &r
            ))
            .map(|s| s.0),
            Some(false)
        );
    }

    fn cands(best: Option<(&str, f32)>, second: Option<(&str, f32)>) -> Candidates {
        Candidates {
            best: best.map(|(p, s)| (p.to_string(), s)),
            second: second.map(|(p, s)| (p.to_string(), s)),
        }
    }

    const OPEN: OpenSet = OpenSet {
        pair_threshold: 0.4,
        margin: 0.05,
        vote_share: 0.5,
        people: 30,
        size_bands: &SIZE_BANDS,
    };

    /// A frame of a 100-pixel face.
    fn vote(quality: f32, candidates: &Candidates) -> FrameVote {
        at_size(quality, 100.0, candidates)
    }

    fn at_size(quality: f32, face_px: f32, candidates: &Candidates) -> FrameVote {
        FrameVote {
            quality,
            face_px,
            candidates: candidates.clone(),
        }
    }

    #[test]
    fn faces_below_the_smallest_band_never_vote_and_small_bands_need_more() {
        assert_eq!(size_raise(&SIZE_BANDS, MIN_COMPARE_PX - 0.5), None);
        assert!(!big_enough([20.0, 24.0, MIN_COMPARE_PX - 1.0]));
        assert!(big_enough([20.0, MIN_COMPARE_PX]));
        let raises: Vec<f32> = [MIN_COMPARE_PX, 36.0, 48.0, 200.0]
            .iter()
            .filter_map(|&px| size_raise(&SIZE_BANDS, px))
            .collect();
        assert!(raises.windows(2).all(|w| w[0] >= w[1]), "{raises:?}");
        // Clearly above the class threshold (0.4): a big face is taken, the same similarity on
        // a too-small face is no evidence at all.
        let ann = cands(Some(("ann", 0.6)), Some(("bob", 0.3)));
        let big: Vec<FrameVote> = (0..3).map(|_| at_size(0.9, 64.0, &ann)).collect();
        let tiny: Vec<FrameVote> = (0..5).map(|_| at_size(0.9, MIN_COMPARE_PX - 4.0, &ann)).collect();
        assert_eq!(tally(&big, &ann, &OPEN).as_deref(), Some("ann"));
        assert_eq!(tally(&tiny, &ann, &OPEN), None);
        // At the smallest band, a similarity just over the class threshold is not enough.
        // The same frames of a bigger face are taken.
        let raise = SIZE_BANDS[0].1;
        let marginal = cands(Some(("ann", OPEN.threshold() + raise / 2.0)), Some(("bob", 0.1)));
        let small: Vec<FrameVote> = (0..5).map(|_| at_size(0.9, MIN_COMPARE_PX, &marginal)).collect();
        assert_eq!(tally(&small, &marginal, &OPEN), None);
        let bigger: Vec<FrameVote> = (0..5).map(|_| at_size(0.9, 64.0, &marginal)).collect();
        assert_eq!(tally(&bigger, &marginal, &OPEN).as_deref(), Some("ann"));
    }

    #[test]
    fn the_vote_needs_a_weighted_majority_that_the_mean_agrees_with() {
        let ann = cands(Some(("ann", 0.6)), Some(("bob", 0.3)));
        let bob = cands(Some(("bob", 0.6)), Some(("ann", 0.3)));
        let nobody = cands(Some(("ann", 0.2)), None);
        let frames = [vote(0.9, &ann), vote(0.8, &ann), vote(0.3, &bob)];
        assert_eq!(tally(&frames, &ann, &OPEN).as_deref(), Some("ann"));
        // The mean embedding disagrees: nobody.
        assert_eq!(tally(&frames, &bob, &OPEN), None);
        // A winner short of half the quality weight: nobody.
        let split = [vote(0.4, &ann), vote(0.3, &bob), vote(0.5, &nobody)];
        assert_eq!(tally(&split, &ann, &OPEN), None);
        // A close second (margin 0.02 < 0.05): not accepted.
        let close = cands(Some(("ann", 0.6)), Some(("bob", 0.58)));
        assert_eq!(tally(&[vote(1.0, &close)], &close, &OPEN), None);
        assert_eq!(tally(&[], &ann, &OPEN), None);
    }

    #[test]
    fn the_threshold_rises_with_the_gallery_and_marginal_frames_need_more_of_them() {
        let school = OpenSet { people: 3000, ..OPEN };
        assert!(
            (OPEN.threshold() - 0.4).abs() < 1e-6,
            "a class is matched at the recognizer's threshold"
        );
        assert!(
            (school.threshold() - 0.44).abs() < 1e-6,
            "two decades more: 0.04 higher"
        );
        let ann = |s| cands(Some(("ann", s)), Some(("bob", 0.2)));
        // Three frames only just over the threshold: not yet; five of them, or one confident
        // frame, and the track is taken.
        let marginal = ann(0.43);
        let three = [vote(1.0, &marginal), vote(1.0, &marginal), vote(1.0, &marginal)];
        assert_eq!(tally(&three, &marginal, &OPEN), None);
        let five = [0; 5].map(|_| vote(1.0, &marginal));
        assert_eq!(tally(&five, &marginal, &OPEN).as_deref(), Some("ann"));
        let with_confident = [vote(1.0, &ann(0.49)), vote(1.0, &marginal), vote(1.0, &marginal)];
        assert_eq!(tally(&with_confident, &marginal, &OPEN).as_deref(), Some("ann"));
        // The same confident frame from a 36-pixel face is not confident enough.
        let small = [
            at_size(1.0, 36.0, &ann(0.49)),
            at_size(1.0, 36.0, &marginal),
            at_size(1.0, 36.0, &marginal),
        ];
        assert_eq!(tally(&small, &marginal, &OPEN), None);
        // What clears a class does not clear a school.
        assert_eq!(tally(&five, &marginal, &school), None);
    }

    #[test]
    fn the_passer_by_taken_for_a_student_in_the_field_is_not_taken_now() {
        // 33 enrolled, SFace's 0.363: a ~50 px stranger at similarity 0.393 and margin 0.123
        // over 3 frames was marked present.
        let rules = OpenSet {
            pair_threshold: 0.363,
            margin: 0.08,
            vote_share: 0.6,
            people: 33,
            size_bands: &SIZE_BANDS,
        };
        let seen = cands(Some(("student", 0.393)), Some(("other", 0.27)));
        let frames = [0; 3].map(|_| at_size(0.6, 50.0, &seen));
        assert_eq!(tally(&frames, &seen, &rules), None);
    }

    #[test]
    fn a_stranger_is_called_early_only_when_seen_well_and_far_from_everyone() {
        let u = Unrecognised {
            final_call: false,
            frames: 3,
            max_frames: 15,
            mean_quality: 0.8,
            best_similarity: Some(0.1),
            threshold: 0.4,
        };
        assert!(unknown_now(&u));
        assert!(
            !unknown_now(&Unrecognised {
                best_similarity: Some(0.3),
                ..u
            }),
            "close to someone: wait"
        );
        assert!(
            !unknown_now(&Unrecognised { mean_quality: 0.5, ..u }),
            "poor frames: wait"
        );
        assert!(
            unknown_now(&Unrecognised {
                best_similarity: None,
                ..u
            }),
            "an empty gallery"
        );
        let waiting = Unrecognised { mean_quality: 0.5, ..u };
        assert!(unknown_now(&Unrecognised { frames: 15, ..waiting }));
        assert!(unknown_now(&Unrecognised {
            final_call: true,
            ..waiting
        }));
    }

    #[test]
    fn an_unknown_track_is_matched_again_only_on_a_clearly_better_frame_and_not_within_a_second() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let last = Look {
            at: t0,
            best_quality: 0.40,
        };
        let after = |ms| t0 + chrono::Duration::milliseconds(ms);
        assert!(!look_again(&last, after(5000), 0.42), "a little better is noise");
        assert!(!look_again(&last, after(400), 0.70), "at most about once a second");
        assert!(look_again(&last, after(1000), 0.46));
        assert!(look_again(&last, after(60_000), 0.70));
    }
}
