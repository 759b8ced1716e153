//! `rollcall cameras probe`: connect to each camera and say what it sends.
//! `rollcall cameras check`: watch a camera and say whether its faces are good enough to take
//! attendance, with advice an installer can act on.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use opencv::core::Mat;

use super::CliError;
use rollcall::attend::decide::MIN_COMPARE_PX;
use rollcall::attend::survey::{Fitness, SeenFace, Survey, Verdict, judge};
use rollcall::capture::{Camera, CameraState, CameraStatus};
use rollcall::config::{CameraConfig, Config};
use rollcall::vision::analyze::FaceAnalyzer;

/// Arguments of `rollcall cameras`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CamerasCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CamerasCommand {
    /// Connect and report resolution, codec, frame rate, decoder and time to first frame.
    Probe {
        /// Only this camera (default: every camera in the config).
        #[arg(long)]
        camera: Option<String>,
        /// Give up on a camera after this many seconds without a frame.
        #[arg(long, default_value_t = 20.0)]
        timeout: f64,
        /// Print one JSON object per camera.
        #[arg(long)]
        json: bool,
    },
    /// Watch a camera and judge its faces for attendance: sizes, sharpness, lighting, a verdict
    /// and advice. Exit status 0 good, 1 marginal, 2 unusable.
    Check {
        /// Only this camera (default: every camera in the config, one after the other).
        #[arg(long)]
        camera: Option<String>,
        /// How long to watch each camera.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Draw the faces of the frame that showed the most onto this picture (.jpg or .png).
        #[arg(long, requires = "camera")]
        annotate: Option<PathBuf>,
        /// Print one JSON object per camera.
        #[arg(long)]
        json: bool,
    },
}

/// The configured cameras, or just `only`, with a helpful error when it is not there.
pub fn select(config: &Config, only: Option<&str>) -> Result<Vec<CameraConfig>, CliError> {
    if config.cameras.is_empty() {
        return Err(CliError::Usage(
            "the config has no [[cameras]]; add one (see config/rollcall.toml)".into(),
        ));
    }
    match only {
        None => Ok(config.cameras.clone()),
        Some(id) => config
            .cameras
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .map(|c| vec![c])
            .ok_or_else(|| {
                let ids: Vec<_> = config.cameras.iter().map(|c| c.id.as_str()).collect();
                CliError::Usage(format!("no camera `{id}` in the config; cameras: {}", ids.join(", ")))
            }),
    }
}

/// Runs `rollcall cameras`.
pub fn run(config: Config, args: Args) -> Result<(), CliError> {
    match args.command {
        CamerasCommand::Probe { camera, timeout, json } => probe(&config, camera.as_deref(), timeout, json),
        CamerasCommand::Check {
            camera,
            seconds,
            annotate,
            json,
        } => check(&config, camera.as_deref(), seconds, annotate.as_deref(), json),
    }
}

fn probe(config: &Config, camera: Option<&str>, timeout: f64, json: bool) -> Result<(), CliError> {
    let cameras = select(config, camera)?;
    let running = cameras.into_iter().map(Camera::start).collect::<Result<Vec<_>, _>>()?;
    let deadline = Instant::now() + rollcall::config::duration_s(timeout);
    // Wait for every camera's first frame (or the deadline), then watch a little longer so the
    // frame rate means something.
    while Instant::now() < deadline && running.iter().any(|c| c.status().state != CameraState::Streaming) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2).min(deadline.saturating_duration_since(Instant::now())));
    let mut failed = Vec::new();
    for cam in &running {
        let s = cam.status();
        if s.state != CameraState::Streaming {
            failed.push(s.id.clone());
        }
        if json {
            outln!("{}", serde_json::to_string(&s).unwrap_or_default());
        } else {
            print_probe(&s, timeout);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::PartlyFailed(format!("no frames from: {}", failed.join(", "))))
    }
}

