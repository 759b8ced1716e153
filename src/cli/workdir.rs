//! The private folders `models fetch` and `models quantize` work in, and the helper programs they
//! run there. Such a command may run as root, so its folder is made new, with a name no one can
//! guess (`mkdtemp`'s way: `O_EXCL` under a random name, mode 0700), nothing in it is reused,
//! and it goes however the command ends: done, failed, or stopped by Ctrl-C or SIGTERM (the
//! helper is stopped first).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use super::CliError;

/// A folder only this process made and can enter; removed with everything in it when dropped.
#[derive(Debug)]
pub struct WorkDir(PathBuf);

impl WorkDir {
    /// A new folder in the temporary directory, named `{prefix}-` and 32 random hex digits.
    pub fn new(prefix: &str) -> Result<WorkDir, CliError> {
        let base = std::env::temp_dir();
        let mut last = None;
        for _ in 0..8 {
            let path = base.join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
            // `create` is mkdir(2): it fails on anything already there, link or folder.
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(WorkDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(write_error(&path, e)),
            }
        }
        Err(write_error(
            &base,
            last.unwrap_or_else(|| std::io::Error::other("no free name")),
        ))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `name` in the folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to `name` in the folder.
    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf, CliError> {
        let path = self.join(name);
        std::fs::write(&path, text).map_err(|e| write_error(&path, e))?;
        Ok(path)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_error(path: &Path, e: std::io::Error) -> CliError {
    CliError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Runs `command` to its end, or until Ctrl-C or SIGTERM: then it is killed, and the caller
/// returns an error, dropping its [`WorkDir`] on the way out.
pub fn run_to_end(command: &mut Command) -> std::io::Result<ExitStatus> {
    let stop = super::signals::catch_stop();
    let mut child = command.spawn()?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if stop.is_triggered() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "stopped by a signal",
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_work_folder_is_new_private_and_gone_when_dropped() {
        let a = WorkDir::new("rollcall-test-workdir").unwrap();
        let b = WorkDir::new("rollcall-test-workdir").unwrap();
        assert_ne!(a.path(), b.path());
        let mode = std::fs::metadata(a.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(
            std::fs::read_dir(a.path()).unwrap().count(),
            0,
            "nothing in it to reuse"
        );
        let written = a.write("x.txt", "x").unwrap();
        assert!(written.is_file());
        let gone = a.path().to_path_buf();
        drop(a);
        assert!(!gone.exists());
    }
}
