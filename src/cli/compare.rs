//! `rollcall compare A B`: are these two photos the same person?

use std::path::{Path, PathBuf};

use super::{CliError, ModelArgs};
use rollcall::capture::image;
use rollcall::config::Config;
use rollcall::vision::analyze::FaceAnalyzer;
use rollcall::vision::embed::Embedding;

/// Arguments of `rollcall compare`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// First photo.
    pub a: PathBuf,
    /// Second photo.
    pub b: PathBuf,
    #[command(flatten)]
    models: ModelArgs,
}

/// The embedding of the best-quality face in a photo.
fn main_face(analyzer: &mut FaceAnalyzer, path: &Path, max_pixels: u64) -> Result<Embedding, CliError> {
    let frame = image::load(path, max_pixels)?;
    analyzer
        .analyze(&frame)?
        .faces
        .into_iter()
        .max_by(|x, y| x.quality.score.total_cmp(&y.quality.score))
        .map(|f| f.embedding)
        .ok_or_else(|| CliError::NoFace(path.to_path_buf()))
}

/// Runs `rollcall compare`.
pub fn run(mut config: Config, args: Args) -> Result<(), CliError> {
    args.models.apply(&mut config);
    let mut analyzer = FaceAnalyzer::from_config(&config)?;
    let a = main_face(&mut analyzer, &args.a, config.images.max_pixels)?;
    let b = main_face(&mut analyzer, &args.b, config.images.max_pixels)?;
    let sim = a.similarity(&b)?;
    let threshold = analyzer.recognizer().threshold();
    let verdict = if sim >= threshold {
        "same person"
    } else {
        "different people"
    };
    outln!(
        "similarity {sim:.4} ({}, threshold {threshold}): {verdict}",
        a.recognizer
    );
    Ok(())
}
