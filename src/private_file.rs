//! Files holding personal data or secrets (exports, annotated pictures, the status file, keys),
//! readable and writable by their owner only; and secrets read only from such files.
//!
//! `OpenOptions::mode` only applies when a file is created, so a file that already exists with a
//! wider mode is narrowed too: rewriting an export never leaves it readable by others.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Owner read and write, nothing for group or others.
pub const MODE: u32 = 0o600;

/// Why a file holding a secret (a key, a password) must not be used, if it must not: group or
/// others may read or write it. A systemd credential, readable by the service only, passes.
pub fn open_to_others(meta: &std::fs::Metadata, path: &Path) -> Option<String> {
    let mode = meta.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "it is open to group or others (mode {:o}); run `chmod 600 {}`",
            mode & 0o777,
            path.display()
        )
    })
}

/// Reads a file holding a secret into memory that is wiped when dropped, refusing one that
/// group or others may read or write (the error's kind is then `Other`, its text says why and
/// how to fix it).
pub fn read_secret(path: &Path) -> std::io::Result<zeroize::Zeroizing<Vec<u8>>> {
    let meta = std::fs::metadata(path)?;
    if let Some(problem) = open_to_others(&meta, path) {
        return Err(std::io::Error::other(problem));
    }
    std::fs::read(path).map(zeroize::Zeroizing::new)
}

/// Writes `bytes` to `path` whole, creating or truncating it, and leaves it mode 0600.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(MODE)
        .open(path)?;
    // Before the data goes in, for a file that existed with a wider mode.
    f.set_permissions(std::fs::Permissions::from_mode(MODE))?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Creates `path` with `bytes`, mode 0600, and fails if it exists: for keys, which are never
/// overwritten, and for a new database.
pub fn create_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(MODE)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The folder of systemd credentials the service was given (`LoadCredential=`), if any.
pub fn credentials_dir() -> Option<PathBuf> {
    std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from)
}

/// The credential `name` in `dir`, when the service was given it.
pub fn credential_in(dir: Option<&Path>, name: &str) -> Option<PathBuf> {
    let path = dir?.join(name);
    path.exists().then_some(path)
}

/// The credential `name` among the service's own, when it was given it.
pub fn credential(name: &str) -> Option<PathBuf> {
    credential_in(credentials_dir().as_deref(), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_and_existing_files_end_up_owner_only() {
        let dir = std::env::temp_dir().join(format!("rollcall-private-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let new = dir.join("new.csv");
        write(&new, b"a").unwrap();
        let existing = dir.join("existing.csv");
        std::fs::write(&existing, b"old").unwrap();
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&existing, b"b").unwrap();
        assert!(create_new(&existing, b"c").is_err(), "create_new never overwrites");
        let created = dir.join("created.key");
        create_new(&created, b"c").unwrap();
        assert_eq!(std::fs::metadata(&created).unwrap().permissions().mode() & 0o777, MODE);
        for (path, text) in [(&new, "a"), (&existing, "b")] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, MODE, "{}", path.display());
            assert_eq!(std::fs::read_to_string(path).unwrap(), text);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
