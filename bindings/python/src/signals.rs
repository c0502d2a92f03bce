//! Ctrl-C during a synchronous call. Python runs signal handlers between
//! bytecodes of its main thread, which a synchronous call blocks for as long
//! as JavaScript runs; so on the main thread ivm-core asks, every 100 ms
//! between statements (its host-exit check), whether a handler raised.
//! When one did (`KeyboardInterrupt`), the JavaScript stops and the call
//! raises that exception.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use pyo3::prelude::*;

thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
    static RAISED: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// Makes synchronous calls on this thread stop for signals, if it is
/// Python's main thread (the only one that runs signal handlers).
pub(crate) fn watch(py: Python<'_>) {
    if WATCHED.replace(true) {
        return;
    }
    let main = py.import("threading").and_then(|threading| {
        let current = threading.call_method0("current_thread")?;
        Ok(current.is(&threading.call_method0("main_thread")?))
    });
    if !main.unwrap_or(false) {
        return;
    }
    ivm_core::embedding::set_host_exit_check(Some(Rc::new(|| {
        crate::interpreter::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(raised) => {
                RAISED.with(|slot| *slot.borrow_mut() = Some(raised));
                true
            }
        })
        .unwrap_or(false)
    })));
}

/// The exception a signal handler raised during this thread's last call.
pub(crate) fn take_raised() -> Option<PyErr> {
    RAISED.with(|slot| slot.borrow_mut().take())
}
