//! `rollcall slideshow --out FILE PHOTO...`: a video made from photos, to use as a camera
//! (`kind = "uri"`, `loop = true`) before any real camera is installed, as the demo does.

use std::path::{Path, PathBuf};

use super::CliError;
use rollcall::capture::slideshow::Slideshow;

/// Arguments of `rollcall slideshow`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The video to write: `.webm` (VP8) or `.mp4` (H.264, needs gstreamer1.0-plugins-ugly).
    #[arg(long)]
    pub out: PathBuf,
    /// The photos, shown in this order.
    #[arg(required_unless_present = "list")]
    pub photos: Vec<PathBuf>,
    /// A file listing photos, one per line (after any given as arguments). Paths are relative to
    /// the list; blank lines and lines starting with `#` are skipped.
    #[arg(long)]
    pub list: Option<PathBuf>,
    /// Seconds each photo is shown.
    #[arg(long, default_value_t = 2)]
    pub seconds_each: u32,
    /// Frames per second.
    #[arg(long, default_value_t = 10)]
    pub fps: u32,
    /// Frame width in pixels.
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    /// Frame height in pixels.
    #[arg(long, default_value_t = 720)]
    pub height: u32,
}

/// The photos a list file names, relative to it.
fn listed(list: &Path) -> Result<Vec<PathBuf>, CliError> {
    let text = std::fs::read_to_string(list).map_err(|source| CliError::Read {
        path: list.to_path_buf(),
        source,
    })?;
    let base = list.parent().unwrap_or(Path::new("."));
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| base.join(l))
        .collect())
}

/// Runs `rollcall slideshow`.
pub fn run(mut args: Args) -> Result<(), CliError> {
    if let Some(list) = &args.list {
        args.photos.extend(listed(list)?);
    }
    let show = Slideshow {
        width: args.width,
        height: args.height,
        seconds_each: args.seconds_each,
        fps: args.fps,
    };
    show.write(&args.photos, &args.out)?;
    outln!(
        "{}: {} photo(s), {} s",
        args.out.display(),
        args.photos.len(),
        args.photos.len() as u32 * args.seconds_each
    );
    Ok(())
}
