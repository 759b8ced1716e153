//! Faces a run: the recognizers and the anti-spoofing pair given 1, 4, 16 and 32 faces at once,
//! against one run per face, on the faces of the InsightFace group photo (cycled to make up the
//! count). Prints the time per face of each and resident memory after each count: ONNX Runtime
//! keeps the memory of its largest run.
//!
//!     cargo bench --bench batch

use std::time::{Duration, Instant};

use opencv::core::Mat;
use rollcall::vision::analyze::FaceAnalyzer;
use rollcall::vision::detect::BBox;

const COUNTS: [usize; 4] = [1, 4, 16, 32];
/// Timed rounds per count, after one warm-up round.
const ROUNDS: usize = 7;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median time per face of `f` over [`ROUNDS`], for `n` faces.
fn per_face(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let times = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    median(times).as_secs_f64() * 1e3 / n as f64
}

fn main() {
    if !testkit::bench::asked_to_measure() {
        return;
    }
    let photo = testkit::face("insightface_t1_group.jpg");
    let frame = rollcall::capture::image::load(&photo, rollcall::config::DEFAULT_MAX_PIXELS).unwrap();
    println!("faces a run: median ms per face over {ROUNDS} rounds, one model at a time, 2 threads per run");
    println!(
        "{:<34} {:>6} {:>10} {:>12} {:>8} {:>8}",
        "model", "faces", "batched", "one by one", "gain", "RSS MB"
    );
    for recognizer in ["sface-2021dec", "arcface-w600k-mbf"] {
        let mut config = testkit::config("yunet-s", recognizer);
        config.detect.min_face_px = 0.0;
        let mut analyzer = FaceAnalyzer::from_config(&config).unwrap();
        let observed = analyzer.observe(&frame).unwrap();
        let crops: Vec<Mat> = observed.iter().map(|o| o.aligned.clone()).collect();
        let boxes: Vec<BBox> = observed.iter().map(|o| o.face.bbox).collect();
        for n in COUNTS {
            let crops: Vec<Mat> = crops.iter().cycle().take(n).cloned().collect();
            let together = per_face(n, || {
                analyzer.embed(&crops).unwrap();
            });
            let alone = per_face(n, || {
                for c in &crops {
                    analyzer.embed(std::slice::from_ref(c)).unwrap();
                }
            });
            row(recognizer, n, together, alone);
        }
        if recognizer != "sface-2021dec" {
            continue;
        }
        let pair = analyzer.antispoof().map(|a| a.names().collect::<Vec<_>>().join(" + "));
        let pair = pair.unwrap_or_default();
        for n in COUNTS {
            let boxes: Vec<BBox> = boxes.iter().cycle().take(n).copied().collect();
            let together = per_face(n, || {
                analyzer.live_scores(&frame, &boxes).unwrap();
            });
            let alone = per_face(n, || {
                for b in &boxes {
                    analyzer.live_scores(&frame, std::slice::from_ref(b)).unwrap();
                }
            });
            row(&pair, n, together, alone);
        }
    }
}

fn row(model: &str, n: usize, together: f64, alone: f64) {
    println!(
        "{model:<34} {n:>6} {together:>10.2} {alone:>12.2} {:>7.2}x {:>8.0}",
        alone / together,
        testkit::bench::rss_mb()
    );
}
