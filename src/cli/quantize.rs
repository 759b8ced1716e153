//! `rollcall models quantize`: INT8 builds of the catalogue's models, calibrated on photos.
//!
//! rollcall prepares the calibration tensors itself (the very inputs analysis feeds each model,
//! so the quantizer sees what the model will be given), and ONNX Runtime's own Python tools
//! quantize (`scripts/quantize_models.py`, compiled in). Each build is then compared with the
//! sha256 the catalogue records for the build that passed the gates on the reference machine.
//!
//! The tensors are face crops: they live in an owner-only temporary folder for the length of
//! the run and are deleted after it, whatever happens. Calibrate on sample photos (the shared
//! set), never on students.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::CliError;
use rollcall::config::{Catalogue, Config, ModelKind, ModelSpec, Precision};
use rollcall::vision::analyze::FaceAnalyzer;

/// The quantize script, as shipped in scripts/.
const QUANTIZE_SCRIPT: &str = include_str!("../../scripts/quantize_models.py");

/// The Python environment `scripts/setup.sh` makes for quantizing, relative to the working
/// directory; used when it exists and `--python` is not given.
const SETUP_PYTHON: &str = ".local/quantize-venv/bin/python";

/// Detector calibration tensors are whole letterboxed frames (5 MB each at 640x640): this many
/// photos, spread over the set, are enough for their ranges.
const DETECTOR_TENSORS: usize = 40;
/// At most this many tensors per face model.
const FACE_TENSORS: usize = 400;

/// Arguments of `rollcall models quantize`.
#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    /// Photos or folders to calibrate on. Default: the shared faces ($ROLLCALL_SHARED/faces,
    /// else ../shared/faces) but their 3500 distractors, which the gates keep as unseen photos.
    photos: Vec<PathBuf>,
    /// Catalogue models to quantize. Default: every detector, recognizer and anti-spoofing
    /// model of the catalogue that is not marked `quantize = false`.
    #[arg(long = "model")]
    models: Vec<String>,
    /// The Python with ONNX Runtime's quantization tools. Default: .local/quantize-venv/bin/python
    /// when it exists (scripts/setup.sh makes it), else python3.
    #[arg(long)]
    python: Option<PathBuf>,
    /// How activation ranges are calibrated. `auto`: the 99.999th percentile, or MinMax for a
    /// detector fed frames of several shapes, which the percentile calibrator cannot stack.
    /// `minmax` stretches each range to its extremes; it makes worse builds, and the gates' own
    /// test uses it to make one on purpose.
    #[arg(long, value_enum, default_value_t = Calibration::Auto)]
    calibration: Calibration,
}

/// The calibration method of `rollcall models quantize --calibration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Calibration {
    /// The 99.999th percentile where the tensors share a shape, else MinMax.
    Auto,
    /// Every activation's range from its smallest to its largest value.
    Minmax,
}

/// One model to quantize and its calibration tensors so far.
struct Job {
    spec: ModelSpec,
    tensors: Vec<serde_json::Value>,
}

/// The shared photos' folder, as the tests find it.
fn shared_faces() -> PathBuf {
    let shared = std::env::var_os("ROLLCALL_SHARED").map_or_else(|| PathBuf::from("../shared"), PathBuf::from);
    shared.join("faces")
}

/// The photos to calibrate on.
fn calibration_photos(args: &QuantizeArgs) -> Result<Vec<PathBuf>, CliError> {
    if !args.photos.is_empty() {
        return super::bench::collect_photos(&args.photos);
    }
    let all = super::bench::collect_photos(&[shared_faces()])?;
    Ok(all
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "distractors"))
        .collect())
}

