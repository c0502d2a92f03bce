//! Node functions that isolates call: an `ivm.Callback` (or a function
//! passed across, which `index.js` wraps in one) becomes an ivm-core
//! `Callback` whose body runs on Node's thread. A call made from Node's
//! thread (inside `evalSync`, say) runs at once; one made from ivm's pool
//! is posted to Node's event loop, and the isolate waits for it (sync
//! callbacks) or gets a promise settled when it is done (async ones).

use std::ptr;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use ivm_core::host::{self, Access, Grant, HostObjects, Key, Kind, Property};
use ivm_core::{
    CallbackResult, ErrorClass, HostError, JsError, Remote, RemoteOp, Resolver, Structured, Transferable, Value,
};
use napi::{Env, JsFunction, JsObject, JsUnknown, NapiValue, sys};

use crate::convert::{ResultMode, js_to_structured, raw, structured_to_js, transferable_to_js};
use crate::env_state::{JsHandle, state};
use crate::main_thread::MainThread;

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
        then: impl FnOnce(&Env, Result<JsUnknown, HostError>) + Send + 'static,
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

    /// Calls the function with copies of `args`; a throw becomes what the
    /// isolate is told of it.
    fn call(&self, env: &Env, args: &[Structured]) -> Result<JsUnknown, HostError> {
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

/// Calls `function`; a JavaScript exception is caught and becomes what the
/// isolate is told of it, instead of staying pending in Node.
pub(crate) fn call_function(
    env: &Env,
    function: &JsFunction,
    this: Option<&JsUnknown>,
    args: &[JsUnknown],
) -> Result<JsUnknown, HostError> {
    call_keeping_exception(env, function, this, args).map_err(|error| failure(env, error))
}

/// Calls `function`; a JavaScript exception stays pending in Node (the
/// error says so), to be rethrown there as it is.
pub(crate) fn call_keeping_exception(
    env: &Env,
    function: &JsFunction,
    this: Option<&JsUnknown>,
    args: &[JsUnknown],
) -> napi::Result<JsUnknown> {
    let this = match this {
        Some(this) => raw(this),
        None => raw(&env.get_undefined()?),
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
    Err(napi::Error::new(napi::Status::PendingException, String::new()))
}

/// What a host call that failed tells the isolate; an exception left
/// pending by the failure is cleared and described.
pub(crate) fn failure(env: &Env, error: napi::Error) -> HostError {
    if error.status == napi::Status::PendingException { take_exception(env) } else { HostError::Message(error.reason) }
}

/// Clears the pending exception and says what it was.
fn take_exception(env: &Env) -> HostError {
    let mut exception = ptr::null_mut();
    // SAFETY: on the environment's thread.
    unsafe { sys::napi_get_and_clear_last_exception(env.raw(), &mut exception) };
    if exception.is_null() {
        return "The callback failed".into();
    }
    // SAFETY: a live value of this environment.
    let exception = unsafe { JsUnknown::from_raw_unchecked(env.raw(), exception) };
    host_error_of(env, exception, "The callback threw")
}

/// What the isolate is told of a Node exception (or a promise's rejection
/// reason): one of ivm's errors (a child isolate's timeout that a function
/// let through) keeps its class; anything else is its message, or
/// `otherwise` when it has none.
pub(crate) fn host_error_of(env: &Env, exception: JsUnknown, otherwise: &str) -> HostError {
    if let Some(class) = ivm_class_of(env, &exception) {
        return HostError::of_class(class, describe(env, exception).unwrap_or_else(|| otherwise.to_owned()));
    }
    if exception.get_type().is_ok_and(|kind| kind == napi::ValueType::Object) {
        // SAFETY: checked to be an object.
        let object: JsObject = unsafe { exception.cast() };
        let text = |key: &str| -> Option<String> {
            let value = object.get_named_property::<JsUnknown>(key).ok()?;
            if value.get_type().ok()? != napi::ValueType::String {
                return None;
            }
            value.coerce_to_string().ok()?.into_utf8().ok()?.into_owned().ok()
        };
        // An error (or what looks like one) keeps its class and message,
        // as isolated-vm passes errors; any other object says it is not
        // one.
        return match (text("message"), text("stack")) {
            (None, None) => HostError::Message(JsError::NOT_AN_ERROR.to_owned()),
            (message, stack) => {
                let mut error =
                    JsError::new(text("name").unwrap_or_else(|| "Error".to_owned()), message.unwrap_or_default());
                error.stack = stack.map(|stack| crate::errors::without_own_frames(env, stack));
                HostError::Ivm(ivm_core::Error::Js(error))
            }
        };
    }
    HostError::Message(describe(env, exception).unwrap_or_else(|| otherwise.to_owned()))
}

/// The ivm error class `exception` is an instance of, if any.
fn ivm_class_of(env: &Env, exception: &JsUnknown) -> Option<&'static str> {
    if exception.get_type().ok()? != napi::ValueType::Object {
        return None;
    }
    let classes = state(env).ok()?.errors.object(env).ok()?;
    let mut names = ErrorClass::ALL.into_iter().filter(|class| *class != ErrorClass::Js).map(ErrorClass::name);
    names.find(|name| {
        classes.get_named_property::<JsFunction>(name).and_then(|class| exception.instanceof(class)).unwrap_or(false)
    })
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
    if let Some(handle) = library_handle(env, &value).map_err(|e| failure(env, e))? {
        return Ok(handle);
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

/// What `value` crosses as if it is one of the library's handles (a
/// Reference, an ExternalCopy, a Callback, what `copyInto()` and
/// `derefInto()` return): what it stands for.
pub(crate) fn library_handle(env: &Env, value: &JsUnknown) -> napi::Result<Option<Transferable>> {
    if value.get_type()? != napi::ValueType::Object {
        return Ok(None);
    }
    crate::convert::handle_transferable(env, value)
}

/// Settles `resolver` with `value` as `result_in` passes it, once it
/// settles if it is a promise.
fn settle(env: &Env, value: JsUnknown, resolver: Resolver) {
    settle_with(env, value, resolver, result_in);
}

/// Settles `resolver` with `value` converted by `convert`, once it settles
/// if it is a promise.
fn settle_with(
    env: &Env,
    value: JsUnknown,
    resolver: Resolver,
    convert: impl FnOnce(&Env, JsUnknown) -> CallbackResult + 'static,
) {
    let pending = Mutex::new(Some((resolver, convert)));
    let done = env.create_function_from_closure("done", move |ctx| {
        let Some((resolver, convert)) = pending.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return ctx.env.get_undefined();
        };
        let failed: bool = ctx.get::<napi::JsBoolean>(0)?.get_value()?;
        let value: JsUnknown = ctx.get(1)?;
        if failed {
            resolver.reject(host_error_of(ctx.env, value, "The promise was rejected"));
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
/// `new ivm.Reference(value)` or passed with `{ reference: true }`), with
/// what the Reference grants (ivm-core's `host` rule). Its operations run on
/// Node's thread.
#[derive(Debug)]
pub(crate) struct NodeValue {
    /// The value, or for a primitive an object holding it as `value`:
    /// napi (8) keeps references to objects, functions and symbols only.
    value: Arc<JsHandle>,
    boxed: bool,
    main: Arc<MainThread>,
    type_of: String,
    pub(crate) grant: Grant,
}

impl NodeValue {
    pub(crate) fn new(env: Env, value: &JsUnknown, grant: Grant) -> napi::Result<Arc<NodeValue>> {
        let main = Arc::clone(&state(&env)?.main);
        let type_of = crate::reference::type_of(value)?.to_owned();
        let boxed = !matches!(
            value.get_type()?,
            napi::ValueType::Object | napi::ValueType::Function | napi::ValueType::External | napi::ValueType::Symbol
        );
        let handle = if boxed {
            let mut holder = env.create_object()?;
            holder.set_named_property("value", value)?;
            JsHandle::new(env, &main, &holder)?
        } else {
            JsHandle::new(env, &main, value)?
        };
        Ok(Arc::new(NodeValue { value: Arc::new(handle), boxed, main, type_of, grant }))
    }

    /// The value, on Node's thread.
    pub(crate) fn get(&self, env: &Env) -> napi::Result<JsUnknown> {
        unboxed(env, &self.value, self.boxed)
    }

    /// Runs `work` on Node's thread with the value, here if this is that
    /// thread, else posted there.
    fn on_node(&self, work: impl FnOnce(&Env, JsUnknown) + Send + 'static) {
        let (target, boxed) = (Arc::clone(&self.value), self.boxed);
        let job = move |env: Option<Env>| {
            if let Some(env) = env {
                in_scope(&env, |env| match unboxed(env, &target, boxed) {
                    Ok(value) => work(env, value),
                    Err(error) => drop(failure(env, error)),
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

/// The value `handle` holds, out of its box if it is a boxed primitive.
fn unboxed(env: &Env, handle: &JsHandle, boxed: bool) -> napi::Result<JsUnknown> {
    if boxed { handle.object(env)?.get_named_property("value") } else { handle.unknown(env) }
}

/// A Node value in the handle scope of the call at hand: napi's handle, a
/// pointer that may be copied freely while the scope is open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Handle(sys::napi_value);

impl Handle {
    pub(crate) fn of(value: &JsUnknown) -> Handle {
        Handle(raw(value))
    }
}

/// Node's values as ivm-core's host rule sees them. Everything runs on
/// Node's thread, within one handle scope; the helpers are `index.js`'s
/// `hostObjects`, taken from `Reflect` and `util.types` when it loaded.
pub(crate) struct NodeObjects<'e> {
    env: &'e Env,
}

impl<'e> NodeObjects<'e> {
    pub(crate) fn new(env: &'e Env) -> NodeObjects<'e> {
        NodeObjects { env }
    }

    pub(crate) fn js(&self, handle: Handle) -> JsUnknown {
        // SAFETY: every handle the rule holds was made in this environment's
        // current handle scope (`Handle::of` or this type's results).
        unsafe { JsUnknown::from_raw_unchecked(self.env.raw(), handle.0) }
    }

    fn object(&self, handle: Handle) -> napi::Result<JsObject> {
        self.js(handle).coerce_to_object()
    }

    fn helper(&self, name: &str, args: &[JsUnknown]) -> napi::Result<JsUnknown> {
        let helpers = state(self.env)?.host_objects.object(self.env)?;
        let function: JsFunction = helpers.get_named_property(name)?;
        function.call(None, args)
    }

    fn key(&self, key: &Key) -> napi::Result<JsUnknown> {
        match key {
            Key::Name(name) => crate::convert::value_to_js(self.env, &Value::String(name.clone())),
            Key::Index(index) => Ok(self.env.create_uint32(*index)?.into_unknown()),
        }
    }
}

impl HostObjects for NodeObjects<'_> {
    type Value = Handle;
    type Error = napi::Error;

    fn kind(&mut self, value: &Handle) -> napi::Result<Kind> {
        let value = self.js(*value);
        Ok(match value.get_type()? {
            napi::ValueType::Function => Kind::Function,
            _ => match crate::convert::js_to_value(self.env, &value)? {
                Some(primitive) => Kind::Primitive(primitive),
                None => Kind::Object,
            },
        })
    }

    fn is_proxy(&mut self, object: &Handle) -> napi::Result<bool> {
        self.helper("isProxy", &[self.js(*object)])?.coerce_to_bool()?.get_value()
    }

    fn is_namespace(&mut self, _object: &Handle) -> napi::Result<bool> {
        Ok(false)
    }

    fn own_property(&mut self, object: &Handle, key: &Key) -> napi::Result<Property<Handle>> {
        // `ownProperty` answers 0 (absent), 1 (an accessor) or `[value]`.
        let found = self.helper("ownProperty", &[self.js(*object), self.key(key)?])?;
        if found.get_type()? == napi::ValueType::Object {
            // SAFETY: checked to be an object.
            let data: JsObject = unsafe { found.cast() };
            return Ok(Property::Data(Handle::of(&data.get_element::<JsUnknown>(0)?)));
        }
        Ok(if found.coerce_to_number()?.get_uint32()? == 1 { Property::Accessor } else { Property::Absent })
    }

    fn parent(&mut self, object: &Handle) -> napi::Result<Option<Handle>> {
        let parent = self.helper("prototypeOf", &[self.js(*object)])?;
        Ok(if parent.get_type()? == napi::ValueType::Null { None } else { Some(Handle::of(&parent)) })
    }

    fn read(&mut self, object: &Handle, key: &Key) -> napi::Result<Handle> {
        Ok(Handle::of(&self.object(*object)?.get_property::<JsUnknown, JsUnknown>(self.key(key)?)?))
    }

    fn define(&mut self, object: &Handle, key: &Key, value: Handle) -> napi::Result<bool> {
        let args = [self.js(*object), self.key(key)?, self.js(value)];
        self.helper("define", &args)?.coerce_to_bool()?.get_value()
    }

    fn remove(&mut self, object: &Handle, key: &Key) -> napi::Result<bool> {
        self.object(*object)?.delete_property(self.key(key)?)
    }

    fn call(&mut self, function: &Handle, receiver: Handle, arguments: Vec<Handle>) -> napi::Result<Handle> {
        // SAFETY: the rule calls only what `kind` called a function.
        let function: JsFunction = unsafe { self.js(*function).cast() };
        let arguments: Vec<JsUnknown> = arguments.into_iter().map(|argument| self.js(argument)).collect();
        let returned = call_keeping_exception(self.env, &function, Some(&self.js(receiver)), &arguments)?;
        Ok(Handle::of(&returned))
    }

    fn copy(&mut self, value: &Handle) -> napi::Result<Structured> {
        let value = self.js(*value);
        if value.get_type()? == napi::ValueType::Symbol {
            return Err(crate::errors::type_error(self.env, "Unsupported type"));
        }
        js_to_structured(self.env, value)
    }

    fn materialise(&mut self, value: Transferable) -> napi::Result<Handle> {
        Ok(Handle::of(&transferable_to_js(self.env, value, ResultMode::OrReference)?))
    }

    fn reference(&mut self, value: Handle, grant: Grant) -> napi::Result<Arc<dyn Remote>> {
        Ok(NodeValue::new(*self.env, &self.js(value), grant)?)
    }

    fn handle(&mut self, value: &Handle) -> napi::Result<Option<Transferable>> {
        library_handle(self.env, &self.js(*value))
    }
}

/// Why an isolate's operation on a Node value failed, for the isolate: a
/// refusal as isolated-vm's TypeError, a Node exception by its message.
fn denied(env: &Env, access: Access<napi::Error>) -> HostError {
    match access {
        Access::Refused(refusal) => refusal.into(),
        Access::Host(error) => failure(env, error),
    }
}

impl Remote for NodeValue {
    fn type_of(&self) -> String {
        self.type_of.clone()
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        let (sender, receiver) = mpsc::sync_channel(1);
        let grant = self.grant;
        // As for a callback: the isolate's call waits for Node's thread,
        // where a synchronous call back into it could only wait forever.
        // On Node's own thread (a synchronous call from Node) the isolate is
        // entered here, and calls back into it run at once, reentrantly.
        let waiting = if self.main.is_current() { None } else { ivm_core::Isolate::calling_host() };
        self.on_node(move |env, value| {
            let _serving = waiting.as_ref().map(ivm_core::Isolate::serve_host_call);
            let outcome = host::perform(&mut NodeObjects::new(env), &Handle::of(&value), grant, op);
            let _ = sender.send(outcome.map_err(|access| denied(env, access)));
        });
        receiver.recv().unwrap_or_else(|_| Err("The Node environment shut down before the call ran".into()))
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        let grant = self.grant;
        self.on_node(move |env, value| {
            let objects = &mut NodeObjects::new(env);
            match op {
                // A promise it returns is waited for, on Node's event loop.
                RemoteOp::Apply { receiver, arguments, result, promise: true, .. } => {
                    let called = (|| {
                        let receiver = objects.materialise(Transferable::Copy(receiver)).map_err(Access::Host)?;
                        let arguments = arguments.into_iter().map(|argument| objects.materialise(argument));
                        let arguments = arguments.collect::<napi::Result<Vec<_>>>().map_err(Access::Host)?;
                        host::apply(objects, &Handle::of(&value), receiver, arguments)
                    })();
                    match called {
                        Ok(returned) => settle_with(env, objects.js(returned), resolver, move |env, value| {
                            host::leave(&mut NodeObjects::new(env), Handle::of(&value), result, grant)
                                .map_err(|access| denied(env, access))
                        }),
                        Err(access) => resolver.reject(denied(env, access)),
                    }
                }
                op => match host::perform(objects, &Handle::of(&value), grant, op) {
                    Ok(value) => resolver.resolve(value),
                    Err(access) => resolver.reject(denied(env, access)),
                },
            }
        });
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
