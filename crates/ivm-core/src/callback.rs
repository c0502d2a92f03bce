//! Host functions that JavaScript calls: a [`Callback`] passed into an
//! isolate (as an argument, a property value or a closure's `$0`) arrives as
//! a function. Its arguments reach the host as copies; what it returns goes
//! back in as any [`Transferable`] does; an error it returns is thrown in
//! JavaScript as an `Error` with its message.
//!
//! Three kinds, as isolated-vm has:
//! - [`Callback::new`]: JavaScript waits for the host function's result.
//! - [`Callback::new_async`]: JavaScript gets a promise at once; the host
//!   settles it later, from any thread, through the [`Resolver`] it is
//!   given. The settling is queued on the isolate like any async call.
//! - [`Callback::new_blocking`] (isolated-vm's `applySyncPromise`):
//!   JavaScript waits, on its own thread, until the host settles the
//!   [`Resolver`] from elsewhere; the host's own thread is not blocked. A
//!   timeout on the call still applies while it waits.
//!
//! A callback runs on the isolate's thread while the isolate's call is in
//! progress. Synchronous calls it makes into that same isolate run at once,
//! reentrantly, inside the call (as in isolated-vm); a synchronous call
//! into another isolate is refused with [`Error::NestedCall`], since it could
//! wait on a thread that waits on this one. Async calls it queues run after
//! the current call: a callback must not block waiting for them.
//!
//! [`Error::NestedCall`]: crate::Error::NestedCall

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak, mpsc};
use std::time::{Duration, Instant};

use ivm_marshal::Structured;

use crate::exception::caught;
use crate::isolate::IsolateInner;
use crate::isolate::Reentry;
use crate::run::{CpuBudget, Limits};
use crate::this_thread::{CALLING, SERVING};
use crate::transfer::{JsScope, transfer_in};
use crate::{Error, ErrorClass, Isolate, Result, Transferable};

/// What a host function gives back: a value, or why it failed.
pub type CallbackResult = std::result::Result<Transferable, HostError>;

/// Why a host function (a callback, or an operation on a value held by
/// reference) failed, as JavaScript receives it: thrown where it was called.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HostError {
    /// An exception of the host's language: an `Error` with its message.
    Message(String),
    /// A refusal or a wrong argument: a `TypeError` (isolated-vm's class for
    /// them) with its message.
    Type(String),
    /// One of ivm's own errors (a child isolate's timeout, say): an `Error`
    /// with its message, marked with its class, so that a host catching it
    /// after it passed through JavaScript gets that class again (a timeout
    /// is a timeout wherever it is caught). A JavaScript exception from
    /// another isolate is thrown as the error it was.
    Ivm(Error),
    /// An error of one of ivm's classes raised by the host's own code (a
    /// host function that let a child isolate's timeout through): thrown as
    /// an `Error` with its message, keeping its class as `Ivm` does.
    Class { class: ErrorClass, message: String },
}

impl HostError {
    /// An error of the ivm class named `class` ([`ErrorClass::name`]), or a
    /// plain message if no ivm class has that name.
    pub fn of_class(class: &str, message: impl Into<String>) -> HostError {
        let message = message.into();
        match ErrorClass::from_name(class).filter(|class| *class != ErrorClass::Js) {
            Some(class) => HostError::Class { class, message },
            None => HostError::Message(message),
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Message(message) | HostError::Type(message) | HostError::Class { message, .. } => {
                f.write_str(message)
            }
            HostError::Ivm(error) => f.write_str(&error.message()),
        }
    }
}

impl std::error::Error for HostError {}

impl From<String> for HostError {
    fn from(message: String) -> HostError {
        HostError::Message(message)
    }
}

impl From<&str> for HostError {
    fn from(message: &str) -> HostError {
        HostError::Message(message.to_owned())
    }
}

impl From<Error> for HostError {
    fn from(error: Error) -> HostError {
        HostError::Ivm(error)
    }
}

impl From<crate::host::Refusal> for HostError {
    fn from(refusal: crate::host::Refusal) -> HostError {
        HostError::Type(refusal.to_string())
    }
}

