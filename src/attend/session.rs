//! Class sessions: which session a room is in at a given moment, and whether an arrival is on
//! time. Weekly slots in the school's time zone; everything rollcall stores and sends is UTC.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::{OutsideSessions, TimetableConfig, TimetableError, WeeklySlot};
use crate::event::Status;

/// The session a room is in now.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveSession {
    /// This occurrence: the slot id and the local date, e.g. `7B-MATHS@2026-11-23`.
    pub occurrence: String,
    /// Start, UTC.
    pub start: DateTime<Utc>,
    /// Arrivals after this are late.
    pub late_after: DateTime<Utc>,
    /// Roster group to match against, if the slot names one.
    pub group: Option<String>,
}

/// Where an arrival belongs.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The session, or `None` outside sessions (once-per-day mode).
    pub session: Option<ActiveSession>,
    /// Key of the once-per-room guard: the occurrence, or `day:YYYY-MM-DD`.
    pub once_key: String,
    /// Present or late.
    pub status: Status,
}

/// The timetable in use, shared between the engine and the sync that replaces it with one from
/// the backend; carries the synced version (0: the config's own).
#[derive(Debug, Clone)]
pub struct SharedTimetable(std::sync::Arc<std::sync::RwLock<(u64, std::sync::Arc<Timetable>)>>);

impl SharedTimetable {
    /// Shares `timetable`, synced as `version`.
    pub fn new(timetable: Timetable, version: u64) -> SharedTimetable {
        SharedTimetable(std::sync::Arc::new(std::sync::RwLock::new((
            version,
            std::sync::Arc::new(timetable),
        ))))
    }

    /// The timetable now.
    pub fn current(&self) -> std::sync::Arc<Timetable> {
        crate::lock::read(&self.0).1.clone()
    }

    /// Its synced version (0: the config's own).
    pub fn version(&self) -> u64 {
        crate::lock::read(&self.0).0
    }

    /// Puts `timetable` in use from the next decision on.
    pub fn replace(&self, timetable: Timetable, version: u64) {
        let next = (version, std::sync::Arc::new(timetable));
        *crate::lock::write(&self.0) = next;
    }
}

/// The weekly timetable, checked.
#[derive(Debug, Clone)]
pub struct Timetable {
    tz: Tz,
    outside: OutsideSessions,
    slots: Vec<WeeklySlot>,
}

impl Timetable {
    /// Checks and compiles the configured timetable.
    pub fn new(config: &TimetableConfig) -> Result<Timetable, TimetableError> {
        let (tz, slots) = config.check()?;
        Ok(Timetable {
            tz,
            outside: config.outside_sessions,
            slots,
        })
    }

    fn utc(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        // In a DST gap the local time does not exist; take the instant just after it.
        let local = self
            .tz
            .from_local_datetime(&date.and_time(time))
            .earliest()
            .or_else(|| {
                self.tz
                    .from_local_datetime(&(date.and_time(time) + Duration::hours(1)))
                    .earliest()
            });
        local.map_or_else(
            || Utc.from_utc_datetime(&date.and_time(time)),
            |t| t.with_timezone(&Utc),
        )
    }

    /// The session `room` is in at `at`, if any.
    pub fn session_at(&self, room: &str, at: DateTime<Utc>) -> Option<ActiveSession> {
        let local = at.with_timezone(&self.tz);
        let (date, time) = (local.date_naive(), local.time());
        self.slots
            .iter()
            .find(|s| s.room == room && s.days.contains(&date.weekday()) && s.start <= time && time < s.end)
            .map(|s| {
                let start = self.utc(date, s.start);
                ActiveSession {
                    occurrence: format!("{}@{}", s.id, date.format("%Y-%m-%d")),
                    start,
                    late_after: start + s.grace,
                    group: s.group.clone(),
                }
            })
    }

