//! Which part of a frame is searched for faces: the whole frame now and then, and between those
//! full passes only the regions around the faces already tracked.
//!
//! A full pass at the camera's own resolution costs several times what the old 640 px pass did
//! (a 1920x1088 input is about 4.2 times 640x640). A student sits in one place for the whole
//! lesson, so a frame between passes need only look again where the tracked faces are, at full
//! resolution; a new face is found at the next full pass, at most `[detect]
//! full_pass_interval_s` later. The rule is a pure function of times and boxes.

use chrono::{DateTime, Utc};

use crate::vision::detect::BBox;

/// What to search in a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Scan {
    /// The whole frame.
    Full,
    /// Only around these boxes (frame pixels): the last boxes of the camera's live tracks. Empty
    /// when nothing is tracked: nothing to search until the next full pass.
    Around(Vec<BBox>),
}

impl Scan {
    /// The name it has in metrics and reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scan::Full => "full",
            Scan::Around(_) => "regions",
        }
    }
}

/// The scan of a frame at `now`, the last full pass having been at `last_full` (none yet:
/// now), with `interval` between full passes (zero: every frame) and `tracked` the boxes of the
/// live tracks. A clock that went back (a looping file, a corrected time) gets a full pass.
pub fn plan(
    last_full: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    interval: chrono::Duration,
    tracked: Vec<BBox>,
) -> Scan {
    match last_full {
        Some(last) if now >= last && now - last < interval => Scan::Around(tracked),
        _ => Scan::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap_or_default()
    }

    fn face() -> BBox {
        BBox {
            x1: 10.0,
            y1: 10.0,
            x2: 30.0,
            y2: 30.0,
        }
    }

    #[test]
    fn a_full_pass_first_then_once_per_interval_and_regions_between() {
        let second = Duration::seconds(1);
        assert_eq!(plan(None, at(0), second, vec![face()]), Scan::Full);
        assert_eq!(
            plan(Some(at(0)), at(200), second, vec![face()]),
            Scan::Around(vec![face()])
        );
        assert_eq!(plan(Some(at(0)), at(999), second, vec![]), Scan::Around(vec![]));
        assert_eq!(plan(Some(at(0)), at(1000), second, vec![face()]), Scan::Full);
    }

    #[test]
    fn no_interval_or_a_clock_that_went_back_means_a_full_pass() {
        assert_eq!(plan(Some(at(0)), at(200), Duration::zero(), vec![face()]), Scan::Full);
        assert_eq!(
            plan(Some(at(5000)), at(200), Duration::seconds(1), vec![face()]),
            Scan::Full
        );
    }
}
