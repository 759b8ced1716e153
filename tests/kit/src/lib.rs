//! What rollcall's integration tests (`tests/it`) and benches share: real models, real photos,
//! a real broker, streams and disks, no mocks.
//!
//! A crate of its own rather than a module each test binary compiles: it is built once, and
//! every helper is public API here, used by some test or bench.

use std::path::{Path, PathBuf};

pub mod bench;
pub mod broker;
pub mod classroom;
pub mod degrade;
pub mod demo;
pub mod encode;
pub mod events;
pub mod figure_cache;
pub mod keys;
pub mod rtsp;

use rollcall::config::Config;
use rollcall::vision::analyze::{AnalyzedFace, FaceAnalyzer};

/// Gives each `[[models.custom]]` description of `config` that has no sha256 its file's, as an
/// admin does with `sha256sum` when describing a model: every load checks it.
pub fn pin_custom_models(config: &mut Config) {
    for spec in &mut config.models.custom {
        if spec.sha256.is_none() {
            let path = config.models.dir.join(&spec.file);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            spec.sha256 = Some(rollcall::vision::model::integrity::sha256_hex(&bytes));
        }
    }
}

/// The repository root (this crate lives in its `tests/kit`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `rollcall` binary cargo built beside the running test or bench (`target/<profile>/`):
/// `CARGO_BIN_EXE_rollcall` is given only to the package's own test and bench targets, not to
/// a library they use.
pub fn rollcall_exe() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("cannot tell where this test runs: {e}"));
    // target/<profile>/deps/<test> -> target/<profile>/rollcall
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("rollcall"))
        .unwrap_or_default();
    assert!(
        bin.is_file(),
        "no rollcall binary at {} (run the tests with cargo)",
        bin.display()
    );
    bin
}

/// `../shared` beside the repository (or `$ROLLCALL_SHARED`).
pub fn shared() -> PathBuf {
    std::env::var_os("ROLLCALL_SHARED").map_or_else(|| root().join("..").join("shared"), PathBuf::from)
}

/// A fresh, empty scratch directory for the test `name` of the `suite`.
pub fn scratch_dir(suite: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rollcall-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A place in `dir` to run `rollcall models quantize`: a `models` folder holding links to this
/// checkout's FP32 models, so the INT8 builds land beside them and not over the checkout's, and
/// a config file pointing at it (with `models_settings`, more lines of its `[models]` table, and
/// a store of its own). Returns the models folder and the config file.
pub fn quantize_workspace(dir: &Path, models_settings: &str) -> (PathBuf, PathBuf) {
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    for entry in std::fs::read_dir(root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".onnx") && !name.ends_with(".int8.onnx") {
            std::os::unix::fs::symlink(&path, models.join(&name)).unwrap();
        }
    }
    let config = dir.join("quantize.toml");
    std::fs::write(
        &config,
        format!(
            "[models]\ndir = {:?}\n{models_settings}[store]\npath = {:?}\n",
            models.to_string_lossy(),
            dir.join("rollcall.db").to_string_lossy()
        ),
    )
    .unwrap();
    (models, config)
}

/// A photo under `../shared/faces`.
pub fn face(rel: &str) -> PathBuf {
    shared().join("faces").join(rel)
}

/// The default config with models and ONNX Runtime from this checkout.
pub fn config(detector: &str, recognizer: &str) -> Config {
    let mut c = Config::default();
    c.models.dir = root().join("models");
    c.models.detector = detector.into();
    c.models.recognizer = recognizer.into();
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        c.runtime.onnxruntime = Some(root().join(rollcall::vision::model::default_library()));
    }
    c
}

/// An analyzer for `config`, with a hint when setup was not run.
pub fn analyzer_for(config: &Config) -> FaceAnalyzer {
    FaceAnalyzer::from_config(config).unwrap_or_else(|e| panic!("{e}\n(hint: run scripts/setup.sh first)"))
}

