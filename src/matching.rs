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

/// Known people's templates, all from one recognizer.
#[derive(Debug, Clone)]
pub struct Gallery {
    recognizer: Arc<str>,
    people: Vec<String>,
    /// For each template row, the index of its person in `people`.
    owner: Vec<usize>,
    templates: Array2<f32>,
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
            owner: Vec::new(),
            templates: Array2::zeros((0, dim)),
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

    /// Adds one template for `person`, refusing other recognizers, other lengths and non-finite values.
    pub fn add(&mut self, person: &str, template: &Embedding) -> Result<(), GalleryError> {
        template.check_compatible(&self.recognizer, self.templates.ncols())?;
        if template.vector.iter().any(|v| !v.is_finite()) {
            return Err(GalleryError::NonFinite(person.to_string()));
        }
        let idx = match self.people.iter().position(|p| p == person) {
            Some(i) => i,
            None => {
                self.people.push(person.to_string());
                self.people.len() - 1
            }
        };
        self.templates
            .push_row(ArrayView1::from(&template.vector))
            .map_err(|_| GalleryError::NonFinite(person.to_string()))?;
        self.owner.push(idx);
        Ok(())
    }

    /// The best two people for `probe` (each person scored by their best template).
    pub fn search(&self, probe: &Embedding) -> Result<Candidates, CompareError> {
        probe.check_compatible(&self.recognizer, self.templates.ncols())?;
        let sims: Array1<f32> = self.templates.dot(&ArrayView1::from(&probe.vector));
        let mut per_person = vec![f32::NEG_INFINITY; self.people.len()];
        for (&owner, &s) in self.owner.iter().zip(sims.iter()) {
            per_person[owner] = per_person[owner].max(s);
        }
        let mut order: Vec<usize> = (0..per_person.len()).collect();
        order.sort_by(|&a, &b| per_person[b].total_cmp(&per_person[a]));
        let pick = |i: Option<&usize>| i.map(|&i| (self.people[i].clone(), per_person[i]));
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
