//! Figures a suite would otherwise compute again: what a model gave on each photo, kept under
//! `target/figure-cache/` and shared by the tests of one process.
//!
//! An entry is named by the sha256 of everything that decides it: the model files, the
//! settings (as text) and the list of photos with their sizes. A changed model or photo makes
//! a new entry, never a stale answer. The rows are plain text, one per photo, each a list of
//! numbers written as Rust writes an `f32` (shortest text that reads back to the same value).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// One number list per photo.
pub type Rows = Vec<Vec<f32>>;

/// The cache entry for `what` computed from `inputs` (files whose bytes decide the result),
/// `settings` and `photos`, computed by `compute` when it is not there yet. Tests of one process
/// asking for the same entry at once compute it once: the others wait for it.
pub fn rows(what: &str, inputs: &[&Path], settings: &str, photos: &[PathBuf], compute: impl FnOnce() -> Rows) -> Rows {
    let mut key = Sha256::new();
    key.update(what.as_bytes());
    for input in inputs {
        let bytes = std::fs::read(input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        key.update(Sha256::digest(&bytes));
    }
    key.update(settings.as_bytes());
    for photo in photos {
        let size = std::fs::metadata(photo).map(|m| m.len()).unwrap_or(0);
        key.update(format!("{}\t{size}\n", photo.display()).as_bytes());
    }
    let name = format!("{what}-{}.txt", hex::encode(&key.finalize()[..12]));
    let file = super::root().join("target/figure-cache").join(&name);

    let lock = entry_lock(&name);
    let _only_one = lock.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rows) = read(&file, photos.len()) {
        return rows;
    }
    let rows = compute();
    assert_eq!(rows.len(), photos.len(), "{what}: one row per photo");
    write(&file, &rows);
    rows
}

/// The lock of one entry, made on first use.
fn entry_lock(name: &str) -> Arc<Mutex<()>> {
    static LOCKS: Mutex<Option<HashMap<String, Arc<Mutex<()>>>>> = Mutex::new(None);
    let mut locks = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    locks
        .get_or_insert_with(HashMap::new)
        .entry(name.to_string())
        .or_default()
        .clone()
}

/// The entry's rows, or `None` when it is missing or not whole (a run stopped while writing).
fn read(file: &Path, expected: usize) -> Option<Rows> {
    let text = std::fs::read_to_string(file).ok()?;
    let rows = text
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|v| v.parse().ok())
                .collect::<Option<Vec<f32>>>()
        })
        .collect::<Option<Rows>>()?;
    (rows.len() == expected).then_some(rows)
}

/// Writes the entry whole or not at all: into a temporary file, then renamed.
fn write(file: &Path, rows: &Rows) {
    let text: String = rows
        .iter()
        .map(|row| {
            let mut line = row.iter().map(f32::to_string).collect::<Vec<_>>().join(" ");
            line.push('\n');
            line
        })
        .collect();
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let partial = file.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, text).unwrap_or_else(|e| panic!("{}: {e}", partial.display()));
    std::fs::rename(&partial, file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
}

/// One template per calibration distractor (`calibration/distractors`, one photo each): the
/// embedding of the largest face of its photo under `config`'s detector and recognizer, with the
/// photo's name. Photos without a face are left out. Cached, and shared by the suites of one
/// process (the open-set suite and the lesson), which would otherwise embed 3500 photos each.
pub fn distractor_templates(
    config: &rollcall::config::Config,
    analyzer: &mut rollcall::vision::analyze::FaceAnalyzer,
) -> Vec<(String, Vec<f32>)> {
    let photos = super::photos_under(&super::face("calibration/distractors"));
    let catalogue = rollcall::config::Catalogue::builtin();
    let file = |name: &str| {
        let spec = catalogue
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no model {name}"));
        config.models.dir.join(&spec.file)
    };
    let (detector, recognizer) = (file(&config.models.detector), file(&config.models.recognizer));
    let found = rows(
        "distractor-templates",
        &[&detector, &recognizer],
        "largest face by size",
        &photos,
        || {
            photos
                .iter()
                .map(|p| {
                    let Ok(image) = rollcall::capture::image::load(p, u64::MAX) else {
                        return Vec::new();
                    };
                    let faces = analyzer.observe(&image).unwrap();
                    let Some(face) = faces
                        .into_iter()
                        .max_by(|a, b| a.quality.size_px.total_cmp(&b.quality.size_px))
                    else {
                        return Vec::new();
                    };
                    analyzer
                        .embed(std::slice::from_ref(&face.aligned))
                        .unwrap()
                        .remove(0)
                        .vector
                })
                .collect()
        },
    );
    photos
        .iter()
        .zip(found)
        .filter(|(_, v)| !v.is_empty())
        .map(|(p, v)| (p.file_stem().unwrap().to_string_lossy().into_owned(), v))
        .collect()
}
