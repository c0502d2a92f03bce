//! Node functions that isolates call: an `ivm.Callback` (or a function
//! passed across, which `index.js` wraps in one) becomes an ivm-core
//! `Callback` whose body runs on Node's thread. A call made from Node's
//! thread (inside `evalSync`, say) runs at once; one made from ivm's pool
//! is posted to Node's event loop, and the isolate waits for it (sync
//! callbacks) or gets a promise settled when it is done (async ones).

use std::ptr;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use ivm_core::{CallbackResult, Remote, RemoteOp, Resolver, Structured, TransferMode, Transferable, Value};
use napi::{Env, JsFunction, JsObject, JsUnknown, NapiValue, sys};

use crate::convert::{js_to_structured, js_to_transferable, raw, structured_to_js};
use crate::env_state::{JsHandle, state};
use crate::external_copy::{ExternalCopy, ExternalCopyInto};
use crate::main_thread::MainThread;
use crate::reference::{Callback, Reference};

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
    pub(crate) fn callback(self: &Arc<Self>, kind: CallbackKind) -> ivm_core::Callback {
        let host = Arc::clone(self);
        match kind {
            CallbackKind::Sync => ivm_core::Callback::new(move |args| host.call_and_wait(args)),
            CallbackKind::Async => {
                ivm_core::Callback::new_async(move |args, resolver| host.call_and_settle(args, resolver))
            }
            CallbackKind::Ignored => ivm_core::Callback::new(move |args| {
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
        // The isolate's call waits here for Node's thread: a synchronous
        // call into that isolate from the callback must fail, not hang.
        let waiting = ivm_core::Isolate::calling_host();
        let host = Arc::clone(self);
        let _ = self.main.post(Box::new(move |env| {
            if let Some(env) = env {
                let _serving = waiting.as_ref().map(ivm_core::Isolate::serve_host_call);
                in_scope(&env, |env| {
                    let _ = sender.send(host.call(env, &args).and_then(|value| result_in(env, value)));
                });
            }
        }));
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
                in_scope(&env, |env| then(env, host.call(env, &args)));
            }
        }));
    }

    fn function_env(&self) -> sys::napi_env {
        self.function.raw_env()
    }

    /// Calls the function with copies of `args`; a throw becomes its
    /// message.
    fn call(&self, env: &Env, args: &[Structured]) -> Result<JsUnknown, String> {
        let function = self.function.function(env).map_err(|e| failure(env, e))?;
        let args = args.iter().map(|arg| structured_to_js(env, arg)).collect::<napi::Result<Vec<_>>>();
        let args = args.map_err(|e| failure(env, e))?;
        call_function(env, &function, None, &args)
    }
}

/// Runs `f` in a handle scope of its own, so the values it makes are let go
/// of when it returns.
pub(crate) fn in_scope<R>(env: &Env, f: impl FnOnce(&Env) -> R) -> R {
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
        None => raw(&env.get_undefined().map_err(|e| failure(env, e))?),
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

/// What went wrong, as the message a host call fails with; an exception
/// left pending by the failure is cleared and described.
pub(crate) fn failure(env: &Env, error: napi::Error) -> String {
    if error.status == napi::Status::PendingException { take_exception(env) } else { error.reason }
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

pub(crate) fn describe(env: &Env, exception: JsUnknown) -> Option<String> {
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
        Ok(Reference::instance_of(*env, &value)?
            || ExternalCopy::instance_of(*env, &value)?
            || ExternalCopyInto::instance_of(*env, &value)?
            || Callback::instance_of(*env, &value)?)
    })()
    .map_err(|e| failure(env, e))?;
    if handle {
        return js_to_transferable(env, value).map_err(|e| failure(env, e));
    }
    if value.get_type().map_err(|e| failure(env, e))? == napi::ValueType::Function {
        // SAFETY: checked to be a function.
        let function: JsFunction = unsafe { value.cast() };
        return HostFunction::new(*env, &function)
            .map(|host| Transferable::Callback(host.callback(CallbackKind::Sync)))
            .map_err(|e| failure(env, e));
    }
    js_to_structured(env, value).map(Transferable::Copy).map_err(|e| failure(env, e))
}

