//! Unhandled promise rejections fail the call they happen in, with the
//! rejection's reason as its error (isolated-vm's rule): a call that
//! rejects a promise nobody handles by the time its microtasks have run has
//! failed, even if its own code went on to return a value.
//!
//! V8 reports each rejection without a handler, and each handler added to
//! an already rejected promise, to the isolate's callback; the rejections
//! still unhandled when a run ends are the run's.

use std::cell::RefCell;

/// The isolate's rejections without a handler, in the order they happened,
/// each with a sequence number so that a run can tell its own from those of
/// runs around it. Kept in a slot of the V8 isolate, used under its lock.
#[derive(Default)]
struct Unhandled {
    next: u64,
    rejections: Vec<(u64, v8::Global<v8::Promise>, v8::Global<v8::Value>)>,
}

#[derive(Default)]
struct UnhandledSlot(RefCell<Unhandled>);

/// Has V8 tell the isolate of its unhandled rejections.
pub(crate) fn watch(isolate: &mut v8::Isolate) {
    isolate.set_slot(UnhandledSlot::default());
    isolate.set_promise_reject_callback(on_reject);
}

extern "C" fn on_reject(message: v8::PromiseRejectMessage<'_>) {
    // SAFETY: V8 calls this on the thread that holds the isolate, inside
    // the JavaScript that rejected the promise or added the handler.
    v8::callback_scope!(unsafe scope, &message);
    let Some(slot) = scope.get_slot::<UnhandledSlot>() else { return };
    let promise = message.get_promise();
    match message.get_event() {
        v8::PromiseRejectEvent::PromiseRejectWithNoHandler => {
            let Some(reason) = message.get_value() else { return };
            let entry = (v8::Global::new(scope, promise), v8::Global::new(scope, reason));
            let mut unhandled = slot.0.borrow_mut();
            let number = unhandled.next;
            unhandled.next += 1;
            unhandled.rejections.push((number, entry.0, entry.1));
        }
        v8::PromiseRejectEvent::PromiseHandlerAddedAfterReject => {
            let promise = v8::Global::new(scope, promise);
            slot.0.borrow_mut().rejections.retain(|(_, rejected, _)| *rejected != promise);
        }
        _ => {}
    }
}

/// Where a run starts counting its own rejections; the outermost run of a
/// call forgets what earlier work left (a promise a host settled between
/// calls belongs to no call).
pub(crate) fn start(isolate: &v8::Isolate, outermost: bool) -> u64 {
    let Some(slot) = isolate.get_slot::<UnhandledSlot>() else { return 0 };
    let mut unhandled = slot.0.borrow_mut();
    if outermost {
        unhandled.rejections.clear();
    }
    unhandled.next
}

/// The reason of the first rejection since `since` still unhandled, if
/// any; the run's rejections are forgotten either way.
pub(crate) fn take<'s>(scope: &v8::PinScope<'s, '_>, since: u64) -> Option<v8::Local<'s, v8::Value>> {
    let slot = scope.get_slot::<UnhandledSlot>()?;
    let mut unhandled = slot.0.borrow_mut();
    let first = unhandled.rejections.iter().position(|(number, _, _)| *number >= since)?;
    let (_, _, reason) = unhandled.rejections.drain(first..).next()?;
    Some(v8::Local::new(scope, &reason))
}
