//! rollcall: an edge daemon that takes classroom attendance from cameras.
//!
//! Frames come in from cameras; faces are found, checked for liveness, recognised against an
//! enrolled roster, and one attendance event per person per class session goes out.
//!
//! # Layout
//!
//! Eight parts, in the order data flows (frames in, events out; only the store, where `attend`
//! commits its decisions, is listed before it), on two parts of plain data, with shared helpers
//! beneath. Every module below is public: the `rollcall` binary (whose
//! command line lives in `src/cli/`, outside this library) and the tests use the library as any
//! other program would. Each part's own doc says what it owns and what it may import; a part
//! imports only parts listed before it here (docs/architecture.md draws the order), so there are
//! no cycles.
//!
//! Plain data, imported by every part:
//! - [`config`]: the TOML configuration, one file per section, checked with line and column;
//!   also the catalogue of model descriptions.
//! - [`event`]: what goes out, attendance events and alerts.
//!
//! The flow:
//! - [`capture`]: pictures in. Cameras (RTSP, V4L2, files) as newest-only frames that reconnect
//!   for ever, photos from disk, and the demo's slideshow.
//! - [`vision`]: a frame into analysed faces. ONNX Runtime and model sessions, detection,
//!   alignment, quality, landmarks, embeddings, liveness, and the analyzer that wires and times
//!   them.
//! - [`store`]: SQLite. People and their encrypted templates, the synced roster and timetable,
//!   the attendance log with its once-per-session guard, alerts, and the outbox of events not
//!   yet acknowledged.
//! - [`keys`]: who may say what. The backend's signatures on rosters, each device's own key pair
//!   (rosters sealed to it, what it publishes signed by it).
//! - [`attend`]: analysed faces into decisions. Tracks, matching against the gallery, the
//!   timetable's placement, the decision rules as pure functions, the engine that applies them
//!   once per track and commits to the store, and held decisions.
//! - [`sync`]: the backend. Events and status out over MQTT (at least once, from the outbox), and
//!   sealed rosters and timetables in.
//! - [`enroll`]: people into encrypted templates, from checked photos or live at a camera.
//! - [`metrics`]: the daemon's figures for Prometheus and its health, over HTTP, when asked.
//! - [`daemon`]: all of it wired. Cameras in turn through one engine, events out, until stopped.
//!
//! Shared helpers: [`backoff`] (reconnect delays with jitter), [`untrusted`] (text from outside
//! made short and printable before it is echoed), [`private_file`] (files with personal data,
//! written 0600), [`lock`] (locks that outlive a panic) and [`shutdown`] (one way to ask any
//! part, thread or task, to stop).

pub mod attend;
pub mod backoff;
pub mod capture;
pub mod config;
pub mod daemon;
pub mod enroll;
pub mod event;
pub mod keys;
pub mod lock;
pub mod metrics;
pub mod private_file;
pub mod shutdown;
pub mod store;
pub mod sync;
pub mod untrusted;
pub mod vision;