    /// Where someone first seen at `first_seen` in `room` belongs; `None` when they are outside
    /// every session and the timetable says to ignore that.
    pub fn place(&self, room: &str, first_seen: DateTime<Utc>) -> Option<Placement> {
        match self.session_at(room, first_seen) {
            Some(session) => Some(Placement {
                once_key: session.occurrence.clone(),
                status: if first_seen > session.late_after {
                    Status::Late
                } else {
                    Status::Present
                },
                session: Some(session),
            }),
            None if self.outside == OutsideSessions::OncePerDay => Some(Placement {
                session: None,
                once_key: format!("day:{}", first_seen.with_timezone(&self.tz).format("%Y-%m-%d")),
                status: Status::Present,
            }),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SessionSlot;

    fn table(tz: &str, outside: OutsideSessions) -> Timetable {
        let slot = |id: &str, days: &[&str], start: &str, end: &str| SessionSlot {
            id: id.into(),
            room: "101".into(),
            days: days.iter().map(|d| d.to_string()).collect(),
            start: start.into(),
            end: end.into(),
            grace_min: 10,
            group: Some("7b".into()),
        };
        Timetable::new(&TimetableConfig {
            timezone: tz.into(),
            outside_sessions: outside,
            sessions: vec![
                slot("MATHS", &["mon", "wed"], "09:00", "10:00"),
                slot("ART", &["mon"], "10:00", "11:00"),
            ],
        })
        .unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn sessions_follow_the_local_clock_and_grace() {
        // 2026-11-23 is a Monday; London is on GMT in November, UTC+1 in June.
        let t = table("Europe/London", OutsideSessions::Ignore);
        let p = t.place("101", utc("2026-11-23T09:05:00Z")).unwrap();
        assert_eq!(p.session.as_ref().unwrap().occurrence, "MATHS@2026-11-23");
        assert_eq!(p.status, Status::Present);
        assert_eq!(p.session.unwrap().group.as_deref(), Some("7b"));
        assert_eq!(
            t.place("101", utc("2026-11-23T09:11:00Z")).unwrap().status,
            Status::Late
        );
        assert_eq!(
            t.place("101", utc("2026-11-23T10:00:00Z")).unwrap().once_key,
            "ART@2026-11-23"
        );
        assert!(
            t.place("101", utc("2026-11-24T09:05:00Z")).is_none(),
            "Tuesday has no session"
        );
        assert!(t.place("102", utc("2026-11-23T09:05:00Z")).is_none(), "other room");
        // Summer time: 09:05 local is 08:05 UTC.
        let june = t.place("101", utc("2026-06-01T08:05:00Z")).unwrap();
        assert_eq!(june.once_key, "MATHS@2026-06-01");
        assert_eq!(june.session.unwrap().start, utc("2026-06-01T08:00:00Z"));
    }

    #[test]
    fn outside_sessions_once_per_day_uses_the_local_date() {
        let t = table("Asia/Tokyo", OutsideSessions::OncePerDay);
        // 23:30 UTC on the 23rd is 08:30 on the 24th in Tokyo.
        let p = t.place("101", utc("2026-11-23T23:30:00Z")).unwrap();
        assert_eq!(p.once_key, "day:2026-11-24");
        assert!(p.session.is_none());
    }

    #[test]
    fn bad_timetables_say_what_is_wrong() {
        let mut c = TimetableConfig {
            timezone: "Mars/Olympus".into(),
            ..TimetableConfig::default()
        };
        assert!(
            Timetable::new(&c)
                .unwrap_err()
                .to_string()
                .contains("not an IANA time zone")
        );
        c.timezone = "UTC".into();
        let slot = |id: &str, start: &str, end: &str| SessionSlot {
            id: id.into(),
            room: "101".into(),
            days: vec!["mon".into()],
            start: start.into(),
            end: end.into(),
            grace_min: 5,
            group: None,
        };
        c.sessions = vec![slot("A", "09:00", "10:00"), slot("B", "09:30", "10:30")];
        let e = Timetable::new(&c).unwrap_err().to_string();
        assert!(e.contains("`A` and `B` overlap in room 101 on Mon"), "{e}");
        c.sessions = vec![slot("A", "9am", "10:00")];
        assert!(Timetable::new(&c).unwrap_err().to_string().contains("not a time like"));
        c.sessions = vec![slot("A", "10:00", "09:00")];
        assert!(Timetable::new(&c).unwrap_err().to_string().contains("not after"));
    }
}
