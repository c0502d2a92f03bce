//! Calls into Python from ivm's own threads (pool workers delivering
//! results, running callbacks), made safe at interpreter exit.
//!
//! A thread CPython did not create that holds the interpreter while it
//! finalizes brings the process down. So the package registers an `atexit`
//! hook ([`shutdown`]) that closes the door: from then on ivm's threads do
//! not enter Python (a callback fails with an error JavaScript sees; a
//! result is dropped, as nobody is left to receive it), and the hook waits
//! for the ones inside to leave before finalization goes on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use pyo3::prelude::*;

static CLOSED: AtomicBool = AtomicBool::new(false);
static INSIDE: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` holding the interpreter, unless it is shutting down.
pub(crate) fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    INSIDE.fetch_add(1, Ordering::SeqCst);
    let result = if CLOSED.load(Ordering::SeqCst) { None } else { Some(Python::attach(f)) };
    INSIDE.fetch_sub(1, Ordering::SeqCst);
    result
}

/// The error a callback gives JavaScript once Python is shutting down.
pub(crate) const SHUT_DOWN: &str = "the Python interpreter is shutting down";

/// Closes the door to ivm's threads and waits (not holding the
/// interpreter) until none is inside; registered with `atexit`.
#[pyfunction]
pub(crate) fn shutdown(py: Python<'_>) {
    CLOSED.store(true, Ordering::SeqCst);
    py.detach(|| {
        // Entries on this thread (a callback running under it) cannot
        // happen here: atexit runs with no ivm call in progress on it.
        while INSIDE.load(Ordering::SeqCst) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}
