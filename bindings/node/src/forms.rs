//! isolated-vm's three forms of each operation: `…Sync` returns the
//! result, the plain name returns a Promise settled on Node's event loop,
//! `…Ignored` returns `undefined` and drops the result. The core provides
//! all three; this module turns its results into Node's.

use std::ptr;
use std::sync::{Arc, Mutex, PoisonError};

use ivm_core::{Pending, Transferable};
use napi::{Env, JsUnknown};

use crate::errors::{internal, rejection, sync_to_napi, to_napi};

/// Which form of an operation `index.js` called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Sync,
    Async,
    Ignored,
}

impl Form {
    pub(crate) fn from_code(code: u32) -> napi::Result<Form> {
        match code {
            0 => Ok(Form::Sync),
            1 => Ok(Form::Async),
            2 => Ok(Form::Ignored),
            _ => Err(internal(format!("unknown call form {code}"))),
        }
    }
}

/// A promise's deferred, which only Node's thread touches.
struct Deferred(napi::sys::napi_deferred);

// SAFETY: moved to Node's thread (in a job) before it is used.
unsafe impl Send for Deferred {}

impl Deferred {
    /// A new Promise and the deferred that settles it; on Node's thread.
    fn new(env: &Env) -> napi::Result<(Deferred, JsUnknown)> {
        let (mut deferred, mut promise) = (ptr::null_mut(), ptr::null_mut());
        // SAFETY: on the environment's thread.
        napi::check_status!(unsafe { napi::sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) })?;
        // SAFETY: a live value of `env`.
        Ok((Deferred(deferred), unsafe { napi::NapiValue::from_raw_unchecked(env.raw(), promise) }))
    }

    /// Resolves the promise with `outcome`'s value, or rejects it with its
    /// error (the pending exception, if that is what the error says); on
    /// Node's thread.
    fn settle(self, env: &Env, outcome: napi::Result<JsUnknown>) {
        let Deferred(deferred) = self;
        // SAFETY: on the environment's thread; each deferred is settled once
        // (this consumes it).
        unsafe {
            match outcome {
                Ok(value) => napi::sys::napi_resolve_deferred(env.raw(), deferred, crate::convert::raw(&value)),
                Err(error) => {
                    let reason = rejection(env, error);
                    napi::sys::napi_reject_deferred(env.raw(), deferred, crate::convert::raw(&reason))
                }
            };
        }
    }
}

/// A Promise of `pending`'s result, converted by `convert` on Node's thread.
/// Until it settles it keeps Node's event loop alive. Settling goes through
/// the environment's one job queue rather than a thread-safe function of
/// its own, which would cost a libuv handle per call.
pub(crate) fn promise<T: Send + 'static>(
    env: &Env,
    pending: Pending<T>,
    convert: impl FnOnce(&Env, T) -> napi::Result<JsUnknown> + Send + 'static,
) -> napi::Result<JsUnknown> {
    let main = Arc::clone(&crate::env_state::state(env)?.main);
    let hold = hold_while_running(env, &main, &pending);
    settled_promise(env, pending, hold, move |env, result| match result {
        Ok(value) => convert(env, value),
        Err(error) => Err(to_napi(env, error)),
    })
}

/// A Promise that `finish` settles, on Node's thread, with `pending`'s
/// outcome; `hold` (if it still holds the event loop then) is let go of
/// first. For callers that manage the hold themselves or map errors their
/// own way.
pub(crate) fn settled_promise<T: Send + 'static>(
    env: &Env,
    pending: Pending<T>,
    hold: SharedHold,
    finish: impl FnOnce(&Env, ivm_core::Result<T>) -> napi::Result<JsUnknown> + Send + 'static,
) -> napi::Result<JsUnknown> {
    let (deferred, promise) = Deferred::new(env)?;
    let main = Arc::clone(&crate::env_state::state(env)?.main);
    pending.on_ready(move |result| {
        // Read on the thread that ran the call, just as it finished.
        let frames = match &result {
            Err(ivm_core::Error::Timeout) => ivm_core::embedding::take_timed_out_frames(),
            _ => None,
        };
        let poster = Arc::clone(&main);
        // If the environment is gone the job is dropped unrun: there is no
        // promise left to settle.
        let _ = poster.post(Box::new(move |env| {
            let Some(env) = env else { return };
            if let Some(hold) = take(&hold) {
                hold.release_on(&env);
            }
            let outcome = crate::errors::with_timed_out_frames(frames, || finish(&env, result));
            deferred.settle(&env, outcome);
        }));
    });
    Ok(promise)
}

