//! A session for one described model, checked against its description at load.

use std::path::{Path, PathBuf};

use ndarray::ArrayView4;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};

use super::{ModelError, Runtime};
use crate::config::{ModelFamily, ModelKind, ModelSpec, Provider};

/// The most input pixels one run of several faces takes: 5 faces of SFace's 112x112, 10 of
/// MiniFASNet's 80x80. ONNX Runtime keeps the memory of the largest run it has made, and per
/// face, bigger batches gain little more (`cargo bench --bench batch`): SFace's runs of 16 held
/// about 120 MB more than single runs, its runs of 4 about 13 MB.
pub const MAX_BATCH_PIXELS: usize = 65_536;

/// One output tensor, copied out of the session so callers hold no runtime borrows.
#[derive(Debug, Clone)]
pub struct OutputTensor {
    /// Dimensions as the model reported them for this run.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// A loaded model: its description, its session, and what the checks learned about its shape.
pub struct OnnxModel {
    spec: ModelSpec,
    path: PathBuf,
    session: Session,
    input_name: String,
    /// The model's batch dimension is dynamic, so several faces can go in one run.
    batched: bool,
    /// The model's height and width are dynamic (SCRFD): any size its strides divide.
    free_size: bool,
    /// The execution provider it runs on.
    provider: Provider,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("name", &self.spec.name)
            .field("path", &self.path)
            .finish()
    }
}

/// Input or output dimensions as the model declares them; -1 is dynamic.
fn dims(dtype: &ValueType) -> Option<(TensorElementType, Vec<i64>)> {
    match dtype {
        ValueType::Tensor { ty, shape, .. } => Some((*ty, shape.to_vec())),
        _ => None,
    }
}

fn fits(declared: i64, wanted: usize) -> bool {
    declared < 0 || declared as usize == wanted
}

impl OnnxModel {
    /// Loads `spec`'s file from `dir` and checks it against the description.
    pub fn load(runtime: &Runtime, spec: &ModelSpec, dir: &Path) -> Result<OnnxModel, ModelError> {
        spec.validate()?;
        let path = if spec.file.is_absolute() {
            spec.file.clone()
        } else {
            dir.join(&spec.file)
        };
        if !path.is_file() {
            return Err(ModelError::FileMissing {
                name: spec.name.clone(),
                path,
            });
        }
        let failed = |reason: String| ModelError::LoadFailed {
            name: spec.name.clone(),
            path: path.clone(),
            reason,
        };
        let session_of = |model: &[u8]| -> Result<(Session, Provider), ModelError> {
            let mut builder = Session::builder(runtime.environment())
                .map_err(|e| failed(e.to_string()))?
                // Every optimization. Not ort's `Level3`: that is ONNX Runtime's
                // `ORT_ENABLE_LAYOUT`, a level the releases a Jetson may have (1.20 and older)
                // refuse as "not valid", while `ORT_ENABLE_ALL` means everything on every release.
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(|e| failed(e.to_string()))?
                // A memory pattern plans one block per input shape seen and keeps it for good: the
                // daemon bench at 4 cameras peaks at 236 MB without, 280 MB with, for about 4% of
                // analysed frames (docs/int8.md, memory).
                .with_memory_pattern(false)
                .map_err(|e| failed(e.to_string()))?
                .with_parallel_execution(runtime.parallel())
                .map_err(|e| failed(e.to_string()))?;
            let provider = super::provider::register(
                &mut builder,
                runtime.providers(),
                &runtime.library().display().to_string(),
            )?;
            let session = builder.commit_from_memory(model).map_err(|e| failed(e.to_string()))?;
            Ok((session, provider))
        };
        let bytes = std::fs::read(&path).map_err(|e| failed(e.to_string()))?;
        // The bytes checked are the bytes loaded: nothing can swap the file in between.
        super::integrity::check_model(spec, &path, &bytes)?;
        let bytes = super::onnx_edit::weights_as_constants(&bytes).unwrap_or(bytes);
        let bytes = match runtime
            .rewrites_prelu()
            .then(|| super::onnx_edit::prelu_as_relu_and_scales(&bytes))
            .flatten()
        {
            Some(rewritten) => {
                tracing::debug!(model = %spec.name, "PReLU rewritten for this ONNX Runtime's kernels");
                rewritten
            }
            None => bytes,
        };
        let of = |(session, provider)| OnnxModel {
            spec: spec.clone(),
            path: path.clone(),
            input_name: String::new(),
            batched: false,
            free_size: false,
            provider,
            session,
        };
        // Faces only: a fixed-size detector's tiles in one run held twice the memory and ran no
        // faster (yunet-2023mar on two large photos: 601 MB against 299 MB; docs/speed.md).
        let faces = spec.kind != ModelKind::Detector;
        if let Some(batched) = faces.then(|| super::onnx_edit::free_batch(&bytes)).flatten() {
            let mut model = of(session_of(&batched)?);
            model.check_against_description()?;
            match model.batch_matches_single_runs() {
                Ok(()) => {
                    tracing::debug!(model = %spec.name, "batch freed in memory: several inputs a run");
                    return Ok(model);
                }
                Err(why) => tracing::warn!(
                    model = %spec.name,
                    %why,
                    "this model cannot take several faces a run: one face a run"
                ),
            }
        }
        let mut model = of(session_of(&bytes)?);
        model.check_against_description()?;
        Ok(model)
    }

