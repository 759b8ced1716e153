//! The rules that decide a track, as pure functions over plain data.
//!
//! The engine gathers the evidence (passive scores, landmark motion, blinks, and the gallery's
//! candidates for each kept frame and for their mean) and asks these rules for a verdict. The
//! rules run no model and read no clock, so they are tested here on made-up numbers.

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
    /// A presentation attack is suspected.
    Spoof(LiveVerdict),
}

/// What a track showed of its liveness.
#[derive(Debug, Clone, Copy)]
pub struct LiveEvidence<'a> {
    /// Passive anti-spoofing scores, one per sampled frame (empty: anti-spoofing is off).
    pub scores: &'a [f32],
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
/// moves can look as rigid as a photo's, and a blink settles it). A track failing only for its
/// rigid motion waits for its end while the eyes are watched, in case it blinks.
pub fn judge_liveness(e: &LiveEvidence<'_>, rules: &LivenessConfig) -> LiveCall {
    let rigid_motion = e
        .motion
        .looks_rigid(rules.rigid_min_travel, rules.rigid_max_deformation);
    let verdict = if e.scores.is_empty() {
        // No anti-spoofing configured: every track counts as live.
        LiveVerdict {
            score: 1.0,
            motion: e.motion,
            blinked: e.blinked,
        }
    } else if (e.scores.len() as u32) < rules.min_frames {
        return LiveCall::Wait;
    } else {
        let penalty = if !e.blinked && rigid_motion {
            rules.rigid_penalty
        } else {
            0.0
        };
        LiveVerdict {
            score: mean(e.scores) - penalty,
            motion: e.motion,
            blinked: e.blinked,
        }
    };
    let fails = verdict.score < rules.threshold;
    let rigid_only = fails && verdict.score + rules.rigid_penalty >= rules.threshold && rigid_motion;
    if rigid_only && e.eyes_watched && !e.final_call {
        return LiveCall::Wait;
    }
    if fails {
        LiveCall::Spoof(verdict)
    } else {
        LiveCall::Live(verdict)
    }
}

/// The open-set rules a track must pass to be taken for someone.
#[derive(Debug, Clone, Copy)]
pub struct OpenSet {
    /// The recognizer's similarity threshold.
    pub threshold: f32,
    /// How far the best must lead the second-best person.
    pub margin: f32,
    /// The share of the kept frames' quality the winner's votes must reach.
    pub vote_share: f32,
}

/// The vote: each kept frame (its quality and its candidates) votes, weighted by quality, for
/// the person it accepts; the winner must hold `vote_share` of all the weight and be the person
/// the mean embedding (`overall`) accepts too. Returns who was recognised, if anyone.
pub fn tally(frames: &[(f32, Candidates)], overall: &Candidates, rules: &OpenSet) -> Option<String> {
    let mut votes: Vec<(&str, f32)> = Vec::new();
    let mut total = 0.0;
    for (quality, candidates) in frames {
        total += quality;
        if let Some(p) = candidates.accepted(rules.threshold, rules.margin) {
            match votes.iter_mut().find(|(q, _)| *q == p) {
                Some((_, w)) => *w += quality,
                None => votes.push((p, *quality)),
            }
        }
    }
    let winner = votes.into_iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let agreed = overall.accepted(rules.threshold, rules.margin) == Some(winner.0);
    (agreed && winner.1 >= rules.vote_share * total).then(|| winner.0.to_string())
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
            scores,
            motion: motion(rigid),
            blinked,
            eyes_watched,
            final_call,
        }
    }

    fn score(call: LiveCall) -> Option<(bool, f32)> {
        match call {
            LiveCall::Wait => None,
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
        assert_eq!(
            score(judge_liveness(&evidence(&[], true, false, true, false), &r)),
            Some((true, 1.0))
        );
    }

    #[test]
    fn rigid_motion_costs_the_penalty_unless_the_face_blinked() {
        let r = rules();
        let scores = [0.7, 0.7, 0.7];
        // Rigid, not watched: 0.7 - 0.3 = 0.4 fails at once.
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
            Some((true, 0.7))
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

    fn cands(best: Option<(&str, f32)>, second: Option<(&str, f32)>) -> Candidates {
        Candidates {
            best: best.map(|(p, s)| (p.to_string(), s)),
            second: second.map(|(p, s)| (p.to_string(), s)),
        }
    }

    const OPEN: OpenSet = OpenSet {
        threshold: 0.4,
        margin: 0.05,
        vote_share: 0.5,
    };

    #[test]
    fn the_vote_needs_a_weighted_majority_that_the_mean_agrees_with() {
        let ann = cands(Some(("ann", 0.6)), Some(("bob", 0.3)));
        let bob = cands(Some(("bob", 0.6)), Some(("ann", 0.3)));
        let nobody = cands(Some(("ann", 0.2)), None);
        let frames = [(0.9, ann.clone()), (0.8, ann.clone()), (0.3, bob.clone())];
        assert_eq!(tally(&frames, &ann, &OPEN).as_deref(), Some("ann"));
        // The mean embedding disagrees: nobody.
        assert_eq!(tally(&frames, &bob, &OPEN), None);
        // A winner short of half the quality weight: nobody.
        let split = [(0.4, ann.clone()), (0.3, bob.clone()), (0.5, nobody.clone())];
        assert_eq!(tally(&split, &ann, &OPEN), None);
        // A close second (margin 0.02 < 0.05): not accepted.
        let close = cands(Some(("ann", 0.6)), Some(("bob", 0.58)));
        assert_eq!(tally(&[(1.0, close.clone())], &close, &OPEN), None);
        assert_eq!(tally(&[], &ann, &OPEN), None);
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
}
