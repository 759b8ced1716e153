//! Matching: an embedding against a gallery of known people, open-set.
//!
//! All templates sit in one contiguous matrix, so a search is one matrix-vector product. A face is
//! accepted only when its best person clears the threshold *and* beats the second-best person by
//! a margin; anything else is unknown, because a stranger must not become a student.

use std::sync::Arc;

use ndarray::{Array1, Array2, ArrayView1};
use serde::Serialize;

use crate::config::PersonScore;
use crate::store::{Store, StoreError};
use crate::vision::embed::{CompareError, Embedding, TemplateError, l2_normalise};

/// Templates stored as 8-bit integers with a scale per row: a quarter of the memory traffic of
/// `f32`, which is what bounds a search over tens of thousands of templates.
#[derive(Debug, Clone, Default)]
struct Quantized {
    rows: Vec<i8>,
    scales: Vec<f32>,
}

/// Shortlist size: people re-scored exactly after the 8-bit pass.
const SHORTLIST: usize = 16;

fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    (
        v.iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
            .collect(),
        scale,
    )
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // Chunks of 16 with i16 products keep the loop vectorisable (pmaddwd) on plain x86-64.
    let mut acc = 0i32;
    for (ca, cb) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        let mut s = 0i32;
        for i in 0..16 {
            s += (ca[i] as i16 * cb[i] as i16) as i32;
        }
        acc += s;
    }
    let tail = a.len() - a.len() % 16;
    acc + a[tail..]
        .iter()
        .zip(&b[tail..])
        .map(|(x, y)| *x as i32 * *y as i32)
        .sum::<i32>()
}

/// Known people's templates, all from one recognizer.
#[derive(Debug, Clone)]
pub struct Gallery {
    recognizer: Arc<str>,
    /// Version of the synced roster it was built from; 0 when enrolled locally.
    version: u64,
    people: Vec<String>,
    /// Class groups of each person (same order as `people`).
    groups: Vec<Vec<String>>,
    /// For each template row, the index of its person in `people`.
    owner: Vec<usize>,
    /// For each person, their template rows.
    rows_of: Vec<Vec<usize>>,
    templates: Array2<f32>,
    /// Each person's mean template, unit length (same order as `people`).
    means: Array2<f32>,
    /// 8-bit copy of `templates`, when enabled.
    quantized: Option<Quantized>,
}

/// The gallery in use, shared between the engine that matches against it and the roster sync
/// that replaces it. A swap is one pointer store: a decision in flight keeps the gallery it
/// started with, the next one sees the new roster whole.
#[derive(Debug, Clone)]
pub struct SharedGallery(Arc<std::sync::RwLock<Arc<Gallery>>>);

impl SharedGallery {
    /// Shares `gallery`.
    pub fn new(gallery: Gallery) -> SharedGallery {
        SharedGallery(Arc::new(std::sync::RwLock::new(Arc::new(gallery))))
    }

    /// The gallery now.
    pub fn current(&self) -> Arc<Gallery> {
        crate::lock::read(&self.0).clone()
    }

