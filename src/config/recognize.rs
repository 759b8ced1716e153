//! `[recognize]`: how an embedding is matched, and how a track's votes become one decision.

use serde::{Deserialize, Serialize};

use super::{Problem, out_of_range};

/// How a person with several templates is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonScore {
    /// Their best-matching template: robust to one odd photo among good ones.
    #[default]
    Best,
    /// Their mean template: smoother, less swayed by one lucky template.
    Mean,
}

/// Recognition and the decision a track makes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecognizeConfig {
    /// Cosine similarity for "same person"; default per recognizer.
    pub threshold: Option<f32>,
    /// How far the best person must lead the second-best; closer calls are unknown.
    pub margin: f32,
    /// Score a person by their best template or their mean template.
    pub person_score: PersonScore,
    /// During a session whose slot names a group, match only that class's students.
    pub per_class: bool,
    /// Frames a track needs before it may be decided.
    pub min_frames: u32,
    /// A track still ambiguous after this many frames is reported unknown; it stays open and is
    /// matched again on a clearly better frame (see `attend::decide::look_again`).
    pub max_frames: u32,
    /// Share of the quality-weighted vote the winner needs.
    pub vote_share: f32,
    /// Galleries with more templates than this are searched through an 8-bit copy first.
    pub int8_search_above: usize,
}

impl Default for RecognizeConfig {
    fn default() -> Self {
        RecognizeConfig {
            threshold: None,
            margin: 0.08,
            person_score: PersonScore::Best,
            per_class: true,
            min_frames: 3,
            max_frames: 15,
            vote_share: 0.6,
            int8_search_above: 5000,
        }
    }
}

impl RecognizeConfig {
    /// What is wrong with the section's values.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Some(v) = self.threshold.filter(|v| !(-1.0..=1.0).contains(v)) {
            problems.push(Problem::new(
                "recognize",
                "threshold",
                format!("{v} must be a cosine similarity between -1 and 1"),
            ));
        }
        problems.extend(out_of_range("recognize", "margin", self.margin.into(), 0.0, 2.0));
        problems.extend(out_of_range(
            "recognize",
            "vote_share",
            self.vote_share.into(),
            0.0,
            1.0,
        ));
        problems
    }
}