/// The default analyzer of a detector + recognizer pair.
pub fn analyzer(detector: &str, recognizer: &str) -> FaceAnalyzer {
    analyzer_for(&config(detector, recognizer))
}

/// All faces in a photo.
pub fn analyze(p: &mut FaceAnalyzer, photo: &Path) -> Vec<AnalyzedFace> {
    let frame =
        rollcall::capture::image::load(photo, rollcall::config::DEFAULT_MAX_PIXELS).unwrap_or_else(|e| panic!("{e}"));
    p.analyze(&frame)
        .unwrap_or_else(|e| panic!("{}: {e}", photo.display()))
        .faces
}

/// The 26 photos every speed figure in docs/speed.md is measured on (66 faces): ageitgey,
/// vectron, the spoof samples and the InsightFace group photo.
pub fn speed_photos() -> Vec<PathBuf> {
    ["ageitgey", "vectron", "silent_face_samples", "insightface_t1_group.jpg"]
        .iter()
        .map(|p| face(p))
        .flat_map(|p| if p.is_dir() { photos_under(&p) } else { vec![p] })
        .collect()
}

/// The bar for "a model edit changed nothing" (issue 30): embeddings this close cannot move a
/// match.
pub const UNCHANGED_MIN_COSINE: f32 = 0.99999;
/// Live scores are probabilities: a verdict moves only if one crosses the threshold, and one this
/// close to the other cannot in practice.
pub const UNCHANGED_MAX_LIVE_SCORE_CHANGE: f32 = 1e-5;

/// Fails unless a model edit's least embedding cosine and widest live-score change, against the
/// model as filed, meet the bar for "unchanged".
pub fn assert_unchanged(what: &str, least_cosine: f32, widest_live_change: f32) {
    assert!(least_cosine >= UNCHANGED_MIN_COSINE, "{what}: cosine {least_cosine}");
    assert!(
        widest_live_change <= UNCHANGED_MAX_LIVE_SCORE_CHANGE,
        "{what}: live scores moved by {widest_live_change}"
    );
}

/// Every .jpg/.png under `dir`, sorted.
pub fn photos_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("jpg" | "png")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Enrolls each `(person, photo)`, the photo under `ageitgey/identities`, with the default
/// policy; panics on an error, and returns each enrollment's report.
pub fn enroll_identities(
    analyzer: &mut FaceAnalyzer,
    store: &mut rollcall::store::Store,
    people: &[(&str, &str)],
) -> Vec<rollcall::enroll::EnrollReport> {
    people
        .iter()
        .map(|&(person, photo)| {
            let who = rollcall::enroll::Enrollee {
                person,
                name: None,
                groups: &[],
            };
            let photos = [face(&format!("ageitgey/identities/{photo}"))];
            let policy = rollcall::enroll::EnrollPolicy::default();
            rollcall::enroll::enroll_person(analyzer, store, &who, &photos, &policy, u64::MAX)
                .unwrap_or_else(|e| panic!("{person}: {e}"))
        })
        .collect()
}

/// Monday's 09:00-10:00 maths session in room 101 (Monday 2026-11-23 is the tests' school day).
pub fn monday_session() -> rollcall::config::SessionSlot {
    rollcall::config::SessionSlot {
        id: "7B-MATHS".into(),
        room: "101".into(),
        days: vec!["mon".into()],
        start: "09:00".into(),
        end: "10:00".into(),
        grace_min: 10,
        group: None,
    }
}

/// Plays one still photo to the engine for two seconds at 5 fps during Monday's 09:00 session
/// (`minute` minutes in), then ends the track: what did the engine decide?
pub fn show_photo(
    engine: &mut rollcall::attend::engine::Engine,
    photo: &str,
    minute: i64,
) -> Vec<rollcall::attend::engine::Outcome> {
    let image = rollcall::capture::image::load(&face(photo), u64::MAX).unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
        + chrono::Duration::minutes(minute);
    let mut out = Vec::new();
    for k in 0..10 {
        out.extend(
            engine
                .process("front", "101", &image, start + chrono::Duration::milliseconds(200 * k))
                .unwrap(),
        );
    }
    out.extend(engine.finish("front", "101").unwrap());
    out
}

