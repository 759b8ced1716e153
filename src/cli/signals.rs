//! Ctrl-C and SIGTERM as a [`Shutdown`] token, and SIGHUP as a flag: long-running commands stop
//! (or reload) at a safe point, nothing half-written, instead of dying mid-transaction.
//!
//! A signal handler may do almost nothing safely, so it writes one byte to a pipe; a small
//! thread reads it and triggers the token, which may take locks and wake sleepers.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use rollcall::shutdown::Shutdown;

/// The pipe's write end, for the handler (-1 until it exists).
static STOP_PIPE: AtomicI32 = AtomicI32::new(-1);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = STOP_PIPE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the buffer lives on this stack frame.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

extern "C" fn on_hangup(_: libc::c_int) {
    RELOAD.store(true, Ordering::SeqCst);
}

/// Triggers `token` for each byte that arrives on `read`.
fn relay(read: libc::c_int, token: Shutdown) {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads one byte into a live local.
        let n = unsafe { libc::read(read, (&mut byte as *mut u8).cast(), 1) };
        if n == 1 {
            token.trigger();
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        } else {
            return;
        }
    }
}

/// Catches SIGINT and SIGTERM from now on; returns the token they trigger (the same one on
/// every call).
pub fn catch_stop() -> Shutdown {
    static TOKEN: OnceLock<Shutdown> = OnceLock::new();
    TOKEN
        .get_or_init(|| {
            let token = Shutdown::new();
            let mut fds = [0 as libc::c_int; 2];
            // SAFETY: pipe(2) fills the two descriptors it is given.
            if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
                tracing::warn!("cannot make the signal pipe; Ctrl-C and SIGTERM will end rollcall at once");
                return token;
            }
            let relayed = token.clone();
            let spawned = std::thread::Builder::new()
                .name("rollcall-signals".into())
                .spawn(move || relay(fds[0], relayed));
            if spawned.is_err() {
                tracing::warn!("cannot start the signal thread; Ctrl-C and SIGTERM will end rollcall at once");
                return token;
            }
            STOP_PIPE.store(fds[1], Ordering::SeqCst);
            // SAFETY: the handler only writes to a pipe, which is async-signal-safe.
            unsafe {
                libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
                libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
            }
            token
        })
        .clone()
}

/// Catches SIGHUP from now on; returns the flag it sets (the daemon clears it once reloaded).
pub fn catch_reload() -> &'static AtomicBool {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGHUP, on_hangup as *const () as libc::sighandler_t);
    }
    &RELOAD
}
