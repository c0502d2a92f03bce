//! References from inside an isolate to values that live elsewhere: in the
//! host (a Node or Python object, whose binding implements [`Remote`]) or
//! in another isolate (a [`Reference`] passed across). Inside the isolate
//! such a value is an object of isolated-vm's `Reference` class
//! (`remote/reference.js`), whose methods (`applySync`, `apply`,
//! `applyIgnored`, `applySyncPromise`, `get…`, `set…`, `delete…`, `copy…`,
//! `release`) carry the operation out through three host functions shared
//! by the whole isolate.
//!
//! The isolate holds each remote value in a table, by id, until the
//! JavaScript side calls `release()` or the isolate is disposed.

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use ivm_marshal::{Structured, Value};

use crate::callback::{CallbackResult, HostError, Resolver};
use crate::exception::caught;
use crate::isolate::IsolateInner;
use crate::transfer::JsScope;
use crate::{Callback, Isolate, Reference, Result, RunOptions, TransferMode, Transferable};

/// A value outside an isolate that JavaScript inside it holds through a
/// `Reference`. The operations arrive with copies of their arguments (an
/// `apply`'s arguments may also be the calling isolate's handles, as
/// themselves); what they return goes into the isolate as any
/// [`Transferable`] does (a [`Transferable::Remote`] becomes another
/// `Reference`).
pub trait Remote: Any + Send + Sync + fmt::Debug {
    /// `reference.typeof`.
    fn type_of(&self) -> String;

    /// The class the value arrives as inside an isolate.
    fn class(&self) -> RemoteClass {
        RemoteClass::Reference
    }

    /// Carries `op` out while the isolate waits (`applySync`, `getSync`, …).
    fn call(&self, op: RemoteOp) -> CallbackResult;

    /// Carries `op` out and settles `resolver` when done (`apply`, `get`, …).
    fn call_async(&self, op: RemoteOp, resolver: Resolver);

    /// `applySyncPromise`: the isolate's thread waits until `resolver` is
    /// settled, from another thread. By default the operation runs as
    /// [`call`](Remote::call).
    fn call_blocking(&self, op: RemoteOp, resolver: Resolver) {
        match self.call(op) {
            Ok(value) => resolver.resolve(value),
            Err(message) => resolver.reject(message),
        }
    }
}

/// The isolated-vm class a remote value is inside an isolate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteClass {
    /// `Reference`: all of [`RemoteOp`].
    Reference,
    /// `ExternalCopy`: `copy()` ([`RemoteOp::Copy`]), `copyInto()`
    /// ([`RemoteOp::CopyInto`]) and `release()`.
    ExternalCopy,
    /// What `copyInto()` gives inside an isolate: an object with no
    /// operations, which leaves the isolate once, as the copy it stands for.
    CopyInto,
    /// What `derefInto()` gives inside an isolate: an object with no
    /// operations, which leaves the isolate once, as the value the
    /// Reference stands for where that value lives.
    DerefInto,
    /// The library object (isolated-vm's module): its `Isolate` class makes
    /// isolates from inside an isolate.
    Library,
    /// `Callback`, made inside the isolate by `new ivm.Callback(fn)`: a
    /// function of the isolate that leaves it as a function.
    Callback,
    /// `Isolate`, `Context`, `Script` and `Module`, whose methods are
    /// [`RemoteOp::Call`]s.
    Isolate,
    Context,
    Script,
    Module,
}

/// The isolate an operation came from: its remote values, for operations
/// that take one of them as an argument (a Script's `run(context)`), and
/// the isolate itself, whose budget an isolate it makes draws on.
#[derive(Clone)]
pub struct Peers {
    table: Arc<Mutex<RemoteTable>>,
    caller: Weak<IsolateInner>,
}

impl fmt::Debug for Peers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Peers")
    }
}

impl Peers {
    /// No peers, for an operation made up outside an isolate.
    pub fn none() -> Peers {
        Peers { table: Arc::default(), caller: Weak::new() }
    }

    /// The remote value with `id` in the calling isolate.
    pub fn get(&self, id: &Value) -> Option<Arc<dyn Remote>> {
        let id = id.as_f64().filter(|id| *id >= 0.0 && id.fract() == 0.0)?;
        self.table.lock().unwrap_or_else(PoisonError::into_inner).get(id as u32)
    }

