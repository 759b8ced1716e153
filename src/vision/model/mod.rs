//! ONNX models at run time: the ONNX Runtime they run on, and sessions checked against their
//! description (from the catalogue in `config::models`) when they load.
//!
//! Every stage (detect, embed, liveness) is fed through [`OnnxModel`], so a model file that does
//! not match what its description promises is refused at load, with a message that names the
//! mismatch, instead of producing silent garbage at the first frame.

mod input;
pub mod integrity;
mod onnx;
mod onnx_edit;
mod provider;
mod runtime;

pub use input::fill_chw;
pub use onnx::{OnnxModel, OutputTensor};
pub use provider::{ProviderPlan, ProviderSettings, built_in, plan};
pub use runtime::{Runtime, RuntimeSettings, default_library, fetched_library_name, minimum_version};

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

/// The warnings already logged by this process, so one that concerns every model (a lacking
/// provider, INT8 builds not made yet) is said once, not once per model or per reload.
static REPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Logs `message` as a warning unless this process already did.
pub(crate) fn report_once(message: String) {
    if crate::lock::lock(&REPORTED).insert(message.clone()) {
        tracing::warn!("{message}");
    }
}

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The ONNX Runtime shared library could not be found at any configured place.
    #[error(
        "ONNX Runtime library not found at {path} ({origin}). Run scripts/setup.sh to fetch it \
         from the onnxruntime wheel on PyPI, or point [runtime] onnxruntime in the config (or \
         ORT_DYLIB_PATH) at a libonnxruntime.so of version {} or newer",
        runtime::minimum_version()
    )]
    RuntimeMissing { path: PathBuf, origin: &'static str },
    /// The library exists but is not a usable ONNX Runtime (wrong file, too old).
    #[error(
        "cannot use {path} as ONNX Runtime: {reason}. rollcall needs ONNX Runtime {minimum} or \
         newer (the PyPI onnxruntime=={fetched} wheel that scripts/setup.sh fetches, or a build of \
         your own from {minimum} on, such as NVIDIA's GPU build for a Jetson); run \
         scripts/setup.sh or fix [runtime] onnxruntime / ORT_DYLIB_PATH",
        minimum = runtime::minimum_version(),
        fetched = crate::config::fetched_onnxruntime_version()
    )]
    RuntimeUnusable { path: PathBuf, reason: String },
    /// A model file or the runtime library is not the one its pinned sha256 names: altered, or
    /// replaced. It is not loaded.
    #[error(
        "{what} {path} is not the file its sha256 pins ({pinned}): its sha256 is {found}. It was altered or \
         replaced; it is not loaded. Fetch it again (`sudo rollcall models fetch`){hint}"
    )]
    WrongHash {
        what: String,
        path: PathBuf,
        pinned: String,
        found: String,
        hint: &'static str,
    },
    /// A model description without the sha256 that every load checks.
    #[error(
        "model `{name}` has no sha256, and every model is checked against one when it loads: add \
         sha256 = \"...\" (`sha256sum {file}`) to its [[models.custom]] entry"
    )]
    NoHash { name: String, file: PathBuf },
    /// A model name or description the catalogue refuses.
    #[error(transparent)]
    Catalogue(#[from] crate::config::CatalogueError),
    /// The model file is not there.
    #[error(
        "model file {path} for `{name}` not found; run scripts/setup.sh to fetch the models, or \
         set [models] dir in the config to where they are"
    )]
    FileMissing { name: String, path: PathBuf },
    /// An execution provider `[runtime] strict` requires is lacking or did not start.
    #[error(
        "execution provider {provider} is unusable: {reason}. [runtime] strict = true forbids \
         falling back: install an ONNX Runtime built with {provider} (README, Jetson), take it out \
         of [runtime] providers, or set strict = false"
    )]
    ProviderUnusable {
        provider: crate::config::Provider,
        reason: String,
    },
    /// ONNX Runtime refused the file.
    #[error("ONNX Runtime could not load model `{name}` from {path}: {reason}")]
    LoadFailed {
        name: String,
        path: PathBuf,
        reason: String,
    },
    /// The file loads, but its inputs or outputs are not what its description says.
    #[error("model `{name}` ({path}) does not match its description: {mismatch}")]
    Mismatch {
        name: String,
        path: PathBuf,
        mismatch: String,
    },
    /// Inference itself failed.
    #[error("running model `{name}` failed: {reason}")]
    Inference { name: String, reason: String },
    /// OpenCV failed on the way into or out of a model.
    #[error("image operation for model `{name}` failed: {source}")]
    OpenCv { name: String, source: opencv::Error },
}

impl ModelError {
    /// A description that cannot be right for how it is used (a recognizer without its
    /// `recognizer` table, say).
    pub fn bad_description(name: String, reason: String) -> ModelError {
        ModelError::Catalogue(crate::config::CatalogueError::BadDescription { name, reason })
    }
}