/// Runs one operation in the form asked for: `sync` runs it here, `queue`
/// starts it on the pool (its `Pending` is dropped for the ignored form).
pub(crate) fn run<T: Send + 'static>(
    env: &Env,
    form: Form,
    sync: impl FnOnce() -> ivm_core::Result<T>,
    queue: impl FnOnce() -> Pending<T>,
    convert: impl FnOnce(&Env, T) -> napi::Result<JsUnknown> + Send + 'static,
) -> napi::Result<JsUnknown> {
    match form {
        Form::Sync => convert(env, sync().map_err(|e| sync_to_napi(env, e))?),
        Form::Async => promise(env, queue(), convert),
        Form::Ignored => {
            // The result is dropped, but Node stays alive until the call ends.
            let main = Arc::clone(&crate::env_state::state(env)?.main);
            let pending = queue();
            let hold = hold_while_running(env, &main, &pending);
            pending.on_ready(move |_| drop(take(&hold)));
            undefined(env)
        }
    }
}

/// Runs an operation that returns JavaScript's result (eval, evalClosure,
/// run, apply) in the form asked for. `queue` makes the queued call, or,
/// given `SyncFollowing`, runs the synchronous form of a call with
/// `promise`: isolated-vm's `…Sync` with `promise: true` gives a Promise,
/// which settles when the isolate's promise does, however late.
pub(crate) fn run_returning(
    env: &Env,
    form: Form,
    promised: bool,
    sync: impl FnOnce() -> ivm_core::Result<Transferable>,
    queue: impl FnOnce(Queue) -> Pending<Transferable>,
    convert: impl FnOnce(&Env, Transferable) -> napi::Result<JsUnknown> + Send + 'static,
) -> napi::Result<JsUnknown> {
    if form == Form::Sync && promised {
        return promise(env, queue(Queue::SyncFollowing), convert);
    }
    run(env, form, sync, || queue(Queue::Async), convert)
}

/// Which of the core's forms gives an operation's `Pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    Async,
    SyncFollowing,
}

/// A hold on Node's event loop that whoever finishes first lets go of.
pub(crate) type SharedHold = Arc<Mutex<Option<crate::main_thread::Hold>>>;

/// Keeps Node's event loop alive while `pending` runs or is queued, and not
/// while it only waits for its promise: then only something outside the
/// isolate can settle it, which keeps the loop alive by itself if it is
/// going to (a timer, a socket), as isolated-vm lets a process exit when
/// nothing is left that could settle a call's promise.
fn hold_while_running<T>(env: &Env, main: &Arc<crate::main_thread::MainThread>, pending: &Pending<T>) -> SharedHold {
    let hold: SharedHold = Arc::new(Mutex::new(Some(main.hold(env))));
    let waiting = Arc::clone(&hold);
    // Dropping a hold lets go of it from Node's thread.
    pending.on_waiting(move || drop(take(&waiting)));
    hold
}

pub(crate) fn take(hold: &SharedHold) -> Option<crate::main_thread::Hold> {
    hold.lock().unwrap_or_else(PoisonError::into_inner).take()
}

pub(crate) fn undefined(env: &Env) -> napi::Result<JsUnknown> {
    Ok(env.get_undefined()?.into_unknown())
}
