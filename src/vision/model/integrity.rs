//! Code checked before it runs. Every model file is checked against its sha256 each time it
//! loads, not only when it was fetched, and the bytes checked are the bytes loaded; ONNX Runtime
//! is checked against the hash pinned for this architecture when it is the build rollcall fetches.
//! So a file planted or altered where models live (by a process that broke in through a camera
//! stream, say) is refused, naming the file, rather than run by the daemon or by root.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::ModelError;
use crate::config::ModelSpec;

/// The sha256 of `bytes`, in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks the bytes of `spec`'s file, read from `path`, against its sha256.
pub fn check_model(spec: &ModelSpec, path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let pinned = spec.sha256.as_deref().ok_or_else(|| ModelError::NoHash {
        name: spec.name.clone(),
        file: path.to_path_buf(),
    })?;
    let found = sha256_hex(bytes);
    if !found.eq_ignore_ascii_case(pinned.trim()) {
        return Err(ModelError::WrongHash {
            what: format!("model `{}`:", spec.name),
            path: path.to_path_buf(),
            pinned: pinned.to_string(),
            found,
            hint: ", or, for a [[models.custom]] model you changed on purpose, give its new sha256",
        });
    }
    Ok(())
}

/// What the runtime library at `path` is: the build rollcall fetches (its file name), whose hash
/// is pinned for `arch`, or the admin's own (a Jetson's GPU build), whose hash is only said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeBuild {
    /// The PyPI build, with the hash the manifest pins for this architecture, if it pins one.
    Fetched(Option<String>),
    /// Another build, named by `[runtime] onnxruntime` or `ORT_DYLIB_PATH`.
    Own,
}

/// Which build `path` is, by its file name.
pub fn runtime_build(path: &Path, arch: &str) -> RuntimeBuild {
    if path.file_name().is_some_and(|n| *n == *super::fetched_library_name()) {
        RuntimeBuild::Fetched(crate::config::pinned_onnxruntime_sha256(arch))
    } else {
        RuntimeBuild::Own
    }
}

/// Checks the runtime library at `path` before it is loaded: the fetched build against its pin
/// (refused on a mismatch); any other build's hash is logged, so the admin can see what runs.
pub fn check_runtime(path: &Path) -> Result<(), ModelError> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::RuntimeUnusable {
        path: path.to_path_buf(),
        reason: format!("cannot read it: {e}"),
    })?;
    let found = sha256_hex(&bytes);
    match runtime_build(path, std::env::consts::ARCH) {
        RuntimeBuild::Fetched(Some(pinned)) if pinned != found => Err(ModelError::WrongHash {
            what: "ONNX Runtime library".into(),
            path: path.to_path_buf(),
            pinned,
            found,
            hint: "; an ONNX Runtime of your own must not take the PyPI build's file name",
        }),
        RuntimeBuild::Fetched(Some(_)) => Ok(()),
        RuntimeBuild::Fetched(None) => {
            tracing::warn!(
                library = %path.display(), sha256 = %found, arch = std::env::consts::ARCH,
                "no sha256 is pinned for ONNX Runtime on this architecture: loaded unchecked"
            );
            Ok(())
        }
        RuntimeBuild::Own => {
            tracing::info!(library = %path.display(), sha256 = %found, "ONNX Runtime: the admin's own build");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_model_loads_only_with_its_own_bytes() {
        let mut spec = crate::config::Catalogue::builtin()
            .get("sface-2021dec", crate::config::ModelKind::Recognizer, "recognizer")
            .unwrap()
            .clone();
        let bytes = b"pretend onnx".to_vec();
        spec.sha256 = Some(sha256_hex(&bytes).to_uppercase());
        let path = PathBuf::from("/models/sface.onnx");
        assert!(check_model(&spec, &path, &bytes).is_ok());
        let e = check_model(&spec, &path, b"pretend onnx, altered")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/models/sface.onnx") && e.contains("sface-2021dec") && e.contains("altered or replaced"),
            "{e}"
        );
        spec.sha256 = None;
        let e = check_model(&spec, &path, &bytes).unwrap_err().to_string();
        assert!(
            e.contains("has no sha256") && e.contains("sha256sum /models/sface.onnx"),
            "{e}"
        );
    }

    #[test]
    fn only_the_fetched_runtime_is_held_to_its_pin() {
        let fetched = Path::new("/var/lib/rollcall-models/onnxruntime").join(super::super::fetched_library_name());
        assert!(matches!(runtime_build(&fetched, "x86_64"), RuntimeBuild::Fetched(Some(h)) if h.len() == 64));
        assert_eq!(runtime_build(&fetched, "sparc"), RuntimeBuild::Fetched(None));
        let own = Path::new("/usr/lib/aarch64-linux-gnu/libonnxruntime.so.1.16.0");
        assert_eq!(runtime_build(own, "x86_64"), RuntimeBuild::Own);
    }
}
