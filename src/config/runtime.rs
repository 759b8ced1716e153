//! `[runtime]`: where ONNX Runtime is and how many threads it may use.

use std::path::PathBuf;

use serde::Deserialize;

use super::Problem;

/// ONNX Runtime: where the library is and how many threads it may use.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Path to libonnxruntime.so (1.31 or newer); else `ORT_DYLIB_PATH`, else the setup's place.
    pub onnxruntime: Option<PathBuf>,
    /// Inference threads shared by all models; default one per core.
    pub threads: Option<usize>,
    /// Let idle inference threads spin (lower latency, more idle CPU). Default false.
    pub spin: bool,
}

impl RuntimeConfig {
    /// What is wrong with the section's values.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.threads == Some(0) {
            problems.push((
                "runtime",
                "threads",
                "must be at least 1 (leave it out for one per core)".to_string(),
            ));
        }
        problems
    }
}
