//! Sync with the backend: events and status out over MQTT, and sealed rosters and timetables in.
//!
//! This part owns:
//! - the broker link, with its topics and the outbox thread ([`mqtt`]);
//! - the sealed envelope codec and roster and timetable sync ([`roster`]);
//! - the device's status as the backend and `rollcall status` see it ([`status`]).
//!
//! It may import `store` (the outbox; rosters are applied there), `attend` (the gallery and
//! timetable it replaces), `event` (what it publishes), `vision::embed` and `config`. Nothing in `vision` or
//! `capture` depends on it.

pub mod mqtt;
pub mod roster;
pub mod status;
