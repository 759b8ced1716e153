//! Execution providers: which of the configured ones the loaded ONNX Runtime has, registering
//! them on each session in order of preference, and saying (once per process, not once per
//! model) when the models run on something other than what was asked for.
//!
//! A GPU build of ONNX Runtime on a Jetson and the CPU wheel on a school's PC take the same
//! config; what differs is what the library offers. Falling back is the default so a box keeps
//! taking attendance; `strict` is for the fleet that would rather not start than run slowly.

use std::path::PathBuf;

use ort::ep::{self, ExecutionProvider, ExecutionProviderDispatch};
use ort::session::builder::SessionBuilder;

use super::{ModelError, report_once};
use crate::config::{Config, Provider};

/// The providers a session tries, with their options, as `[runtime]` asks.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// In order of preference.
    pub preference: Vec<Provider>,
    /// A provider that is lacking or fails to start is an error, not a fallback.
    pub strict: bool,
    /// The GPU for CUDA and TensorRT.
    pub device_id: i32,
    /// TensorRT may compute in FP16.
    pub fp16: bool,
    /// Where TensorRT keeps its engines and timing cache.
    pub engine_cache: PathBuf,
    /// TensorRT's build workspace, in MiB.
    pub workspace_mb: Option<usize>,
}

impl Default for ProviderSettings {
    fn default() -> ProviderSettings {
        ProviderSettings {
            preference: vec![Provider::Cpu],
            strict: false,
            device_id: 0,
            fp16: false,
            engine_cache: PathBuf::from("tensorrt-engines"),
            workspace_mb: None,
        }
    }
}

impl ProviderSettings {
    /// The settings of `[runtime]`; the engine cache defaults to the store's folder, which is
    /// the state directory that lasts across restarts and upgrades.
    pub fn from_config(config: &Config) -> ProviderSettings {
        let r = &config.runtime;
        let engine_cache = r.tensorrt_engine_cache.clone().unwrap_or_else(|| {
            config
                .store
                .path
                .parent()
                .map_or_else(|| PathBuf::from("."), PathBuf::from)
                .join("tensorrt-engines")
        });
        ProviderSettings {
            preference: r.providers.clone(),
            strict: r.strict,
            device_id: r.device_id,
            fp16: r.fp16,
            engine_cache,
            workspace_mb: r.tensorrt_workspace_mb,
        }
    }
}

/// Which providers to register, in order, and which of the wanted ones the build lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPlan {
    /// The wanted providers the build has, but the CPU, which ONNX Runtime always falls back to.
    pub register: Vec<Provider>,
    /// The wanted providers the build does not have.
    pub lacking: Vec<Provider>,
}

/// What to do with `preference` on a build that has `built_in`.
pub fn plan(preference: &[Provider], built_in: &[Provider]) -> ProviderPlan {
    let (have, lacking): (Vec<Provider>, Vec<Provider>) = preference
        .iter()
        .partition(|p| **p == Provider::Cpu || built_in.contains(p));
    ProviderPlan {
        register: have.into_iter().filter(|p| *p != Provider::Cpu).collect(),
        lacking,
    }
}

/// The providers rollcall knows that the loaded ONNX Runtime was built with.
pub fn built_in() -> Vec<Provider> {
    let has = |r: ort::Result<bool>| r.unwrap_or(false);
    [
        (Provider::Tensorrt, has(ep::TensorRT::is_available())),
        (Provider::Cuda, has(ep::CUDA::is_available())),
        (Provider::Cpu, true),
    ]
    .into_iter()
    .filter_map(|(p, yes)| yes.then_some(p))
    .collect()
}

fn names(providers: &[Provider]) -> String {
    providers.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

fn dispatch(provider: Provider, s: &ProviderSettings) -> ExecutionProviderDispatch {
    match provider {
        Provider::Tensorrt => {
            let cache = s.engine_cache.display().to_string();
            let trt = ep::TensorRT::default()
                .with_device_id(s.device_id)
                .with_fp16(s.fp16)
                .with_engine_cache(true)
                .with_engine_cache_path(&cache)
                .with_timing_cache(true)
                .with_timing_cache_path(&cache);
            match s.workspace_mb {
                Some(mb) => trt.with_max_workspace_size(mb << 20).build(),
                None => trt.build(),
            }
        }
        Provider::Cuda => ep::CUDA::default().with_device_id(s.device_id).build(),
        Provider::Cpu => ep::CPU::default().build(),
    }
}

/// Registers the wanted providers the build has on `builder`, in order, and returns the one
/// the model runs on: the first that registered, else the CPU. (Nodes a GPU provider cannot run
/// still go to the CPU; that is ONNX Runtime's own partitioning.)
pub fn register(builder: &mut SessionBuilder, s: &ProviderSettings, library: &str) -> Result<Provider, ModelError> {
    let built_in = built_in();
    let plan = plan(&s.preference, &built_in);
    if let Some(&lacking) = plan.lacking.first() {
        let where_ = format!("the ONNX Runtime at {library} (it has {})", names(&built_in));
        if s.strict {
            return Err(ModelError::ProviderUnusable {
                provider: lacking,
                reason: format!("it is not in {where_}"),
            });
        }
        let used = plan.register.first().copied().unwrap_or(Provider::Cpu);
        let verb = if plan.lacking.len() == 1 { "is" } else { "are" };
        report_once(format!(
            "[runtime] providers: {} {verb} not in {where_}; the models run on {used} instead. A \
             GPU needs an ONNX Runtime built for it (README, Jetson); [runtime] strict = true \
             makes this an error",
            names(&plan.lacking).replace(", ", " and ")
        ));
    }
    let mut used = None;
    for &provider in &plan.register {
        if provider == Provider::Tensorrt
            && let Err(e) = std::fs::create_dir_all(&s.engine_cache)
        {
            tracing::warn!(path = %s.engine_cache.display(), "cannot create the TensorRT engine cache: {e}");
        }
        match dispatch(provider, s).register(builder) {
            Ok(()) => {
                used.get_or_insert(provider);
            }
            Err(e) if s.strict => {
                return Err(ModelError::ProviderUnusable {
                    provider,
                    reason: e.to_string(),
                });
            }
            Err(e) => report_once(format!(
                "execution provider {provider} did not start ({e}); the models run on the next \
                 provider in [runtime] providers"
            )),
        }
    }
    Ok(used.unwrap_or(Provider::Cpu))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Provider::*;

    #[test]
    fn a_cpu_build_registers_nothing_and_names_the_gpu_providers_it_lacks() {
        let p = plan(&[Tensorrt, Cuda, Cpu], &[Cpu]);
        assert_eq!(p.register, vec![]);
        assert_eq!(p.lacking, vec![Tensorrt, Cuda]);
    }

    #[test]
    fn a_gpu_build_registers_the_wanted_providers_in_order() {
        let p = plan(&[Tensorrt, Cuda, Cpu], &[Tensorrt, Cuda, Cpu]);
        assert_eq!(p.register, vec![Tensorrt, Cuda]);
        assert!(p.lacking.is_empty());
        let p = plan(&[Cuda, Cpu], &[Tensorrt, Cuda, Cpu]);
        assert_eq!(p.register, vec![Cuda], "only what is asked for");
    }

    #[test]
    fn a_cuda_build_lacks_only_tensorrt() {
        let p = plan(&[Tensorrt, Cuda, Cpu], &[Cuda, Cpu]);
        assert_eq!(p.register, vec![Cuda]);
        assert_eq!(p.lacking, vec![Tensorrt]);
    }
}
