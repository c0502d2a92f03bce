//! node:vm's `breakOnSigint`: while a run that asked for it goes on, Ctrl-C
//! (SIGINT) is the run's, and ends it; Node's own handling of the signal
//! (its `process.on('SIGINT')` listeners, or the default of ending the
//! process) is put back when the run ends. The signal handler only sets a
//! flag; the host-exit check (`lib.rs`), which ivm-core runs between the
//! run's statements, sees it and stops the run.

use std::sync::atomic::{AtomicBool, Ordering};

static SEEN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_signal: libc::c_int) {
    // An atomic store is async-signal-safe.
    SEEN.store(true, Ordering::SeqCst);
}

/// While it lives, SIGINT sets the flag instead of reaching Node. Public only
/// as the type `vm.js` holds between `_breakOnSigint` and its end.
pub struct BreakOnSigint {
    previous: libc::sigaction,
}

impl std::fmt::Debug for BreakOnSigint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BreakOnSigint")
    }
}

impl BreakOnSigint {
    pub(crate) fn start() -> std::io::Result<BreakOnSigint> {
        SEEN.store(false, Ordering::SeqCst);
        // SAFETY: both structs are zeroed (valid for sigaction) before the
        // fields that matter are set; the handler is a plain function that
        // only stores an atomic.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&raw mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGINT, &raw const action, &raw mut previous) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(BreakOnSigint { previous })
        }
    }

    /// Whether SIGINT came since the start.
    pub(crate) fn seen(&self) -> bool {
        SEEN.load(Ordering::SeqCst)
    }
}

impl Drop for BreakOnSigint {
    fn drop(&mut self) {
        // SAFETY: puts back the action `start` replaced, as it was.
        unsafe { libc::sigaction(libc::SIGINT, &raw const self.previous, std::ptr::null_mut()) };
        // Later runs are not this one's to stop.
        SEEN.store(false, Ordering::SeqCst);
    }
}

/// Whether a run that breaks on SIGINT got one: the host-exit check's
/// question (false outside such runs, where the flag stays clear).
pub(crate) fn interrupted() -> bool {
    SEEN.load(Ordering::SeqCst)
}
