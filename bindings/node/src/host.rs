//! Node functions that isolates call: an `ivm.Callback` (or a function
//! passed across, which `index.js` wraps in one) becomes an ivm-core
//! `Callback` whose body runs on Node's thread. A call made from Node's
//! thread (inside `evalSync`, say) runs at once; one made from ivm's pool
//! is posted to Node's event loop, and the isolate waits for it (sync
//! callbacks) or gets a promise settled when it is done (async ones).

use std::ptr;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use ivm_core::{Callback, CallbackResult, Resolver, Structured, Transferable, Value};
use napi::{Env, JsFunction, JsObject, JsUnknown, NapiValue, sys};

use crate::convert::{raw, js_to_structured, js_to_transferable, structured_to_js};
use crate::env_state::{JsHandle, state};
use crate::external_copy::ExternalCopyInto;
use crate::main_thread::MainThread;
use crate::reference::{NodeCallback, NodeReference};

/// How an isolate's call of a Node function waits for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallbackKind {
    /// JavaScript gets the function's result (isolated-vm's default).
    Sync,
    /// JavaScript gets a promise of the result (`{ async: true }`).
    Async,
    /// JavaScript gets `undefined` at once; the call happens later
    /// (`{ ignored: true }`).
    Ignored,
}

/// A Node function and the thread it must run on.
#[derive(Debug)]
pub(crate) struct HostFunction {
    function: JsHandle,
    main: Arc<MainThread>,
}

impl HostFunction {
    pub(crate) fn new(env: Env, function: &JsFunction) -> napi::Result<Arc<HostFunction>> {
        let main = Arc::clone(&state(&env)?.main);
        Ok(Arc::new(HostFunction { function: JsHandle::new(env, &main, function)?, main }))
    }

    /// The ivm-core callback that calls this function.
    pub(crate) fn callback(self: &Arc<Self>, kind: CallbackKind) -> Callback {
        let host = Arc::clone(self);
        match kind {
            CallbackKind::Sync => Callback::new(move |args| host.call_and_wait(args)),
            CallbackKind::Async => Callback::new_async(move |args, resolver| host.call_and_settle(args, resolver)),
            CallbackKind::Ignored => Callback::new(move |args| {
                host.post_call(args, |_, _| {});
                Ok(Transferable::from(Value::Undefined))
            }),
        }
    }

    /// Calls the function and returns its result, running it here when
    /// this is Node's thread and waiting for Node's thread otherwise.
    fn call_and_wait(self: &Arc<Self>, args: Vec<Structured>) -> CallbackResult {
        if self.main.is_current() {
            // SAFETY: this is the environment's thread, inside the Node call
            // that entered the isolate, so its env is live.
            let env = unsafe { Env::from_raw(self.function_env()) };
            return in_scope(&env, |env| self.call(env, &args).and_then(|result| result_in(env, result)));
        }
        let (sender, receiver) = mpsc::sync_channel(1);
        self.post_call(args, move |env, result| {
            let _ = sender.send(result.and_then(|value| result_in(env, value)));
        });
        receiver.recv().unwrap_or_else(|_| Err("The Node environment shut down before the callback ran".into()))
    }

    /// Calls the function on Node's thread and settles `resolver` with its
    /// result, awaiting it first if it is a promise.
    fn call_and_settle(self: &Arc<Self>, args: Vec<Structured>, resolver: Resolver) {
        self.post_call(args, move |env, result| match result {
            Ok(value) => settle(env, value, resolver),
            Err(message) => resolver.reject(message),
        });
    }

    /// Queues a call on Node's thread; `then` gets its result there. If
    /// the environment is gone the call is dropped (and its waiter told).
    fn post_call(
        self: &Arc<Self>,
        args: Vec<Structured>,
        then: impl FnOnce(&Env, Result<JsUnknown, String>) + Send + 'static,
    ) {
        let host = Arc::clone(self);
        let _ = self.main.post(Box::new(move |env| {
            if let Some(env) = env {
                in_scope(&env, |env| {
                    let result = host.call(env, &args);
                    then(env, result);
                    Ok(Transferable::from(Value::Undefined))
                })
                .ok();
            }
        }));
    }

    fn function_env(&self) -> sys::napi_env {
        self.function.raw_env()
    }

    /// Calls the function with copies of `args`; a throw becomes its
    /// message.
    fn call(&self, env: &Env, args: &[Structured]) -> Result<JsUnknown, String> {
        let function = self.function.function(env).map_err(|e| e.reason)?;
        let args = args.iter().map(|arg| structured_to_js(env, arg)).collect::<napi::Result<Vec<_>>>();
        let args = args.map_err(|e| e.reason)?;
        call_function(env, &function, None, &args)
    }
}

/// Runs `f` in a handle scope of its own, so the values it makes are let go
/// of when it returns.
fn in_scope(env: &Env, f: impl FnOnce(&Env) -> CallbackResult) -> CallbackResult {
    let mut scope = ptr::null_mut();
    // SAFETY: on the environment's thread; the scope is closed below.
    unsafe { sys::napi_open_handle_scope(env.raw(), &mut scope) };
    let result = f(env);
    // SAFETY: closes the scope opened above.
    unsafe { sys::napi_close_handle_scope(env.raw(), scope) };
    result
}

