//! `rollcall embed IMAGE...`: the embedding of every face in each photo.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{CliError, ModelArgs};
use rollcall::capture::image;
use rollcall::config::Config;
use rollcall::vision::analyze::{AnalyzedFace, FaceAnalyzer};

/// Arguments of `rollcall embed`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The photos.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Print JSON lines, one object per photo (recognizer id, box, landmarks, score and embedding
    /// per face), instead of a summary. Enough to compare two machines or two runtimes face by
    /// face, as the parity tests do.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    models: ModelArgs,
}

/// Runs `rollcall embed`.
pub fn run(mut config: Config, args: Args) -> Result<(), CliError> {
    args.models.apply(&mut config);
    let max_pixels = config.images.max_pixels;
    let mut analyzer = FaceAnalyzer::from_config(&config)?;
    let several = args.images.len() > 1;
    super::for_each_photo(&args.images, |path| {
        let faces = embedded_faces(&mut analyzer, path, max_pixels)?;
        if args.json {
            outln!("{}", json!({ "image": path, "faces": faces_json(&faces) }));
        } else {
            if several {
                outln!("{}:", path.display());
            }
            print_summary(&faces);
        }
        Ok(())
    })
}

fn embedded_faces(analyzer: &mut FaceAnalyzer, path: &Path, max_pixels: u64) -> Result<Vec<AnalyzedFace>, CliError> {
    let frame = image::load(path, max_pixels)?;
    let faces = analyzer.analyze(&frame)?.faces;
    if faces.is_empty() {
        return Err(CliError::NoFace(path.to_path_buf()));
    }
    Ok(faces)
}

fn faces_json(faces: &[AnalyzedFace]) -> Vec<serde_json::Value> {
    faces
        .iter()
        .map(|f| {
            json!({
                "recognizer": f.embedding.recognizer,
                "bbox": f.face.bbox,
                "landmarks": f.face.landmarks,
                "score": f.face.score,
                "quality": f.quality.score,
                "embedding": f.embedding.vector,
            })
        })
        .collect()
}

fn print_summary(faces: &[AnalyzedFace]) {
    for (i, f) in faces.iter().enumerate() {
        let head: Vec<String> = f.embedding.vector.iter().take(4).map(|v| format!("{v:.4}")).collect();
        outln!(
            "face {}: {} x{} [{}, ...]",
            i + 1,
            f.embedding.recognizer,
            f.embedding.vector.len(),
            head.join(", ")
        );
    }
}
