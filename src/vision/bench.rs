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
    let mut frames = Vec::new();
    for p in photos {
        match image::load(p, max_pixels) {
            Ok(f) => frames.push((p.clone(), f)),
            Err(e) => eprintln!("skipping {}: {e}", p.display()),
        }
    }
    let mut bench = PhotoBench {
        photos: frames.len(),
        rounds,
        ..PhotoBench::default()
    };
    for (_, frame) in &frames {
        let a = analyzer.analyze(frame)?;
        bench.faces += a.faces.len();
    }
    for _ in 0..rounds {
        for (path, frame) in &frames {
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
    Ok(bench)
}

impl std::fmt::Display for PhotoBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} photos x {} rounds, {} faces per round",
            self.photos, self.rounds, self.faces
        )?;
        writeln!(f, "{:<28} {:>10} {:>10}", "stage", "median ms", "p95 ms")?;
        let rows = [
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
        ];
        for (name, s) in rows {
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
