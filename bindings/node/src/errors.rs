//! ivm-core's errors as JavaScript errors. Each variant becomes an
//! instance of its own class (defined in `index.js`, all subclasses of
//! `Error` carrying isolated-vm's messages), and JavaScript exceptions are
//! rethrown in Node as the same kind of error with the same message and
//! stack, or as the very primitive that was thrown.

use std::borrow::Cow;

use ivm_core::{Error, JsError, MarshalError};
use napi::{Env, JsFunction, JsObject, JsUnknown};

use crate::convert::value_to_js;
use crate::env_state::state;

/// Throws the JavaScript error for `error` and returns the napi-rs error
/// that says an exception is pending (which napi-rs then leaves alone).
pub(crate) fn to_napi(env: &Env, error: Error) -> napi::Error {
    // An async call's timeout: where its code was, up to the boundary line,
    // which `index.js` continues with the caller's frames.
    if matches!(error, Error::Timeout)
        && let Some(frames) = TIMED_OUT_FRAMES.with(|slot| slot.borrow_mut().take())
    {
        return throw_with_stack(env, &error, &timed_out_stack(&error, &frames));
    }
    throw_saying(env, &error, None)
}

/// A timeout's stack up to the boundary line: the message, then where the
/// runaway code was.
fn timed_out_stack(error: &Error, frames: &str) -> String {
    format!("Error: {}\n{frames}\n{}", error.message(), ivm_core::embedding::STACK_BOUNDARY)
}

/// Continues `stack` with the Node code calling into the addon now.
fn push_host_frames(env: &Env, stack: &mut String) {
    if let Some(frames) = host_frames(env) {
        stack.push('\n');
        stack.push_str(&frames);
    }
}