/// The default models' config for a daemon whose store and fresh key are in `dir`; cameras are
/// the caller's.
pub fn daemon_config(dir: &Path) -> Config {
    let mut config = self::config("yunet-2023mar", "sface-2021dec");
    let key = dir.join("key");
    rollcall::store::Key::generate().write_new(&key).unwrap();
    config.store.path = dir.join("rollcall.db");
    config.store.key_file = Some(key);
    config
}

/// Runs the daemon in-process on `config`, handing it each outcome, for as long as `body` runs;
/// then stops it (also when `body` panics, so a failing test ends) and fails unless it stopped
/// cleanly.
pub fn with_daemon(
    config: &Config,
    mut on_outcome: impl FnMut(&rollcall::attend::engine::Outcome) + Send,
    body: impl FnOnce(),
) {
    struct StopOnDrop<'a>(&'a rollcall::shutdown::Shutdown);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.trigger();
        }
    }
    let stop = rollcall::shutdown::Shutdown::new();
    let reload = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let daemon = scope.spawn(|| {
            let signals = rollcall::daemon::Signals {
                stop: &stop,
                reload: &reload,
                config_path: None,
            };
            rollcall::daemon::run(config, &signals, &mut on_outcome)
        });
        let stopping = StopOnDrop(&stop);
        body();
        drop(stopping);
        daemon.join().unwrap().unwrap();
    });
}

/// The detector/recognizer pairs the project supports.
pub const PAIRS: [(&str, &str); 2] = [("yunet-2023mar", "sface-2021dec"), ("scrfd-500m", "arcface-w600k-mbf")];

/// Encodes `photos` into an H.264 MP4 slideshow (`width` x `height`, each photo for
/// `seconds_each` seconds at `fps`), in `dir`. Returns the clip's path.
pub fn make_clip(dir: &Path, photos: &[PathBuf], width: i32, height: i32, seconds_each: u32, fps: u32) -> PathBuf {
    let slides = dir.join("slides");
    rtsp::make_slides_fitted(&slides, photos, width, height, true);
    let out = dir.join("clip.mp4");
    // One extra copy of the last slide, so the last photo is shown for its full time.
    let last = slides.join(format!("{:03}.jpg", photos.len() - 1));
    std::fs::copy(&last, slides.join(format!("{:03}.jpg", photos.len()))).unwrap();
    encode::run_to_eos(
        &format!(
            "multifilesrc location=\"{}/%03d.jpg\" caps=image/jpeg,framerate=1/{seconds_each} stop-index={} ! jpegdec \
         ! videoconvert ! videorate ! video/x-raw,framerate={fps}/1,format=I420 \
         ! x264enc speed-preset=ultrafast key-int-max={fps} ! mp4mux ! filesink location=\"{}\"",
            slides.display(),
            photos.len(),
            out.display()
        ),
        120,
    );
    out
}