    /// Whether a batch of two inputs gives what the two give in runs of their own: the proof that
    /// freeing the batch ([`super::onnx_edit::free_batch`]) changed nothing. The inputs are
    /// deterministic noise over the pixel range, distinct from each other.
    fn batch_matches_single_runs(&mut self) -> Result<(), String> {
        let input = &self.spec.input;
        let (h, w) = (input.height as usize, input.width as usize);
        let (mean, std) = (input.mean, input.std);
        let mut state = 0x5eed_u64;
        let batch = ndarray::Array4::from_shape_simple_fn((2, 3, h, w), || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 56) as f32 - mean) / std
        });
        let fail = |e: ModelError| e.to_string();
        let together = self.run(batch.view()).map_err(fail)?;
        for item in 0..2 {
            let alone = self
                .run(batch.slice(ndarray::s![item..item + 1, .., .., ..]))
                .map_err(fail)?;
            if alone.len() != together.len() {
                return Err(format!("{} outputs alone, {} in a batch", alone.len(), together.len()));
            }
            for (k, (a, t)) in alone.iter().zip(&together).enumerate() {
                let n = a.data.len();
                let part = t.data.get(item * n..(item + 1) * n).filter(|_| t.data.len() == 2 * n);
                let Some(part) = part else {
                    return Err(format!(
                        "output {k} has {} values for two inputs, {n} for one",
                        t.data.len()
                    ));
                };
                let worst = a
                    .data
                    .iter()
                    .zip(part)
                    .map(|(x, y)| {
                        let gap = (x - y).abs() / (1.0 + x.abs());
                        // NaN in either run is a difference too (f32::max would skip it).
                        if gap.is_nan() { f32::INFINITY } else { gap }
                    })
                    .fold(0.0f32, f32::max);
                // Exact in practice (the same kernels run either way); a wrong edit mixes the
                // inputs and misses by whole units.
                if worst > 1e-4 {
                    return Err(format!(
                        "output {k} differs by {worst} between a batch and a single run"
                    ));
                }
            }
        }
        Ok(())
    }

    fn mismatch(&self, what: String) -> ModelError {
        ModelError::Mismatch {
            name: self.spec.name.clone(),
            path: self.path.clone(),
            mismatch: what,
        }
    }

    /// Refuses a file whose inputs or outputs contradict the description.
    fn check_against_description(&mut self) -> Result<(), ModelError> {
        self.check_input()?;
        self.check_outputs()
    }

    /// One float32 NCHW input of the described size; notes whether it takes batches and any size.
    fn check_input(&mut self) -> Result<(), ModelError> {
        let spec = &self.spec;
        let inputs = self.session.inputs();
        if inputs.len() != 1 {
            return Err(self.mismatch(format!(
                "it has {} inputs, a {} model has exactly 1",
                inputs.len(),
                spec.kind
            )));
        }
        let input_name = inputs[0].name().to_string();
        let Some((ty, shape)) = dims(inputs[0].dtype()) else {
            return Err(self.mismatch(format!("input `{input_name}` is not a tensor")));
        };
        if ty != TensorElementType::Float32 {
            return Err(self.mismatch(format!("input `{input_name}` is {ty:?}, expected float32")));
        }
        if shape.len() != 4 || !fits(shape[1], 3) {
            return Err(self.mismatch(format!(
                "input `{input_name}` has shape {shape:?}, expected [N, 3, H, W]"
            )));
        }
        let (w, h) = (spec.input.width as usize, spec.input.height as usize);
        if !fits(shape[2], h) || !fits(shape[3], w) {
            return Err(self.mismatch(format!(
                "input `{input_name}` is {}x{} (HxW) but the description says {h}x{w}",
                shape[2], shape[3]
            )));
        }
        self.batched = shape[0] < 0;
        self.free_size = shape[2] < 0 && shape[3] < 0;
        self.input_name = input_name;
        Ok(())
    }

    /// Outputs of the number and widths the description's kind and family promise.
    fn check_outputs(&self) -> Result<(), ModelError> {
        let spec = &self.spec;
        let outputs: Vec<(String, Vec<i64>)> = self
            .session
            .outputs()
            .iter()
            .map(|o| {
                (
                    o.name().to_string(),
                    dims(o.dtype()).map(|(_, s)| s).unwrap_or_default(),
                )
            })
            .collect();
        let last = |i: usize| outputs[i].1.last().copied().unwrap_or(-1);
        match spec.kind {
            ModelKind::Detector => {
                let strides = spec.detector.as_ref().map_or(0, |d| d.strides.len());
                // YuNet: cls, obj, bbox, kps per stride; SCRFD: score, bbox, kps per stride.
                let widths: &[usize] = match spec.family {
                    ModelFamily::Yunet => &[1, 1, 4, 10],
                    _ => &[1, 4, 10],
                };
                if outputs.len() != widths.len() * strides {
                    return Err(self.mismatch(format!(
                        "it has {} outputs, a {:?} detector with {strides} strides has {}",
                        outputs.len(),
                        spec.family,
                        widths.len() * strides
                    )));
                }
                for (i, (name, _)) in outputs.iter().enumerate() {
                    let want = widths[i / strides];
                    if !fits(last(i), want) {
                        return Err(self.mismatch(format!(
                            "output {i} `{name}` has {} values per anchor, expected {want}",
                            last(i)
                        )));
                    }
                }
            }
            ModelKind::Recognizer | ModelKind::Antispoof | ModelKind::Landmarks => {
                let want = match spec.kind {
                    ModelKind::Recognizer => spec.recognizer.as_ref().map_or(0, |r| r.dim),
                    ModelKind::Antispoof => spec.antispoof.as_ref().map_or(0, |a| a.classes),
                    _ => 212,
                };
                if outputs.len() != 1 {
                    return Err(self.mismatch(format!("it has {} outputs, expected 1", outputs.len())));
                }
                if !fits(last(0), want) {
                    let what = match spec.kind {
                        ModelKind::Recognizer => "dim",
                        ModelKind::Antispoof => "classes",
                        _ => "values",
                    };
                    return Err(self.mismatch(format!(
                        "output `{}` has {} values per face, but the description says {what} = {want}",
                        outputs[0].0,
                        last(0)
                    )));
                }
            }
        }
        Ok(())
    }

    /// The description this model was loaded with.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// True when the model takes any input height and width.
    pub fn has_free_size(&self) -> bool {
        self.free_size
    }

    /// The execution provider the session got: the first of `[runtime] providers` that the
    /// library has and that started, else the CPU.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// True when one run can take several faces.
    pub fn is_batched(&self) -> bool {
        self.batched
    }

    /// The first output's values for every item of `batch`, item after item: in runs of up to
    /// [`MAX_BATCH_PIXELS`] when the model takes batches, else one run per item.
    pub fn run_items(&mut self, batch: ArrayView4<'_, f32>) -> Result<Vec<f32>, ModelError> {
        let (n, _, h, w) = batch.dim();
        let step = if self.batched {
            (MAX_BATCH_PIXELS / (h * w).max(1)).max(1)
        } else {
            1
        };
        let mut values = Vec::new();
        for start in (0..n).step_by(step) {
            let part = batch.slice(ndarray::s![start..(start + step).min(n), .., .., ..]);
            let mut outputs = self.run(part)?;
            if outputs.is_empty() {
                return Err(ModelError::Inference {
                    name: self.spec.name.clone(),
                    reason: "the model gave no output".into(),
                });
            }
            values.extend(outputs.swap_remove(0).data);
        }
        Ok(values)
    }

    /// Runs the model on one NCHW batch and copies every output out.
    pub fn run(&mut self, input: ArrayView4<'_, f32>) -> Result<Vec<OutputTensor>, ModelError> {
        let name = &self.spec.name;
        let fail = |e: ort::Error| ModelError::Inference {
            name: name.clone(),
            reason: e.to_string(),
        };
        let tensor = TensorRef::from_array_view(input).map_err(fail)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(fail)?;
        let mut copied = Vec::with_capacity(outputs.len());
        for (_, value) in outputs.iter() {
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(fail)?;
            copied.push(OutputTensor {
                shape: shape.iter().map(|&d| d.max(0) as usize).collect(),
                data: data.to_vec(),
            });
        }
        Ok(copied)
    }
}