type SyncFn = dyn Fn(Vec<Transferable>) -> CallbackResult + Send + Sync;
type DeferredFn = dyn Fn(Vec<Transferable>, Resolver) + Send + Sync;

/// A host function that JavaScript can call. Cheap to clone; every clone is
/// the same function. Each time it is passed into an isolate it arrives as a
/// new JavaScript function that calls it.
#[derive(Clone)]
pub struct Callback {
    inner: Arc<CallbackInner>,
    /// Whether the isolate's handles (the References, ExternalCopies and
    /// `copyInto()` markers made in it) reach the function as themselves:
    /// only the library's own functions take them; any other function gets
    /// copies of its arguments.
    handles: bool,
}

/// The arguments of a function that takes copies: all of them are.
fn copies(arguments: Vec<Transferable>) -> Vec<Structured> {
    arguments.into_iter().filter_map(Transferable::into_copy).collect()
}

enum CallbackInner {
    Sync(Box<SyncFn>),
    Async(Box<DeferredFn>),
    Blocking(Box<DeferredFn>),
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &*self.inner {
            CallbackInner::Sync(_) => "sync",
            CallbackInner::Async(_) => "async",
            CallbackInner::Blocking(_) => "blocking",
        };
        f.debug_struct("Callback").field("kind", &kind).finish()
    }
}

impl Callback {
    /// A function whose JavaScript caller waits for `f`'s result.
    pub fn new(f: impl Fn(Vec<Structured>) -> CallbackResult + Send + Sync + 'static) -> Callback {
        Callback::sync(move |arguments| f(copies(arguments)), false)
    }

    /// A function that returns a promise, which `f` settles through its
    /// [`Resolver`] whenever it likes, from any thread.
    pub fn new_async(f: impl Fn(Vec<Structured>, Resolver) + Send + Sync + 'static) -> Callback {
        Callback::deferred(move |arguments, resolver| f(copies(arguments), resolver), false, false)
    }

    /// A function whose JavaScript caller blocks, on the isolate's thread,
    /// until `f`'s [`Resolver`] is settled from another thread (isolated-vm's
    /// `applySyncPromise`). Settling it from the isolate's own queued work
    /// would wait forever.
    pub fn new_blocking(f: impl Fn(Vec<Structured>, Resolver) + Send + Sync + 'static) -> Callback {
        Callback::deferred(move |arguments, resolver| f(copies(arguments), resolver), true, false)
    }

    /// A synchronous function; with `handles`, one of the library's, which
    /// gets the isolate's handles as themselves.
    pub(crate) fn sync(
        f: impl Fn(Vec<Transferable>) -> CallbackResult + Send + Sync + 'static,
        handles: bool,
    ) -> Callback {
        Callback { inner: Arc::new(CallbackInner::Sync(Box::new(f))), handles }
    }

    /// An async function, or with `blocking` a blocking one; `handles` as
    /// for [`Callback::sync`].
    pub(crate) fn deferred(
        f: impl Fn(Vec<Transferable>, Resolver) + Send + Sync + 'static,
        blocking: bool,
        handles: bool,
    ) -> Callback {
        let f: Box<DeferredFn> = Box::new(f);
        let inner = if blocking { CallbackInner::Blocking(f) } else { CallbackInner::Async(f) };
        Callback { inner: Arc::new(inner), handles }
    }
}

/// Settles the result of an async or blocking callback call, once. Dropping
/// it unsettled rejects the call.
pub struct Resolver {
    target: Option<Target>,
}

enum Target {
    Promise {
        isolate: Isolate,
        context: Arc<v8::Global<v8::Context>>,
        promise: v8::Global<v8::PromiseResolver>,
        /// The deadline of the followed call that made this call, if any:
        /// the code that continues after the promise runs under it.
        deadline: Option<Instant>,
        /// Likewise the CPU budget of the call that made this call.
        cpu: Option<Arc<CpuBudget>>,
    },
    Blocking(mpsc::SyncSender<CallbackResult>),
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").field("settled", &self.target.is_none()).finish()
    }
}

