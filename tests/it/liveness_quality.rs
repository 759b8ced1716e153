//! Where passive anti-spoofing stops being informative: live scores of real faces from the
//! shared videos and of the shared spoof samples, at face sizes from 25 to 120 px, clean,
//! compressed hard, out of focus and smeared by motion.
//!
//! `cargo test --release --test it liveness_quality -- --ignored --nocapture` prints the tables that
//! docs/calibration.md records.

use opencv::core::{Mat, Rect};
use opencv::imgcodecs;
use rollcall::capture::FileFrames;
use rollcall::config::DEFAULT_LIVE_THRESHOLD;
use rollcall::vision::analyze::FaceAnalyzer;

/// Face sizes (shorter side, frame pixels) each face is shown at.
const FACE_SIZES: [f32; 5] = [25.0, 40.0, 60.0, 80.0, 120.0];

/// How a frame is spoilt.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Spoilt {
    /// JPEG at quality 90.
    Clean,
    /// JPEG at quality 15, as a starved H.264 stream looks.
    Compressed,
    /// Gaussian blur, sigma 1.5 px.
    Defocused,
    /// Smeared sideways over 7 px.
    Moving,
}

const SPOILT: [Spoilt; 4] = [Spoilt::Clean, Spoilt::Compressed, Spoilt::Defocused, Spoilt::Moving];

fn spoil(frame: &Mat, how: Spoilt) -> Mat {
    use testkit::degrade::{defocus, jpeg, motion_blur};
    match how {
        Spoilt::Clean => jpeg(frame, 90),
        Spoilt::Compressed => jpeg(frame, 15),
        Spoilt::Defocused => jpeg(&defocus(frame, 1.5), 90),
        Spoilt::Moving => jpeg(&motion_blur(frame, 7), 90),
    }
}

/// One face shown one way: is it real, how was it spoilt, how big and sharp did it come out,
/// and its live score.
#[derive(Debug, Clone, Copy)]
struct Sample {
    source: &'static str,
    real: bool,
    how: Spoilt,
    size_px: f32,
    sharpness: f32,
    score: f32,
}

/// The largest face in `frame`: its size, sharpness and live score.
fn live_sample(analyzer: &mut FaceAnalyzer, frame: &Mat) -> Option<(f32, f32, f32)> {
    let face = analyzer
        .observe(frame)
        .unwrap()
        .into_iter()
        .max_by(|a, b| a.quality.size_px.total_cmp(&b.quality.size_px))?;
    let score = *analyzer
        .live_scores(frame, std::slice::from_ref(&face.face.bbox))
        .unwrap()?
        .first()?;
    Some((face.quality.size_px, face.quality.sharpness, score))
}

/// Every way of showing each face of `image` bigger than the smallest size.
fn samples_of(analyzer: &mut FaceAnalyzer, image: &Mat, source: &'static str, real: bool, out: &mut Vec<Sample>) {
    let faces = analyzer.observe(image).unwrap();
    for face in faces.iter().filter(|f| f.quality.size_px >= 60.0) {
        let b = &face.face.bbox;
        let rect = Rect::new(b.x1 as i32, b.y1 as i32, (b.x2 - b.x1) as i32, (b.y2 - b.y1) as i32);
        let region = testkit::degrade::around(image, rect, 6.0);
        for px in FACE_SIZES.iter().filter(|&&px| px <= face.quality.size_px) {
            let frame = testkit::degrade::camera_frame_without_edges(&region, face.quality.size_px, *px);
            for how in SPOILT {
                if let Some((size_px, sharpness, score)) = live_sample(analyzer, &spoil(&frame, how)) {
                    out.push(Sample {
                        source,
                        real,
                        how,
                        size_px,
                        sharpness,
                        score,
                    });
                }
            }
        }
    }
}

fn measure() -> Vec<Sample> {
    let mut analyzer = testkit::analyzer("yunet-2023mar", "sface-2021dec");
    let mut out = Vec::new();
    for video in ["liveportrait_s18.mp4", "short_hamilton_clip.mp4"] {
        let frames = FileFrames::open(&testkit::shared().join("videos").join(video), 2.0, 1920).unwrap();
        for (frame, _) in frames {
            samples_of(&mut analyzer, &frame, video, true, &mut out);
        }
    }
    for spoof in ["image_F1.jpg", "image_F2.jpg"] {
        let path = testkit::face(&format!("silent_face_samples/{spoof}"));
        let image = imgcodecs::imread(&path, imgcodecs::IMREAD_COLOR).unwrap();
        samples_of(&mut analyzer, &image, spoof, false, &mut out);
    }
    out
}

/// The size band a measured face falls in.
fn band(size_px: f32) -> &'static str {
    match size_px {
        s if s < 32.0 => "under 32",
        s if s < 50.0 => "32 to 49",
        s if s < 70.0 => "50 to 69",
        s if s < 100.0 => "70 to 99",
        _ => "100 and up",
    }
}

#[test]
#[ignore = "figure suite: live-score tables over face sizes and damage; release, scripts/test.sh"]
fn passive_scores_by_face_size_and_damage() {
    let samples = measure();
    println!(
        "| spoilt | face px | real faces | real scored spoof | real median | spoof faces | spoof scored live | sharpness of real (median) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for how in SPOILT {
        for b in ["under 32", "32 to 49", "50 to 69", "70 to 99", "100 and up"] {
            let of = |real: bool| -> Vec<Sample> {
                samples
                    .iter()
                    .filter(|s| s.real == real && s.how == how && band(s.size_px) == b)
                    .copied()
                    .collect()
            };
            let (real, spoof) = (of(true), of(false));
            let median = |v: &mut Vec<f32>| {
                v.sort_by(f32::total_cmp);
                v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
            };
            println!(
                "| {how:?} | {b} | {} | {} | {:.2} | {} | {} | {:.0} |",
                real.len(),
                real.iter().filter(|s| s.score < DEFAULT_LIVE_THRESHOLD).count(),
                median(&mut real.iter().map(|s| s.score).collect()),
                spoof.len(),
                spoof.iter().filter(|s| s.score >= DEFAULT_LIVE_THRESHOLD).count(),
                median(&mut real.iter().map(|s| s.sharpness).collect()),
            );
        }
    }
    for s in &samples {
        println!(
            "sample,{},{},{:?},{:.1},{:.1},{:.3}",
            s.source,
            u8::from(s.real),
            s.how,
            s.size_px,
            s.sharpness,
            s.score
        );
    }
    assert!(samples.iter().any(|s| !s.real), "the spoof samples were measured");
}
