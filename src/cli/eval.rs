//! `rollcall eval`: a video through the same engine as the daemon, as fast as it goes, with a
//! roster enrolled from photos; prints what became of each track and a summary.
//!
//! Nothing is written: the roster's templates live in an in-memory store with a fresh key, and
//! nothing is published. Sessions are left out (every recognised track counts, once per person),
//! so the report says what the models and rules made of the footage, not of a timetable.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::CliError;
use super::enroll::{batch_from_csv, enroll_batch};
use rollcall::attend::engine::Engine;
use rollcall::attend::eval::{Evaluation, evaluate};
use rollcall::capture::FileFrames;
use rollcall::config::{Config, OutsideSessions};
use rollcall::store::{Key, Store};
use rollcall::vision::analyze::FaceAnalyzer;

/// Arguments of `rollcall eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The video (any file GStreamer can play: .mp4, .mkv, .webm, ...).
    pub video: PathBuf,
    /// The people to enroll: a CSV of `id,name,path` rows, photo paths relative to the CSV.
    #[arg(long)]
    pub roster: PathBuf,
    /// Frames analysed per second of video (the daemon's `analysis_fps`).
    #[arg(long, default_value_t = 5.0)]
    pub fps: f64,
    /// Frames are scaled down to at most this width first (the daemon's `analysis_width`).
    #[arg(long, default_value_t = 1920)]
    pub width: u32,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    models: super::ModelArgs,
}

/// Runs `rollcall eval`.
pub fn run(mut config: Config, args: Args) -> Result<(), CliError> {
    args.models.apply(&mut config);
    if !(args.fps > 0.0 && args.fps <= 60.0) {
        return Err(CliError::Usage(format!("--fps {} is not between 0 and 60", args.fps)));
    }
    if !(64..=7680).contains(&args.width) {
        return Err(CliError::Usage(format!(
            "--width {} is not between 64 and 7680",
            args.width
        )));
    }
    // Before the enrollment's minute of work: a video that is not there.
    std::fs::File::open(&args.video).map_err(|source| CliError::Read {
        path: args.video.clone(),
        source,
    })?;
    let batch = batch_from_csv(&args.roster)?;
    let mut store = Store::open_in_memory(Key::generate())?;
    let mut analyzer = FaceAnalyzer::from_config(&config)?;
    let failed = enroll_batch(&mut analyzer, &mut store, &batch, &[], config.images.max_pixels)?;
    if failed.len() == batch.len() {
        return Err(CliError::PartlyFailed(format!(
            "nobody in {} could be enrolled",
            args.roster.display()
        )));
    }
    config.timetable.sessions.clear();
    config.timetable.outside_sessions = OutsideSessions::OncePerDay;
    let mut engine = Engine::new(&config, analyzer, store)?;
    let mut frames = FileFrames::open(&args.video, args.fps, args.width)?;
    let start = Utc::now();
    let report = evaluate(&mut engine, &mut frames, start)?;
    if let Some(reason) = frames.error().or((report.frames == 0).then_some("no frame in it")) {
        return Err(CliError::BadVideo {
            path: args.video.clone(),
            frames: report.frames,
            reason: reason.to_string(),
        });
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print_text(&report, start);
    }
    Ok(())
}

fn print_text(report: &Evaluation, start: DateTime<Utc>) {
    let seconds = |t: DateTime<Utc>| (t - start).num_milliseconds() as f64 / 1000.0;
    outln!("track  seen(s)  frames  face(px)  verdict       who           when(s)  looks  why");
    for t in &report.tracks {
        outln!(
            "{:>5}  {:>7.1}  {:>6}  {:>3.0}-{:<4.0}  {:<12}  {:<12}  {:>7}  {:>5}  {}",
            t.track,
            seconds(t.first_seen),
            t.frames,
            t.face_px.0,
            t.face_px.1,
            t.verdict,
            t.person_id.as_deref().unwrap_or("-"),
            t.decided_at.map_or("-".to_string(), |d| format!("{:.1}", seconds(d))),
            t.looks,
            t.why
        );
    }
    outln!();
    outln!(
        "{} people marked; {} spoof alerts (and {} more spoof tracks counted in them); {} tracks over {:.1} s of video ({} frames, {:.1} faces per frame)",
        report.marked.len(),
        report.spoof_alerts,
        report.spoof_repeats,
        report.tracks.len(),
        report.clip_s,
        report.frames,
        report.faces_per_frame
    );
    for m in &report.marked {
        outln!(
            "  {:<16} marked at {:>6.1} s (in view from {:.1} s)",
            m.person_id,
            m.after_s,
            m.seen_s
        );
    }
    outln!(
        "recognizer runs: {} ({:.0} per minute of video); per analysed frame: {:.1} ms of processor time, {:.1} ms wall; \
         {} of {} frames searched whole, the others around their tracked faces",
        report.recognizer_runs,
        report.recognizer_runs_per_minute,
        report.cpu_ms_per_frame,
        report.wall_ms_per_frame,
        report.full_passes,
        report.frames
    );
}
