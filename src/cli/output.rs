//! Standard output for every command.
//!
//! std's `println!` panics when standard output fails: `rollcall events | head` ended in
//! "failed printing to stdout: Broken pipe", and `rollcall run --json | head` would have taken
//! the daemon down with it. Here the first failed write ends the output, not the command: the
//! rest of the output is dropped and the command finishes its work, so one that changes
//! something never stops half-way, and the daemon goes on recording and publishing.
//! - A reader that went away (a closed pipe) is not an error of ours: nothing is said.
//! - Any other failure (a full disk under a redirect) lost output somebody asked for: it is said
//!   once on standard error, and the command exits non-zero ([`failure`]).
//!
//! Commands whose output is their whole purpose and that would otherwise run on
//! (`events --follow`) ask [`gone`].

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static GONE: AtomicBool = AtomicBool::new(false);
static FAILURE: OnceLock<String> = OnceLock::new();

/// Whether standard output has failed, so that nothing more will be printed.
pub fn gone() -> bool {
    GONE.load(Ordering::Relaxed)
}

/// Writes `args` to standard output and flushes it, unless it has failed before.
pub fn write(args: std::fmt::Arguments<'_>) {
    if gone() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = FAILURE.set(e.to_string());
            tracing::warn!(error = %e, "standard output failed: the rest of this command's output is dropped");
        }
    }
}

/// Why standard output failed, if it failed for another reason than a reader going away.
pub fn failure() -> Option<&'static str> {
    FAILURE.get().map(String::as_str)
}

/// `print!` to standard output through [`write`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!($($arg)*))
    };
}

/// `println!` to standard output through [`write`].
macro_rules! outln {
    () => {
        $crate::cli::output::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}