/// The jobs `args` asks for, in catalogue order.
fn jobs(config: &Config, args: &QuantizeArgs) -> Result<Vec<Job>, CliError> {
    let catalogue = Catalogue::builtin()
        .with(&config.models.custom)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    for name in &args.models {
        match catalogue.iter().find(|s| s.name == *name) {
            None => {
                return Err(CliError::Usage(format!(
                    "--model {}: no such model in the catalogue",
                    rollcall::untrusted::summary(name)
                )));
            }
            Some(s) if !s.quantizable() => {
                return Err(CliError::Usage(format!(
                    "--model {name}: not quantized (landmark models never are; otherwise its entry in the catalogue says \
                     `quantize = false`, and why)"
                )));
            }
            Some(_) => {}
        }
    }
    let wanted = |s: &ModelSpec| args.models.is_empty() || args.models.contains(&s.name);
    let jobs: Vec<Job> = catalogue
        .iter()
        .filter(|s| wanted(s) && s.quantizable())
        .map(|s| Job {
            spec: s.clone(),
            tensors: Vec::new(),
        })
        .collect();
    if jobs.is_empty() {
        return Err(CliError::Usage("no model to quantize (landmark models are not)".into()));
    }
    Ok(jobs)
}

/// An FP32 analyzer and the jobs whose calibration tensors it supplies.
struct Calibrator {
    analyzer: FaceAnalyzer,
    owns: Vec<String>,
}

