//! `rollcall bench [PHOTO|DIR]...`: per-stage timing of the face analyzer.

use std::path::PathBuf;

use super::{CliError, ModelArgs};
use rollcall::config::{Config, Precision};
use rollcall::vision::analyze::FaceAnalyzer;
use rollcall::vision::bench::Speedup;

/// Arguments of `rollcall bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Photos or folders of photos (searched recursively for .jpg, .jpeg, .png).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Timed rounds over all photos (after one warm-up round).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Also run the FP32 models, taking turns photo by photo, and print how many times faster
    /// the configured precision is, stage by stage.
    #[arg(long)]
    pub against_fp32: bool,
    #[command(flatten)]
    models: ModelArgs,
}

/// Photos under `paths`, sorted.
pub fn collect_photos(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    fn walk(p: &std::path::Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if p.is_dir() {
            for entry in std::fs::read_dir(p)? {
                walk(&entry?.path(), out)?;
            }
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if !p.exists() {
            return Err(CliError::Usage(format!("{} does not exist", p.display())));
        }
        walk(p, &mut out).map_err(|source| CliError::Read {
            path: p.clone(),
            source,
        })?;
    }
    out.sort();
    if out.is_empty() {
        return Err(CliError::Usage(
            "no .jpg, .jpeg or .png photos found in the given paths".into(),
        ));
    }
    Ok(out)
}

/// Runs `rollcall bench`.
pub fn run(mut config: Config, args: Args) -> Result<(), CliError> {
    args.models.apply(&mut config);
    let photos = collect_photos(&args.paths)?;
    let mut analyzer = FaceAnalyzer::from_config(&config)?;
    let antispoof = if config.models.antispoof.is_empty() {
        "none".to_string()
    } else {
        config.models.antispoof.join("+")
    };
    outln!(
        "rollcall bench: detector {}, recognizer {}, anti-spoof {antispoof}, {} inference threads",
        config.models.detector,
        config.models.recognizer,
        config
            .runtime
            .threads
            .map_or_else(|| "one per core".to_string(), |t| t.to_string()),
    );
    let models: Vec<String> = analyzer.placements().iter().map(ToString::to_string).collect();
    let built_in: Vec<&str> = rollcall::vision::model::built_in().iter().map(|p| p.as_str()).collect();
    outln!(
        "models: {}; this ONNX Runtime has {}",
        models.join(", "),
        built_in.join(", ")
    );
    // Figures on a runtime whose PReLU is rewritten are not comparable with figures of one whose
    // is not (docs/speed.md, PReLU): say which.
    let runtime =
        rollcall::vision::model::Runtime::load(&rollcall::vision::model::RuntimeSettings::from_config(&config))?;
    outln!(
        "ONNX Runtime {} ({}); PReLU {}",
        runtime.version().map_or_else(
            || "of unknown version".to_string(),
            |(major, minor)| format!("{major}.{minor}")
        ),
        runtime.library().display(),
        if runtime.rewrites_prelu() {
            "rewritten for it"
        } else {
            "as each file has it"
        }
    );
    let rounds = args.rounds.max(1);
    if !args.against_fp32 {
        let report = rollcall::vision::bench::photos(&mut analyzer, &photos, rounds, config.images.max_pixels)?;
        out!("{report}");
        return Ok(());
    }
    let mut fp32 = config.clone();
    fp32.models.precision = Precision::Fp32;
    let mut baseline = FaceAnalyzer::from_config(&fp32)?;
    let benches = rollcall::vision::bench::interleaved(
        &mut [&mut baseline, &mut analyzer],
        &photos,
        rounds,
        config.images.max_pixels,
    )?;
    if let [fp32, configured] = &benches[..] {
        let label = format!("{}", config.models.precision);
        out!(
            "{}",
            Speedup {
                baseline: ("fp32", fp32),
                candidate: (&label, configured),
            }
        );
    }
    Ok(())
}
