//! `rollcall audit [--verify [--head SEQ:HASH]] [--json]`: the store's audit trail, and whether
//! its chain holds and reaches the head the backend holds.

use super::CliError;
use rollcall::config::Config;
use rollcall::store::audit::{AuditHead, verify_chain, verify_head};

/// Arguments of `rollcall audit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check the hash chain: exit status 1, naming the first bad record, when a record was
    /// edited, replaced or removed.
    #[arg(long)]
    verify: bool,
    /// With --verify: the head the backend holds (a status's `audit.seq` and `audit.hash`, as
    /// SEQ:HASH). The chain must reach it and agree with it there, so a trail whose newest
    /// records were removed, or that was emptied, fails too.
    #[arg(long, requires = "verify", value_parser = parse_head)]
    head: Option<AuditHead>,
    /// One JSON record per line, as published on `{prefix}/{device}/audit`.
    #[arg(long)]
    json: bool,
}

/// Runs `rollcall audit`.
pub fn run(config: &Config, args: Args) -> Result<(), CliError> {
    let store = super::open_store(config)?;
    let trail = store.audit_trail()?;
    if !args.verify || args.json {
        for r in &trail {
            if args.json {
                outln!("{}", serde_json::to_string(r).unwrap_or_default());
            } else {
                outln!(
                    "{:>5}  {}  {:<16} {:<24} {}",
                    r.seq,
                    r.at.to_rfc3339(),
                    r.action.as_str(),
                    r.subject,
                    r.detail
                );
            }
        }
    }
    if args.verify {
        let n = verify_chain(&trail).map_err(|e| {
            CliError::PartlyFailed(format!(
                "the audit trail of {} is broken at {e}",
                config.store.path.display()
            ))
        })?;
        if let Some(head) = &args.head {
            verify_head(&trail, head).map_err(|e| {
                CliError::PartlyFailed(format!(
                    "the audit trail of {} does not reach the backend's head: {e}",
                    config.store.path.display()
                ))
            })?;
            eprintln!(
                "audit trail verified: {n} records, chain unbroken, reaching head {}",
                head.seq
            );
        } else {
            eprintln!("audit trail verified: {n} records, chain unbroken");
        }
    }
    Ok(())
}

fn parse_head(text: &str) -> Result<AuditHead, String> {
    text.parse()
}
