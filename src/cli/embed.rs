//! `rollcall embed IMAGE`: the embedding of every face in a photo.

use std::path::PathBuf;

use serde_json::json;

use super::{CliError, ModelArgs};
use rollcall::capture::image;
use rollcall::config::Config;
use rollcall::vision::analyze::FaceAnalyzer;

/// Arguments of `rollcall embed`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The photo.
    pub image: PathBuf,
    /// Print JSON (recognizer id, box, embedding per face) instead of a summary.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    models: ModelArgs,
}

/// Runs `rollcall embed`.
pub fn run(mut config: Config, args: Args) -> Result<(), CliError> {
    args.models.apply(&mut config);
    let frame = image::load(&args.image, config.images.max_pixels)?;
    let mut analyzer = FaceAnalyzer::from_config(&config)?;
    let faces = analyzer.analyze(&frame)?.faces;
    if faces.is_empty() {
        return Err(CliError::NoFace(args.image));
    }
    if args.json {
        let out: Vec<_> = faces
            .iter()
            .map(|f| {
                json!({
                    "recognizer": f.embedding.recognizer,
                    "bbox": f.face.bbox,
                    "score": f.face.score,
                    "quality": f.quality.score,
                    "embedding": f.embedding.vector,
                })
            })
            .collect();
        println!("{}", json!({ "image": args.image, "faces": out }));
    } else {
        for (i, f) in faces.iter().enumerate() {
            let head: Vec<String> = f.embedding.vector.iter().take(4).map(|v| format!("{v:.4}")).collect();
            println!(
                "face {}: {} x{} [{}, ...]",
                i + 1,
                f.embedding.recognizer,
                f.embedding.vector.len(),
                head.join(", ")
            );
        }
    }
    Ok(())
}
