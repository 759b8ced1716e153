//! When a silent camera is worth an alert, and when it is back.
//!
//! A camera retries by itself for ever, so a broken one never stops the daemon; it also never
//! tells anyone. This watch turns "no frame for `down_after`" into one `camera_down` alert, and
//! the first frame after it into one `camera_up`, however often the pipeline flaps in between.
//! It reads only the camera's frame counter and the time, so it is tested without a camera.

use std::time::{Duration, Instant};

/// A change worth an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// No frame for `silent` (at least the configured `down_after`).
    Down {
        /// Since the last frame, or since the watch began when none ever came.
        silent: Duration,
        /// Whether any frame ever came.
        ever_streamed: bool,
    },
    /// Frames again, after an alerted outage of `down_for`.
    Up {
        /// From the last frame before the outage to the first after it.
        down_for: Duration,
    },
}

/// The watch over one camera's frames.
#[derive(Debug, Clone)]
pub struct DownWatch {
    after: Duration,
    frames: u64,
    last_frame: Instant,
    ever_streamed: bool,
    down: bool,
}

impl DownWatch {
    /// Starts watching at `now`: a camera that never streams is down `after` from here.
    pub fn new(after: Duration, now: Instant) -> DownWatch {
        DownWatch {
            after,
            frames: 0,
            last_frame: now,
            ever_streamed: false,
            down: false,
        }
    }

    /// Looks at the camera's frame counter (`frames_in`, ever growing) at `now`; says whether
    /// that is news.
    pub fn observe(&mut self, frames_in: u64, now: Instant) -> Option<Availability> {
        if frames_in != self.frames {
            let gap = now.saturating_duration_since(self.last_frame);
            self.frames = frames_in;
            self.last_frame = now;
            self.ever_streamed = true;
            return std::mem::take(&mut self.down).then_some(Availability::Up { down_for: gap });
        }
        let silent = now.saturating_duration_since(self.last_frame);
        if self.down || silent < self.after {
            return None;
        }
        self.down = true;
        Some(Availability::Down {
            silent,
            ever_streamed: self.ever_streamed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(60);

    fn at(start: Instant, s: u64) -> Instant {
        start + Duration::from_secs(s)
    }

    #[test]
    fn a_streaming_camera_is_never_news() {
        let t0 = Instant::now();
        let mut w = DownWatch::new(AFTER, t0);
        for s in 1..600 {
            assert_eq!(w.observe(s * 10, at(t0, s)), None);
        }
    }

    #[test]
    fn silence_is_reported_once_and_the_return_once() {
        let t0 = Instant::now();
        let mut w = DownWatch::new(AFTER, t0);
        assert_eq!(w.observe(5, at(t0, 1)), None);
        assert_eq!(w.observe(5, at(t0, 60)), None, "59 s of silence is not yet down");
        assert_eq!(
            w.observe(5, at(t0, 61)),
            Some(Availability::Down {
                silent: AFTER,
                ever_streamed: true
            })
        );
        for s in 62..500 {
            assert_eq!(w.observe(5, at(t0, s)), None, "down is said once");
        }
        assert_eq!(
            w.observe(6, at(t0, 500)),
            Some(Availability::Up {
                down_for: Duration::from_secs(499)
            })
        );
        assert_eq!(w.observe(7, at(t0, 501)), None, "up is said once");
    }

    #[test]
    fn a_camera_that_never_streams_is_down_after_the_delay_from_start() {
        let t0 = Instant::now();
        let mut w = DownWatch::new(AFTER, t0);
        assert_eq!(w.observe(0, at(t0, 59)), None);
        assert_eq!(
            w.observe(0, at(t0, 60)),
            Some(Availability::Down {
                silent: AFTER,
                ever_streamed: false
            })
        );
    }

    #[test]
    fn short_gaps_below_the_delay_raise_nothing() {
        let t0 = Instant::now();
        let mut w = DownWatch::new(AFTER, t0);
        let mut frames = 0;
        for s in (0..3600).step_by(45) {
            frames += 1;
            assert_eq!(w.observe(frames, at(t0, s)), None);
        }
    }
}