fn print_probe(s: &CameraStatus, timeout: f64) {
    outln!("{}  {}", s.id, s.location);
    if s.state != CameraState::Streaming {
        outln!(
            "  FAILED: no frame within {timeout} s ({} attempts). Last error: {}",
            s.reconnects + 1,
            s.last_error
                .as_deref()
                .unwrap_or("none reported (the source sent nothing)")
        );
        outln!("  Check the address, credentials and network, or that the device is plugged in.");
        return;
    }
    let size = |v: Option<(u32, u32)>| v.map_or("?".to_string(), |(w, h)| format!("{w}x{h}"));
    let fps = s.source_fps.map_or("variable".to_string(), |f| format!("{f:.1}"));
    outln!(
        "  source     {} {} @ {fps} fps, decoder {}",
        s.codec.as_deref().unwrap_or("?"),
        size(s.source_size),
        s.decoder.as_deref().unwrap_or("?")
    );
    outln!("  analysis   {} at {:.1} frames/s", size(s.frame_size), s.fps);
    if let Some(t) = s.time_to_first_frame {
        outln!("  first frame after {:.2} s", t.as_secs_f64());
    }
}

fn check(
    config: &Config,
    camera: Option<&str>,
    seconds: f64,
    annotate: Option<&Path>,
    json: bool,
) -> Result<(), CliError> {
    if !(seconds > 0.0 && seconds <= 3600.0) {
        return Err(CliError::Usage(format!(
            "--seconds {seconds} is not between 0 and 3600"
        )));
    }
    let cameras = select(config, camera)?;
    let mut analyzer = FaceAnalyzer::from_config(config)?;
    let mut worst = Fitness::Good;
    for cam in cameras {
        let id = cam.id.clone();
        let verdict = watch(&mut analyzer, cam, seconds, annotate)?;
        if json {
            let mut value = serde_json::to_value(&verdict).unwrap_or_default();
            value["camera"] = serde_json::Value::String(id);
            outln!("{value}");
        } else {
            print_check(&id, &verdict);
        }
        worst = worst.max(verdict.fitness);
    }
    match worst {
        Fitness::Good => Ok(()),
        unfit => Err(CliError::Unfit(unfit)),
    }
}

/// Watches `cam` for `seconds`, measuring every face; draws the busiest frame to `annotate`.
fn watch(
    analyzer: &mut FaceAnalyzer,
    cam: CameraConfig,
    seconds: f64,
    annotate: Option<&Path>,
) -> Result<Verdict, CliError> {
    let camera = Camera::start(cam)?;
    let deadline = Instant::now() + rollcall::config::duration_s(seconds);
    let mut survey = Survey::default();
    let mut busiest: Option<(usize, Mat)> = None;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(frame) = camera.next_frame(left) else {
            break;
        };
        let observations = analyzer.observe(&frame.image)?;
        survey.frames += 1;
        survey.faces.extend(observations.iter().map(|o| SeenFace {
            size_px: o.quality.size_px,
            sharpness: o.quality.sharpness,
            brightness: grey_level(&o.aligned),
        }));
        if annotate.is_some() && busiest.as_ref().is_none_or(|(n, _)| observations.len() > *n) {
            busiest = Some((observations.len(), frame.image));
        }
    }
    camera.stop();
    if let (Some(out), Some((_, mut image))) = (annotate, busiest) {
        let faces = analyzer.analyze(&image)?.faces;
        super::annotate::save(out, &mut image, &faces, &vec![None; faces.len()])?;
    }
    Ok(judge(&survey))
}

/// Mean grey level of a face crop, 0 to 255 (0 when it cannot be read).
fn grey_level(crop: &Mat) -> f32 {
    let mean = opencv::core::mean(crop, &opencv::core::no_array()).unwrap_or_default();
    ((mean[0] + mean[1] + mean[2]) / 3.0) as f32
}

fn print_check(id: &str, v: &Verdict) {
    outln!("{id}");
    outln!(
        "  {} frames, {:.1} faces per frame; face sizes {:.0} / {:.0} / {:.0} px (10th percentile / median / 90th)",
        v.frames,
        v.faces_per_frame,
        v.face_px[0],
        v.face_px[1],
        v.face_px[2]
    );
    outln!(
        "  median sharpness {:.0}, median light {:.0} of 255; big enough to recognise: {:.0}%; big and sharp enough for liveness: {:.0}%",
        v.sharpness,
        v.brightness,
        100.0 * v.recognisable,
        100.0 * v.assessable
    );
    outln!(
        "  seen but too small to recognise (under {MIN_COMPARE_PX:.0} px): {:.1} faces per frame",
        v.too_small_per_frame
    );
    let word = match v.fitness {
        Fitness::Good => "GOOD",
        Fitness::Marginal => "MARGINAL",
        Fitness::Unusable => "UNUSABLE",
    };
    outln!("  verdict: {word}");
    for advice in &v.advice {
        outln!("  - {advice}");
    }
}
