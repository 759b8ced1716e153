//! `rollcall detect IMAGE...`: faces, quality, liveness and (with `--known`) names per photo.

use std::path::{Path, PathBuf};

use opencv::prelude::*;
use serde_json::json;

use super::{CliError, ModelArgs};
use rollcall::attend::matching::Gallery;
use rollcall::capture::image;
use rollcall::config::Config;
use rollcall::vision::analyze::{AnalyzedFace, FaceAnalyzer};

/// Arguments of `rollcall detect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Photos to look at.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Print JSON lines (one object per photo) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write the photo with faces drawn on it here (one input photo only).
    #[arg(long, value_name = "OUT.jpg")]
    pub annotate: Option<PathBuf>,
    /// Folder of one-person photos to name faces by; `obama_2.jpg` is "obama".
    #[arg(long, value_name = "DIR")]
    pub known: Option<PathBuf>,
    /// Margin the best person must lead the second by to be named.
    #[arg(long, default_value_t = 0.05)]
    pub margin: f32,
    #[command(flatten)]
    models: ModelArgs,
}

/// The person a known photo shows: its file stem without a trailing `_<number>`.
fn person_of(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("unknown");
    match stem.rsplit_once('_') {
        Some((name, n)) if !name.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
        _ => stem.to_string(),
    }
}

/// Builds a gallery from the best face of each photo in `dir`; photos without a face are skipped
/// with a warning.
fn known_gallery(analyzer: &mut FaceAnalyzer, dir: &Path, max_pixels: u64) -> Result<Gallery, CliError> {
    let r = analyzer.recognizer();
    let mut gallery = Gallery::new(r.id().clone(), r.dim());
    for photo in super::bench::collect_photos(&[dir.to_path_buf()])? {
        let frame = image::load(&photo, max_pixels)?;
        let best = analyzer
            .analyze(&frame)?
            .faces
            .into_iter()
            .max_by(|a, b| a.quality.score.total_cmp(&b.quality.score));
        match best {
            Some(face) => gallery.add(&person_of(&photo), &face.embedding)?,
            None => eprintln!("warning: no face in known photo {}, skipped", photo.display()),
        }
    }
    Ok(gallery)
}

/// Runs `rollcall detect`.
pub fn run(mut config: Config, args: Args) -> Result<(), CliError> {
    args.models.apply(&mut config);
    if args.annotate.is_some() && args.images.len() != 1 {
        return Err(CliError::Usage("--annotate takes exactly one input photo".into()));
    }
    let max_pixels = config.images.max_pixels;
    let mut analyzer = FaceAnalyzer::from_config(&config)?;
    let gallery = args
        .known
        .as_deref()
        .map(|d| known_gallery(&mut analyzer, d, max_pixels))
        .transpose()?;
    super::for_each_photo(&args.images, |path| {
        detect_one(&mut analyzer, gallery.as_ref(), path, &args, max_pixels)
    })
}

fn identity(gallery: Option<&Gallery>, face: &AnalyzedFace, threshold: f32, margin: f32) -> Option<(String, f32)> {
    let candidates = gallery?.search(&face.embedding).ok()?;
    let name = candidates.accepted(threshold, margin).map(str::to_string);
    let sim = candidates.best.as_ref().map_or(0.0, |b| b.1);
    Some((name.unwrap_or_else(|| "unknown".into()), sim))
}

fn detect_one(
    analyzer: &mut FaceAnalyzer,
    gallery: Option<&Gallery>,
    path: &Path,
    args: &Args,
    max_pixels: u64,
) -> Result<(), CliError> {
    let mut frame = image::load(path, max_pixels)?;
    let faces = analyzer.analyze(&frame)?.faces;
    if faces.is_empty() {
        return Err(CliError::NoFace(path.to_path_buf()));
    }
    let threshold = analyzer.recognizer().threshold();
    let names: Vec<_> = faces
        .iter()
        .map(|f| identity(gallery, f, threshold, args.margin))
        .collect();
    if args.json {
        let list: Vec<_> = faces
            .iter()
            .zip(&names)
            .map(|(f, name)| {
                json!({
                    "bbox": f.face.bbox, "score": f.face.score, "landmarks": f.face.landmarks,
                    "quality": f.quality, "liveness": f.liveness,
                    "identity": name.as_ref().map(|(n, s)| json!({"person": n, "similarity": s})),
                })
            })
            .collect();
        let line = json!({
            "image": path, "width": frame.cols(), "height": frame.rows(),
            "detector": analyzer.detector().name(), "recognizer": analyzer.recognizer().id(), "faces": list,
        });
        outln!("{line}");
    } else {
        print_table(analyzer, path, &faces, &names);
    }
    if let Some(out) = &args.annotate {
        super::annotate::save(out, &mut frame, &faces, &names)?;
    }
    Ok(())
}

fn print_table(analyzer: &FaceAnalyzer, path: &Path, faces: &[AnalyzedFace], names: &[Option<(String, f32)>]) {
    outln!(
        "{}: {} face{} ({} + {})",
        path.display(),
        faces.len(),
        if faces.len() == 1 { "" } else { "s" },
        analyzer.detector().name(),
        analyzer.recognizer().id()
    );
    outln!(
        "{:>3}  {:<22} {:>5} {:>6} {:>8} {:>6} {:>14}  identity",
        "#",
        "box x1,y1,x2,y2",
        "size",
        "score",
        "quality",
        "sharp",
        "liveness"
    );
    for (i, (f, name)) in faces.iter().zip(names).enumerate() {
        let b = f.face.bbox;
        let live = f.liveness.map_or("-".to_string(), |l| {
            format!("{:.2} {}", l.score, if l.live { "live" } else { "SPOOF" })
        });
        let who = name.as_ref().map_or("-".to_string(), |(n, s)| format!("{n} ({s:.2})"));
        outln!(
            "{:>3}  {:<22} {:>5.0} {:>6.2} {:>8.2} {:>6.0} {:>14}  {who}",
            i + 1,
            format!("{:.0},{:.0},{:.0},{:.0}", b.x1, b.y1, b.x2, b.y2),
            f.quality.size_px,
            f.face.score,
            f.quality.score,
            f.quality.sharpness,
            live,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_photo_names_drop_a_trailing_number_only() {
        assert_eq!(person_of(Path::new("a/obama_2.jpg")), "obama");
        assert_eq!(person_of(Path::new("a/lin_manuel.png")), "lin_manuel");
        assert_eq!(person_of(Path::new("a/kit.jpg")), "kit");
    }
}
