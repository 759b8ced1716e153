//! Attendance events as the engine records them, for tests and benchmarks of the store and the
//! delivery path (what is inside an event does not matter to them; that it is a real one does).

use chrono::Utc;
use rollcall::event::{AttendanceEvent, Status};

/// A fresh event (new id, now) for `person`, decided on `device`.
pub fn attendance(person: &str, device: &str) -> AttendanceEvent {
    AttendanceEvent {
        event_id: rollcall::event::new_id(),
        person_id: person.into(),
        camera_id: "front".into(),
        room: "101".into(),
        session_id: Some("7B-MATHS@2026-11-23".into()),
        status: Status::Present,
        first_seen: Utc::now(),
        decided_at: Utc::now(),
        similarity: 0.7,
        margin: 0.3,
        liveness: Some(0.9),
        liveness_basis: rollcall::event::LivenessBasis::Passive,
        frames: 4,
        recognizer: "sface-2021dec".into(),
        device: device.into(),
        roster_version: 0,
    }
}