    /// The calling isolate, while it lives.
    pub(crate) fn caller(&self) -> Option<Isolate> {
        self.caller.upgrade().map(|inner| Isolate { inner })
    }
}

/// An operation on a remote value, as JavaScript asked for it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RemoteOp {
    /// A method of an `Isolate`, `Context`, `Script` or the library object,
    /// with copies of its arguments.
    Call { method: String, arguments: Vec<Structured>, peers: Peers },
    /// A copy of the value; an ExternalCopy's reads `options` (`release`,
    /// `transferIn`), a Reference's copy has none.
    Copy { options: crate::CopyOptions },
    /// An ExternalCopy's `copyInto(options)`: a marker that leaves the
    /// isolate, once, as the copy.
    CopyInto { options: crate::CopyOptions },
    /// `value[key]`, leaving as `result` says.
    Get { key: Value, result: TransferMode, timeout: Option<Duration> },
    /// `value[key] = value`; returns whether it was set.
    Set { key: Value, value: Structured, timeout: Option<Duration> },
    /// `delete value[key]`.
    Delete { key: Value },
    /// Calls the value with `receiver` as `this`. With `promise`, a promise
    /// it returns is waited for and its result is the call's. The arguments
    /// are copies, or the calling isolate's handles (References,
    /// ExternalCopies) as themselves.
    Apply {
        receiver: Structured,
        arguments: Vec<Transferable>,
        result: TransferMode,
        promise: bool,
        timeout: Option<Duration>,
    },
}

/// The isolate's remote values, by id.
#[derive(Default)]
pub(crate) struct RemoteTable {
    slots: Vec<Option<Arc<dyn Remote>>>,
    free: Vec<u32>,
}

impl RemoteTable {
    fn insert(&mut self, remote: Arc<dyn Remote>) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(remote);
                id
            }
            None => {
                self.slots.push(Some(remote));
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        }
    }

    fn get(&self, id: u32) -> Option<Arc<dyn Remote>> {
        self.slots.get(id as usize).and_then(Clone::clone)
    }

    fn remove(&mut self, id: u32) {
        if let Some(slot) = self.slots.get_mut(id as usize) {
            if slot.take().is_some() {
                self.free.push(id);
            }
        }
    }
}

/// The three host functions the `Reference` class calls, made once per
/// isolate.
pub(crate) struct Dispatch {
    sync: Callback,
    promise: Callback,
    blocking: Callback,
}

impl Dispatch {
    pub(crate) fn new(isolate: &Arc<IsolateInner>) -> Dispatch {
        let caller = Arc::downgrade(isolate);
        let sync_caller = caller.clone();
        Dispatch {
            sync: Callback::sync(
                move |args| match decode(&sync_caller, args)? {
                    Decoded::Op(remote, op) => remote.call(op),
                    Decoded::Done(value) => Ok(value),
                },
                true,
            ),
            promise: deferred_dispatch(caller.clone(), false),
            blocking: deferred_dispatch(caller, true),
        }
    }
}

/// The promise (or with `blocking`, the blocking) host function of the
/// library: each call names a remote value and what to do with it.
fn deferred_dispatch(caller: Weak<IsolateInner>, blocking: bool) -> Callback {
    let dispatch = move |args, resolver: Resolver| match decode(&caller, args) {
        Ok(Decoded::Op(remote, op)) if blocking => remote.call_blocking(op, resolver),
        Ok(Decoded::Op(remote, op)) => remote.call_async(op, resolver),
        Ok(Decoded::Done(value)) => resolver.resolve(value),
        Err(message) => resolver.reject(message),
    };
    Callback::deferred(dispatch, blocking, true)
}

/// The remote value and operation a call of the `Reference` class names;
/// `None` for `release`, which is done here.
/// What the library asked of a remote value: an operation for the value, or
/// one the table answers itself (`release`, `derefInto`).
enum Decoded {
    Op(Arc<dyn Remote>, RemoteOp),
    Done(Transferable),
}

