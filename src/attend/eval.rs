//! An evaluation you can run and read: a clip through the same engine as the daemon, as fast as
//! it goes, and what became of each track (`rollcall eval`, the classroom test and bench).
//!
//! Frame times are the clip's own (its start plus each frame's position), so "when" in the
//! report is seconds into the clip, whatever the machine's speed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use opencv::core::Mat;
use serde::Serialize;

use crate::attend::engine::{Engine, EngineError, Outcome};
use crate::attend::track::TrackReport;

/// The camera and room a clip is played as.
pub const CAMERA: &str = "eval";
/// The room of [`CAMERA`].
pub const ROOM: &str = "eval";

/// When each recognised person was first marked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstMark {
    /// Who.
    pub person_id: String,
    /// Seconds into the clip of the verdict.
    pub after_s: f64,
    /// Seconds into the clip of that track's first frame.
    pub seen_s: f64,
}

/// What a clip showed the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Every track, in the order they ended.
    pub tracks: Vec<TrackReport>,
    /// Each person recognised, with the time of their first verdict.
    pub marked: Vec<FirstMark>,
    /// Spoof alerts raised.
    pub spoof_alerts: usize,
    /// Spoof tracks counted in an alert already raised at their place
    /// ([`crate::attend::episode`]).
    pub spoof_repeats: usize,
    /// Frames analysed.
    pub frames: u64,
    /// Of those, frames searched whole; the others were searched only around tracked faces.
    pub full_passes: u64,
    /// Seconds of clip analysed.
    pub clip_s: f64,
    /// Faces detected per frame, on average.
    pub faces_per_frame: f64,
    /// Recognizer runs (one per embedded face crop).
    pub recognizer_runs: u64,
    /// Recognizer runs per minute of clip.
    pub recognizer_runs_per_minute: f64,
    /// Processor time per analysed frame, all threads of this process, milliseconds.
    pub cpu_ms_per_frame: f64,
    /// Wall time per analysed frame, milliseconds.
    pub wall_ms_per_frame: f64,
}

/// Processor time this process has used, all threads (from `/proc/self/stat`, whose ticks are
/// 1/100 s on Linux); zero where that cannot be read.
pub fn process_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Plays `frames` (each with its position in the clip) through `engine` as camera [`CAMERA`]
/// from `start`, then ends every track.
pub fn evaluate(
    engine: &mut Engine,
    frames: impl Iterator<Item = (Mat, Duration)>,
    start: DateTime<Utc>,
) -> Result<Evaluation, EngineError> {
    engine.keep_reports();
    let before = engine.stats();
    let (cpu, wall) = (process_cpu_time(), Instant::now());
    let mut last = Duration::ZERO;
    let mut outcomes = Vec::new();
    for (image, at) in frames {
        last = last.max(at);
        let at = start + chrono::Duration::from_std(at).unwrap_or_default();
        outcomes.extend(engine.process(CAMERA, ROOM, &image, at)?);
    }
    outcomes.extend(engine.finish(CAMERA, ROOM)?);
    let (cpu, wall) = (process_cpu_time().saturating_sub(cpu), wall.elapsed());
    let stats = engine.stats();
    let frames = stats.frames - before.frames;
    let runs = stats.embeddings - before.embeddings;
    let per_frame = |d: Duration| d.as_secs_f64() * 1000.0 / frames.max(1) as f64;
    // A clip of n frames at the analysis rate lasts one frame longer than its last position.
    let clip_s = if frames > 1 {
        last.as_secs_f64() * frames as f64 / (frames - 1) as f64
    } else {
        0.0
    };
    let tracks = engine.take_reports();
    Ok(Evaluation {
        marked: first_marks(&tracks, start),
        spoof_alerts: outcomes.iter().filter(|o| matches!(o, Outcome::Spoof(_))).count(),
        spoof_repeats: outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::SpoofRepeated { .. }))
            .count(),
        frames,
        full_passes: stats.full_passes - before.full_passes,
        clip_s,
        faces_per_frame: (stats.faces - before.faces) as f64 / frames.max(1) as f64,
        recognizer_runs: runs,
        recognizer_runs_per_minute: if clip_s > 0.0 { runs as f64 * 60.0 / clip_s } else { 0.0 },
        cpu_ms_per_frame: per_frame(cpu),
        wall_ms_per_frame: per_frame(wall),
        tracks,
    })
}

/// Each person's earliest recognised track, in seconds from `start`, earliest first.
pub fn first_marks(tracks: &[TrackReport], start: DateTime<Utc>) -> Vec<FirstMark> {
    let seconds = |t: DateTime<Utc>| (t - start).num_milliseconds() as f64 / 1000.0;
    let mut first: BTreeMap<&str, FirstMark> = BTreeMap::new();
    for t in tracks {
        let (Some(person), Some(at)) = (&t.person_id, t.decided_at) else {
            continue;
        };
        let mark = FirstMark {
            person_id: person.clone(),
            after_s: seconds(at),
            seen_s: seconds(t.first_seen),
        };
        first
            .entry(person)
            .and_modify(|m| {
                if mark.after_s < m.after_s {
                    *m = mark.clone();
                }
            })
            .or_insert(mark);
    }
    let mut marks: Vec<FirstMark> = first.into_values().collect();
    marks.sort_by(|a, b| a.after_s.total_cmp(&b.after_s));
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(person: Option<&str>, seen_s: i64, decided_s: i64) -> TrackReport {
        let start = DateTime::<Utc>::UNIX_EPOCH;
        TrackReport {
            camera_id: CAMERA.into(),
            track: 1,
            first_seen: start + chrono::Duration::seconds(seen_s),
            last_seen: start + chrono::Duration::seconds(decided_s + 10),
            frames: 50,
            face_px: (40.0, 60.0),
            centre: (100.0, 100.0),
            verdict: if person.is_some() { "recognised" } else { "unknown" },
            person_id: person.map(str::to_string),
            decided_at: Some(start + chrono::Duration::seconds(decided_s)),
            why: String::new(),
            looks: 1,
        }
    }

    #[test]
    fn a_person_counts_once_at_their_earliest_verdict() {
        let tracks = [
            report(Some("kit"), 20, 25),
            report(None, 0, 1),
            report(Some("rose"), 2, 4),
            report(Some("kit"), 5, 8),
        ];
        let marks = first_marks(&tracks, DateTime::<Utc>::UNIX_EPOCH);
        let got: Vec<(&str, f64, f64)> = marks
            .iter()
            .map(|m| (m.person_id.as_str(), m.seen_s, m.after_s))
            .collect();
        assert_eq!(got, [("rose", 2.0, 4.0), ("kit", 5.0, 8.0)]);
    }

    #[test]
    fn this_process_cpu_time_moves_with_work() {
        // Spins until the clock moves, or 5 s of wall time: on a loaded machine the spin gets
        // only part of a core, so a fixed wall time proves nothing either way.
        let before = process_cpu_time();
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_secs(5)
            && process_cpu_time().saturating_sub(before) < Duration::from_millis(100)
        {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let used = process_cpu_time().saturating_sub(before);
        assert!(used >= Duration::from_millis(100), "{used:?} in {:?}", spin.elapsed());
    }
}
