//! Benchmarks that print figures: where the time per photo goes, and how it compares with the
//! models running alone.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::capture::image;
use crate::vision::analyze::FaceAnalyzer;
use crate::vision::model::ModelError;

/// Samples of one measured quantity, in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<f64>);

impl Samples {
    fn push(&mut self, d: Duration) {
        self.0.push(d.as_secs_f64() * 1e3);
    }

    /// The q-quantile (nearest rank), 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }

    /// Median.
    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }
}

/// Per-stage samples over a run of photos.
#[derive(Debug, Clone, Default)]
pub struct PhotoBench {
    /// Photos measured per round.
    pub photos: usize,
    /// Rounds over all photos.
    pub rounds: usize,
    /// Faces found in one round.
    pub faces: usize,
    /// File read and JPEG/PNG decode.
    pub decode: Samples,
    /// Detection stage.
    pub detect: Samples,
    /// Alignment and quality.
    pub align: Samples,
    /// Recognizer stage.
    pub embed: Samples,
    /// Anti-spoofing stage.
    pub antispoof: Samples,
    /// Whole analyzer without decode.
    pub total: Samples,
    /// The same photo's models run alone on prepared inputs.
    pub model: Samples,
    /// Of which the detector.
    pub model_detect: Samples,
    /// Of which the recognizer.
    pub model_embed: Samples,
    /// Of which the anti-spoofing models.
    pub model_antispoof: Samples,
}

/// Runs the analyzer over `photos` for `rounds` rounds (after one warm-up round).
///
/// Photos that fail to load are reported on stderr and skipped: a benchmark over a folder
/// should not stop at one odd file.
pub fn photos(
    analyzer: &mut FaceAnalyzer,
    photos: &[PathBuf],
    rounds: usize,
    max_pixels: u64,
) -> Result<PhotoBench, ModelError> {
    let mut benches = interleaved(&mut [analyzer], photos, rounds, max_pixels)?;
    Ok(benches.pop().unwrap_or_default())
}

/// [`photos`] for several analyzers at once, taking turns photo by photo, so that each meets
/// the same machine (its clock, its caches, its other load) and their ratio means something.
pub fn interleaved(
    analyzers: &mut [&mut FaceAnalyzer],
    photos: &[PathBuf],
    rounds: usize,
    max_pixels: u64,
) -> Result<Vec<PhotoBench>, ModelError> {
    let mut frames = Vec::new();
    for p in photos {
        match image::load(p, max_pixels) {
            Ok(f) => frames.push((p.clone(), f)),
            Err(e) => eprintln!("skipping {}: {e}", p.display()),
        }
    }
    let mut benches = vec![
        PhotoBench {
            photos: frames.len(),
            rounds,
            ..PhotoBench::default()
        };
        analyzers.len()
    ];
    for (analyzer, bench) in analyzers.iter_mut().zip(&mut benches) {
        for (_, frame) in &frames {
            bench.faces += analyzer.analyze(frame)?.faces.len();
        }
    }
    for _ in 0..rounds {
        for (path, frame) in &frames {
            for (analyzer, bench) in analyzers.iter_mut().zip(&mut benches) {
                let t = Instant::now();
                // Decoding is timed from the file each round; the frame used is the preloaded one.
                let _ = image::load(path, max_pixels);
                bench.decode.push(t.elapsed());
                let a = analyzer.analyze(frame)?;
                bench.detect.push(a.times.detect);
                bench.align.push(a.times.align);
                bench.embed.push(a.times.embed);
                bench.antispoof.push(a.times.antispoof);
                bench.total.push(a.times.total);
                let faces: Vec<_> = a.faces.iter().map(|f| f.face).collect();
                let model = analyzer.time_models(frame, &faces)?;
                bench.model.push(model.total());
                bench.model_detect.push(model.detect);
                bench.model_embed.push(model.embed);
                bench.model_antispoof.push(model.antispoof);
            }
        }
    }
    Ok(benches)
}

impl PhotoBench {
    /// The rows every report prints: name and samples.
    fn rows(&self) -> [(&'static str, &Samples); 10] {
        [
            ("decode (file + JPEG/PNG)", &self.decode),
            ("detect", &self.detect),
            ("align + quality", &self.align),
            ("embed", &self.embed),
            ("anti-spoof", &self.antispoof),
            ("total (excluding decode)", &self.total),
            ("pure model time", &self.model),
            ("  of which detector", &self.model_detect),
            ("  of which recognizer", &self.model_embed),
            ("  of which anti-spoof", &self.model_antispoof),
        ]
    }
}

/// Two benches of the same photos, side by side: the baseline's medians, the other's, and how
/// many times faster the other is.
pub struct Speedup<'a> {
    /// What the ratio is against (FP32).
    pub baseline: (&'a str, &'a PhotoBench),
    /// What is measured against it (INT8).
    pub candidate: (&'a str, &'a PhotoBench),
}

impl std::fmt::Display for Speedup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ((a_name, a), (b_name, b)) = (self.baseline, self.candidate);
        writeln!(
            f,
            "{} photos x {} rounds, taking turns; faces per round: {a_name} {}, {b_name} {}",
            a.photos, a.rounds, a.faces, b.faces
        )?;
        writeln!(
            f,
            "{:<28} {:>12} {:>12} {:>9}",
            "stage (median ms)", a_name, b_name, "speedup"
        )?;
        for ((name, x), (_, y)) in a.rows().into_iter().zip(b.rows()) {
            let (x, y) = (x.median(), y.median());
            let ratio = if y > 0.0 { format!("{:.2}x", x / y) } else { "-".into() };
            writeln!(f, "{name:<28} {x:>12.2} {y:>12.2} {ratio:>9}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for PhotoBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} photos x {} rounds, {} faces per round",
            self.photos, self.rounds, self.faces
        )?;
        writeln!(f, "{:<28} {:>10} {:>10}", "stage", "median ms", "p95 ms")?;
        for (name, s) in self.rows() {
            writeln!(f, "{name:<28} {:>10.2} {:>10.2}", s.median(), s.quantile(0.95))?;
        }
        let (t, m) = (self.total.median(), self.model.median());
        if m > 0.0 {
            writeln!(f, "total / pure model time (medians): {:.3}x", t / m)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut s = Samples::default();
        for ms in [5u64, 1, 4, 2, 3] {
            s.push(Duration::from_millis(ms));
        }
        assert_eq!(s.median(), 3.0);
        assert_eq!(s.quantile(0.95), 5.0);
        assert_eq!(Samples::default().median(), 0.0);
    }
}
