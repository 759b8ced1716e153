//! Reconnect delays, for cameras and the broker: exponential, capped, with jitter so cameras (or
//! a site's devices) that failed together (a switch rebooting) do not all hammer the network at
//! the same instant.

use std::time::Duration;

/// Exponential backoff with ±25 % jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    seed: u64,
}

impl Backoff {
    /// Starts at `initial`, doubles per failure, never above `max`; `seed` varies the jitter
    /// between cameras or devices.
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            initial,
            max,
            failures: 0,
            seed: seed | 1,
        }
    }

    /// The delay before the next attempt; each call counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.initial.as_secs_f64() * 2f64.powi(self.failures.min(30) as i32);
        self.failures = self.failures.saturating_add(1);
        // splitmix64: jitter needs to differ between cameras, not to be unpredictable.
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64; // 0..1
        let jittered = base.min(self.max.as_secs_f64()) * (0.75 + 0.5 * unit);
        Duration::from_secs_f64(jittered.min(self.max.as_secs_f64()))
    }

    /// A success: the next failure starts again from `initial`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 42);
        let delays: Vec<f64> = (0..10).map(|_| b.next_delay().as_secs_f64()).collect();
        for (i, d) in delays.iter().enumerate() {
            let base = (2f64.powi(i as i32)).min(30.0);
            assert!(
                *d >= base * 0.75 - 1e-9 && *d <= (base * 1.25).min(30.0) + 1e-9,
                "{i}: {d}"
            );
        }
        assert!(delays[9] <= 30.0);
        b.reset();
        assert!(b.next_delay().as_secs_f64() <= 1.25);
        // Two cameras failing together do not retry in lockstep.
        let mut c = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 7);
        let mut d = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 8);
        assert_ne!(c.next_delay(), d.next_delay());
    }
}
