//! Decisions the store could not take yet (disk full, database locked): held in memory, in
//! order, and written again with backoff until the store takes them, so a disk error delays a
//! decision instead of losing it. Each keeps the times it was made with.
//!
//! The engine holds a decision here only when writing it failed, or when older ones are still
//! waiting (order is kept). A decision counts as recorded, and is printed and published, only
//! once it is committed. Memory is bounded by [`MAX_HELD`]: past it the oldest alert goes first,
//! then the oldest attendance, each logged whole at error level so the journal keeps it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backoff::Backoff;
use crate::event::{Alert, AttendanceEvent};

/// Decisions held at most.
pub const MAX_HELD: usize = 100_000;

/// A decision waiting for the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// An attendance event and its once-per-session key.
    Attendance {
        /// The event, with its original times.
        event: AttendanceEvent,
        /// The session occurrence or day it counts for.
        once_key: String,
    },
    /// An alert.
    Alert(Alert),
}

/// Whether the store takes decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreState {
    /// Every decision is written as it is made.
    #[default]
    Ok,
    /// Writes fail; decisions wait in memory, in order.
    Failing,
}

/// How the store is doing, for the status and systemd.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreHealth {
    /// `ok`, or `failing` while decisions are held.
    pub state: StoreState,
    /// Decisions held in memory, waiting for the store.
    pub held: usize,
    /// When writing began to fail.
    pub failing_since: Option<DateTime<Utc>>,
    /// The last write error, in short.
    pub last_error: Option<String>,
}

/// The held decisions and the retry schedule.
#[derive(Debug)]
pub struct Held {
    queue: VecDeque<Pending>,
    backoff: Backoff,
    next_try: Instant,
    failing_since: Option<DateTime<Utc>>,
    last_error: Option<String>,
    /// Decisions held since the store began failing, for the alert when it recovers.
    held_total: u64,
    /// Failed writes since start, for the metrics (never reset).
    write_failures: u64,
}

/// What a recovery looked like, for its alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// When writing began to fail.
    pub since: DateTime<Utc>,
    /// The last error seen.
    pub error: String,
    /// Decisions held and then recorded.
    pub held: u64,
}

impl Default for Held {
    fn default() -> Self {
        Held::new()
    }
}

impl Held {
    /// Nothing held; retries back off from 0.2 s to 10 s.
    pub fn new() -> Held {
        Held {
            queue: VecDeque::new(),
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10), 0x5eed),
            next_try: Instant::now(),
            failing_since: None,
            last_error: None,
            held_total: 0,
            write_failures: 0,
        }
    }

    /// True when decisions wait: a new one must queue behind them.
    pub fn is_waiting(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Holds `pending`, which the store just refused with `error` (or which must wait behind
    /// older ones).
    pub fn hold(&mut self, pending: Pending, error: Option<String>) {
        if let Some(e) = error {
            self.failed(e);
        }
        self.held_total += 1;
        self.queue.push_back(pending);
        if self.queue.len() > MAX_HELD {
            let at = self
                .queue
                .iter()
                .position(|p| matches!(p, Pending::Alert(_)))
                .unwrap_or(0);
            if let Some(lost) = self.queue.remove(at) {
                tracing::error!(decision = ?lost, "held decisions over their bound ({MAX_HELD}): the oldest dropped");
            }
        }
    }

    /// Writes that failed since the daemon started.
    pub fn write_failures(&self) -> u64 {
        self.write_failures
    }

    /// Records a failed write: the next try waits longer.
    pub fn failed(&mut self, error: String) {
        self.write_failures += 1;
        self.failing_since.get_or_insert_with(Utc::now);
        self.last_error = Some(error);
        self.next_try = Instant::now() + self.backoff.next_delay();
    }

    /// The oldest held decision, if it is time to try it again.
    pub fn due(&self) -> Option<&Pending> {
        // Asked before every frame: an empty queue answers without reading the clock.
        let front = self.queue.front()?;
        (Instant::now() >= self.next_try).then_some(front)
    }

    /// The oldest held decision was written: it is dropped from the queue. When that emptied the
    /// queue after a failure, says what the recovery looked like.
    pub fn written(&mut self) -> Option<Recovery> {
        self.queue.pop_front();
        if !self.queue.is_empty() {
            return None;
        }
        self.backoff.reset();
        let since = self.failing_since.take()?;
        let recovery = Recovery {
            since,
            error: self.last_error.take().unwrap_or_default(),
            held: std::mem::take(&mut self.held_total),
        };
        Some(recovery)
    }

    /// How the store is doing.
    pub fn health(&self) -> StoreHealth {
        StoreHealth {
            state: if self.failing_since.is_some() {
                StoreState::Failing
            } else {
                StoreState::Ok
            },
            held: self.queue.len(),
            failing_since: self.failing_since,
            last_error: self.last_error.clone(),
        }
    }

    /// Everything still held, for a last log line when the daemon stops before the store
    /// recovers.
    pub fn drain(&mut self) -> Vec<Pending> {
        self.queue.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(detail: &str) -> Pending {
        Pending::Alert(Alert {
            event_id: detail.into(),
            kind: crate::event::AlertKind::Spoof,
            camera_id: None,
            room: None,
            at: Utc::now(),
            detail: detail.into(),
            device: "d".into(),
        })
    }

    #[test]
    fn held_decisions_wait_in_order_and_recovery_is_reported_once() {
        let mut held = Held::new();
        assert_eq!(held.health().state, StoreState::Ok);
        held.hold(alert("a"), Some("disk full".into()));
        held.hold(alert("b"), None);
        let h = held.health();
        assert_eq!(
            (h.state, h.held, h.last_error.as_deref()),
            (StoreState::Failing, 2, Some("disk full"))
        );
        assert!(held.due().is_none(), "backing off");
        // The first retry comes after 0.2 s, with up to a quarter more of jitter.
        std::thread::sleep(Duration::from_millis(300));
        assert!(matches!(held.due(), Some(Pending::Alert(a)) if a.detail == "a"));
        assert_eq!(held.written(), None, "b still waits");
        let r = held.written().unwrap();
        assert_eq!((r.held, r.error.as_str()), (2, "disk full"));
        assert_eq!(held.health().state, StoreState::Ok);
        assert!(held.written().is_none());
    }
}
