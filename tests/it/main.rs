//! rollcall's integration tests: one binary, one module per area, on real parts (models, photos,
//! a mosquitto broker, RTSP streams, SQLite on real disks). The helpers they share are the
//! `testkit` crate (tests/kit), compiled once.
//!
//! `cargo test` runs everything but the figure suites, which are `#[ignore]`d with their reason:
//! they measure a model over thousands of photos and belong in the release build
//! (`cargo test --release --test it -- --ignored`, as `scripts/test.sh` runs them).
//! docs/architecture.md, "Tests, benches and figure suites", says how to add either kind.

mod architecture;
mod arm64;
mod attack;
mod batching;
mod camera_check;
mod capture;
mod classroom;
mod cli;
mod daemon;
mod detection;
mod engine;
mod enroll_live;
mod int8_gates;
mod kit;
mod lesson;
mod liveness;
mod liveness_quality;
mod models;
mod mqtt;
mod open_set;
mod open_set_scale;
mod operations;
mod parity;
mod prelu_rewrite;
mod recognition;
mod roster_cli;
mod spoof_alerts;
mod store;
mod store_failure;
mod systemd;
mod topology;
