//! Matching: an embedding against a gallery of known people, open-set.
//!
//! All templates sit in one contiguous matrix, so a search is one matrix-vector product. A face is
//! accepted only when its best person clears the threshold *and* beats the second-best person by
//! a margin; anything else is unknown, because a stranger must not become a student.

use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView1};
use serde::Serialize;

use crate::embed::{CompareError, Embedding};

/// Why a template cannot go in the gallery.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GalleryError {
    /// Made by another recognizer.
    #[error(transparent)]
    Incompatible(#[from] CompareError),
    /// NaN or infinity in the vector.
    #[error("template for `{0}` has non-finite values")]
    NonFinite(String),
}

/// How a person with several templates is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonScore {
    /// Their best-matching template: robust to one odd photo among good ones.
    #[default]
    Best,
    /// Their mean template: smoother, less swayed by one lucky template.
    Mean,
}

/// Known people's templates, all from one recognizer.
#[derive(Debug, Clone)]
pub struct Gallery {
    recognizer: Arc<str>,
    people: Vec<String>,
    /// Class groups of each person (same order as `people`).
    groups: Vec<Vec<String>>,
    /// For each template row, the index of its person in `people`.
    owner: Vec<usize>,
    templates: Array2<f32>,
    /// Each person's mean template, unit length (same order as `people`).
    means: Array2<f32>,
}

/// The best and runner-up people for one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidates {
    /// Best person and their similarity (best template).
    pub best: Option<(String, f32)>,
    /// Second-best *other* person.
    pub second: Option<(String, f32)>,
}

impl Candidates {
    /// How far the best is ahead of the second-best person (the best's similarity when alone).
    pub fn margin(&self) -> f32 {
        match (&self.best, &self.second) {
            (Some((_, a)), Some((_, b))) => a - b,
            (Some((_, a)), None) => *a,
            _ => 0.0,
        }
    }

    /// The accepted person, if the best clears `threshold` and leads by `margin`.
    pub fn accepted(&self, threshold: f32, margin: f32) -> Option<&str> {
        match &self.best {
            Some((person, sim)) if *sim >= threshold && self.margin() >= margin => Some(person),
            _ => None,
        }
    }
}

impl Gallery {
    /// An empty gallery for `recognizer`'s embeddings of length `dim`.
    pub fn new(recognizer: Arc<str>, dim: usize) -> Gallery {
        Gallery {
            recognizer,
            people: Vec::new(),
            groups: Vec::new(),
            owner: Vec::new(),
            templates: Array2::zeros((0, dim)),
            means: Array2::zeros((0, dim)),
        }
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.owner.len()
    }

    /// True when no template is enrolled.
    pub fn is_empty(&self) -> bool {
        self.owner.is_empty()
    }

    /// The recognizer whose embeddings this gallery holds.
    pub fn recognizer(&self) -> &Arc<str> {
        &self.recognizer
    }

    /// Number of people.
    pub fn people(&self) -> usize {
        self.people.len()
    }

    /// Adds one template for `person`, refusing other recognizers, other lengths and non-finite values.
    pub fn add(&mut self, person: &str, template: &Embedding) -> Result<(), GalleryError> {
        self.add_with_groups(person, &[], template)
    }

    /// Adds one template for `person`, who belongs to `groups` (classes).
    pub fn add_with_groups(
        &mut self,
        person: &str,
        groups: &[String],
        template: &Embedding,
    ) -> Result<(), GalleryError> {
        template.check_compatible(&self.recognizer, self.templates.ncols())?;
        if template.vector.iter().any(|v| !v.is_finite()) {
            return Err(GalleryError::NonFinite(person.to_string()));
        }
        let idx = match self.people.iter().position(|p| p == person) {
            Some(i) => i,
            None => {
                self.people.push(person.to_string());
                self.groups.push(Vec::new());
                let _ = self
                    .means
                    .push_row(ArrayView1::from(&vec![0.0; self.templates.ncols()]));
                self.people.len() - 1
            }
        };
        for g in groups {
            if !self.groups[idx].contains(g) {
                self.groups[idx].push(g.clone());
            }
        }
        self.templates
            .push_row(ArrayView1::from(&template.vector))
            .map_err(|_| GalleryError::NonFinite(person.to_string()))?;
        self.owner.push(idx);
        self.update_mean(idx);
        Ok(())
    }

    fn update_mean(&mut self, person: usize) {
        let mut mean = Array1::<f32>::zeros(self.templates.ncols());
        for (row, _) in self.owner.iter().enumerate().filter(|(_, o)| **o == person) {
            mean += &self.templates.row(row);
        }
        let mut v = mean.to_vec();
        crate::embed::l2_normalise(&mut v);
        self.means.row_mut(person).assign(&ArrayView1::from(&v));
    }

