//! Vision: a frame in, analysed faces out. Each face has a box, landmarks, quality, an embedding
//! and a liveness score.
//!
//! This part owns everything that runs the models: ONNX Runtime and sessions checked against
//! their description ([`model`]; the descriptions themselves are `config::models`), detection ([`detect`]), alignment ([`align`]), the quality score ([`quality`]),
//! the optional 106-point landmarks ([`landmarks`]), the recognizer ([`embed`]), passive
//! anti-spoofing ([`liveness`]), and the stages wired and timed ([`analyze`], [`bench`](mod@bench)).
//! [`fidelity`] holds the gates an INT8 build of a model must pass against its FP32 original.
//!
//! It may import `config` (model choices and thresholds) and `capture::image` (photos, for the
//! bench), and nothing of `attend`: it decides nothing about people. What it hands on is an
//! [`analyze::Observation`] per face, which `attend::track` follows across frames.

pub mod align;
pub mod analyze;
pub mod bench;
pub mod detect;
pub mod embed;
pub mod fidelity;
pub mod landmarks;
pub mod liveness;
pub mod model;
pub mod quality;
