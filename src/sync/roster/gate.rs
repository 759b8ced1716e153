//! How many alerts a stream of refused messages may cost: the first refusal on a topic for a
//! reason raises one at once; the rest within the window are only counted, and summed up in one
//! alert when the window ends. Under a flood that is one alert and one summary per topic and
//! reason per window, whatever the rate, so whoever can publish junk cannot fill the outbox or
//! push attendance out of it. Topics are the device's few inbound ones and reasons a fixed set,
//! so the gate's memory is bounded too.
//!
//! A pure state machine over plain time: the sync asks, and records what it is told to.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The refusals counted for one key (a topic and a reason).
#[derive(Debug, Clone, PartialEq)]
struct Window {
    /// Until then, refusals are counted, not alerted.
    until: Instant,
    /// Refusals counted since the last alert.
    counted: u64,
}

/// Refusals summed up since the last alert about `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary<K> {
    /// What they were refused as: whatever the caller keys refusals by.
    pub key: K,
    /// Refusals not alerted one by one.
    pub count: u64,
}

/// Coalesces refusals per key: the sync keys them by what, topic and reason.
#[derive(Debug, Clone)]
pub struct RefusalGate<K> {
    window: Duration,
    keys: BTreeMap<K, Window>,
}

impl<K: Ord + Clone> RefusalGate<K> {
    /// A gate that alerts at most once per `window` per key, plus one summary.
    pub fn new(window: Duration) -> RefusalGate<K> {
        RefusalGate {
            window,
            keys: BTreeMap::new(),
        }
    }

    /// How long refusals for one key are counted before they are summed up.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// A refusal as `key` at `now`: true when it gets an alert of its own, false when it is only
    /// counted.
    pub fn admit(&mut self, key: K, now: Instant) -> bool {
        match self.keys.get_mut(&key) {
            // Within the window, or after a window that ended with refusals still to be summed
            // up by `due`: counted.
            Some(w) if now < w.until || w.counted > 0 => {
                w.counted += 1;
                false
            }
            _ => {
                self.keys.insert(
                    key,
                    Window {
                        until: now + self.window,
                        counted: 0,
                    },
                );
                true
            }
        }
    }

    /// The summaries due at `now`, in key order: one per key whose window ended with refusals
    /// counted. Each starts a new window, so a flood that goes on is summed up once per window.
    pub fn due(&mut self, now: Instant) -> Vec<Summary<K>> {
        let mut out = Vec::new();
        self.keys.retain(|key, w| {
            if now < w.until {
                return true;
            }
            if w.counted == 0 {
                return false;
            }
            out.push(Summary {
                key: key.clone(),
                count: std::mem::take(&mut w.counted),
            });
            w.until = now + self.window;
            true
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_costs_one_alert_and_one_summary_per_window_per_topic() {
        let t0 = Instant::now();
        let mut gate = RefusalGate::new(Duration::from_secs(60));
        let mut alerts = 0;
        let mut summaries = Vec::new();
        // 10 000 refusals in a minute on each of two topics, with the gate asked every second.
        for i in 0..20_000u64 {
            let now = t0 + Duration::from_millis(i * 3);
            let topic = if i % 2 == 0 { "site/roster" } else { "site/timetable" };
            alerts += u32::from(gate.admit((topic, "not authentic"), now));
            if i % 333 == 0 {
                summaries.extend(gate.due(now));
            }
        }
        summaries.extend(gate.due(t0 + Duration::from_secs(61)));
        assert_eq!(alerts, 2, "one at once per topic");
        assert_eq!(summaries.len(), 2, "{summaries:?}");
        assert_eq!(summaries.iter().map(|s| s.count).sum::<u64>(), 19_998);
        // Quiet afterwards: the next window ends with nothing to say, and the topic is forgotten.
        assert!(gate.due(t0 + Duration::from_secs(122)).is_empty());
        assert!(gate.keys.is_empty());
        assert!(gate.admit(("site/roster", "not authentic"), t0 + Duration::from_secs(123)));
    }

    #[test]
    fn refusals_after_a_window_with_counts_wait_for_its_summary() {
        let t0 = Instant::now();
        let mut gate = RefusalGate::new(Duration::from_secs(10));
        assert!(gate.admit(("a", "x"), t0));
        assert!(!gate.admit(("a", "x"), t0 + Duration::from_secs(1)));
        // The window ended, but nobody asked for its summary yet: still counted, not alerted.
        assert!(!gate.admit(("a", "x"), t0 + Duration::from_secs(11)));
        // Another reason on the same topic is news.
        assert!(gate.admit(("a", "y"), t0 + Duration::from_secs(11)));
        let due = gate.due(t0 + Duration::from_secs(11));
        assert_eq!(
            due,
            vec![Summary {
                key: ("a", "x"),
                count: 2,
            }]
        );
    }
}
