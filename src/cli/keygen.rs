//! `rollcall keygen`: a new key for the store (or for sealing rosters as a backend).

use std::path::PathBuf;

use super::CliError;
use rollcall::store::Key;

/// Arguments of `rollcall keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the new key (created 0600; never overwritten).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `rollcall keygen`.
pub fn run(args: Args) -> Result<(), CliError> {
    Key::generate().write_new(&args.out)?;
    eprintln!(
        "new key written to {} (mode 0600); keep a copy somewhere safe: without it the roster cannot be read",
        args.out.display()
    );
    Ok(())
}
