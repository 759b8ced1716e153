//! Recognition: aligned faces in, L2-normalised embeddings tagged with their recognizer out.

use std::sync::Arc;

use ndarray::{Array4, Axis};
use opencv::core::Mat;
use serde::Serialize;

use crate::vision::model::{ModelError, OnnxModel, fill_chw};

/// One face's embedding, carrying the id of the recognizer that made it: embeddings of different
/// models live in different spaces and must never be compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Embedding {
    /// Recognizer id, e.g. `sface-2021dec`.
    pub recognizer: Arc<str>,
    /// Unit-length vector.
    pub vector: Vec<f32>,
}

/// Why two embeddings cannot be compared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompareError {
    /// They come from different recognizers.
    #[error("cannot compare an embedding from `{0}` with one from `{1}`: different recognizers")]
    DifferentRecognizers(String, String),
    /// Same recognizer id but different lengths: a corrupt template.
    #[error("embeddings of `{recognizer}` have different lengths ({a} and {b})")]
    DifferentLengths { recognizer: String, a: usize, b: usize },
}

/// Why an embedding cannot be a gallery template.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// Made by another recognizer.
    #[error(transparent)]
    Incompatible(#[from] CompareError),
    /// NaN or infinity in the vector.
    #[error("template for `{0}` has non-finite values")]
    NonFinite(String),
}

impl Embedding {
    /// Checks that this embedding can be compared with vectors of `recognizer` and length `dim`.
    pub fn check_compatible(&self, recognizer: &str, dim: usize) -> Result<(), CompareError> {
        if *self.recognizer != *recognizer {
            return Err(CompareError::DifferentRecognizers(
                self.recognizer.to_string(),
                recognizer.to_string(),
            ));
        }
        if self.vector.len() != dim {
            return Err(CompareError::DifferentLengths {
                recognizer: recognizer.to_string(),
                a: self.vector.len(),
                b: dim,
            });
        }
        Ok(())
    }

    /// Cosine similarity (a dot product: both are unit length), refusing cross-model comparisons.
    pub fn similarity(&self, other: &Embedding) -> Result<f32, CompareError> {
        self.check_compatible(&other.recognizer, other.vector.len())?;
        Ok(self.vector.iter().zip(&other.vector).map(|(a, b)| a * b).sum())
    }
}

/// Scales `v` to unit length; a zero vector stays zero (it then matches nothing).
pub fn l2_normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// A loaded recognizer.
#[derive(Debug)]
pub struct Recognizer {
    model: OnnxModel,
    id: Arc<str>,
    dim: usize,
    threshold: f32,
}

impl Recognizer {
    /// Wraps a loaded recognizer model; `threshold` overrides the description's default.
    pub fn new(model: OnnxModel, threshold: Option<f32>) -> Result<Recognizer, ModelError> {
        let spec = model.spec();
        let r = spec.recognizer.clone().ok_or_else(|| {
            ModelError::bad_description(spec.name.clone(), "a recognizer needs a `recognizer` table".into())
        })?;
        Ok(Recognizer {
            id: Arc::from(spec.name.as_str()),
            dim: r.dim,
            threshold: threshold.unwrap_or(r.threshold),
            model,
        })
    }

    /// The id every embedding of this recognizer carries.
    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    /// Embedding length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Cosine similarity at or above which two faces are judged the same person.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Whether several faces go in one run.
    pub fn takes_batches(&self) -> bool {
        self.model.is_batched()
    }

    /// Side of the square aligned crop this model takes.
    pub fn crop_size(&self) -> u32 {
        self.model.spec().input.width
    }

    /// Packs aligned crops into one NCHW batch.
    pub fn prepare(&self, aligned: &[Mat]) -> Result<Array4<f32>, ModelError> {
        let spec = &self.model.spec().input;
        let mut batch = Array4::<f32>::zeros((aligned.len(), 3, spec.height as usize, spec.width as usize));
        for (crop, slot) in aligned.iter().zip(batch.axis_iter_mut(Axis(0))) {
            fill_chw(crop, spec, slot).map_err(|source| ModelError::OpenCv {
                name: self.id.to_string(),
                source,
            })?;
        }
        Ok(batch)
    }

    /// Runs the model alone on a prepared batch: in runs of several faces when the model takes
    /// batches, else one run per face.
    pub fn infer(&mut self, batch: &Array4<f32>) -> Result<Vec<Embedding>, ModelError> {
        let n = batch.len_of(Axis(0));
        if n == 0 {
            return Ok(Vec::new());
        }
        let raw = self.model.run_items(batch.view())?;
        if raw.len() != n * self.dim {
            return Err(ModelError::Inference {
                name: self.id.to_string(),
                reason: format!("expected {n} x {} values, got {}", self.dim, raw.len()),
            });
        }
        Ok(raw
            .chunks_exact(self.dim)
            .map(|chunk| {
                let mut vector = chunk.to_vec();
                l2_normalise(&mut vector);
                Embedding {
                    recognizer: self.id.clone(),
                    vector,
                }
            })
            .collect())
    }

    /// Embeds aligned crops, batched.
    pub fn embed(&mut self, aligned: &[Mat]) -> Result<Vec<Embedding>, ModelError> {
        let batch = self.prepare(aligned)?;
        self.infer(&batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_of_different_recognizers_are_never_compared() {
        let a = Embedding {
            recognizer: "sface-2021dec".into(),
            vector: vec![1.0, 0.0],
        };
        let b = Embedding {
            recognizer: "arcface-w600k-mbf".into(),
            vector: vec![1.0, 0.0],
        };
        assert!(matches!(a.similarity(&b), Err(CompareError::DifferentRecognizers(..))));
        let c = Embedding {
            recognizer: "sface-2021dec".into(),
            vector: vec![0.6, 0.8],
        };
        assert!((a.similarity(&c).unwrap() - 0.6).abs() < 1e-6);
        let d = Embedding {
            recognizer: "sface-2021dec".into(),
            vector: vec![1.0],
        };
        assert!(matches!(a.similarity(&d), Err(CompareError::DifferentLengths { .. })));
    }
}
