//! `rollcall keygen`: a new key: the store's (or a site key), a device's own key pair, or the
//! backend's signing key pair.

use std::path::PathBuf;

use super::CliError;
use rollcall::keys::{DeviceKey, SigningKey};
use rollcall::store::Key;

/// Arguments of `rollcall keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the new key (created 0600; never overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// A device's own key pair: rosters are sealed to it, and the device signs with it. Prints
    /// its public keys for the backend. (The daemon makes one beside its store on first start
    /// when none is set.)
    #[arg(long, conflicts_with = "signing")]
    pub device: bool,
    /// The backend's signing key pair: `roster publish --signing-key` signs with it. Writes the
    /// verifying key to OUT.pub too; it goes in every device's [mqtt] roster_verify_key.
    #[arg(long)]
    pub signing: bool,
}

/// Runs `rollcall keygen`.
pub fn run(args: Args) -> Result<(), CliError> {
    let seed = Key::generate();
    seed.write_new(&args.out)?;
    let out = args.out.display();
    if args.device {
        let public = DeviceKey::from_seed(&seed).public();
        outln!("sealing {}\nsigning {}", public.sealing, public.signing);
        eprintln!(
            "device key written to {out} (mode 0600); point [device] key_file at it (or the credential \
             rollcall.device-key), and give the backend the two public keys above"
        );
    } else if args.signing {
        let verify_key = SigningKey::from_seed(&seed).verify_key().to_string();
        let public = PathBuf::from(format!("{out}.pub"));
        std::fs::write(&public, format!("{verify_key}\n")).map_err(|e| CliError::Write {
            path: public.clone(),
            reason: e.to_string(),
        })?;
        outln!("{verify_key}");
        eprintln!(
            "signing key written to {out} (mode 0600): keep it on the backend only, never on a device. \
             Its verifying key (above, and in {}) goes in every device's [mqtt] roster_verify_key",
            public.display()
        );
    } else {
        eprintln!(
            "new key written to {out} (mode 0600); keep a copy somewhere safe: without it the roster cannot be read"
        );
    }
    Ok(())
}
