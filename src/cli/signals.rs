//! Ctrl-C and SIGTERM (and SIGHUP) as flags the long-running commands poll: they stop (or
//! reload) at a safe point, nothing half-written, instead of dying mid-transaction.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_hangup(_: libc::c_int) {
    RELOAD.store(true, Ordering::SeqCst);
}

/// Catches SIGINT and SIGTERM from now on; returns the flag they set.
pub fn catch_stop() -> &'static AtomicBool {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    &STOP
}

/// Catches SIGHUP from now on; returns the flag it sets (the daemon clears it once reloaded).
pub fn catch_reload() -> &'static AtomicBool {
    // SAFETY: as above.
    unsafe {
        libc::signal(libc::SIGHUP, on_hangup as *const () as libc::sighandler_t);
    }
    &RELOAD
}