fn decode(caller: &Weak<IsolateInner>, args: Vec<Transferable>) -> std::result::Result<Decoded, String> {
    let table = caller.upgrade().map(|inner| Arc::clone(&inner.host.remotes)).ok_or("The isolate was disposed")?;
    let args = &mut args.into_iter();
    fn primitive(args: &mut impl Iterator<Item = Transferable>, what: &str) -> std::result::Result<Value, String> {
        let value = args.next().ok_or_else(|| format!("missing {what}"))?;
        value.into_value().ok_or_else(|| format!("{what} must be a primitive"))
    }
    // A value only an argument may pass as itself.
    fn copy(value: Transferable) -> std::result::Result<Structured, String> {
        value.into_copy().ok_or_else(|| "only arguments pass as themselves; this value can only be copied".to_owned())
    }
    let id =
        primitive(args, "id")?.as_f64().filter(|id| id.fract() == 0.0 && *id >= 0.0).ok_or("invalid reference id")?;
    let id = id as u32;
    let op = primitive(args, "operation")?;
    let remote = table.lock().unwrap_or_else(PoisonError::into_inner).get(id).ok_or("Reference has been released")?;
    let mode = |value: Value| match value.as_f64() {
        Some(2.0) => TransferMode::Copy,
        Some(4.0) => TransferMode::Reference,
        _ => TransferMode::Auto,
    };
    let timeout =
        |value: Value| value.as_f64().filter(|ms| *ms > 0.0).and_then(|ms| Duration::try_from_secs_f64(ms / 1e3).ok());
    let op = match op.as_str() {
        Some(op @ ("copy" | "copyInto")) => {
            let flag = |args: &mut std::vec::IntoIter<Transferable>| {
                args.next().and_then(|flag| flag.as_value().and_then(Value::as_bool)).unwrap_or(false)
            };
            let release = flag(args);
            let options = crate::CopyOptions::new().release(release).transfer_in(flag(args));
            if op == "copy" { RemoteOp::Copy { options } } else { RemoteOp::CopyInto { options } }
        }
        Some("get") => {
            let key = primitive(args, "key")?;
            RemoteOp::Get { key, result: mode(primitive(args, "mode")?), timeout: timeout(primitive(args, "timeout")?) }
        }
        Some("set") => {
            let key = primitive(args, "key")?;
            let value = copy(args.next().ok_or("missing value")?)?;
            RemoteOp::Set { key, value, timeout: args.next().and_then(Transferable::into_value).and_then(timeout) }
        }
        Some("delete") => RemoteOp::Delete { key: primitive(args, "key")? },
        Some("apply") => {
            let receiver = copy(args.next().ok_or("missing receiver")?)?;
            let result = mode(primitive(args, "mode")?);
            let promise = primitive(args, "promise")?.as_bool().unwrap_or(false);
            let timeout = timeout(primitive(args, "timeout")?);
            RemoteOp::Apply { receiver, arguments: args.collect(), result, promise, timeout }
        }
        Some("call") => {
            let method = primitive(args, "method")?.as_str().ok_or("the method must be a string")?.to_owned();
            let arguments = args.map(copy).collect::<std::result::Result<_, _>>()?;
            RemoteOp::Call { method, arguments, peers: Peers { table: Arc::clone(&table), caller: caller.clone() } }
        }
        Some("release") => {
            table.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
            return Ok(Decoded::Done(Value::Undefined.into()));
        }
        Some("derefInto") => {
            return Ok(Decoded::Done(Transferable::Remote(Arc::new(Marker::new(StandsFor::Value(remote))))));
        }
        _ => return Err("unknown operation".into()),
    };
    Ok(Decoded::Op(remote, op))
}

/// The `Reference` object for `remote` in the context `scope` is in.
pub(crate) fn materialise<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    isolate: &Isolate,
    remote: &Arc<dyn Remote>,
) -> Result<v8::Local<'s, v8::Value>> {
    let make = maker(scope, isolate)?;
    let type_of = remote.type_of();
    let id = isolate.inner.host.remotes.lock().unwrap_or_else(PoisonError::into_inner).insert(Arc::clone(remote));
    let id: v8::Local<'s, v8::Value> = v8::Number::new(scope, f64::from(id)).into();
    let type_of = v8::String::new(scope, &type_of).ok_or_else(|| caught(scope))?.into();
    let class = match remote.class() {
        RemoteClass::Reference => "Reference",
        RemoteClass::ExternalCopy => "ExternalCopy",
        RemoteClass::CopyInto => "CopyInto",
        RemoteClass::DerefInto => "DerefInto",
        RemoteClass::Library => "Library",
        RemoteClass::Callback => "Callback",
        RemoteClass::Isolate => "Isolate",
        RemoteClass::Context => "Context",
        RemoteClass::Script => "Script",
        RemoteClass::Module => "Module",
    };
    let class = v8::String::new(scope, class).ok_or_else(|| caught(scope))?.into();
    let undefined = v8::undefined(scope).into();
    let object = make.call(scope, undefined, &[id, type_of, class]).ok_or_else(|| caught(scope))?;
    // Marked with its id, so that the object leaving the isolate again is
    // the same remote value (see `remote_of`).
    if let Ok(reference) = v8::Local::<v8::Object>::try_from(object) {
        let key = id_key(scope)?;
        reference.set_private(scope, key, id);
    }
    Ok(object)
}