/// FP32 analyzers that between them run every job's model, each job's tensors taken from one.
///
/// Face models are calibrated on the faces the config's own detector finds, whichever other
/// models are asked for in the same run: the crops a recognizer sees depend on the detector's
/// boxes and landmarks, so a build must not depend on the `--model` set. That is also the
/// detector the gates pair them with. Each detector is calibrated on its own frames.
fn calibrators(config: &Config, jobs: &[Job]) -> Result<Vec<Calibrator>, CliError> {
    let named = |kind: ModelKind| -> Vec<String> {
        jobs.iter()
            .filter(|j| j.spec.kind == kind)
            .map(|j| j.spec.name.clone())
            .collect()
    };
    let build = |detector: &str, recognizer: &str, antispoof: Vec<String>, owns: Vec<String>| {
        let mut c = config.clone();
        c.models.precision = Precision::Fp32;
        c.models.detector = detector.to_string();
        c.models.recognizer = recognizer.to_string();
        c.models.antispoof = antispoof;
        c.models.landmarks = None;
        let analyzer = FaceAnalyzer::from_config(&c).map_err(CliError::from)?;
        Ok::<_, CliError>(Calibrator { analyzer, owns })
    };
    let (ours, our_recognizer) = (&config.models.detector, &config.models.recognizer);
    let mut calibrators = Vec::new();
    for detector in named(ModelKind::Detector) {
        calibrators.push(build(&detector, our_recognizer, Vec::new(), vec![detector.clone()])?);
    }
    let antispoof = named(ModelKind::Antispoof);
    let mut recognizers = named(ModelKind::Recognizer);
    if recognizers.is_empty() && !antispoof.is_empty() {
        recognizers.push(our_recognizer.clone());
    }
    for (i, recognizer) in recognizers.iter().enumerate() {
        // Anti-spoofing crops do not depend on the recognizer: one pass gathers them.
        let spoof = if i == 0 { antispoof.clone() } else { Vec::new() };
        let mut owns = spoof.clone();
        if jobs.iter().any(|j| j.spec.name == *recognizer) {
            owns.push(recognizer.clone());
        }
        calibrators.push(build(ours, recognizer, spoof, owns)?);
    }
    Ok(calibrators)
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Writes the calibration tensors of every job into `dir`.
fn gather(config: &Config, photos: &[PathBuf], jobs: &mut [Job], dir: &Path) -> Result<(), CliError> {
    let detector_every = photos.len().div_ceil(DETECTOR_TENSORS).max(1);
    for Calibrator { mut analyzer, owns } in calibrators(config, jobs)? {
        let detector_only = jobs
            .iter()
            .filter(|j| owns.contains(&j.spec.name))
            .all(|j| j.spec.kind == ModelKind::Detector);
        for (i, photo) in photos.iter().enumerate() {
            if detector_only && i % detector_every != 0 {
                continue;
            }
            let image = match rollcall::capture::image::load(photo, config.images.max_pixels) {
                Ok(image) => rollcall::capture::image::with_room(image)
                    .map_err(|e| CliError::Usage(format!("cannot pad {}: {e}", photo.display())))?,
                Err(e) => {
                    eprintln!("skipping {}: {e}", photo.display());
                    continue;
                }
            };
            for (model, tensor) in analyzer.model_inputs(&image)? {
                let Some(job) = jobs.iter_mut().find(|j| j.spec.name == model && owns.contains(&model)) else {
                    continue;
                };
                let full = match job.spec.kind {
                    ModelKind::Detector => i % detector_every != 0 || job.tensors.len() >= DETECTOR_TENSORS,
                    _ => job.tensors.len() >= FACE_TENSORS,
                };
                if full {
                    continue;
                }
                let file = format!("{model}-{}.f32", job.tensors.len());
                let bytes: Vec<u8> = tensor.iter().flat_map(|v| v.to_le_bytes()).collect();
                std::fs::write(dir.join(&file), bytes).map_err(|e| write_err(&dir.join(&file), e))?;
                job.tensors
                    .push(serde_json::json!({ "file": file, "shape": tensor.shape() }));
            }
        }
    }
    Ok(())
}

fn sha256_of(path: &Path) -> Result<String, CliError> {
    let bytes = std::fs::read(path).map_err(|source| CliError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(rollcall::vision::model::integrity::sha256_hex(&bytes))
}

/// Runs `rollcall models quantize`.
pub fn run(config: &Config, args: QuantizeArgs) -> Result<(), CliError> {
    let photos = calibration_photos(&args)?;
    let mut jobs = jobs(config, &args)?;
    // Removed however the run ends, Ctrl-C included.
    let scratch = super::workdir::WorkDir::new("rollcall-quantize")?;
    outln!(
        "calibrating {} on {} photos",
        jobs.iter().map(|j| j.spec.name.as_str()).collect::<Vec<_>>().join(", "),
        photos.len()
    );
    gather(config, &photos, &mut jobs, scratch.path())?;
    let models_dir = &config.models.dir;
    let plan = serde_json::json!({
        "models": jobs.iter().map(|j| serde_json::json!({
            "name": j.spec.name,
            "fp32": models_dir.join(&j.spec.file),
            "int8": models_dir.join(j.spec.int8_file()),
            "tensors": j.tensors,
        })).collect::<Vec<_>>(),
        "calibration": match args.calibration {
            Calibration::Auto => "auto",
            Calibration::Minmax => "minmax",
        },
    });
    let plan_path = scratch.write("plan.json", &plan.to_string())?;
    let script = scratch.write("quantize_models.py", QUANTIZE_SCRIPT)?;

    let python = args.python.clone().unwrap_or_else(|| {
        let setup = PathBuf::from(SETUP_PYTHON);
        if setup.is_file() {
            setup
        } else {
            PathBuf::from("python3")
        }
    });
    let status = super::workdir::run_to_end(Command::new(&python).arg(&script).arg("--plan").arg(&plan_path));
    drop(scratch);
    match status {
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(CliError::Interrupted),
        Err(e) => {
            return Err(CliError::Usage(format!(
                "cannot run {} ({e}): quantizing needs Python with scripts/requirements-quantize.txt",
                python.display()
            )));
        }
        Ok(s) if !s.success() => {
            return Err(CliError::PartlyFailed(
                "quantizing failed; see the messages above".into(),
            ));
        }
        Ok(_) => {}
    }
    for job in &jobs {
        let built = sha256_of(&models_dir.join(job.spec.int8_file()))?;
        let reference = job.spec.int8.as_ref().and_then(|i| i.sha256.as_deref());
        match reference {
            Some(r) if r == built => outln!("{}: identical to the gated reference build", job.spec.name),
            Some(_) => outln!(
                "{}: differs from the gated reference build (sha256 {built}); run the gates before trusting it: cargo test --release --test it int8_gates -- --ignored",
                job.spec.name
            ),
            None => outln!(
                "{}: built (sha256 {built}); it did not pass the gates (docs/int8.md), so no precision setting loads it",
                job.spec.name
            ),
        }
    }
    Ok(())
}