impl Resolver {
    /// Fulfils the call with `value`.
    pub fn resolve(mut self, value: impl Into<Transferable>) {
        self.settle(Ok(value.into()));
    }

    /// Rejects the call with `error` (a message, for an `Error` carrying
    /// it; see [`HostError`]).
    pub fn reject(mut self, error: impl Into<HostError>) {
        self.settle(Err(error.into()));
    }

    fn settle(&mut self, result: CallbackResult) {
        match self.target.take() {
            Some(Target::Blocking(sender)) => drop(sender.send(result)),
            Some(Target::Promise { isolate, context, promise, deadline, cpu }) => {
                let queued = isolate.clone();
                // Settled in turn with the isolate's other calls; an isolate
                // disposed meanwhile has nothing left to settle.
                queued.inner.strand.spawn(move || {
                    let timeout = deadline.map(|at| at.saturating_duration_since(Instant::now()));
                    let _ = isolate.run_in(&context, Limits { timeout, pause_in_host: false, cpu }, |scope| {
                        let promise = v8::Local::new(scope, &promise);
                        match result {
                            Ok(value) => match transfer_in(scope, &isolate, &value) {
                                Ok(value) => {
                                    promise.resolve(scope, value);
                                }
                                // The value could not enter: the call fails
                                // with why, rather than never settling.
                                Err(error) => {
                                    let error = match scope.exception() {
                                        Some(exception) => exception,
                                        None => error_value(scope, &error.into()),
                                    };
                                    scope.reset();
                                    promise.reject(scope, error);
                                }
                            },
                            Err(failure) => {
                                let error = error_value(scope, &failure);
                                promise.reject(scope, error);
                            }
                        }
                        scope.perform_microtask_checkpoint();
                        Ok(())
                    });
                    crate::follow::host_call_settled(&isolate);
                });
            }
            None => {}
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.settle(Err("the host dropped this call's resolver without settling it".into()));
    }
}

/// A callback as registered with one isolate: what its JavaScript function
/// points to. Boxed in the isolate's registry, so its address is stable for
/// as long as the isolate (and so the function) lives.
pub(crate) struct Registered {
    callback: Callback,
    isolate: Weak<IsolateInner>,
}

/// The JavaScript function for `callback` in the isolate `scope` belongs
/// to, registering the callback with the isolate once.
pub(crate) fn function<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    isolate: &Isolate,
    callback: &Callback,
) -> Result<v8::Local<'s, v8::Value>> {
    let data = {
        let mut registry = isolate.inner.host.callbacks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let known = registry.iter().find(|entry| Arc::ptr_eq(&entry.callback.inner, &callback.inner));
        let entry: *const Registered = match known {
            Some(entry) => &**entry,
            None => {
                let entry =
                    Box::new(Registered { callback: callback.clone(), isolate: Arc::downgrade(&isolate.inner) });
                let pointer: *const Registered = &*entry;
                registry.push(entry);
                pointer
            }
        };
        v8::External::new(scope, entry.cast_mut().cast())
    };
    let function = v8::Function::builder(trampoline).data(data.into()).build(scope);
    function.map(Into::into).ok_or_else(|| caught(scope))
}

/// How long a blocking callback waits between checks that its call was not
/// terminated (by a timeout, say) meanwhile.
const TERMINATION_POLL: Duration = Duration::from_millis(5);

/// What `argument` crosses as if it is one of the isolate's handles (see
/// `Callback::handles`).
fn handle_of(
    scope: &mut v8::PinScope<'_, '_>,
    isolate: &Isolate,
    argument: v8::Local<'_, v8::Value>,
) -> Result<Option<Transferable>> {
    v8::tc_scope!(let scope, scope);
    match crate::remote::remote_of(scope, isolate, argument)? {
        Some(remote) => crate::remote::leaving(remote).map(Some),
        None => Ok(None),
    }
}

