//! `[timetable]`: when each room has which class session, in the school's time zone.

use serde::{Deserialize, Serialize};

/// What to do with someone recognised outside every session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutsideSessions {
    /// No event.
    #[default]
    Ignore,
    /// One event per person per room per day, with no session id.
    OncePerDay,
}

/// One weekly session slot.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSlot {
    /// The session's id in the school's system (e.g. `7B-MATHS`).
    pub id: String,
    /// Room (cameras name theirs with `room`; a camera without one is its own room).
    pub room: String,
    /// Days of the week: `mon` ... `sun`.
    pub days: Vec<String>,
    /// Local start time, `HH:MM`.
    pub start: String,
    /// Local end time, `HH:MM`.
    pub end: String,
    /// Minutes after the start that still count as present; later is late.
    #[serde(default = "default_grace")]
    pub grace_min: u32,
    /// Roster group whose members this session matches against (others are unknown here).
    #[serde(default)]
    pub group: Option<String>,
}

fn default_grace() -> u32 {
    10
}

/// The weekly timetable.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimetableConfig {
    /// IANA time zone of the school, e.g. `Europe/London`.
    pub timezone: String,
    /// Outside every session: ignore, or once per day.
    pub outside_sessions: OutsideSessions,
    /// The weekly slots.
    pub sessions: Vec<SessionSlot>,
}

impl Default for TimetableConfig {
    fn default() -> Self {
        TimetableConfig {
            timezone: "UTC".into(),
            outside_sessions: OutsideSessions::Ignore,
            sessions: Vec::new(),
        }
    }
}
