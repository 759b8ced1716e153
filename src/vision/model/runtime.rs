//! The ONNX Runtime: found at run time, loaded once per process, one thread pool for all models.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::environment::{Environment, GlobalThreadPoolOptions};

use super::ModelError;
use super::provider::ProviderSettings;
use crate::config::{PreluRewrite, Provider};

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
    /// Whether models' PReLU may be rewritten as they load.
    pub rewrite_prelu: PreluRewrite,
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
            rewrite_prelu: config.runtime.rewrite_prelu,
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
    /// The library's own version, (major, minor); `None` if it could not be read.
    version: Option<(u32, u32)>,
    /// The caller's `[runtime] rewrite_prelu`, like its providers.
    rewrite_prelu: PreluRewrite,
}

/// Whether ONNX Runtime `version`'s CPU PReLU kernel is the scalar one: 1.27 dropped its vector
/// code (1.27.0 to 1.32.0 measured), and 1.26 and older run it about 18x faster
/// (docs/speed.md, PReLU). `tools/reference/prelu_by_release.py` measures a new release.
pub fn prelu_kernel_is_scalar(version: (u32, u32)) -> bool {
    version >= (1, 27)
}

/// `1.31.1` as (1, 31).
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The version of the ONNX Runtime already loaded from `path`, as the library itself reports it
/// (`OrtApiBase::GetVersionString`): a library's file name need not carry it.
fn loaded_version(path: &Path) -> Option<(u32, u32)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: RTLD_NOLOAD only looks up a library this process has already loaded (ort loaded
    // it from this path); the handle is closed again below, which drops only the count this call
    // added. `OrtGetApiBase` is ONNX Runtime's C entry point, with this signature in every
    // release, and returns a static table whose `GetVersionString` returns a static C string.
    unsafe {
        let handle = libc::dlopen(c_path.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD);
        if handle.is_null() {
            return None;
        }
        let symbol = libc::dlsym(handle, c"OrtGetApiBase".as_ptr());
        let version = if symbol.is_null() {
            None
        } else {
            let get_api_base: unsafe extern "C" fn() -> *const ort::sys::OrtApiBase = std::mem::transmute(symbol);
            let base = get_api_base();
            if base.is_null() {
                None
            } else {
                let text = std::ffi::CStr::from_ptr(((*base).GetVersionString)());
                text.to_str().ok().and_then(major_minor)
            }
        };
        libc::dlclose(handle);
        version
    }
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
                rewrite_prelu: settings.rewrite_prelu,
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
        let version = loaded_version(&path);
        tracing::debug!(library = %path.display(), ?version, threads, inter_threads, "ONNX Runtime loaded");
        let rt = Runtime {
            env: Arc::new(env),
            library: path,
            providers: settings.providers.clone(),
            parallel: inter_threads > 1,
            version,
            rewrite_prelu: settings.rewrite_prelu,
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

    /// The library's version, (major, minor), as it reports it; `None` if it could not be read.
    pub fn version(&self) -> Option<(u32, u32)> {
        self.version
    }

    /// Whether models loaded through this handle have their PReLU rewritten
    /// ([`super::onnx_edit::prelu_as_relu_and_scales`]): asked for, on a runtime whose PReLU is
    /// the slow kernel, and on the CPU alone. A GPU provider has kernels of its own, for which
    /// the rewrite was never measured.
    pub fn rewrites_prelu(&self) -> bool {
        self.rewrite_prelu == PreluRewrite::Auto
            && self.providers.preference == [Provider::Cpu]
            && self.version.is_some_and(prelu_kernel_is_scalar)
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
    fn the_prelu_rewrite_is_for_the_releases_whose_kernel_is_scalar() {
        assert_eq!(major_minor("1.31.1"), Some((1, 31)));
        assert_eq!(major_minor("1.17.3-dev"), Some((1, 17)));
        assert_eq!(major_minor("banana"), None);
        assert_eq!(major_minor("1"), None);
        assert!(!prelu_kernel_is_scalar((1, 17)));
        assert!(!prelu_kernel_is_scalar((1, 26)));
        assert!(prelu_kernel_is_scalar((1, 27)));
        assert!(prelu_kernel_is_scalar((1, 32)));
        assert!(prelu_kernel_is_scalar((2, 0)));
    }

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
