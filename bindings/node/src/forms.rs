//! isolated-vm's three forms of each operation: `…Sync` returns the
//! result, the plain name returns a Promise settled on Node's event loop,
//! `…Ignored` returns `undefined` and drops the result. The core provides
//! all three; this module turns its results into Node's.

use ivm_core::Pending;
use napi::{Env, JsUnknown};

use crate::errors::{internal, rejection, to_napi};

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

/// What `index.js` packs into one number for a call: how the result
/// leaves (bits 0-2, see `ResultMode`), whether a promise is followed (bit
/// 3), the form (bits 4-5) and whether `get` may run accessors (bit 6).
/// One argument instead of four keeps the call from Node cheap.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallFlags {
    pub(crate) mode: crate::convert::ResultMode,
    pub(crate) promise: bool,
    pub(crate) form: Form,
    pub(crate) accessors: bool,
}

impl CallFlags {
    pub(crate) fn decode(flags: u32) -> napi::Result<CallFlags> {
        Ok(CallFlags {
            mode: crate::convert::ResultMode::from_code(flags & 7)?,
            promise: flags & 8 != 0,
            form: Form::from_code((flags >> 4) & 3)?,
            accessors: flags & 64 != 0,
        })
    }
}

type Convert<T> = Box<dyn FnOnce(&Env, T) -> napi::Result<JsUnknown> + Send>;
type Settle = Box<dyn FnOnce(Env) -> napi::Result<JsUnknown> + Send>;

/// A Promise of `pending`'s result, converted by `convert` on Node's thread.
/// The Promise keeps Node's event loop alive until it settles.
pub(crate) fn promise<T: Send + 'static>(
    env: &Env,
    pending: Pending<T>,
    convert: impl FnOnce(&Env, T) -> napi::Result<JsUnknown> + Send + 'static,
) -> napi::Result<JsUnknown> {
    let (deferred, promise) = env.create_deferred::<JsUnknown, Settle>()?;
    let convert: Convert<T> = Box::new(convert);
    pending.on_ready(move |result| {
        deferred.resolve(Box::new(move |env: Env| {
            let outcome = match result {
                Ok(value) => convert(&env, value),
                Err(error) => Err(to_napi(&env, error)),
            };
            // A rejection goes through a rejected promise, which the
            // deferred's promise adopts: napi-rs would reject with a new
            // Error, and the thrown value may be a primitive.
            outcome.or_else(|error| rejected(&env, rejection(&env, error)))
        }))
    });
    Ok(promise.into_unknown())
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
        Form::Sync => convert(env, sync().map_err(|e| to_napi(env, e))?),
        Form::Async => promise(env, queue(), convert),
        Form::Ignored => {
            // The result is dropped, but Node stays alive until the call ends.
            let hold = crate::env_state::state(env)?.main.hold(env);
            queue().on_ready(move |_| drop(hold));
            undefined(env)
        }
    }
}

/// `Promise.reject(reason)`.
fn rejected(env: &Env, reason: JsUnknown) -> napi::Result<JsUnknown> {
    let promise: JsUnknown = env.get_global()?.get_named_property("Promise")?;
    // SAFETY: `Promise` is a function, and functions are objects.
    let promise: napi::JsObject = unsafe { promise.cast() };
    let reject: napi::JsFunction = promise.get_named_property("reject")?;
    reject.call(Some(&promise), &[reason])
}

pub(crate) fn undefined(env: &Env) -> napi::Result<JsUnknown> {
    Ok(env.get_undefined()?.into_unknown())
}