thread_local! {
    /// Where the code of the async call being settled on this (Node's)
    /// thread was when it timed out (`with_timed_out_frames`).
    static TIMED_OUT_FRAMES: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `settle` (an async call's settling, on Node's thread) with `frames`,
/// where the call's code was if it timed out, for its error's stack.
pub(crate) fn with_timed_out_frames<R>(frames: Option<String>, settle: impl FnOnce() -> R) -> R {
    TIMED_OUT_FRAMES.with(|slot| *slot.borrow_mut() = frames);
    let settled = settle();
    TIMED_OUT_FRAMES.with(|slot| slot.borrow_mut().take());
    settled
}

/// `to_napi` for an operation's synchronous form. isolated-vm's synchronous
/// calls into a disposed isolate say "Isolated is disposed" (sic), its
/// promises "Isolate is disposed": programs match on those messages.
pub(crate) fn sync_to_napi(env: &Env, error: Error) -> napi::Error {
    match error {
        Error::Disposed => throw_saying(env, &error, Some("Isolated is disposed")),
        // An exception's stack goes on into the Node code that made the
        // call, past isolated-vm's boundary line.
        Error::Js(JsError { stack: Some(mut stack), name, message, thrown, ivm_class }) => {
            stack.push('\n');
            stack.push_str(ivm_core::embedding::STACK_BOUNDARY);
            push_host_frames(env, &mut stack);
            to_napi(env, Error::Js(JsError { stack: Some(stack), name, message, thrown, ivm_class }))
        }
        // A timeout's stack shows where the runaway code was, then the
        // Node code that made the call, as isolated-vm's does.
        Error::Timeout => match ivm_core::embedding::take_timed_out_frames() {
            Some(frames) => {
                let mut stack = timed_out_stack(&error, &frames);
                push_host_frames(env, &mut stack);
                throw_with_stack(env, &error, &stack)
            }
            None => to_napi(env, error),
        },
        other => to_napi(env, other),
    }
}

/// Throws the JavaScript error for `error` with `stack` as its stack.
fn throw_with_stack(env: &Env, error: &Error, stack: &str) -> napi::Error {
    let made = js_error(env, error, None).and_then(|value| {
        // SAFETY: one of ivm's error classes' instances, an object.
        let mut object: JsObject = unsafe { value.cast() };
        object.set_named_property("stack", env.create_string(stack)?)?;
        Ok(object.into_unknown())
    });
    match made {
        Ok(value) => throw(env, &value),
        Err(_) => to_napi(env, error.clone()),
    }
}

/// The frames of the Node code calling into the addon now, without
/// `index.js`'s own (its `hostStack` helper).
fn host_frames(env: &Env) -> Option<String> {
    let helper: JsFunction = state(env).ok()?.host_stack.function(env).ok()?;
    let frames = helper.call_without_args(None).ok()?;
    let frames = frames.coerce_to_string().ok()?.into_utf8().ok()?.into_owned().ok()?;
    (!frames.is_empty()).then_some(frames)
}

/// `stack`, a Node error's, without `index.js`'s frames (which isolated-vm,
/// all native, has none of); as it is if that cannot be done.
pub(crate) fn without_own_frames(env: &Env, stack: String) -> String {
    let cleaned = || -> Option<String> {
        let helper: JsFunction = state(env).ok()?.host_stack.function(env).ok()?;
        let cleaned = helper.call(None, &[env.create_string(&stack).ok()?]).ok()?;
        cleaned.coerce_to_string().ok()?.into_utf8().ok()?.into_owned().ok()
    };
    cleaned().unwrap_or(stack)
}

/// Throws the JavaScript error for `error`, with `message` instead of its
/// own where given.
pub(crate) fn throw_saying(env: &Env, error: &Error, message: Option<&str>) -> napi::Error {
    if exception_pending(env) {
        // Node is terminating this thread (the call stopped for it, see
        // `lib.rs`): its exception must propagate, and throwing another
        // would fail.
        return napi::Error::new(napi::Status::PendingException, String::new());
    }
    match js_error(env, error, message) {
        Ok(value) => throw(env, &value),
        // Creating the error failed (the environment is shutting down, say):
        // fall back on a plain message. If Node refuses even that, it is
        // terminating this thread, and nothing is left to throw.
        Err(_) => {
            let message = std::ffi::CString::new(error.to_string().replace('\0', " ")).unwrap_or_default();
            // SAFETY: on the environment's thread; both strings outlive the call.
            unsafe { napi::sys::napi_throw_error(env.raw(), std::ptr::null(), message.as_ptr()) };
            napi::Error::new(napi::Status::PendingException, String::new())
        }
    }
}

/// Whether an exception is waiting to reach JavaScript (on the
/// environment's thread, inside a Node call).
pub(crate) fn exception_pending(env: &Env) -> bool {
    let mut pending = false;
    // SAFETY: `env` is live on this thread (the caller's contract).
    unsafe { napi::sys::napi_is_exception_pending(env.raw(), &mut pending) };
    pending
}

/// Throws `value` (an error or any thrown primitive).
pub(crate) fn throw(env: &Env, value: &JsUnknown) -> napi::Error {
    // SAFETY: `value` belongs to `env`, the current environment.
    unsafe { napi::sys::napi_throw(env.raw(), crate::convert::raw(value)) };
    napi::Error::new(napi::Status::PendingException, String::new())
}

/// The value a failed call rejects its Promise with: the pending exception
/// if `error` says one was thrown, else a JavaScript Error for it.
pub(crate) fn rejection(env: &Env, error: napi::Error) -> JsUnknown {
    if error.status == napi::Status::PendingException {
        let mut exception = std::ptr::null_mut();
        // SAFETY: on the environment's thread.
        unsafe { napi::sys::napi_get_and_clear_last_exception(env.raw(), &mut exception) };
        if !exception.is_null() {
            // SAFETY: a live value of `env`.
            return unsafe { napi::NapiValue::from_raw_unchecked(env.raw(), exception) };
        }
    }
    napi::JsError::from(error).into_unknown(*env)
}

fn js_error(env: &Env, error: &Error, message: Option<&str>) -> napi::Result<JsUnknown> {
    if let Error::Js(js) = error
        && js.ivm_class.is_none()
    {
        if let Some(thrown) = &js.thrown {
            return value_to_js(env, thrown);
        }
        let global = env.get_global()?;
        // The classes isolated-vm keeps; any other error arrives as an
        // Error carrying its name.
        let standard = ["Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError"];
        let name = if standard.contains(&js.name.as_str()) { js.name.as_str() } else { "Error" };
        let class: JsFunction = global.get_named_property(name)?;
        let mut object = class.new_instance(&[env.create_string(&js.message)?])?;
        if name != js.name && !js.name.is_empty() {
            object.set_named_property("name", env.create_string(&js.name)?)?;
        }
        if let Some(stack) = &js.stack {
            object.set_named_property("stack", env.create_string(stack)?)?;
        }
        return Ok(object.into_unknown());
    }
    // One of ivm's errors, possibly raised in a child isolate or a host
    // function and passed through JavaScript: its own class again.
    let classes: JsObject = state(env)?.errors.object(env)?;
    let class: JsFunction = classes.get_named_property(error.class_name())?;
    let message = message.map(Cow::Borrowed).or_else(|| clone_message(error)).unwrap_or_else(|| error.message());
    let mut object = class.new_instance(&[env.create_string(&message)?])?;
    if let Error::Js(JsError { stack: Some(stack), .. }) = error {
        object.set_named_property("stack", env.create_string(stack)?)?;
    }
    Ok(object.into_unknown())
}

/// isolated-vm's words for a value that has no copy: V8's DataCloneError
/// (`function f() {} could not be cloned.`), or "Unsupported type" for a
/// symbol that is the value itself.
fn clone_message(error: &Error) -> Option<Cow<'_, str>> {
    let Error::Marshal(MarshalError::DataClone { what, path, described }) = error else { return None };
    Some(if what == "Symbol" && path == "value" {
        Cow::Borrowed("Unsupported type")
    } else {
        Cow::Owned(format!("{described} could not be cloned."))
    })
}

/// Throws a TypeError with `message`, for a bad argument.
pub(crate) fn type_error(env: &Env, message: impl Into<String>) -> napi::Error {
    let message = message.into();
    match env.throw_type_error(&message, None) {
        Ok(()) => napi::Error::new(napi::Status::PendingException, message),
        Err(error) => error,
    }
}

/// Throws a RangeError for a numeric option out of its range (ivm-core's
/// `numeric` checks name the option in the message).
pub(crate) fn range_error(env: &Env, error: ivm_core::numeric::RangeError) -> napi::Error {
    let message = error.to_string();
    match env.throw_range_error(&message, None) {
        Ok(()) => napi::Error::new(napi::Status::PendingException, message),
        Err(error) => error,
    }
}

/// An error in how `index.js` called the addon (a bug, not a user's).
pub(crate) fn internal(message: impl Into<String>) -> napi::Error {
    napi::Error::new(napi::Status::InvalidArg, message.into())
}