/// Calls `function`; a JavaScript exception is caught and becomes its
/// message, instead of staying pending in Node.
pub(crate) fn call_function(
    env: &Env,
    function: &JsFunction,
    this: Option<&JsUnknown>,
    args: &[JsUnknown],
) -> Result<JsUnknown, String> {
    let this = match this {
        Some(this) => raw(this),
        None => raw(&env.get_undefined().map_err(|e| e.reason)?),
    };
    let raw_args: Vec<sys::napi_value> = args.iter().map(raw).collect();
    let mut result = ptr::null_mut();
    // SAFETY: all values belong to `env`, the current environment.
    let status = unsafe {
        sys::napi_call_function(env.raw(), this, raw(function), raw_args.len(), raw_args.as_ptr(), &mut result)
    };
    if status == sys::Status::napi_ok {
        // SAFETY: a live value returned by the call.
        return Ok(unsafe { JsUnknown::from_raw_unchecked(env.raw(), result) });
    }
    Err(take_exception(env))
}

/// Clears the pending exception and describes it: its `message`, or the
/// thrown value as a string.
fn take_exception(env: &Env) -> String {
    let mut exception = ptr::null_mut();
    // SAFETY: on the environment's thread.
    unsafe { sys::napi_get_and_clear_last_exception(env.raw(), &mut exception) };
    if exception.is_null() {
        return "The callback failed".into();
    }
    // SAFETY: a live value of this environment.
    let exception = unsafe { JsUnknown::from_raw_unchecked(env.raw(), exception) };
    describe(env, exception).unwrap_or_else(|| "The callback threw".into())
}

fn describe(env: &Env, exception: JsUnknown) -> Option<String> {
    if exception.get_type().ok()? == napi::ValueType::Object {
        // SAFETY: checked to be an object.
        let object: JsObject = unsafe { exception.cast() };
        if let Ok(message) = object.get_named_property::<JsUnknown>("message") {
            if message.get_type().ok()? == napi::ValueType::String {
                return message.coerce_to_string().ok()?.into_utf8().ok()?.into_owned().ok();
            }
        }
    }
    let _ = env;
    exception.coerce_to_string().ok()?.into_utf8().ok()?.into_owned().ok()
}

/// What a Node function returned, as it goes into the isolate: the
/// addon's handles as themselves, anything else as a copy.
pub(crate) fn result_in(env: &Env, value: JsUnknown) -> CallbackResult {
    let handle = (|| -> napi::Result<bool> {
        Ok(NodeReference::instance_of(*env, &value)?
            || ExternalCopyInto::instance_of(*env, &value)?
            || NodeCallback::instance_of(*env, &value)?)
    })()
    .map_err(|e| e.reason)?;
    if handle {
        return js_to_transferable(env, value).map_err(|e| e.reason);
    }
    if value.get_type().map_err(|e| e.reason)? == napi::ValueType::Function {
        let function: JsFunction = unsafe { value.cast() };
        return HostFunction::new(*env, &function)
            .map(|host| Transferable::Callback(host.callback(CallbackKind::Sync)))
            .map_err(|e| e.reason);
    }
    js_to_structured(env, value).map(Transferable::Copy).map_err(|e| e.reason)
}

/// Settles `resolver` with `value`, once it settles if it is a promise.
fn settle(env: &Env, value: JsUnknown, resolver: Resolver) {
    let resolver = Mutex::new(Some(resolver));
    let done = env.create_function_from_closure("done", move |ctx| {
        let Some(resolver) = resolver.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return ctx.env.get_undefined();
        };
        let failed: bool = ctx.get::<napi::JsBoolean>(0)?.get_value()?;
        let value: JsUnknown = ctx.get(1)?;
        if failed {
            resolver.reject(describe(ctx.env, value).unwrap_or_else(|| "The promise was rejected".into()));
        } else {
            match result_in(ctx.env, value) {
                Ok(value) => resolver.resolve(value),
                Err(message) => resolver.reject(message),
            }
        }
        ctx.env.get_undefined()
    });
    let settled = (|| -> napi::Result<()> {
        let helper: JsFunction = state(env)?.settle.function(env)?;
        helper.call(None, &[value, done?.into_unknown()])?;
        Ok(())
    })();
    if let Err(error) = settled {
        // The resolver went with the closure; dropping that rejects the call.
        let _ = error;
    }
}

/// An unwrapped `ivm.Callback`'s function, for the `Callback` class.
pub(crate) fn function_from(value: JsUnknown) -> napi::Result<JsFunction> {
    if value.get_type()? != napi::ValueType::Function {
        return Err(crate::errors::type_error("Callback expects a function"));
    }
    // SAFETY: checked to be a function.
    Ok(unsafe { value.cast() })
}
