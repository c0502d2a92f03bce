//! Async calls that follow the promise they return (`promise: true`) past
//! the end of their run: when the promise is still pending once the call's
//! own microtasks have run (it awaits a host's async callback, say), the
//! call's result arrives when the promise settles, in whatever later piece
//! of the isolate's work settles it.
//!
//! The call's timeout covers the whole wait: the caller gets
//! [`Error::Timeout`] at the deadline however the promise fares, and the
//! isolate's work that continues the awaiting code (a host callback's
//! settling) runs under what is left of that deadline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use ivm_runtime::{Deadline, Sender, Watchdog};

use crate::cancel::CallState;
use crate::this_thread::FOLLOWING;
use crate::transfer::{JsScope, transfer_out};
use crate::{Error, Isolate, Result, RunOptions, Transferable};

/// Where a followed call's result goes: taken once, by whichever comes
/// first of the promise settling, the deadline and the isolate's disposal.
pub(crate) type Outlet = Arc<Mutex<Option<Sender<Result<Transferable>>>>>;

pub(crate) fn deliver(outlet: &Outlet, result: Result<Transferable>) {
    let sender = outlet.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(sender) = sender {
        sender.send(result);
    }
}

/// The followed call running on a thread: where its result goes, its
/// deadline, and its state.
pub(crate) type Following = (Outlet, Option<Instant>, Arc<CallState>);

/// A call waiting for its promise, registered with its isolate.
pub(crate) struct Follower {
    outlet: Outlet,
    /// Told when the call waits on nothing but the outside world.
    state: Arc<CallState>,
    options: RunOptions,
    context: Arc<v8::Global<v8::Context>>,
    /// Cancelled once the result is in; a call with one settles by itself.
    deadline: Option<Deadline>,
}

static NEXT_FOLLOWER: AtomicU64 = AtomicU64::new(1);

/// Runs `call` (the synchronous form of an async call with `promise: true`)
/// so that a pending promise it ends with is followed.
pub(crate) fn run_following(
    outlet: &Outlet,
    deadline: Option<Instant>,
    state: &Arc<CallState>,
    call: impl FnOnce() -> Result<Transferable>,
) {
    /// Clears the thread's mark however the call ends, a panic included, so
    /// that no later call on this thread mistakes itself for this one.
    struct Unmark;
    impl Drop for Unmark {
        fn drop(&mut self) {
            FOLLOWING.with(|following| following.borrow_mut().take());
        }
    }
    FOLLOWING.with(|following| *following.borrow_mut() = Some((Arc::clone(outlet), deadline, Arc::clone(state))));
    let _unmark = Unmark;
    let result = call();
    // A call that took its promise over is answered when the promise
    // settles, unless it failed after all (over its memory limit, or lost to
    // a fatal error whose skipped frames held the follower): the first
    // answer delivered is the one the caller gets.
    let deferred = FOLLOWING.with(|following| following.borrow().is_none());
    if !deferred || result.is_err() {
        deliver(outlet, result);
    }
}

/// The deadline of the followed call running on this thread, if any.
pub(crate) fn deadline() -> Option<Instant> {
    FOLLOWING.with(|following| following.borrow().as_ref().and_then(|(_, deadline, _)| *deadline))
}

/// Takes over a promise still pending at the end of a call, if the call is
/// one that follows its promise: its result will be sent when the promise
/// settles. `false` if it is not such a call.
pub(crate) fn follow<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    isolate: &Isolate,
    context: &Arc<v8::Global<v8::Context>>,
    promise: v8::Local<'s, v8::Promise>,
    options: &RunOptions,
) -> Result<bool> {
    let Some((outlet, deadline, state)) = FOLLOWING.with(|following| following.borrow_mut().take()) else {
        return Ok(false);
    };
    let id = NEXT_FOLLOWER.fetch_add(1, Ordering::Relaxed);
    let expiry = deadline.map(|at| {
        let outlet = Arc::clone(&outlet);
        Watchdog::global().schedule(at, move || deliver(&outlet, Err(Error::Timeout)))
    });
    // The settling handlers carry the follower's id, not a pointer: a
    // handler that runs after its follower is gone finds nothing.
    let data = v8::Number::new(scope, id as f64);
    let on_fulfilled = v8::Function::builder(settled::<true>).data(data.into()).build(scope);
    let on_rejected = v8::Function::builder(settled::<false>).data(data.into()).build(scope);
    let (Some(on_fulfilled), Some(on_rejected)) = (on_fulfilled, on_rejected) else {
        FOLLOWING.with(|following| *following.borrow_mut() = Some((outlet, deadline, state)));
        return Ok(false);
    };
    promise.then2(scope, on_fulfilled, on_rejected);
    if let Some(budget) = isolate.current_cpu_budget() {
        let outlet = Arc::clone(&outlet);
        budget.when_exhausted(move || deliver(&outlet, Err(Error::CpuLimit)));
    }
    let follower = Follower {
        outlet,
        state: Arc::clone(&state),
        options: RunOptions { promise: false, ..options.clone() },
        context: Arc::clone(context),
        deadline: expiry,
    };
    let settles_by_itself = follower.deadline.is_some();
    isolate.inner.host.followers.lock().unwrap_or_else(PoisonError::into_inner).insert(id, follower);
    // A call with a deadline settles by then whatever happens outside.
    if !settles_by_itself && isolate.inner.host.pending_calls.load(Ordering::SeqCst) == 0 {
        state.waiting();
    }
    Ok(true)
}

/// Counts off an async host call whose result has settled its promise in
/// the isolate. With none left, the calls still following a promise wait
/// on nothing but the outside world: they are told so. (Both this and
/// `follow` run in the isolate's turn, so the count cannot change under
/// them.)
pub(crate) fn host_call_settled(isolate: &Isolate) {
    if isolate.inner.host.pending_calls.fetch_sub(1, Ordering::SeqCst) != 1 {
        return;
    }
    let followers = isolate.inner.host.followers.lock().unwrap_or_else(PoisonError::into_inner);
    let waiting = followers.values().filter(|follower| follower.deadline.is_none());
    let waiting: Vec<Arc<CallState>> = waiting.map(|follower| Arc::clone(&follower.state)).collect();
    drop(followers);
    for state in waiting {
        state.waiting();
    }
}

/// The handlers a followed promise settles through.
fn settled<'s, const FULFILLED: bool>(
    scope: &mut v8::PinScope<'s, '_>,
    arguments: v8::FunctionCallbackArguments<'s>,
    _: v8::ReturnValue<'s, v8::Value>,
) {
    let Some(id) = arguments.data().number_value(scope).map(|n| n as u64) else { return };
    let Some(isolate) = Isolate::of(scope) else { return };
    let follower = isolate.inner.host.followers.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
    let Some(follower) = follower else { return };
    let value = arguments.get(0);
    v8::tc_scope!(let tc, scope);
    let result = if FULFILLED {
        transfer_out(tc, &isolate, &follower.context, value, &follower.options)
    } else {
        Err(crate::exception::thrown(tc, value, None))
    };
    deliver(&follower.outlet, result);
}

/// Settles every call still following a promise of a disposed isolate.
pub(crate) fn abandon(followers: &Mutex<HashMap<u64, Follower>>) {
    let followers = std::mem::take(&mut *followers.lock().unwrap_or_else(PoisonError::into_inner));
    for follower in followers.into_values() {
        deliver(&follower.outlet, Err(Error::Disposed));
    }
}
