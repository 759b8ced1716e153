//! `[timetable]`: when each room has which class session, in the school's time zone.

use chrono::{Duration, NaiveTime, Weekday};
use chrono_tz::Tz;
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

/// A timetable that cannot be right.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimetableError {
    /// Unknown time zone.
    #[error("[timetable] timezone {0:?} is not an IANA time zone (e.g. \"Europe/London\")")]
    TimeZone(String),
    /// A slot with a bad field.
    #[error("[timetable] session `{id}`: {problem}")]
    Slot { id: String, problem: String },
    /// Two slots in one room at once.
    #[error("[timetable] sessions `{a}` and `{b}` overlap in room {room} on {day}; a room holds one session at a time")]
    Overlap {
        a: String,
        b: String,
        room: String,
        day: String,
    },
}

/// One weekly slot, checked: its days, times and grace period as values.
#[derive(Debug, Clone)]
pub struct WeeklySlot {
    /// The session's id in the school's system.
    pub id: String,
    /// Its room.
    pub room: String,
    /// Its days of the week.
    pub days: Vec<Weekday>,
    /// Local start.
    pub start: NaiveTime,
    /// Local end, after the start.
    pub end: NaiveTime,
    /// How long after the start an arrival is still present.
    pub grace: Duration,
    /// The roster group it matches against.
    pub group: Option<String>,
}

impl TimetableConfig {
    /// Checks the timetable (a known time zone, well-formed slots, no two slots in one room at
    /// once) and gives its time zone and slots as values.
    pub fn check(&self) -> Result<(Tz, Vec<WeeklySlot>), TimetableError> {
        let tz: Tz = self
            .timezone
            .parse()
            .map_err(|_| TimetableError::TimeZone(self.timezone.clone()))?;
        let mut slots = Vec::new();
        for s in &self.sessions {
            slots.push(checked_slot(s)?);
        }
        for (i, a) in slots.iter().enumerate() {
            for b in &slots[i + 1..] {
                if a.room != b.room {
                    continue;
                }
                if let Some(day) = a.days.iter().find(|d| b.days.contains(d))
                    && a.start < b.end
                    && b.start < a.end
                {
                    return Err(TimetableError::Overlap {
                        a: a.id.clone(),
                        b: b.id.clone(),
                        room: a.room.clone(),
                        day: day.to_string(),
                    });
                }
            }
        }
        Ok((tz, slots))
    }
}

/// One slot's fields as values, or what is wrong with the first bad one.
fn checked_slot(s: &SessionSlot) -> Result<WeeklySlot, TimetableError> {
    let bad = |problem: String| TimetableError::Slot {
        id: s.id.clone(),
        problem,
    };
    let time = |t: &str, key: &str| {
        NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| bad(format!("`{key}` {t:?} is not a time like \"09:05\"")))
    };
    let (start, end) = (time(&s.start, "start")?, time(&s.end, "end")?);
    if end <= start {
        return Err(bad(format!("`end` {} is not after `start` {}", s.end, s.start)));
    }
    if s.days.is_empty() {
        return Err(bad("`days` is empty; list days like [\"mon\", \"wed\"]".into()));
    }
    let days = s
        .days
        .iter()
        .map(|d| parse_day(d).ok_or_else(|| bad(format!("`days` has {d:?}; use mon, tue, wed, thu, fri, sat, sun"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(WeeklySlot {
        id: s.id.clone(),
        room: s.room.clone(),
        days,
        start,
        end,
        grace: Duration::minutes(s.grace_min as i64),
        group: s.group.clone(),
    })
}

fn parse_day(d: &str) -> Option<Weekday> {
    match d.to_ascii_lowercase().get(..3)? {
        "mon" => Some(Weekday::Mon),
        "tue" => Some(Weekday::Tue),
        "wed" => Some(Weekday::Wed),
        "thu" => Some(Weekday::Thu),
        "fri" => Some(Weekday::Fri),
        "sat" => Some(Weekday::Sat),
        "sun" => Some(Weekday::Sun),
        _ => None,
    }
}