    /// Puts `gallery` in use from the next search on.
    pub fn replace(&self, gallery: Gallery) {
        let gallery = Arc::new(gallery);
        *crate::lock::write(&self.0) = gallery;
    }
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
            version: 0,
            people: Vec::new(),
            groups: Vec::new(),
            owner: Vec::new(),
            rows_of: Vec::new(),
            templates: Array2::zeros((0, dim)),
            means: Array2::zeros((0, dim)),
            quantized: None,
        }
    }

    /// The same gallery, labelled with the roster version it came from.
    pub fn with_version(mut self, version: u64) -> Gallery {
        self.version = version;
        self
    }

    /// Roster version it was built from (0: enrolled locally).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Template `row`'s values.
    pub fn template(&self, row: usize) -> Vec<f32> {
        self.templates.row(row).to_vec()
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

    /// People a probe among `group` is compared with: the group's members, or everyone.
    pub fn people_among(&self, group: Option<&str>) -> usize {
        match group {
            Some(g) => self.groups.iter().filter(|gs| gs.iter().any(|x| x == g)).count(),
            None => self.people.len(),
        }
    }

    /// Number of people.
    pub fn people(&self) -> usize {
        self.people.len()
    }

    /// Decrypts every template of `recognizer` in `store` into a gallery; any row failing
    /// authentication or not fitting (dimension, non-finite values) is an error naming it.
    pub fn load(store: &Store, recognizer: &Arc<str>, dim: usize) -> Result<Gallery, StoreError> {
        let mut gallery = Gallery::new(recognizer.clone(), dim);
        for (person, groups, embedding) in store.templates(recognizer)? {
            gallery
                .add_with_groups(&person, &groups, &embedding)
                .map_err(|source| StoreError::Template { person, source })?;
        }
        Ok(gallery)
    }

    /// The gallery the engine searches: labelled with the synced roster's version, and with an
    /// 8-bit search copy when it holds more than `int8_above` templates.
    pub fn load_for_search(
        store: &Store,
        recognizer: &Arc<str>,
        dim: usize,
        int8_above: usize,
    ) -> Result<Gallery, StoreError> {
        let mut gallery =
            Gallery::load(store, recognizer, dim)?.with_version(store.roster_version()?.map_or(0, |r| r.version));
        if gallery.len() > int8_above {
            gallery.enable_int8();
        }
        Ok(gallery)
    }

    /// Adds one template for `person`, refusing other recognizers, other lengths and non-finite values.
    pub fn add(&mut self, person: &str, template: &Embedding) -> Result<(), TemplateError> {
        self.add_with_groups(person, &[], template)
    }

    /// Adds one template for `person`, who belongs to `groups` (classes).
    pub fn add_with_groups(
        &mut self,
        person: &str,
        groups: &[String],
        template: &Embedding,
    ) -> Result<(), TemplateError> {
        template.check_compatible(&self.recognizer, self.templates.ncols())?;
        if template.vector.iter().any(|v| !v.is_finite()) {
            return Err(TemplateError::NonFinite(person.to_string()));
        }
        let idx = match self.people.iter().position(|p| p == person) {
            Some(i) => i,
            None => {
                self.people.push(person.to_string());
                self.groups.push(Vec::new());
                self.rows_of.push(Vec::new());
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
            .map_err(|_| TemplateError::NonFinite(person.to_string()))?;
        self.rows_of[idx].push(self.owner.len());
        self.owner.push(idx);
        self.update_mean(idx);
        if let Some(q) = self.quantized.as_mut() {
            let (row, scale) = quantize(&template.vector);
            q.rows.extend(row);
            q.scales.push(scale);
        }
        Ok(())
    }

    /// Searches an 8-bit copy of the templates first, then re-scores a shortlist of people
    /// exactly: for galleries too large for the caches. Results match the exact search unless
    /// the true best two fall outside the shortlist.
    pub fn enable_int8(&mut self) {
        let mut q = Quantized::default();
        for row in self.templates.rows() {
            let (r, scale) = quantize(row.as_slice().unwrap_or(&row.to_vec()));
            q.rows.extend(r);
            q.scales.push(scale);
        }
        self.quantized = Some(q);
    }

    /// Best template similarity per person, through the 8-bit copy and an exact shortlist.
    fn best_per_person_int8(&self, q: &Quantized, probe: &[f32], allowed: &dyn Fn(usize) -> bool) -> Vec<f32> {
        let dim = self.templates.ncols();
        let (qp, ps) = quantize(probe);
        let mut approx = vec![f32::NEG_INFINITY; self.people.len()];
        for (row, (&owner, &scale)) in self.owner.iter().zip(&q.scales).enumerate() {
            if allowed(owner) {
                let s = dot_i8(&q.rows[row * dim..(row + 1) * dim], &qp) as f32 * scale * ps;
                approx[owner] = approx[owner].max(s);
            }
        }
        let mut order: Vec<usize> = (0..approx.len()).filter(|&i| approx[i] > f32::NEG_INFINITY).collect();
        let k = SHORTLIST.min(order.len());
        if k > 0 {
            order.select_nth_unstable_by(k - 1, |&a, &b| approx[b].total_cmp(&approx[a]));
        }
        let mut exact = vec![f32::NEG_INFINITY; self.people.len()];
        let probe = ArrayView1::from(probe);
        for &person in &order[..k] {
            for &row in &self.rows_of[person] {
                exact[person] = exact[person].max(self.templates.row(row).dot(&probe));
            }
        }
        exact
    }

    fn update_mean(&mut self, person: usize) {
        let mut mean = Array1::<f32>::zeros(self.templates.ncols());
        for &row in &self.rows_of[person] {
            mean += &self.templates.row(row);
        }
        let mut v = mean.to_vec();
        crate::vision::embed::l2_normalise(&mut v);
        self.means.row_mut(person).assign(&ArrayView1::from(&v));
    }

    /// A track's candidates: for each kept frame (its quality and embedding), and for the
    /// frames' quality-weighted mean embedding, among `group` when a session names one. The
    /// engine and the open-set calibration both match tracks through here.
    pub fn track_candidates(
        &self,
        frames: &[(f32, &Embedding)],
        group: Option<&str>,
        score: PersonScore,
    ) -> Result<(Vec<Candidates>, Candidates), CompareError> {
        let mut each = Vec::with_capacity(frames.len());
        let mut sum = vec![0.0f32; self.templates.ncols()];
        for (quality, e) in frames {
            sum.iter_mut().zip(&e.vector).for_each(|(s, v)| *s += quality * v);
            each.push(self.search_in(e, group, score)?);
        }
        l2_normalise(&mut sum);
        let mean = Embedding {
            recognizer: self.recognizer.clone(),
            vector: sum,
        };
        Ok((each, self.search_in(&mean, group, score)?))
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
        let in_group = |person: usize| group.is_none_or(|g| self.groups[person].iter().any(|x| x == g));
        match (score, self.quantized.as_ref()) {
            (PersonScore::Best, Some(q)) => {
                per_person = self.best_per_person_int8(q, &probe.vector, &in_group);
            }
            (PersonScore::Best, None) => {
                let sims: Array1<f32> = self.templates.dot(&probe_view);
                for (&owner, &s) in self.owner.iter().zip(sims.iter()) {
                    per_person[owner] = per_person[owner].max(s);
                }
            }
            (PersonScore::Mean, _) => {
                per_person = self.means.dot(&probe_view).to_vec();
            }
        }
        for (i, p) in per_person.iter_mut().enumerate() {
            if !in_group(i) {
                *p = f32::NEG_INFINITY;
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
    fn int8_search_agrees_with_exact_search() {
        let mut g = Gallery::new("r".into(), 64);
        let vec = |seed: usize| {
            let mut v: Vec<f32> = (0..64).map(|i| ((i * 7 + seed * 13) as f32 * 0.61).sin()).collect();
            crate::vision::embed::l2_normalise(&mut v);
            v
        };
        for p in 0..300 {
            g.add_with_groups(&format!("p{p}"), &[format!("g{}", p % 3)], &e(&vec(p)))
                .unwrap();
        }
        let probes: Vec<Embedding> = (0..50).map(|i| e(&vec(i * 5))).collect();
        let exact: Vec<Candidates> = probes
            .iter()
            .map(|p| g.search_in(p, Some("g1"), PersonScore::Best).unwrap())
            .collect();
        g.enable_int8();
        g.add_with_groups("late", &[], &e(&vec(9999))).unwrap();
        for (p, want) in probes.iter().zip(&exact) {
            let got = g.search_in(p, Some("g1"), PersonScore::Best).unwrap();
            assert_eq!(got.best.as_ref().map(|b| &b.0), want.best.as_ref().map(|b| &b.0));
            assert!(
                (got.best.unwrap().1 - want.best.clone().unwrap().1).abs() < 1e-5,
                "re-scored exactly"
            );
        }
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
