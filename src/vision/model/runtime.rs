//! The ONNX Runtime: found at run time, loaded once per process, one thread pool for all models.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::environment::{Environment, GlobalThreadPoolOptions};

use super::ModelError;
use super::provider::ProviderSettings;

/// The file name of the library inside the onnxruntime wheel that rollcall fetches.
pub fn fetched_library_name() -> String {
    format!("libonnxruntime.so.{}", crate::config::fetched_onnxruntime_version())
}

/// Where `scripts/setup.sh` puts the library from the onnxruntime wheel, relative to the
/// working directory; the last place looked.
pub fn default_library() -> PathBuf {
    Path::new(".local/onnxruntime").join(fetched_library_name())
}

/// The oldest ONNX Runtime this build can use, `1.NN` for the ONNX Runtime API (`api-NN`) that
/// ort was built to speak.
pub fn minimum_version() -> String {
    format!("1.{}", ort::MINOR_VERSION)
}

/// How to find and size the runtime.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeSettings {
    /// Library path from the config; wins over `ORT_DYLIB_PATH` and the default.
    pub library: Option<PathBuf>,
    /// Threads in the shared intra-op pool; `None` means one per core.
    pub threads: Option<usize>,
    /// Let idle pool threads spin: lower latency between back-to-back runs, more idle CPU.
    pub spin: bool,
    /// Threads in the shared inter-op pool; `None` or 1 runs each graph sequentially.
    pub inter_threads: Option<usize>,
    /// The execution providers each session tries.
    pub providers: ProviderSettings,
}

impl RuntimeSettings {
    /// The settings `[runtime]` asks for.
    pub fn from_config(config: &crate::config::Config) -> RuntimeSettings {
        RuntimeSettings {
            library: config.runtime.onnxruntime.clone(),
            threads: config.runtime.threads,
            spin: config.runtime.spin,
            inter_threads: config.runtime.inter_threads,
            providers: ProviderSettings::from_config(config),
        }
    }

    /// The library path to use and where that choice came from.
    pub fn resolve_library(&self) -> (PathBuf, &'static str) {
        if let Some(p) = &self.library {
            return (p.clone(), "from [runtime] onnxruntime in the config");
        }
        match std::env::var_os("ORT_DYLIB_PATH") {
            Some(p) if !p.is_empty() => (PathBuf::from(p), "from ORT_DYLIB_PATH"),
            _ => (default_library(), "the default place scripts/setup.sh uses"),
        }
    }
}

/// A loaded ONNX Runtime; cheap to clone, shared by every model.
#[derive(Clone)]
pub struct Runtime {
    env: Arc<Environment>,
    library: PathBuf,
    /// The providers of the caller that asked for this handle: the library and its thread pool
    /// are the process's, but which providers a model tries is each config's own.
    providers: ProviderSettings,
    /// Whether sessions run their graphs in parallel mode: only with an inter-op pool to run in.
    parallel: bool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("library", &self.library).finish()
    }
}

// ONNX Runtime can be loaded only once per process; later callers share the first load.
static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

impl Runtime {
    /// Loads ONNX Runtime (once per process) and creates the shared environment; the handle
    /// returned carries `settings`' providers.
    ///
    /// Checks the file exists before handing it to the loader, so a missing library is an error
    /// that says how to fix it rather than a `dlopen` message.
    pub fn load(settings: &RuntimeSettings) -> Result<Runtime, ModelError> {
        let mut slot = crate::lock::lock(&RUNTIME);
        if let Some(rt) = slot.as_ref() {
            return Ok(Runtime {
                providers: settings.providers.clone(),
                ..rt.clone()
            });
        }
        let (path, origin) = settings.resolve_library();
        if !path.is_file() {
            return Err(ModelError::RuntimeMissing { path, origin });
        }
        let unusable = |reason: String| ModelError::RuntimeUnusable {
            path: path.clone(),
            reason,
        };
        super::integrity::check_runtime(&path)?;
        let builder = ort::init_from(&path).map_err(|e| unusable(e.to_string()))?;
        let threads = settings
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let inter_threads = settings.inter_threads.unwrap_or(1).max(1);
        let pool = GlobalThreadPoolOptions::default()
            .with_intra_threads(threads)
            .and_then(|p| p.with_inter_threads(inter_threads))
            .and_then(|p| p.with_spin_control(settings.spin))
            .map_err(|e| unusable(e.to_string()))?;
        let env = builder
            .with_name("rollcall")
            .with_telemetry(false)
            .with_global_thread_pool(pool)
            .build()
            .map_err(|e| unusable(e.to_string()))?;
        tracing::debug!(library = %path.display(), threads, inter_threads, "ONNX Runtime loaded");
        let rt = Runtime {
            env: Arc::new(env),
            library: path,
            providers: settings.providers.clone(),
            parallel: inter_threads > 1,
        };
        *slot = Some(rt.clone());
        Ok(rt)
    }

    /// Whether sessions run independent nodes side by side, in the process's inter-op pool.
    pub(crate) fn parallel(&self) -> bool {
        self.parallel
    }

    /// The environment sessions are built in.
    pub(crate) fn environment(&self) -> &Environment {
        &self.env
    }

    /// The library this process loaded.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The execution providers sessions built from this handle try.
    pub fn providers(&self) -> &ProviderSettings {
        &self.providers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fetched_runtime_is_new_enough_for_this_build() {
        let version = crate::config::fetched_onnxruntime_version();
        let minor: u32 = version.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap();
        assert!(
            minor >= ort::MINOR_VERSION,
            "models/manifest.toml fetches {version}, older than {}",
            minimum_version()
        );
        assert!(default_library().ends_with(format!("libonnxruntime.so.{version}")));
    }

    /// The tests run the manifest's oldest runtime as the oldest this build accepts, and its
    /// too-old one as refused: both only mean something while they sit either side of the API
    /// level Cargo.toml asks ort for.
    #[test]
    fn the_oldest_and_too_old_runtimes_sit_either_side_of_the_minimum() {
        let manifest: toml::Value = toml::from_str(crate::config::BUILTIN_MANIFEST).unwrap();
        let minor = |table: &str| -> u32 {
            let v = manifest[table]["version"].as_str().unwrap();
            v.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap()
        };
        assert_eq!(minor("onnxruntime_oldest"), ort::MINOR_VERSION, "{}", minimum_version());
        assert_eq!(minor("onnxruntime_too_old") + 1, ort::MINOR_VERSION);
    }
}