/// Encodes a clip of a photo moved as a flat picture would be: panned and zoomed a little each
/// frame (a printed photo or a phone waved at the camera), and, with `squeeze` > 0, narrowed by
/// up to that share and back, as a photo tilted to fake a head turn. `frames` frames at 5 fps.
pub fn make_moving_clip(dir: &Path, photo: &Path, frames: usize, width: i32, height: i32, squeeze: f64) -> PathBuf {
    use opencv::core::{Rect, Size, Vector};
    use opencv::prelude::*;
    use opencv::{imgcodecs, imgproc};
    let img = imgcodecs::imread(photo, imgcodecs::IMREAD_COLOR).unwrap();
    let frames_dir = dir.join("moving");
    std::fs::create_dir_all(&frames_dir).unwrap();
    for i in 0..frames {
        // A window over the photo that shrinks (zoom in) and slides right, then is scaled to
        // the frame: every pixel moves as one flat plane.
        let t = i as f64 / frames as f64;
        let (w, h) = (
            (img.cols() as f64 * (0.95 - 0.25 * t)) as i32,
            (img.rows() as f64 * (0.95 - 0.25 * t)) as i32,
        );
        let x = ((img.cols() - w) as f64 * t) as i32;
        let y = ((img.rows() - h) as f64 * 0.5) as i32;
        let roi = Mat::roi(&img, Rect::new(x, y, w, h)).unwrap();
        let narrow = 1.0 - squeeze * (t * std::f64::consts::PI).sin();
        let inner = ((width as f64 * narrow) as i32).max(2) & !1;
        let mut scaled = Mat::default();
        imgproc::resize(
            &roi,
            &mut scaled,
            Size::new(inner, height),
            0.0,
            0.0,
            imgproc::INTER_LINEAR,
        )
        .unwrap();
        let mut out = Mat::default();
        let side = (width - inner) / 2;
        opencv::core::copy_make_border(
            &scaled,
            &mut out,
            0,
            0,
            side,
            width - inner - side,
            opencv::core::BORDER_CONSTANT,
            opencv::core::Scalar::all(40.0),
        )
        .unwrap();
        assert!(imgcodecs::imwrite(frames_dir.join(format!("{i:03}.jpg")), &out, &Vector::new()).unwrap());
    }
    let out = dir.join("moving.mp4");
    encode::run_to_eos(
        &format!(
            "multifilesrc location=\"{}/%03d.jpg\" caps=image/jpeg,framerate=5/1 stop-index={} ! jpegdec ! videoconvert \
         ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast key-int-max=5 ! mp4mux ! filesink location=\"{}\"",
            frames_dir.display(),
            frames - 1,
            out.display()
        ),
        60,
    );
    out
}

/// The first fenced block of `lang` in `doc` (a path under the repository) that contains
/// `containing`, so tests check the very text the docs show.
pub fn doc_block(doc: &str, lang: &str, containing: &str) -> String {
    let text = std::fs::read_to_string(root().join(doc)).unwrap();
    let fence = format!("```{lang}\n");
    text.split(&fence)
        .skip(1)
        .filter_map(|after| after.split_once("\n```").map(|(block, _)| format!("{block}\n")))
        .find(|block| block.contains(containing))
        .unwrap_or_else(|| panic!("{doc}: no {lang} block with {containing:?}"))
}

/// Every `rollcall_...` metric name `text` mentions.
pub fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("rollcall_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// Over the main face of every photo in `ageitgey/identities`: the lowest same-person and the
/// highest different-person similarity, each with the pair of files it came from.
pub fn separation(analyzer: &mut FaceAnalyzer) -> ((f32, String), (f32, String)) {
    // The person in an identity photo: `obama_partial_face.jpg` and `obama_3.jpg` are both "obama".
    let person = |file: &str| file.split('_').next().unwrap_or(file).to_string();
    let mut people: Vec<(String, String, rollcall::vision::embed::Embedding)> = Vec::new();
    for photo in photos_under(&face("ageitgey/identities")) {
        let faces = analyze(analyzer, &photo);
        // The subject is the largest face (biden_2.jpg has bystanders).
        let main = faces
            .into_iter()
            .max_by(|a, b| a.face.bbox.area().total_cmp(&b.face.bbox.area()))
            .unwrap_or_else(|| panic!("no face in {}", photo.display()));
        let file = photo.file_name().unwrap().to_string_lossy().to_string();
        people.push((person(&file), file, main.embedding));
    }
    let (mut same_min, mut diff_max) = ((1.0f32, String::new()), (-1.0f32, String::new()));
    for (i, a) in people.iter().enumerate() {
        for b in &people[i + 1..] {
            let sim = a.2.similarity(&b.2).unwrap();
            let pair = format!("{} ~ {}", a.1, b.1);
            if a.0 == b.0 {
                if sim < same_min.0 {
                    same_min = (sim, pair);
                }
            } else if sim > diff_max.0 {
                diff_max = (sim, pair);
            }
        }
    }
    (same_min, diff_max)
}