/// Settles `resolver` with `value` as `result_in` passes it, once it
/// settles if it is a promise.
fn settle(env: &Env, value: JsUnknown, resolver: Resolver) {
    settle_with(env, value, resolver, result_in);
}

/// Settles `resolver` with `value` converted by `convert`, once it settles
/// if it is a promise.
fn settle_with(env: &Env, value: JsUnknown, resolver: Resolver, convert: fn(&Env, JsUnknown) -> CallbackResult) {
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
            match convert(ctx.env, value) {
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
pub(crate) fn function_from(env: &Env, value: JsUnknown) -> napi::Result<JsFunction> {
    if value.get_type()? != napi::ValueType::Function {
        return Err(crate::errors::type_error(env, "Callback expects a function"));
    }
    // SAFETY: checked to be a function.
    Ok(unsafe { value.cast() })
}

/// A Node value that isolates hold through a `Reference` (made with
/// `new ivm.Reference(value)` or passed with `{ reference: true }`). Its
/// operations run on Node's thread.
#[derive(Debug)]
pub(crate) struct NodeValue {
    value: Arc<JsHandle>,
    main: Arc<MainThread>,
    type_of: String,
}

impl NodeValue {
    pub(crate) fn new(env: Env, value: &JsUnknown, type_of: String) -> napi::Result<Arc<NodeValue>> {
        let main = Arc::clone(&state(&env)?.main);
        Ok(Arc::new(NodeValue { value: Arc::new(JsHandle::new(env, &main, value)?), main, type_of }))
    }

    /// The value, on Node's thread.
    pub(crate) fn get(&self, env: &Env) -> napi::Result<JsUnknown> {
        self.value.unknown(env)
    }

    /// Runs `work` on Node's thread with the value, here if this is that
    /// thread, else posted there; `then` gets the outcome on Node's thread.
    fn on_node(
        &self,
        work: impl FnOnce(&Env, JsUnknown) -> Result<JsUnknown, String> + Send + 'static,
        then: impl FnOnce(&Env, Result<JsUnknown, String>) + Send + 'static,
    ) {
        let target = Arc::clone(&self.value);
        let job = move |env: Option<Env>| {
            if let Some(env) = env {
                in_scope(&env, |env| {
                    let outcome = target.unknown(env).map_err(|e| failure(env, e)).and_then(|value| work(env, value));
                    then(env, outcome);
                });
            }
        };
        if self.main.is_current() {
            // SAFETY: this is the environment's own thread, inside the Node
            // call that entered the isolate.
            job(Some(unsafe { Env::from_raw(self.value.raw_env()) }));
        } else {
            let _ = self.main.post(Box::new(job));
        }
    }
}

/// Carries out `op` on `value` in Node.
fn perform(env: &Env, value: JsUnknown, op: &RemoteOp) -> Result<JsUnknown, String> {
    let napi_error = |e: napi::Error| failure(env, e);
    let object = |value: JsUnknown| -> Result<JsObject, String> { value.coerce_to_object().map_err(napi_error) };
    let key = |key: &Value| crate::convert::value_to_js(env, key).map_err(napi_error);
    match op {
        RemoteOp::Copy => Ok(value),
        RemoteOp::Get { key: name, .. } => object(value)?.get_property(key(name)?).map_err(napi_error),
        RemoteOp::Set { key: name, value: new, .. } => {
            let new = structured_to_js(env, new).map_err(napi_error)?;
            object(value)?.set_property(key(name)?, new).map_err(napi_error)?;
            env.get_boolean(true).map(|b| b.into_unknown()).map_err(napi_error)
        }
        RemoteOp::Delete { key: name } => {
            let deleted = object(value)?.delete_property(key(name)?).map_err(napi_error)?;
            env.get_boolean(deleted).map(|b| b.into_unknown()).map_err(napi_error)
        }
        RemoteOp::Apply { receiver, arguments, .. } => {
            if value.get_type().map_err(napi_error)? != napi::ValueType::Function {
                return Err("Reference is not a function".into());
            }
            // SAFETY: checked to be a function.
            let function: JsFunction = unsafe { value.cast() };
            let receiver = structured_to_js(env, receiver).map_err(napi_error)?;
            let arguments = arguments
                .iter()
                .map(|arg| structured_to_js(env, arg))
                .collect::<napi::Result<Vec<_>>>()
                .map_err(napi_error)?;
            call_function(env, &function, Some(&receiver), &arguments)
        }
        _ => Err("This operation is not supported on a Node value".into()),
    }
}

/// What an operation's result becomes, as its TransferOptions say.
fn result_out(env: &Env, value: JsUnknown, op: &RemoteOp) -> CallbackResult {
    let mode = match op {
        RemoteOp::Copy => TransferMode::Copy,
        RemoteOp::Get { result, .. } | RemoteOp::Apply { result, .. } => *result,
        _ => TransferMode::Auto,
    };
    let primitive = crate::convert::js_to_value(env, &value).map_err(|e| failure(env, e))?;
    match (mode, primitive) {
        (TransferMode::Reference, _) | (TransferMode::Auto, None) => node_reference(env, value),
        (_, Some(primitive)) => Ok(Transferable::from(primitive)),
        _ => js_to_structured(env, value).map(Transferable::Copy).map_err(|e| failure(env, e)),
    }
}

/// A `Reference` to a Node value, for an isolate.
fn node_reference(env: &Env, value: JsUnknown) -> CallbackResult {
    let type_of = crate::reference::type_of(&value).map_err(|e| failure(env, e))?;
    let remote: Arc<dyn Remote> = NodeValue::new(*env, &value, type_of.to_owned()).map_err(|e| failure(env, e))?;
    Ok(Transferable::Remote(remote))
}

fn settles(op: &RemoteOp) -> bool {
    matches!(op, RemoteOp::Apply { promise: true, .. })
}

impl Remote for NodeValue {
    fn type_of(&self) -> String {
        self.type_of.clone()
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        let this = self;
        let (sender, receiver) = mpsc::sync_channel(1);
        let op = Arc::new(op);
        let (work_op, then_op) = (Arc::clone(&op), op);
        // As for a callback: the isolate's call waits for Node's thread.
        let waiting = ivm_core::Isolate::calling_host();
        this.on_node(
            move |env, value| {
                let _serving = waiting.as_ref().map(ivm_core::Isolate::serve_host_call);
                perform(env, value, &work_op)
            },
            move |env, outcome| {
                let _ = sender.send(outcome.and_then(|value| result_out(env, value, &then_op)));
            },
        );
        receiver.recv().unwrap_or_else(|_| Err("The Node environment shut down before the call ran".into()))
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        let this = self;
        let op = Arc::new(op);
        let (work_op, then_op) = (Arc::clone(&op), op);
        this.on_node(
            move |env, value| perform(env, value, &work_op),
            move |env, outcome| match outcome {
                Ok(value) if settles(&then_op) => settle_with(
                    env,
                    value,
                    resolver,
                    match then_op.as_ref() {
                        RemoteOp::Apply { result: TransferMode::Copy, .. } => copy_in,
                        RemoteOp::Apply { result: TransferMode::Reference, .. } => reference_in,
                        _ => auto_in,
                    },
                ),
                Ok(value) => match result_out(env, value, &then_op) {
                    Ok(value) => resolver.resolve(value),
                    Err(message) => resolver.reject(message),
                },
                Err(message) => resolver.reject(message),
            },
        );
    }

    fn call_blocking(&self, op: RemoteOp, resolver: Resolver) {
        if self.main.is_current() {
            resolver.reject("This function may only be invoked from a non-default thread");
            return;
        }
        let op = match op {
            RemoteOp::Apply { receiver, arguments, result, timeout, .. } => {
                RemoteOp::Apply { receiver, arguments, result, promise: true, timeout }
            }
            other => other,
        };
        self.call_async(op, resolver);
    }
}

fn copy_in(env: &Env, value: JsUnknown) -> CallbackResult {
    result_out(env, value, &RemoteOp::Copy)
}

fn reference_in(env: &Env, value: JsUnknown) -> CallbackResult {
    node_reference(env, value)
}

fn auto_in(env: &Env, value: JsUnknown) -> CallbackResult {
    match crate::convert::js_to_value(env, &value).map_err(|e| failure(env, e))? {
        Some(primitive) => Ok(Transferable::from(primitive)),
        None => node_reference(env, value),
    }
}
