//! Attendance: analysed faces in, decisions out, with one attendance event per person per class
//! session.
//!
//! This part owns:
//! - which part of a frame is searched: a full pass now and then, regions around tracked faces
//!   between ([`scan`]);
//! - following a face across frames ([`track`]);
//! - matching its embeddings against the gallery ([`matching`]);
//! - the weekly timetable that places a decision in a session, present or late ([`session`]);
//! - the rules that decide a track, as pure functions ([`decide`]), and the engine that
//!   gathers their evidence and acts on their verdicts ([`engine`]);
//! - decisions the store could not take yet ([`held`]);
//! - one spoof alert per attack at one place, however many tracks it takes ([`episode`]);
//! - playing a clip through the engine off line, and what became of each track ([`eval`]);
//! - whether a camera shows faces well enough to take attendance ([`survey`]).
//!
//! What it emits, the attendance events and alerts, is plain data in `crate::event`. It may
//! import `vision` (what a face is), `store` (where a decision is committed), `event` and
//! `config`.
//! It knows nothing of MQTT or cameras: the daemon feeds it frames and takes its outcomes.

pub mod decide;
pub mod engine;
pub mod episode;
pub mod eval;
pub mod held;
pub mod matching;
pub mod scan;
pub mod session;
pub mod survey;
pub mod track;
