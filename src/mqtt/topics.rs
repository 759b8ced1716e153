//! Topic names, from the configured prefix, the site and the device.

use crate::store::EventKind;

/// Every topic this device uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `{prefix}/{device}/attendance`.
    pub attendance: String,
    /// `{prefix}/{device}/alert`.
    pub alert: String,
    /// `{prefix}/{device}/status` (retained; the last will too).
    pub status: String,
    /// `{prefix}/roster`: the site's roster, retained.
    pub site_roster: String,
    /// `{prefix}/{device}/roster`: a roster for this device only, retained.
    pub device_roster: String,
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
            status: under(&format!("{device}/status")),
            site_roster: under("roster"),
            device_roster: under(&format!("{device}/roster")),
        }
    }

    /// Where an outbox row of `kind` is published.
    pub fn event(&self, kind: EventKind) -> &str {
        match kind {
            EventKind::Attendance => &self.attendance,
            EventKind::Alert => &self.alert,
        }
    }

    /// True for the two roster topics.
    pub fn is_roster(&self, topic: &str) -> bool {
        topic == self.site_roster || topic == self.device_roster
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
        assert_eq!(Topics::new("", "s", "d").alert, "d/alert");
    }
}
