//! `rollcall snapshot --camera ID --annotate OUT.jpg`: what does this camera see? One frame with
//! the detected faces drawn, their size in pixels and quality, so an installer can judge placement.

use std::path::PathBuf;

use super::{CliError, ModelArgs};
use rollcall::capture::Camera;
use rollcall::config::Config;
use rollcall::vision::analyze::FaceAnalyzer;

/// Arguments of `rollcall snapshot`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Camera id from the config.
    #[arg(long)]
    pub camera: String,
    /// Where to write the annotated frame (.jpg or .png).
    #[arg(long, value_name = "OUT.jpg")]
    pub annotate: PathBuf,
    /// Give up after this many seconds without a frame.
    #[arg(long, default_value_t = 20.0)]
    pub timeout: f64,
    #[command(flatten)]
    models: ModelArgs,
}

/// Faces smaller than this (shorter side) are recognised less reliably.
const GOOD_FACE_PX: f32 = 80.0;

/// Runs `rollcall snapshot`.
pub fn run(mut config: Config, args: Args) -> Result<(), CliError> {
    args.models.apply(&mut config);
    let cam_config = super::cameras::select(&config, Some(&args.camera))?.remove(0);
    let mut analyzer = FaceAnalyzer::from_config(&config)?;
    let camera = Camera::start(cam_config)?;
    let frame = camera
        .next_frame(rollcall::config::duration_s(args.timeout))
        .ok_or_else(|| {
            let s = camera.status();
            CliError::NoFrame {
                camera: args.camera.clone(),
                seconds: args.timeout,
                last_error: s.last_error.clone().unwrap_or_else(|| "none reported".into()),
            }
        })?;
    camera.stop();
    let mut image = frame.image;
    let faces = analyzer.analyze(&image)?.faces;
    outln!(
        "camera {}: {} face{}",
        args.camera,
        faces.len(),
        if faces.len() == 1 { "" } else { "s" }
    );
    for (i, f) in faces.iter().enumerate() {
        let verdict = if f.quality.size_px < GOOD_FACE_PX {
            "small: move the camera closer or raise analysis_width"
        } else if f.quality.sharpness < 50.0 {
            "blurred: check focus and motion"
        } else {
            "good"
        };
        outln!(
            "  #{}: {:.0} px, quality {:.2}, sharpness {:.0}: {verdict}",
            i + 1,
            f.quality.size_px,
            f.quality.score,
            f.quality.sharpness
        );
    }
    let names = vec![None; faces.len()];
    super::annotate::save(&args.annotate, &mut image, &faces, &names)
}
