//! Topic names, from the configured prefix, the site and the device.

use crate::store::{EventKind, Synced};

/// Every topic this device uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `{prefix}/{device}/attendance`.
    pub attendance: String,
    /// `{prefix}/{device}/alert`.
    pub alert: String,
    /// `{prefix}/{device}/audit`.
    pub audit: String,
    /// `{prefix}/{device}/status` (retained; the last will too).
    pub status: String,
    /// `{prefix}/roster`: the site's roster, retained.
    pub site_roster: String,
    /// `{prefix}/{device}/roster`: a roster for this device only, retained.
    pub device_roster: String,
    /// `{prefix}/timetable`: the site's timetable, retained.
    pub site_timetable: String,
    /// `{prefix}/{device}/timetable`: a timetable for this device only, retained.
    pub device_timetable: String,
}

/// What arrived on a topic the device subscribes to, and for whom it was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inbound {
    /// A roster or a timetable envelope.
    pub what: Synced,
    /// On this device's own topic (else the site's): the envelope must be sealed for this
    /// device, not the site.
    pub for_device: bool,
}

impl Topics {
    /// Topics under `prefix` (with `{site}` replaced) for `device`.
    pub fn new(prefix: &str, site: &str, device: &str) -> Topics {
        let prefix = prefix.replace("{site}", site);
        let under = |rest: &str| {
            if prefix.is_empty() {
                rest.to_string()
            } else {
                format!("{prefix}/{rest}")
            }
        };
        Topics {
            attendance: under(&format!("{device}/attendance")),
            alert: under(&format!("{device}/alert")),
            audit: under(&format!("{device}/audit")),
            status: under(&format!("{device}/status")),
            site_roster: under("roster"),
            device_roster: under(&format!("{device}/roster")),
            site_timetable: under("timetable"),
            device_timetable: under(&format!("{device}/timetable")),
        }
    }

    /// Where an outbox row of `kind` is published.
    pub fn event(&self, kind: EventKind) -> &str {
        match kind {
            EventKind::Attendance => &self.attendance,
            EventKind::Alert => &self.alert,
            EventKind::Audit => &self.audit,
        }
    }

    /// What `topic` carries, if it is one the device takes messages on.
    pub fn inbound(&self, topic: &str) -> Option<Inbound> {
        let (what, for_device) = if topic == self.site_roster {
            (Synced::Roster, false)
        } else if topic == self.device_roster {
            (Synced::Roster, true)
        } else if topic == self.site_timetable {
            (Synced::Timetable, false)
        } else if topic == self.device_timetable {
            (Synced::Timetable, true)
        } else {
            return None;
        };
        Some(Inbound { what, for_device })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_contract() {
        let t = Topics::new("rollcall/v1/{site}", "hillside", "room-101");
        assert_eq!(t.attendance, "rollcall/v1/hillside/room-101/attendance");
        assert_eq!(t.status, "rollcall/v1/hillside/room-101/status");
        assert_eq!(t.site_roster, "rollcall/v1/hillside/roster");
        assert_eq!(t.device_roster, "rollcall/v1/hillside/room-101/roster");
        assert_eq!(
            t.inbound("rollcall/v1/hillside/timetable"),
            Some(Inbound {
                what: Synced::Timetable,
                for_device: false
            })
        );
        assert_eq!(
            t.inbound("rollcall/v1/hillside/room-101/roster"),
            Some(Inbound {
                what: Synced::Roster,
                for_device: true
            })
        );
        assert_eq!(t.inbound(&t.status), None);
        assert_eq!(Topics::new("", "s", "d").alert, "d/alert");
    }
}
