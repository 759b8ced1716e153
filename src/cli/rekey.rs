//! `rollcall rekey`: the store's key rotated, every template sealed again under the new one.

use std::path::PathBuf;

use super::{CliError, append_audit, open_store};
use rollcall::config::Config;
use rollcall::event::AuditAction;
use rollcall::store::Key;

/// Arguments of `rollcall rekey`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The new key, made with `rollcall keygen --out FILE`. Once this succeeds, point the config
    /// (or the systemd credential) at it and keep the old one only until you have checked.
    #[arg(long)]
    pub new_key: PathBuf,
}

/// Runs `rollcall rekey`: every template sealed again under the new key, audited. The daemon
/// must be stopped first: it holds the old key.
pub fn run(config: &Config, args: Args) -> Result<(), CliError> {
    let new = Key::from_file(&args.new_key)?;
    let mut store = open_store(config)?;
    let n = store.rekey(new)?;
    let detail = format!("{n} templates sealed again under the new key");
    append_audit(
        &mut store,
        config,
        AuditAction::KeyRotated,
        &args.new_key.display().to_string(),
        &detail,
    )?;
    eprintln!(
        "{n} templates now sealed with {}: point [store] key_file (or the credential rollcall.key) at it",
        args.new_key.display()
    );
    Ok(())
}