fn id_key<'s>(scope: &mut JsScope<'_, '_, 's, '_>) -> Result<v8::Local<'s, v8::Private>> {
    let name = v8::String::new(scope, "ivm.remote.id").ok_or_else(|| caught(scope))?;
    Ok(v8::Private::for_api(scope, Some(name)))
}

/// The remote value `value` stands for, if it is one of this isolate's
/// `Reference` objects: passed out again, it is that same value.
pub(crate) fn remote_of(
    scope: &mut JsScope<'_, '_, '_, '_>,
    isolate: &Isolate,
    value: v8::Local<'_, v8::Value>,
) -> Result<Option<Arc<dyn Remote>>> {
    let Ok(object) = v8::Local::<v8::Object>::try_from(value) else { return Ok(None) };
    let key = id_key(scope)?;
    let Some(id) = object.get_private(scope, key).and_then(|id| id.number_value(scope)) else { return Ok(None) };
    if !(id >= 0.0 && id.fract() == 0.0) {
        return Ok(None);
    }
    Ok(isolate.inner.host.remotes.lock().unwrap_or_else(PoisonError::into_inner).get(id as u32))
}

/// The context's `make` function, created the first time a remote value
/// enters it and kept on its global object under a private key.
fn maker<'s>(scope: &mut JsScope<'_, '_, 's, '_>, isolate: &Isolate) -> Result<v8::Local<'s, v8::Function>> {
    let context = scope.get_current_context();
    let global = context.global(scope);
    let name = v8::String::new(scope, "ivm.remote.make").ok_or_else(|| caught(scope))?;
    let key = v8::Private::for_api(scope, Some(name));
    if let Some(make) = global.get_private(scope, key).and_then(|v| v8::Local::<v8::Function>::try_from(v).ok()) {
        return Ok(make);
    }
    let source = v8::String::new(scope, include_str!("remote/reference.js")).ok_or_else(|| caught(scope))?;
    let origin = crate::ScriptOrigin::new(crate::exception::LIBRARY_SCRIPT);
    let origin = crate::context::script_origin(scope, &origin)?;
    let script = v8::Script::compile(scope, source, Some(&origin)).ok_or_else(|| caught(scope))?;
    let install = script.run(scope).ok_or_else(|| caught(scope))?;
    let install = v8::Local::<v8::Function>::try_from(install).map_err(|_| crate::Error::Unsupported("remote.js"))?;
    let dispatch = isolate.inner.host.remote_dispatch.get_or_init(|| Dispatch::new(&isolate.inner));
    let functions = [
        crate::callback::function(scope, isolate, &dispatch.sync)?,
        crate::callback::function(scope, isolate, &dispatch.promise)?,
        crate::callback::function(scope, isolate, &dispatch.blocking)?,
        v8::Function::new(scope, local).ok_or_else(|| caught(scope))?.into(),
    ];
    let undefined = v8::undefined(scope).into();
    let make = install.call(scope, undefined, &functions).ok_or_else(|| caught(scope))?;
    let make = v8::Local::<v8::Function>::try_from(make).map_err(|_| crate::Error::Unsupported("remote.js"))?;
    global.set_private(scope, key, make.into());
    Ok(make)
}

