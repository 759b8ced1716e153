//! `[runtime]`: where ONNX Runtime is, how many threads it may use, and which execution
//! providers (GPU back ends) the models should run on.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Problem;

/// An ONNX Runtime execution provider rollcall knows how to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// NVIDIA TensorRT: the fastest on a Jetson, after it has built an engine per model.
    Tensorrt,
    /// NVIDIA CUDA (with cuDNN).
    Cuda,
    /// ONNX Runtime's own CPU kernels, which every build has.
    Cpu,
}

impl Provider {
    /// The name the config uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Tensorrt => "tensorrt",
            Provider::Cuda => "cuda",
            Provider::Cpu => "cpu",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether models' PReLU is rewritten for ONNX Runtime's sake as they load
/// (`vision::model::onnx_edit::prelu_as_relu_and_scales`, docs/speed.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PreluRewrite {
    /// Where it pays: ONNX Runtime 1.27 and newer, whose PReLU kernel has no vector code, with
    /// the CPU as the only provider.
    #[default]
    Auto,
    /// Never: every model runs as its file has it.
    Never,
}

/// ONNX Runtime: where the library is, how many threads it may use, which providers to try.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Path to libonnxruntime.so (1.17 or newer); else `ORT_DYLIB_PATH`, else the setup's place.
    pub onnxruntime: Option<PathBuf>,
    /// Inference threads shared by all models; default one per core.
    pub threads: Option<usize>,
    /// Let idle inference threads spin (lower latency, more idle CPU). Default false.
    pub spin: bool,
    /// Threads that run a model's independent branches side by side (ONNX Runtime's inter-op
    /// pool). Default 1: each graph runs node after node, faster on 2 cores than parallel mode
    /// (docs/speed.md, threads); above 1, graphs run in ONNX Runtime's parallel mode.
    pub inter_threads: Option<usize>,
    /// Rewrite PReLU as ops the loaded runtime runs faster: "auto" (default) or "never".
    pub rewrite_prelu: PreluRewrite,
    /// Execution providers in order of preference. One that the loaded ONNX Runtime lacks, or
    /// that fails to start (no GPU), is reported once and the next is tried; the CPU is always
    /// the last resort. Default `["cpu"]`.
    pub providers: Vec<Provider>,
    /// Refuse to start unless the first provider is the one the models run on, instead of
    /// falling back: for a Jetson that must never quietly run on its CPU.
    pub strict: bool,
    /// The GPU the CUDA and TensorRT providers use.
    pub device_id: i32,
    /// Let TensorRT compute in FP16; the CUDA provider runs the model in its own precision.
    pub fp16: bool,
    /// Where TensorRT keeps the engines it builds, so a box builds each once (minutes on a
    /// Jetson) and not at every start. Default: `tensorrt-engines` beside the store.
    pub tensorrt_engine_cache: Option<PathBuf>,
    /// The most GPU memory TensorRT may use while building an engine, in MiB; default its own.
    pub tensorrt_workspace_mb: Option<usize>,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            onnxruntime: None,
            threads: None,
            spin: false,
            inter_threads: None,
            rewrite_prelu: PreluRewrite::Auto,
            providers: vec![Provider::Cpu],
            strict: false,
            device_id: 0,
            fp16: false,
            tensorrt_engine_cache: None,
            tensorrt_workspace_mb: None,
        }
    }
}

impl RuntimeConfig {
    /// What is wrong with the section's values.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.threads == Some(0) {
            problems.push(Problem::new(
                "runtime",
                "threads",
                "must be at least 1 (leave it out for one per core)".to_string(),
            ));
        }
        if self.inter_threads == Some(0) {
            problems.push(Problem::new(
                "runtime",
                "inter_threads",
                "must be at least 1 (1, the default, runs each graph node after node)".to_string(),
            ));
        }
        if self.providers.is_empty() {
            problems.push(Problem::new(
                "runtime",
                "providers",
                "must name at least one provider (\"cpu\" runs everywhere)".to_string(),
            ));
        }
        for (i, p) in self.providers.iter().enumerate() {
            if self.providers[..i].contains(p) {
                problems.push(Problem::new("runtime", "providers", format!("names {p} twice")));
            }
        }
        if let Some(cpu) = self.providers.iter().position(|p| *p == Provider::Cpu)
            && cpu + 1 < self.providers.len()
        {
            problems.push(Problem::new(
                "runtime",
                "providers",
                "lists providers after \"cpu\", which every build has, so they would never be used".to_string(),
            ));
        }
        if self.device_id < 0 {
            problems.push(Problem::new("runtime", "device_id", "must be 0 or more".to_string()));
        }
        if self.tensorrt_workspace_mb == Some(0) {
            problems.push(Problem::new(
                "runtime",
                "tensorrt_workspace_mb",
                "must be at least 1 (leave it out for TensorRT's own)".to_string(),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_with(providers: Vec<Provider>) -> Vec<String> {
        let config = RuntimeConfig {
            providers,
            ..RuntimeConfig::default()
        };
        config.problems().into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn providers_must_be_listed_once_each_with_nothing_after_the_cpu() {
        assert!(problems_with(vec![Provider::Tensorrt, Provider::Cuda, Provider::Cpu]).is_empty());
        assert!(problems_with(vec![Provider::Cuda]).is_empty(), "the CPU is implied");
        assert_eq!(problems_with(vec![]).len(), 1);
        assert_eq!(
            problems_with(vec![Provider::Cuda, Provider::Cuda]),
            ["names cuda twice"]
        );
        assert_eq!(problems_with(vec![Provider::Cpu, Provider::Cuda]).len(), 1);
    }

    #[test]
    fn thread_counts_must_be_at_least_one() {
        let config = RuntimeConfig {
            threads: Some(0),
            inter_threads: Some(0),
            ..RuntimeConfig::default()
        };
        let keys: Vec<&str> = config.problems().iter().map(|p| p.key).collect();
        assert_eq!(keys, ["threads", "inter_threads"]);
        let fine = RuntimeConfig {
            threads: Some(1),
            inter_threads: Some(4),
            ..RuntimeConfig::default()
        };
        assert!(fine.problems().is_empty());
    }
}
