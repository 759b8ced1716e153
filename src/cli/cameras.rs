//! `rollcall cameras probe`: connect to each camera and say what it sends.

use std::time::{Duration, Instant};

use super::CliError;
use rollcall::capture::{Camera, CameraState, CameraStatus};
use rollcall::config::{CameraConfig, Config};

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
    let CamerasCommand::Probe { camera, timeout, json } = args.command;
    let cameras = select(&config, camera.as_deref())?;
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
            println!("{}", serde_json::to_string(&s).unwrap_or_default());
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
    println!("{}  {}", s.id, s.location);
    if s.state != CameraState::Streaming {
        println!(
            "  FAILED: no frame within {timeout} s ({} attempts). Last error: {}",
            s.reconnects + 1,
            s.last_error
                .as_deref()
                .unwrap_or("none reported (the source sent nothing)")
        );
        println!("  Check the address, credentials and network, or that the device is plugged in.");
        return;
    }
    let size = |v: Option<(u32, u32)>| v.map_or("?".to_string(), |(w, h)| format!("{w}x{h}"));
    let fps = s.source_fps.map_or("variable".to_string(), |f| format!("{f:.1}"));
    println!(
        "  source     {} {} @ {fps} fps, decoder {}",
        s.codec.as_deref().unwrap_or("?"),
        size(s.source_size),
        s.decoder.as_deref().unwrap_or("?")
    );
    println!("  analysis   {} at {:.1} frames/s", size(s.frame_size), s.fps);
    if let Some(t) = s.time_to_first_frame {
        println!("  first frame after {:.2} s", t.as_secs_f64());
    }
}
