//! `rollcall events tail | export`: the local attendance log, for audits and for schools without a
//! backend yet.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::CliError;
use rollcall::config::Config;
use rollcall::event::AttendanceEvent;

/// Arguments of `rollcall events`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EventsCommand {
    /// The latest attendance events; with --follow, new ones as they are recorded.
    Tail {
        /// How many to show first.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
        /// Keep printing new events until Ctrl-C.
        #[arg(short, long)]
        follow: bool,
    },
    /// Attendance decided between two days (inclusive, UTC), as CSV.
    Export {
        /// First day, YYYY-MM-DD (or an RFC 3339 time).
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD (or an RFC 3339 time).
        #[arg(long)]
        to: String,
        /// CSV (the only format, and the default; the flag says so in scripts).
        #[arg(long)]
        csv: bool,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// A day (from its start, or with `end` to its end) or an exact time.
fn parse_time(text: &str, end: bool) -> Result<DateTime<Utc>, CliError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| CliError::Usage(format!("`{text}` is neither a day (2026-11-23) nor an RFC 3339 time")))?;
    let t = if end {
        day.and_hms_milli_opt(23, 59, 59, 999)
    } else {
        day.and_hms_opt(0, 0, 0)
    };
    t.map(|t| t.and_utc())
        .ok_or_else(|| CliError::Usage(format!("`{text}` is not a valid day")))
}

/// An event with the time it was decided, as `events tail` and `status` list it.
pub(super) fn line(e: &AttendanceEvent) -> String {
    format!("{}  {e}", e.decided_at.format("%Y-%m-%d %H:%M:%S"))
}

/// Quotes a CSV field when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Runs `rollcall events`.
pub fn run(config: &Config, args: Args) -> Result<(), CliError> {
    let mut store = super::open_store(config)?;
    match args.command {
        EventsCommand::Tail { lines, follow } => {
            let all = store.attendance_since(0)?;
            let mut last = all.last().map_or(0, |(row, _)| *row);
            for (_, e) in all.iter().skip(all.len().saturating_sub(lines)) {
                outln!("{}", line(e));
            }
            if !follow {
                return Ok(());
            }
            let stop = super::signals::catch_stop();
            while !stop.sleep(Duration::from_millis(500)) {
                for (row, e) in store.attendance_since(last)? {
                    outln!("{}", line(&e));
                    last = row;
                }
                // Following is all this does: with nobody reading, stop.
                if super::output::gone() {
                    return Ok(());
                }
            }
            Ok(())
        }
        EventsCommand::Export { from, to, csv: _, out } => {
            let (from, to) = (parse_time(&from, false)?, parse_time(&to, true)?);
            let mut text = String::from(
                "event_id,person_id,status,session_id,room,camera_id,first_seen,decided_at,similarity,margin,liveness,frames,recognizer,device,roster_version,liveness_basis\n",
            );
            let mut n = 0;
            for e in store.attendance()? {
                if e.decided_at < from || e.decided_at > to {
                    continue;
                }
                n += 1;
                let fields = [
                    e.event_id.clone(),
                    e.person_id.clone(),
                    e.status.as_str().to_string(),
                    e.session_id.clone().unwrap_or_default(),
                    e.room.clone(),
                    e.camera_id.clone(),
                    e.first_seen.to_rfc3339(),
                    e.decided_at.to_rfc3339(),
                    format!("{:.4}", e.similarity),
                    format!("{:.4}", e.margin),
                    e.liveness.map_or_else(String::new, |l| format!("{l:.4}")),
                    e.frames.to_string(),
                    e.recognizer.clone(),
                    e.device.clone(),
                    e.roster_version.to_string(),
                    e.liveness_basis.as_str().to_string(),
                ];
                text += &fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
                text.push('\n');
            }
            // Recorded before the data leaves: an export the trail cannot take does not happen.
            let to_where = out
                .as_ref()
                .map_or_else(|| "standard output".to_string(), |p| p.display().to_string());
            let detail = format!("{n} attendance events decided from {from} to {to}, as CSV");
            super::append_audit(
                &mut store,
                config,
                rollcall::event::AuditAction::ExportEvents,
                &to_where,
                &detail,
            )?;
            match out {
                Some(path) => {
                    rollcall::private_file::write(&path, text.as_bytes()).map_err(|e| CliError::Write {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                    eprintln!("{n} events written to {}", path.display());
                }
                None => out!("{text}"),
            }
            Ok(())
        }
    }
}
