//! Unhandled promise rejections fail the call they happen in, with the
//! rejection's reason as its error (isolated-vm's rule): a call that
//! rejects a promise nobody handles by the time its microtasks have run has
//! failed, even if its own code went on to return a value.
//!
//! V8 reports each rejection without a handler, and each handler added to
//! an already rejected promise, to the isolate's callback; the rejections
//! still unhandled when a run ends are the run's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::Isolate;

/// An isolate's rejections without a handler, in the order they happened,
/// each with a sequence number so that a run can tell its own from those of
/// runs around it. Every run asks, and rejections are rare: `any` answers
/// without the lock.
#[derive(Default)]
pub(crate) struct Rejections {
    any: AtomicBool,
    next: AtomicU64,
    unhandled: Mutex<Vec<Rejection>>,
}

/// A rejection: its number, the promise, and its reason.
type Rejection = (u64, v8::Global<v8::Promise>, v8::Global<v8::Value>);

/// Has V8 tell the isolate of its unhandled rejections.
pub(crate) fn watch(isolate: &mut v8::Isolate) {
    isolate.set_promise_reject_callback(on_reject);
}

extern "C" fn on_reject(message: v8::PromiseRejectMessage<'_>) {
    // SAFETY: V8 calls this on the thread that holds the isolate, inside
    // the JavaScript that rejected the promise or added the handler.
    v8::callback_scope!(unsafe scope, &message);
    let Some(owner) = Isolate::of(scope) else { return };
    let rejections = &owner.inner.rejections;
    let promise = message.get_promise();
    match message.get_event() {
        v8::PromiseRejectEvent::PromiseRejectWithNoHandler => {
            let Some(reason) = message.get_value() else { return };
            let entry = (v8::Global::new(scope, promise), v8::Global::new(scope, reason));
            let number = rejections.next.fetch_add(1, Ordering::Relaxed);
            rejections.unhandled.lock().unwrap_or_else(PoisonError::into_inner).push((number, entry.0, entry.1));
            rejections.any.store(true, Ordering::Relaxed);
        }
        v8::PromiseRejectEvent::PromiseHandlerAddedAfterReject => {
            let promise = v8::Global::new(scope, promise);
            let mut unhandled = rejections.unhandled.lock().unwrap_or_else(PoisonError::into_inner);
            unhandled.retain(|(_, rejected, _)| *rejected != promise);
            rejections.any.store(!unhandled.is_empty(), Ordering::Relaxed);
        }
        _ => {}
    }
}

impl Rejections {
    /// Where a run starts counting its own rejections; the outermost run of
    /// a call forgets what earlier work left (a promise a host settled
    /// between calls belongs to no call).
    pub(crate) fn start(&self, outermost: bool) -> u64 {
        // Read before the swap: this runs on every call, and is rarely due.
        if outermost && self.any.load(Ordering::Relaxed) && self.any.swap(false, Ordering::Relaxed) {
            self.unhandled.lock().unwrap_or_else(PoisonError::into_inner).clear();
        }
        self.next.load(Ordering::Relaxed)
    }

    /// Lets go of the handles, with the isolate they are of.
    pub(crate) fn forget(&self) {
        self.unhandled.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.any.store(false, Ordering::Relaxed);
    }

    /// The reason of the first rejection since `since` still unhandled, if
    /// any; the run's rejections are forgotten either way.
    pub(crate) fn take<'s>(&self, scope: &v8::PinScope<'s, '_>, since: u64) -> Option<v8::Local<'s, v8::Value>> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let mut unhandled = self.unhandled.lock().unwrap_or_else(PoisonError::into_inner);
        let first = unhandled.iter().position(|(number, _, _)| *number >= since);
        let reason = first.and_then(|first| unhandled.drain(first..).next()).map(|(_, _, reason)| reason);
        self.any.store(!unhandled.is_empty(), Ordering::Relaxed);
        reason.map(|reason| v8::Local::new(scope, &reason))
    }
}