/// `local(operation, value)`: what the library does inside an isolate with
/// values of that isolate, which the host functions above (they get
/// copies) cannot: `"hold"` is `new ivm.Reference(value)`, `"callback"`
/// `new ivm.Callback(fn)`, `"deref"` a Reference's `deref()` (the value of
/// one made in this isolate), `"hrtime"` isolated-vm's `lib.hrtime()`.
fn local<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    arguments: v8::FunctionCallbackArguments<'s>,
    mut returned: v8::ReturnValue<'s, v8::Value>,
) {
    let Some(isolate) = Isolate::of(scope) else { return };
    let refusal = {
        v8::tc_scope!(let scope, scope);
        let operation = arguments.get(0).to_rust_string_lossy(scope);
        let value = arguments.get(1);
        let outcome = match operation.as_str() {
            "hold" => {
                let context = Arc::new(v8::Global::new(scope, scope.get_current_context()));
                let reference: Arc<dyn Remote> = Arc::new(Reference::new(scope, &isolate, &context, value));
                materialise(scope, &isolate, &reference)
            }
            "callback" => match v8::Local::<v8::Function>::try_from(value) {
                Ok(function) => {
                    let context = Arc::new(v8::Global::new(scope, scope.get_current_context()));
                    let function = IsolateCallback(Reference::function(scope, &isolate, &context, function));
                    materialise(scope, &isolate, &(Arc::new(function) as Arc<dyn Remote>))
                }
                Err(_) => Err(crate::Error::InvalidArgument("`Callback` requires parameter 1 to be a function".into())),
            },
            "deref" => match remote_of(scope, &isolate, value) {
                Ok(Some(remote)) => {
                    let any: Arc<dyn Any + Send + Sync> = remote;
                    match any.downcast::<Reference>() {
                        Ok(reference) if reference.isolate() == &isolate => reference.deref(scope),
                        _ => Err(crate::Error::WrongIsolate("Cannot dereference this from current isolate")),
                    }
                }
                Ok(None) => Err(crate::Error::WrongIsolate("Cannot dereference this from current isolate")),
                Err(error) => Err(error),
            },
            "hrtime" => {
                let now = crate::run::monotonic();
                let pair =
                    [now.as_secs() as f64, f64::from(now.subsec_nanos())].map(|n| v8::Number::new(scope, n).into());
                Ok(v8::Array::new_with_elements(scope, &pair).into())
            }
            _ => Err(crate::Error::InvalidArgument(format!("unknown operation {operation}"))),
        };
        match outcome {
            Ok(value) => {
                returned.set(value);
                None
            }
            // JavaScript threw (a getter, say): on to the caller.
            Err(_) if scope.has_caught() => {
                scope.rethrow();
                None
            }
            Err(error) => Some(error),
        }
    };
    if let Some(error) = refusal {
        // isolated-vm's argument and isolate checks are TypeErrors; the rest
        // keep their class, as a host function's errors do.
        let failure = match error {
            crate::Error::WrongIsolate(_) | crate::Error::InvalidArgument(_) => HostError::Type(error.to_string()),
            error => HostError::from(error),
        };
        crate::callback::throw(scope, failure);
    }
}

/// A function made a `Callback` inside its own isolate: it leaves the
/// isolate as a function (see [`Reference::callable`]).
#[derive(Debug)]
pub(crate) struct IsolateCallback(pub(crate) Reference);

impl Remote for IsolateCallback {
    fn type_of(&self) -> String {
        "object".into()
    }

    fn class(&self) -> RemoteClass {
        RemoteClass::Callback
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        Remote::call(&self.0, op)
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        Remote::call_async(&self.0, op, resolver);
    }
}

/// What a remote value that leaves its isolate crosses as: a `Callback`
/// made inside as its function, a `copyInto()` or `derefInto()` marker as
/// what it stands for (once), anything else as itself.
pub(crate) fn leaving(remote: Arc<dyn Remote>) -> Result<Transferable> {
    let any: Arc<dyn Any + Send + Sync> = remote.clone();
    let any = match any.downcast::<IsolateCallback>() {
        Ok(callback) => return Ok(Transferable::Reference(callback.0.clone())),
        Err(any) => any,
    };
    match any.downcast::<Marker>() {
        Ok(marker) => marker.leave(),
        Err(_) => Ok(Transferable::Remote(remote)),
    }
}

/// What an ExternalCopy's `copyInto()` or a Reference's `derefInto()` gives
/// inside an isolate (isolated-vm's markers): an object with no methods
/// that, wherever it goes out of the isolate, arrives as what it stands
/// for; a second time is an error.
#[derive(Debug)]
struct Marker {
    stands_for: StandsFor,
    used: AtomicBool,
}