    /// The best two people for `probe` (each person scored by their best template).
    pub fn search(&self, probe: &Embedding) -> Result<Candidates, CompareError> {
        self.search_in(probe, None, PersonScore::Best)
    }

    /// The best two people for `probe` among members of `group` (everyone when `None`), each
    /// scored as `score` says; one matrix-vector product over all templates.
    pub fn search_in(
        &self,
        probe: &Embedding,
        group: Option<&str>,
        score: PersonScore,
    ) -> Result<Candidates, CompareError> {
        probe.check_compatible(&self.recognizer, self.templates.ncols())?;
        let probe_view = ArrayView1::from(&probe.vector);
        let mut per_person = vec![f32::NEG_INFINITY; self.people.len()];
        match score {
            PersonScore::Best => {
                let sims: Array1<f32> = self.templates.dot(&probe_view);
                for (&owner, &s) in self.owner.iter().zip(sims.iter()) {
                    per_person[owner] = per_person[owner].max(s);
                }
            }
            PersonScore::Mean => {
                per_person = self.means.dot(&probe_view).to_vec();
            }
        }
        if let Some(g) = group {
            for (p, groups) in per_person.iter_mut().zip(&self.groups) {
                if !groups.iter().any(|x| x == g) {
                    *p = f32::NEG_INFINITY;
                }
            }
        }
        let mut order: Vec<usize> = (0..per_person.len()).collect();
        order.sort_by(|&a, &b| per_person[b].total_cmp(&per_person[a]));
        let pick = |i: Option<&usize>| {
            i.filter(|&&i| per_person[i] > f32::NEG_INFINITY)
                .map(|&i| (self.people[i].clone(), per_person[i]))
        };
        Ok(Candidates {
            best: pick(order.first()),
            second: pick(order.get(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(v: &[f32]) -> Embedding {
        Embedding {
            recognizer: "r".into(),
            vector: v.to_vec(),
        }
    }

    #[test]
    fn best_two_people_and_open_set_decision() {
        let mut g = Gallery::new("r".into(), 2);
        g.add("ann", &e(&[1.0, 0.0])).unwrap();
        g.add("ann", &e(&[0.8, 0.6])).unwrap();
        g.add("bob", &e(&[0.0, 1.0])).unwrap();
        let c = g.search(&e(&[0.6, 0.8])).unwrap();
        assert_eq!(c.best.as_ref().unwrap().0, "ann");
        assert!((c.best.as_ref().unwrap().1 - 0.96).abs() < 1e-6);
        assert_eq!(c.second.as_ref().unwrap().0, "bob");
        assert_eq!(c.accepted(0.5, 0.1), Some("ann"));
        assert_eq!(c.accepted(0.5, 0.2), None, "margin 0.16 is too small");
        assert_eq!(c.accepted(0.97, 0.0), None);
    }

    #[test]
    fn groups_restrict_candidates_and_mean_scoring_averages() {
        let mut g = Gallery::new("r".into(), 2);
        g.add_with_groups("ann", &["7b".into()], &e(&[1.0, 0.0])).unwrap();
        g.add_with_groups("ann", &[], &e(&[0.0, 1.0])).unwrap();
        g.add_with_groups("bob", &["8a".into()], &e(&[0.8, 0.6])).unwrap();
        let probe = e(&[1.0, 0.0]);
        assert_eq!(
            g.search_in(&probe, None, PersonScore::Best).unwrap().best.unwrap().0,
            "ann"
        );
        // Ann's mean template points between her two: Bob is closer on average.
        assert_eq!(
            g.search_in(&probe, None, PersonScore::Mean).unwrap().best.unwrap().0,
            "bob"
        );
        let only_8a = g.search_in(&probe, Some("8a"), PersonScore::Best).unwrap();
        assert_eq!(only_8a.best.unwrap().0, "bob");
        assert!(only_8a.second.is_none(), "ann is not in 8a");
        assert!(
            g.search_in(&probe, Some("none"), PersonScore::Best)
                .unwrap()
                .best
                .is_none()
        );
    }

    #[test]
    fn wrong_templates_are_refused() {
        let mut g = Gallery::new("r".into(), 2);
        assert!(g.add("x", &e(&[f32::NAN, 0.0])).is_err());
        assert!(g.add("x", &e(&[1.0])).is_err());
        let other = Embedding {
            recognizer: "q".into(),
            vector: vec![1.0, 0.0],
        };
        assert!(g.add("x", &other).is_err());
        assert!(g.is_empty());
    }
}
