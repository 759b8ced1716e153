//! rollcall: an edge daemon that takes classroom attendance from cameras.
//!
//! Frames come in from cameras; faces are found, checked for liveness, recognised against an
//! enrolled roster, and one attendance event per person per class session goes out.
//!
//! # Layout
//!
//! In the order data flows:
//!
//! - [`capture`]: cameras (RTSP, V4L2, files) into newest-only BGR frames, reconnecting for ever.
//! - [`image`]: photos from disk into BGR frames, with size limits.
//! - [`model`]: model descriptions (data, not code), the ONNX Runtime, checked sessions.
//! - [`detect`]: face boxes and 5 landmarks (YuNet or SCRFD), NMS, mapped to frame pixels.
//! - [`align`]: 5-point similarity transform onto the ArcFace 112x112 template.
//! - [`quality`]: size, sharpness, pose and detector score, as one 0..1 score.
//! - [`track`]: the same face followed across frames; its best few frames kept.
//! - [`embed`]: recognizer (SFace or ArcFace), batched, L2-normalised, tagged with its id.
//! - [`landmarks`]: optional 106-point landmarks (eyes open or closed).
//! - [`liveness`]: passive anti-spoofing (the fused MiniFASNet pair) and landmark motion.
//! - [`matching`]: embeddings against a gallery of known people.
//! - [`pipeline`]: the stages above, wired and timed.
//! - [`enroll`]: photos into encrypted templates, each photo checked (one good, live face); or a
//!   student live at a camera, guided through head poses that a photo cannot make.
//! - [`engine`]: tracks decided once: liveness over the track, open-set vote, one event per session.
//! - [`held`]: decisions the store could not take yet, held in order and retried with backoff.
//! - [`session`]: the weekly timetable: which class session a room is in, present or late.
//! - [`event`]: attendance events and alerts, what goes out.
//! - [`store`]: SQLite: the encrypted roster, the attendance log and its once-per-session guard,
//!   the outbox of events not yet acknowledged by the broker.
//! - [`mqtt`]: events out (at least once, from the outbox), status with a last will, rosters in.
//! - [`roster`]: sealed rosters (AES-256-GCM under a site key), checked whole before they replace
//!   the gallery.
//! - [`status`]: the device's state as the backend and `rollcall status` see it.
//! - [`slideshow`]: a video made from photos, a stand-in camera for the demo and for trials.
//! - [`backoff`]: reconnect delays with jitter, for cameras and the broker.
//! - [`untrusted`]: text from outside made short and printable before it is echoed anywhere.
//! - [`private_file`]: files with personal data or secrets, written owner-only (0600).
//! - [`daemon`]: all of it wired: cameras in turn through one engine, events out, until stopped.
//! - [`config`]: the TOML configuration.
//! - [`bench`]: throughput figures for the pipeline.
//! - [`cli`]: the `rollcall` command line (the binary is a thin wrapper over it).

pub mod align;
pub mod backoff;
pub mod bench;
pub mod capture;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod embed;
pub mod engine;
pub mod enroll;
pub mod event;
pub mod held;
pub mod image;
pub mod landmarks;
pub mod liveness;
pub mod matching;
pub mod model;
pub mod mqtt;
pub mod pipeline;
pub mod private_file;
pub mod quality;
pub mod roster;
pub mod session;
pub mod slideshow;
pub mod status;
pub mod store;
pub mod track;
pub mod untrusted;