#[derive(Debug)]
enum StandsFor {
    /// A copy of the ExternalCopy's value, as `copyInto()`'s options say.
    Copy(crate::ExternalCopy, crate::CopyOptions),
    /// The referenced value, where it lives (the host's own object, for a
    /// Reference to a host value).
    Value(Arc<dyn Remote>),
}

impl Marker {
    fn new(stands_for: StandsFor) -> Marker {
        Marker { stands_for, used: AtomicBool::new(false) }
    }

    /// The method that made it, as isolated-vm's messages name it.
    fn method(&self) -> &'static str {
        match self.stands_for {
            StandsFor::Copy(..) => "copyInto()",
            StandsFor::Value(_) => "derefInto()",
        }
    }

    fn leave(&self) -> Result<Transferable> {
        if self.used.swap(true, Ordering::Relaxed) {
            return Err(crate::Error::Released(match self.stands_for {
                StandsFor::Copy(..) => "The return value of `copyInto()` should only be used once",
                StandsFor::Value(_) => "The return value of `derefInto()` should only be used once",
            }));
        }
        Ok(match &self.stands_for {
            StandsFor::Copy(copy, options) => Transferable::Copy(copy.copy(options)?),
            StandsFor::Value(remote) => Transferable::Dereferenced(Arc::clone(remote)),
        })
    }
}

impl Remote for Marker {
    fn type_of(&self) -> String {
        "object".into()
    }

    fn class(&self) -> RemoteClass {
        match self.stands_for {
            StandsFor::Copy(..) => RemoteClass::CopyInto,
            StandsFor::Value(_) => RemoteClass::DerefInto,
        }
    }

    fn call(&self, _op: RemoteOp) -> CallbackResult {
        Err(HostError::Type(format!("The return value of `{}` has no methods", self.method())))
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        match self.call(op) {
            Ok(value) => resolver.resolve(value),
            Err(message) => resolver.reject(message),
        }
    }
}

/// A [`Reference`] held by another isolate: its operations are the
/// Reference's own, run in turn on the referenced isolate.
impl Remote for Reference {
    fn type_of(&self) -> String {
        Reference::type_of(self).unwrap_or("undefined").to_owned()
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        // Inside another isolate's call, whose lock this thread holds (and
        // V8 cannot take a second isolate's lock on it): the operation runs
        // as the referenced isolate's queued call, and this thread waits,
        // serving its host meanwhile and giving up if the calling isolate's
        // call is interrupted. A pool worker waits with a stand-in doing its
        // work, so the call it waits for cannot be queued behind it.
        if self.isolate().locked_by_another_here() {
            return ivm_runtime::block_in_place(|| self.call_waiting(op));
        }
        self.call_here(op).map(remote_result).map_err(HostError::from)
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        self.call_async_inner(op, resolver);
    }
}

/// Why a wait inside a call of this thread's isolate ended without a value.
enum WaitEnded {
    /// The calling isolate's call was interrupted (its timeout, disposal).
    Interrupted,
    /// The other side went away without sending.
    Abandoned,
}

/// The value `receiver` gets, waited for inside a call of this thread's
/// isolate: serving its host meanwhile, and giving up if the calling
/// isolate's call is interrupted.
fn wait_serving<T>(receiver: &std::sync::mpsc::Receiver<T>) -> std::result::Result<T, WaitEnded> {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        ivm_runtime::run_wait_hook();
        match receiver.recv_timeout(Duration::from_millis(1)) {
            Ok(value) => return Ok(value),
            Err(RecvTimeoutError::Timeout) if crate::callback::caller_interrupted() => {
                return Err(WaitEnded::Interrupted);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err(WaitEnded::Abandoned),
        }
    }
}

/// The result of `pending`, another isolate's call that this thread waits
/// for inside a call of its own isolate ([`wait_serving`]).
pub(crate) fn wait_for<T: Send + 'static>(pending: crate::Pending<T>) -> Result<T> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    pending.on_ready(move |result| {
        let _ = sender.send(result);
    });
    wait_serving(&receiver).unwrap_or(Err(crate::Error::Canceled))
}

impl Reference {
    fn call_waiting(&self, op: RemoteOp) -> CallbackResult {
        let (resolver, receiver) = crate::callback::waiting_resolver();
        self.call_async_inner(op, resolver);
        wait_serving(&receiver).unwrap_or_else(|ended| match ended {
            WaitEnded::Interrupted => Err("the call was interrupted while it waited for another isolate".into()),
            WaitEnded::Abandoned => Err("the other isolate's call ended without a result".into()),
        })
    }

