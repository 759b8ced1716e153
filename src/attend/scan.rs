//! Which part of a frame is searched for faces: the whole frame now and then, and between those
//! full passes only the regions around the faces already tracked.
//!
//! A full pass at the camera's own resolution costs several times what the old 640 px pass did
//! (a 1920x1088 input is about 4.2 times 640x640). A student sits in one place for the whole
//! lesson, so a frame between passes need only look again where the tracked faces are, at full
//! resolution; a new face is found at the next full pass, at most `[detect]
//! full_pass_interval_s` later. When a region search loses a tracked face (it moved away, the
//! scene changed), the next frame gets a full pass at once. The rule is a pure function of times,
//! boxes and that flag.

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

/// When the last full pass was and what the last frame showed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Last {
    /// Frame time of the camera's last full pass, if any.
    pub full: Option<DateTime<Utc>>,
    /// The last frame's region search lost a tracked face.
    pub lost_a_face: bool,
}

/// The scan of a frame at `now` after `last`, with `interval` between full passes (zero:
/// every frame) and `tracked` the boxes of the live tracks. A clock that went back (a looping
/// file, a corrected time) gets a full pass.
pub fn plan(last: Last, now: DateTime<Utc>, interval: chrono::Duration, tracked: Vec<BBox>) -> Scan {
    match last.full {
        Some(at) if !last.lost_a_face && now >= at && now - at < interval => Scan::Around(tracked),
        _ => Scan::Full,
    }
}

/// Whether a region search lost a face: some track searched for (`searched`, by id) got no
/// face (`found`: the tracks the frame's faces went to). A new track found in a region never
/// makes up for a lost one.
pub fn lost_a_face(searched: &[u64], found: &[u64]) -> bool {
    searched.iter().any(|id| !found.contains(id))
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

    fn after(ms: i64) -> Last {
        Last {
            full: Some(at(ms)),
            lost_a_face: false,
        }
    }

    #[test]
    fn a_full_pass_first_then_once_per_interval_and_regions_between() {
        let second = Duration::seconds(1);
        assert_eq!(plan(Last::default(), at(0), second, vec![face()]), Scan::Full);
        assert_eq!(
            plan(after(0), at(200), second, vec![face()]),
            Scan::Around(vec![face()])
        );
        assert_eq!(plan(after(0), at(999), second, vec![]), Scan::Around(vec![]));
        assert_eq!(plan(after(0), at(1000), second, vec![face()]), Scan::Full);
    }

    #[test]
    fn a_lost_face_no_interval_or_a_clock_that_went_back_means_a_full_pass() {
        let lost = Last {
            lost_a_face: true,
            ..after(0)
        };
        assert_eq!(plan(lost, at(200), Duration::seconds(1), vec![face()]), Scan::Full);
        assert_eq!(plan(after(0), at(200), Duration::zero(), vec![face()]), Scan::Full);
        assert_eq!(
            plan(after(5000), at(200), Duration::seconds(1), vec![face()]),
            Scan::Full
        );
    }

    #[test]
    fn a_face_is_lost_when_its_track_gets_none_whoever_else_turns_up() {
        assert!(!lost_a_face(&[1, 2], &[2, 1]));
        assert!(!lost_a_face(&[], &[]));
        assert!(lost_a_face(&[1, 2], &[1]));
        // Track 2 lost, a newcomer (7) found beside track 1: as many faces as searched, and
        // still a face lost.
        assert!(lost_a_face(&[1, 2], &[1, 7]));
    }
}
