//! rollcall: an edge daemon that takes classroom attendance from cameras.
//!
//! Frames come in from cameras; faces are found, checked for liveness, recognised against an
//! enrolled roster, and one attendance event per person per class session goes out.
//!
//! # Layout
//!
//! Seven parts, in the order data flows (frames in, events out), then the shell around them.
//! Every module below is public: the `rollcall` binary (whose command line lives in
//! `src/cli/`, outside this library) and the tests use the library as any other program would.
//! Each part's own doc says what it owns and what it may import.
//!
//! - [`capture`]: pictures in. Cameras (RTSP, V4L2, files) as newest-only frames that reconnect
//!   for ever, photos from disk, and the demo's slideshow.
//! - [`vision`]: a frame into analysed faces. Models and ONNX Runtime, detection, alignment,
//!   quality, landmarks, embeddings, liveness, and the analyzer that wires and times them.
//! - [`attend`]: analysed faces into decisions. Tracks, matching against the gallery, the
//!   timetable, the engine that decides each track once, held decisions, events and alerts.
//! - [`store`]: SQLite. The encrypted roster, the attendance log with its once-per-session guard,
//!   and the outbox of events not yet acknowledged.
//! - [`sync`]: the backend. Events and status out over MQTT (at least once, from the outbox), and
//!   sealed rosters and timetables in.
//! - [`enroll`]: people into encrypted templates, from checked photos or live at a camera.
//! - [`daemon`]: all of it wired. Cameras in turn through one engine, events out, until stopped.
//!
//! Around them:
//! - [`config`]: the TOML configuration, checked with line and column.
//! - Shared helpers: [`backoff`] (reconnect delays with jitter), [`untrusted`] (text from outside
//!   made short and printable before it is echoed), [`private_file`] (files with personal
//!   data, written 0600), [`lock`] (locks that outlive a panic) and [`shutdown`] (one way to ask
//!   any part, thread or task, to stop).

pub mod attend;
pub mod backoff;
pub mod capture;
pub mod config;
pub mod daemon;
pub mod enroll;
pub mod event;
pub mod lock;
pub mod private_file;
pub mod shutdown;
pub mod store;
pub mod sync;
pub mod untrusted;
pub mod vision;