    fn call_here(&self, op: RemoteOp) -> Result<Transferable> {
        match op {
            RemoteOp::Copy { .. } => self.copy().map(Transferable::Copy),
            RemoteOp::Get { key, result, timeout } => self.get(key, &run_options(result, false, timeout)),
            RemoteOp::Set { key, value, timeout } => self
                .set(key, value, &run_options(TransferMode::Auto, false, timeout))
                .map(|done| Value::Bool(done).into()),
            RemoteOp::Delete { key } => self.delete(key, &RunOptions::new()).map(|done| Value::Bool(done).into()),
            RemoteOp::Apply { receiver, arguments, result, promise, timeout } => {
                self.apply(receiver, &arguments, &run_options(result, promise, timeout))
            }
            RemoteOp::Call { .. } | RemoteOp::CopyInto { .. } => {
                Err(crate::Error::InvalidArgument("A Reference has no such method".into()))
            }
        }
    }

    fn call_async_inner(&self, op: RemoteOp, resolver: Resolver) {
        let settle = move |result: Result<Transferable>| match result {
            Ok(value) => resolver.resolve(remote_result(value)),
            Err(error) => resolver.reject(error),
        };
        match op {
            RemoteOp::Copy { .. } => self.copy_async().on_ready(move |r| settle(r.map(Transferable::Copy))),
            RemoteOp::Get { key, result, timeout } => {
                self.get_async(key, run_options(result, false, timeout)).on_ready(settle)
            }
            RemoteOp::Set { key, value, timeout } => self
                .set_async(key, value, run_options(TransferMode::Auto, false, timeout))
                .on_ready(move |r| settle(r.map(|done| Value::Bool(done).into()))),
            RemoteOp::Delete { key } => self
                .delete_async(key, RunOptions::new())
                .on_ready(move |r| settle(r.map(|done| Value::Bool(done).into()))),
            RemoteOp::Apply { receiver, arguments, result, promise, timeout } => {
                self.apply_async(receiver, arguments, run_options(result, promise, timeout)).on_ready(settle)
            }
            RemoteOp::Call { .. } | RemoteOp::CopyInto { .. } => {
                settle(Err(crate::Error::InvalidArgument("A Reference has no such method".into())))
            }
        }
    }
}

/// A result from another isolate: a Reference into it stays one, except a
/// function, which arrives as a function.
pub(crate) fn remote_result(value: Transferable) -> Transferable {
    match value {
        Transferable::Reference(reference) if reference.callable().is_none() => {
            Transferable::Remote(Arc::new(reference))
        }
        other => other,
    }
}

pub(crate) fn run_options(result: TransferMode, promise: bool, timeout: Option<Duration>) -> RunOptions {
    let options = RunOptions::new().result(result).promise(promise);
    match timeout {
        Some(timeout) => options.timeout(timeout),
        None => options,
    }
}

/// An [`ExternalCopy`](crate::ExternalCopy) passed into an isolate as
/// itself: isolated-vm's `ExternalCopy` there, whose `copy()` materialises
/// the value in that isolate.
impl Remote for crate::ExternalCopy {
    fn type_of(&self) -> String {
        "object".into()
    }

    fn class(&self) -> RemoteClass {
        RemoteClass::ExternalCopy
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        match op {
            RemoteOp::Copy { .. } if self.is_released() && !self.was_handed_over() => {
                Err("ExternalCopy has been released".into())
            }
            RemoteOp::Copy { options } => self.copy_into(&options).map_err(HostError::from),
            RemoteOp::CopyInto { .. } if self.is_released() && !self.was_handed_over() => {
                Err("ExternalCopy has been released".into())
            }
            RemoteOp::CopyInto { options } => match self.copy_into(&options).map_err(HostError::from)? {
                Transferable::ExternalCopy(copy, options) => {
                    Ok(Transferable::Remote(Arc::new(Marker::new(StandsFor::Copy(copy, options)))))
                }
                other => Ok(other),
            },
            _ => Err("An ExternalCopy can only be copied".into()),
        }
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        match self.call(op) {
            Ok(value) => resolver.resolve(value),
            Err(message) => resolver.reject(message),
        }
    }
}
