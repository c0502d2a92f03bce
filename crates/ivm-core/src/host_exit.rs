//! A host thread that must stop while it waits in a synchronous call (a
//! Node worker being terminated, whose thread runs an isolate's endless
//! loop): a binding tells, per thread, how to ask the host whether it
//! wants the thread back, and the call's JavaScript is stopped for it.
//!
//! Nothing outside can interrupt a thread that runs an isolate's
//! JavaScript, and a host that joins the thread (Node's `worker.terminate()`,
//! and `process.exit()` through it) would wait forever. So while a
//! synchronous call on a thread with a check runs, the isolate is asked to
//! run the check between statements every [`CHECK_EVERY`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use ivm_runtime::Watchdog;

use crate::Isolate;
use crate::isolate::IsolateInner;
use crate::this_thread::HOST_EXIT_CHECK;

/// How often a synchronous call on a thread with a check asks it.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Sets how to tell that the host wants this thread back (`None` removes
/// it). While a synchronous call made on this thread runs JavaScript,
/// `check` is called on this thread, between statements, every 100 ms;
/// once it answers `true` the call's JavaScript is stopped and the call
/// fails with [`Error::Canceled`](crate::Error::Canceled).
pub fn set_host_exit_check(check: Option<Rc<dyn Fn() -> bool>>) {
    HOST_EXIT_CHECK.with(|slot| *slot.borrow_mut() = check);
}

/// Whether this thread has a check.
pub(crate) fn checked_here() -> bool {
    HOST_EXIT_CHECK.with(|slot| slot.borrow().is_some())
}

/// An isolate's part in the checks.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// Whether the ticker visits this isolate.
    watched: AtomicBool,
    /// A call on a thread with a check is running.
    checked_run: AtomicBool,
    /// The check said the host wants its thread back: the running call was
    /// stopped for it.
    requested: AtomicBool,
}

impl Watch {
    /// A call on a thread with a check starts running in `inner`.
    pub(crate) fn run_started(&self, inner: &Arc<IsolateInner>) {
        watch(inner);
        self.checked_run.store(true, Ordering::Relaxed);
    }

    pub(crate) fn run_ended(&self) {
        self.checked_run.store(false, Ordering::Relaxed);
    }

    /// Whether the host asked for its thread back during the call.
    pub(crate) fn exit_requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// The request was answered (the call ended with `Error::Canceled`).
    pub(crate) fn exit_handled(&self) {
        self.requested.store(false, Ordering::SeqCst);
    }
}

/// The isolates that ran calls on threads with a check, which the ticker
/// visits.
static WATCHED: Mutex<Vec<Weak<IsolateInner>>> = Mutex::new(Vec::new());

/// Makes the ticker visit `inner` (once per isolate), starting the ticker
/// on first use.
fn watch(inner: &Arc<IsolateInner>) {
    // Read before the swap: this runs at every call on such a thread.
    let watched = &inner.host_exit.watched;
    if watched.load(Ordering::Relaxed) || watched.swap(true, Ordering::Relaxed) {
        return;
    }
    WATCHED.lock().unwrap_or_else(PoisonError::into_inner).push(Arc::downgrade(inner));
    static TICKER: OnceLock<()> = OnceLock::new();
    TICKER.get_or_init(|| {
        // The ticker lives as long as the process: its deadline is never
        // cancelled.
        std::mem::forget(Watchdog::global().schedule_every(Instant::now() + CHECK_EVERY, CHECK_EVERY, || {
            let mut watched = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
            watched.retain(|inner| inner.strong_count() > 0);
            for inner in watched.iter().filter_map(Weak::upgrade) {
                if inner.host_exit.checked_run.load(Ordering::Relaxed) {
                    inner.terminator.request_interrupt(on_interrupt, std::ptr::null_mut());
                }
            }
            true
        }));
    });
}

/// Asks the running call's thread for its check, between statements.
unsafe extern "C" fn on_interrupt(isolate: v8::UnsafeRawIsolatePtr, _data: *mut std::ffi::c_void) {
    let check = HOST_EXIT_CHECK.with(|slot| slot.borrow().clone());
    let Some(check) = check else { return };
    // A panicking check must not unwind into V8; it counts as "no".
    if !catch_unwind(AssertUnwindSafe(|| check())).unwrap_or(false) {
        return;
    }
    // SAFETY: V8 runs interrupts on the thread that holds the isolate's
    // lock, with the isolate entered.
    let isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(isolate) };
    if let Some(owner) = Isolate::of(&isolate) {
        owner.inner.host_exit.requested.store(true, Ordering::SeqCst);
        owner.inner.interrupt();
    }
}