/// What every callback's JavaScript function runs.
fn trampoline<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    arguments: v8::FunctionCallbackArguments<'s>,
    mut result: v8::ReturnValue<'s, v8::Value>,
) {
    let Ok(data) = v8::Local::<v8::External>::try_from(arguments.data()) else { return };
    // SAFETY: the data of every function this module builds is an External
    // pointing to a `Registered` boxed in its isolate's registry, which is
    // emptied only when the isolate itself is dropped; the function cannot
    // run after that.
    let entry = unsafe { &*data.value().cast::<Registered>() };
    let Some(isolate) = entry.isolate.upgrade().map(|inner| Isolate { inner }) else { return };
    let mut copies = Vec::with_capacity(arguments.length().max(0) as usize);
    for i in 0..arguments.length() {
        if entry.callback.handles {
            match handle_of(scope, &isolate, arguments.get(i)) {
                Ok(Some(handle)) => {
                    copies.push(handle);
                    continue;
                }
                Ok(None) => {}
                Err(error) => return throw(scope, error),
            }
        }
        match ivm_marshal::from_v8(scope, arguments.get(i), crate::transfer::bounded(Default::default())) {
            Ok(copy) => copies.push(Transferable::Copy(copy)),
            // A getter threw: its exception is already on its way.
            Err(ivm_marshal::Error::Exception) => return,
            Err(error) => return throw(scope, format!("argument {i}: {error}")),
        }
    }
    // Calls the host function makes into this same isolate run reentrantly.
    let _reentry = Reentry::allow(scope);
    let outcome = match &*entry.callback.inner {
        CallbackInner::Sync(f) => {
            let _calling = Calling::enter(&isolate);
            let _host_time = CountWait::begin();
            catch_unwind(AssertUnwindSafe(|| f(copies)))
        }
        CallbackInner::Async(f) => {
            let Some(promise) = v8::PromiseResolver::new(scope) else { return };
            let context = scope.get_current_context();
            // Until the settling below has run (the resolver always settles:
            // dropping it rejects the call).
            isolate.inner.host.pending_calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let resolver = Resolver {
                target: Some(Target::Promise {
                    isolate: isolate.clone(),
                    context: Arc::new(v8::Global::new(scope, context)),
                    promise: v8::Global::new(scope, promise),
                    deadline: crate::follow::deadline(),
                    cpu: isolate.current_cpu_budget(),
                }),
            };
            result.set(promise.get_promise(scope).into());
            if catch_unwind(AssertUnwindSafe(|| f(copies, resolver))).is_err() {
                let error = error_value(scope, &HostError::Message("the host function panicked".into()));
                promise.reject(scope, error);
            }
            return;
        }
        CallbackInner::Blocking(f) => {
            let (sender, receiver) = mpsc::sync_channel(1);
            let resolver = Resolver { target: Some(Target::Blocking(sender)) };
            let _count_wait = CountWait::begin();
            match catch_unwind(AssertUnwindSafe(|| f(copies, resolver))) {
                Ok(()) => loop {
                    match receiver.recv_timeout(TERMINATION_POLL) {
                        Ok(settled) => break Ok(settled),
                        // V8's termination reaches JavaScript only where it
                        // checks for it; throwing ends the call for certain.
                        Err(mpsc::RecvTimeoutError::Timeout) if isolate.must_stop() => {
                            return throw(scope, "the call was interrupted while it waited for the host");
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => {
                            break Ok(Err("the host dropped this call's resolver without settling it".into()));
                        }
                    }
                },
                Err(panic) => Err(panic),
            }
        }
    };
    match outcome {
        Ok(Ok(value)) => {
            v8::tc_scope!(let tc, scope);
            match transfer_in(tc, &isolate, &value) {
                Ok(value) => result.set(value),
                Err(_) if tc.has_caught() => {
                    tc.rethrow();
                }
                Err(error) => {
                    let error = error_value(tc, &error.into());
                    tc.throw_exception(error);
                }
            }
        }
        Ok(Err(failure)) => throw(scope, failure),
        Err(_) => throw(scope, "the host function panicked"),
    }
}

/// Marks a synchronous callback of an isolate as running on this thread.
struct Calling;

impl Calling {
    fn enter(isolate: &Isolate) -> Calling {
        CALLING.with(|calling| calling.borrow_mut().push(isolate.clone()));
        Calling
    }
}

impl Drop for Calling {
    fn drop(&mut self) {
        CALLING.with(|calling| calling.borrow_mut().pop());
    }
}

impl Isolate {
    /// The isolate whose synchronous host callback is running on this
    /// thread (the innermost), for a binding that hands the callback's work
    /// to another thread and must say there which isolate waits for it (see
    /// [`Isolate::serve_host_call`]).
    pub fn calling_host() -> Option<Isolate> {
        CALLING.with(|calling| calling.borrow().last().cloned())
    }

    /// Marks this thread as doing a host callback's work for this isolate's
    /// call, which holds the isolate's turn on another thread until the
    /// work is done. A synchronous call into this isolate from here could
    /// only wait forever; while the returned guard lives it fails at once
    /// with [`Error::NestedCall`] instead.
    ///
    /// [`Error::NestedCall`]: crate::Error::NestedCall
    pub fn serve_host_call(&self) -> ServingHostCall {
        SERVING.with(|serving| serving.borrow_mut().push(self.clone()));
        ServingHostCall(std::marker::PhantomData)
    }

    /// Whether this thread is doing host-callback work for this isolate's
    /// waiting call.
    pub(crate) fn served_here(&self) -> bool {
        SERVING.with(|serving| serving.borrow().contains(self))
    }
}

/// While it lives, this thread does host work for an isolate's waiting call
/// ([`Isolate::serve_host_call`]). Not `Send`: it marks one thread.
#[derive(Debug)]
pub struct ServingHostCall(std::marker::PhantomData<*const ()>);

impl Drop for ServingHostCall {
    fn drop(&mut self) {
        SERVING.with(|serving| serving.borrow_mut().pop());
    }
}

/// Whether the call of the isolate whose synchronous callback is running
/// on this thread must stop (by its timeout, say; see `Isolate::must_stop`).
pub(crate) fn caller_interrupted() -> bool {
    CALLING.with(|calling| calling.borrow().last().is_some_and(Isolate::must_stop))
}

/// A resolver whose settlement `receiver` waits for.
pub(crate) fn waiting_resolver() -> (Resolver, mpsc::Receiver<CallbackResult>) {
    let (sender, receiver) = mpsc::sync_channel(1);
    (Resolver { target: Some(Target::Blocking(sender)) }, receiver)
}

/// Counts the time a host function takes (a synchronous callback's run, a
/// blocking callback's wait) as host time, not the isolate's CPU time,
/// however it ends; a timeout that pauses in host code is paused meanwhile.
struct CountWait {
    since: Instant,
    _paused: crate::run::HostTime,
}

impl CountWait {
    fn begin() -> CountWait {
        CountWait { since: Instant::now(), _paused: crate::run::HostTime::begin() }
    }
}

impl Drop for CountWait {
    fn drop(&mut self) {
        crate::run::note_host_wait(self.since.elapsed());
    }
}

/// The JavaScript error for `failure`.
fn error_value<'s>(scope: &v8::PinScope<'s, '_>, failure: &HostError) -> v8::Local<'s, v8::Value> {
    let text = |message: &str| v8::String::new(scope, message).unwrap_or_else(|| v8::String::empty(scope));
    let marked = |message: &str, class| {
        let value = v8::Exception::error(scope, text(message));
        crate::exception::mark_class(scope, value, class);
        value
    };
    match failure {
        HostError::Message(message) => v8::Exception::error(scope, text(message)),
        HostError::Type(message) => v8::Exception::type_error(scope, text(message)),
        HostError::Ivm(Error::Js(js)) => crate::exception::js_error_value(scope, js),
        HostError::Ivm(error) => marked(&error.to_string(), error.class()),
        HostError::Class { class, message } => marked(message, *class),
    }
}

pub(crate) fn throw(scope: &mut v8::PinScope<'_, '_>, failure: impl Into<HostError>) {
    let error = error_value(scope, &failure.into());
    scope.throw_exception(error);
}
