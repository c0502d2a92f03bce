//! isolated-vm's API inside an isolate: the library object, `Isolate`,
//! `Context`, `Script` and `Module`, passed in as remote values (see
//! `remote.rs`), so that JavaScript can make and drive isolates of its own.
//!
//! An isolate's lock cannot be taken on a thread that holds another's, so
//! every operation on a child isolate (one made from inside an isolate) runs
//! as that isolate's async call;
//! the `…Sync` methods wait for it the way `applySyncPromise` waits (the
//! calling isolate's timeout still ends the wait). Child isolates run on a
//! pool of their own: a pool worker blocked in a parent's synchronous call
//! must not be the worker its child's call waits for.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use ivm_marshal::{Object, ObjectId, Structured, Value};

use crate::callback::{CallbackResult, HostError, Resolver};
use crate::remote::{Peers, RemoteClass, remote_result, run_options};
use crate::{
    Async, CompileOptions, Context, EvalOptions, Isolate, IsolateOptions, Module, Pending, QueuedForm, Remote,
    RemoteOp, Result, Script, ScriptOrigin, SyncFollowing, TransferMode, Transferable,
};

/// isolated-vm's library object, for passing into an isolate: there it is
/// the module, whose `Isolate` class makes new isolates.
#[derive(Debug, Clone, Copy, Default)]
pub struct Library;

/// The worker pool of isolates made inside isolates.
fn child_executor() -> crate::Executor {
    static CHILDREN: std::sync::OnceLock<crate::Executor> = std::sync::OnceLock::new();
    CHILDREN
        .get_or_init(|| crate::Executor::new(std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)))
        .clone()
}

fn unsupported(method: &str) -> HostError {
    HostError::Ivm(crate::Error::InvalidArgument(format!("`{method}` is not supported inside an isolate yet")))
}

/// Settles `resolver` with `pending`'s result, as `map` turns it.
fn settle_when<T: Send + 'static>(
    pending: Pending<T>,
    resolver: Resolver,
    map: impl FnOnce(T) -> Transferable + Send + 'static,
) {
    pending.on_ready(move |result| match result {
        Ok(value) => resolver.resolve(map(value)),
        Err(error) => resolver.reject(error),
    });
}

fn remote(value: impl Remote) -> Transferable {
    Transferable::Remote(Arc::new(value))
}

fn number(value: Option<&Structured>) -> Option<f64> {
    value.and_then(Structured::as_primitive).and_then(Value::as_f64)
}

fn text(value: Option<&Structured>) -> Option<String> {
    value.and_then(Structured::as_primitive).and_then(|v| v.as_str()).map(str::to_owned)
}

/// How a result leaves, from the `Reference` class's mode numbers (see
/// `remote/reference.js`): 0 transferable or `undefined`, 1 transferable or
/// a Reference, 2 a copy, 4 a Reference.
fn result_mode(code: Option<f64>) -> (TransferMode, bool) {
    match code {
        Some(0.0) => (TransferMode::Auto, true),
        Some(2.0) => (TransferMode::Copy, false),
        Some(4.0) => (TransferMode::Reference, false),
        _ => (TransferMode::Auto, false),
    }
}

/// A result as isolated-vm's `eval` and `run` give it: a value that is not
/// transferable is `undefined` unless asked for otherwise.
fn eval_result(value: Transferable, undefined_for_objects: bool) -> Transferable {
    match value {
        Transferable::Reference(reference) if undefined_for_objects => {
            reference.release();
            Transferable::from(Value::Undefined)
        }
        other => remote_result(other),
    }
}

/// The run options of `(mode, promise, timeout)` arguments; a timeout out
/// of range is refused as the front-ends refuse it (`numeric`).
fn call_options(args: &[Structured]) -> Result<(crate::RunOptions, bool), HostError> {
    let (mode, undefined) = result_mode(number(args.first()));
    let promise = args.get(1).and_then(Structured::as_primitive).and_then(Value::as_bool).unwrap_or(false);
    let timeout = number(args.get(2))
        .map(|ms| crate::numeric::duration("timeout", ms, crate::numeric::Unit::Milliseconds))
        .transpose()
        .map_err(|range| HostError::Type(range.to_string()))?
        .filter(|timeout| !timeout.is_zero());
    Ok((run_options(mode, promise, timeout), undefined))
}

/// The `(code, filename)` a compile method starts with.
fn source(arguments: &[Structured]) -> Result<(String, CompileOptions), HostError> {
    let code = text(arguments.first()).ok_or_else(|| HostError::Type("`code` must be a string".into()))?;
    let options = match text(arguments.get(1)) {
        Some(filename) => CompileOptions::new().origin(ScriptOrigin::new(filename)),
        None => CompileOptions::new(),
    };
    Ok((code, options))
}

fn eval_options(run: crate::RunOptions) -> EvalOptions {
    let mut options = EvalOptions::new().result(run.result).promise(run.promise);
    if let Some(timeout) = run.timeout {
        options = options.timeout(timeout);
    }
    options
}

fn peer<T: Clone + Send + Sync + 'static>(peers: &Peers, id: Option<&Structured>, what: &str) -> Result<T, HostError> {
    let expected = || HostError::Type(format!("{what} expected"));
    let value = id.and_then(Structured::as_primitive).ok_or_else(expected)?;
    let any: Arc<dyn Any + Send + Sync> = peers.get(value).ok_or_else(expected)?;
    any.downcast::<T>().map(|value| (*value).clone()).map_err(|_| expected())
}

/// What a method of one of the API objects does.
enum Outcome {
    /// Done at once: getters, `release`, `dispose`.
    Now(CallbackResult),
    /// Started on demand as the target isolate's queued call, settling the
    /// resolver when done; only the async and blocking forms start it.
    /// With `at_once`, the same call is made synchronously instead: a
    /// `…Sync` method called from inside the very isolate it targets, whose
    /// queue the calling code holds, so that the queued call would never
    /// run. It runs reentrantly, as a callback calling back into its isolate
    /// does (isolated-vm allows it).
    Queued { target: Option<Isolate>, run: Box<dyn FnOnce(Resolver, bool) + Send> },
}

fn now(result: CallbackResult) -> Outcome {
    Outcome::Now(result)
}

/// The call on `target` that `make` makes, settled with its result as `map`
/// turns it. `make` is given whether to make it at once, in the
/// `SyncFollowing` form (a `…Sync` method called from inside the very
/// isolate it targets, whose queue the calling code holds), or queued, in
/// the `Async` form.
fn queued<T: Send + 'static>(
    target: &Isolate,
    make: impl FnOnce(bool) -> Pending<T> + Send + 'static,
    map: impl FnOnce(T) -> Transferable + Send + 'static,
) -> Outcome {
    let run = move |resolver: Resolver, at_once: bool| settle_when(make(at_once), resolver, map);
    Outcome::Queued { target: Some(target.clone()), run: Box::new(run) }
}

/// `call` on `isolate`, at once or queued (see [`queued`]).
fn in_form<T: Send + 'static>(
    isolate: &Isolate,
    at_once: bool,
    call: impl FnOnce() -> Result<T> + Send + 'static,
) -> Pending<T> {
    if at_once { SyncFollowing::queue(isolate, call) } else { Async::queue(isolate, call) }
}

/// The methods of the library object, `Isolate`, `Context` and `Script`.
trait ApiObject {
    fn method(&self, name: &str, arguments: Vec<Structured>, peers: Peers) -> Outcome;
}

fn outcome(object: &impl ApiObject, op: RemoteOp) -> Outcome {
    match op {
        RemoteOp::Call { method, arguments, peers } => object.method(&method, arguments, peers),
        _ => now(Err(unsupported("this operation"))),
    }
}

/// Each API object's `Remote`: methods done at once answer every form;
/// queued ones run only in the async and blocking forms (which is what the
/// `…Sync` methods use), never on the calling isolate's thread.
macro_rules! api_object {
    ($($object:ty => $class:ident),* $(,)?) => {$(
        impl Remote for $object {
            fn type_of(&self) -> String {
                "object".into()
            }

            fn class(&self) -> RemoteClass {
                RemoteClass::$class
            }

            fn call(&self, op: RemoteOp) -> CallbackResult {
                match outcome(self, op) {
                    Outcome::Now(result) => result,
                    Outcome::Queued { .. } => Err("this method runs as the isolate's queued call".into()),
                }
            }

            fn call_async(&self, op: RemoteOp, resolver: Resolver) {
                settle(outcome(self, op), resolver, false);
            }

            fn call_blocking(&self, op: RemoteOp, resolver: Resolver) {
                settle(outcome(self, op), resolver, true);
            }
        }
    )*};
}

api_object!(Library => Library, Isolate => Isolate, Context => Context, Script => Script, Module => Module);

/// Settles `resolver` with what `outcome` gives; a caller that `blocks`
/// inside the targeted isolate itself gets the call made at once.
fn settle(outcome: Outcome, resolver: Resolver, blocks: bool) {
    match outcome {
        Outcome::Now(Ok(value)) => resolver.resolve(value),
        Outcome::Now(Err(message)) => resolver.reject(message),
        Outcome::Queued { target, run } => {
            let at_once = blocks && target.is_some_and(|isolate| isolate.locked_here());
            run(resolver, at_once);
        }
    }
}

impl ApiObject for Library {
    fn method(&self, name: &str, arguments: Vec<Structured>, peers: Peers) -> Outcome {
        match name {
            "newIsolate" => {
                let requested =
                    match number(arguments.first()).map(|mb| crate::numeric::memory_limit("memoryLimit", mb)) {
                        Some(Ok(mb)) => Some(mb),
                        Some(Err(range)) => return now(Err(HostError::Type(range.to_string()))),
                        None => None,
                    };
                // The new isolate's limit comes out of its maker's (`family`).
                let Some(parent) = peers.caller() else { return now(Err(crate::Error::Disposed.into())) };
                let (limit, share) = match crate::family::reserve(&parent, requested) {
                    Ok(reserved) => reserved,
                    Err(error) => return now(Err(error.into())),
                };
                let options = IsolateOptions::new().executor(child_executor()).memory_limit(limit);
                // A new isolate is made on a thread of its own: this one
                // holds the calling isolate's lock.
                // A thread that cannot start drops the resolver, which
                // rejects the call.
                let run = move |resolver: Resolver, _| {
                    let _ = crate::this_thread::spawn_own("ivm-child-isolate", move || match Isolate::new(options) {
                        Ok(isolate) => {
                            crate::family::adopt(&parent, &isolate, share);
                            resolver.resolve(remote(isolate));
                        }
                        Err(error) => resolver.reject(error),
                    });
                };
                Outcome::Queued { target: None, run: Box::new(run) }
            }
            "newExternalCopy" => match arguments.into_iter().next() {
                Some(value) => now(Ok(remote(crate::ExternalCopy::new(value)))),
                None => now(Err("ExternalCopy needs a value".into())),
            },
            other => now(Err(unsupported(other))),
        }
    }
}

impl ApiObject for Isolate {
    fn method(&self, name: &str, arguments: Vec<Structured>, _peers: Peers) -> Outcome {
        let nanos = |time: Duration| Value::Number(time.as_nanos() as f64).into();
        let isolate = self.clone();
        match name {
            "isDisposed" => now(Ok(Value::Bool(self.is_disposed()).into())),
            "cpuTime" => now(Ok(nanos(self.cpu_time()))),
            "wallTime" => now(Ok(nanos(self.wall_time()))),
            "referenceCount" => now(Ok(Value::Number(self.reference_count() as f64).into())),
            "dispose" => now(self.dispose().map(|()| Value::Undefined.into()).map_err(HostError::from)),
            "createContext" => queued(
                self,
                move |at_once| in_form(&isolate.clone(), at_once, move || isolate.create_context()),
                remote,
            ),
            "compileScript" => {
                let (code, options) = match source(&arguments) {
                    Ok(source) => source,
                    Err(refusal) => return now(Err(refusal)),
                };
                let make =
                    move |at_once| in_form(&isolate.clone(), at_once, move || isolate.compile_script(&code, &options));
                queued(self, make, remote)
            }
            // (code, filename, meta): `meta` is what the `meta` callback
            // set, which only code of the module's own isolate may give.
            "compileModule" => {
                let (code, options) = match source(&arguments) {
                    Ok(source) => source,
                    Err(refusal) => return now(Err(refusal)),
                };
                let meta = arguments.get(2).filter(|meta| meta.as_primitive().is_none()).cloned();
                if meta.is_some() && !self.locked_here() {
                    return now(Err("`meta` callback must belong to entered isolate".into()));
                }
                let make = move |at_once| {
                    in_form(&isolate.clone(), at_once, move || {
                        let module = isolate.compile_module(&code, &options)?;
                        if let Some(meta) = meta {
                            module.set_import_meta(meta);
                        }
                        Ok(module)
                    })
                };
                queued(self, make, remote)
            }
            other => now(Err(unsupported(other))),
        }
    }
}

impl ApiObject for Module {
    fn method(&self, name: &str, arguments: Vec<Structured>, peers: Peers) -> Outcome {
        match name {
            "dependencySpecifiers" => {
                let elements = self.dependency_specifiers().iter().enumerate();
                let elements = elements.map(|(index, specifier)| (index as u32, Value::from(specifier.as_str())));
                let array = Object::Array {
                    length: self.dependency_specifiers().len() as u32,
                    elements: elements.collect(),
                    properties: Vec::new(),
                };
                now(Structured::new(Value::Object(ObjectId(0)), vec![array])
                    .map(Transferable::Copy)
                    .map_err(|error| HostError::Ivm(error.into())))
            }
            "release" => {
                self.release();
                now(Ok(Value::Undefined.into()))
            }
            "namespace" => {
                let module = self.clone();
                let make = move |at_once| in_form(&module.isolate().clone(), at_once, move || module.namespace());
                queued(self.isolate(), make, |namespace| remote_result(Transferable::Reference(namespace)))
            }
            // (context, then referrer, specifier, module triples): the link
            // plan the library worked out with the caller's resolver.
            "instantiate" => {
                let context: Context = match peer(&peers, arguments.first(), "a Context of the module's isolate") {
                    Ok(context) => context,
                    Err(message) => return now(Err(message)),
                };
                let mut plan = Vec::new();
                for triple in arguments.get(1..).unwrap_or_default().chunks(3) {
                    let [referrer, specifier, target] = triple else {
                        return now(Err(HostError::Type("a malformed link plan".into())));
                    };
                    let referrer: Module = match peer(&peers, Some(referrer), "a Module") {
                        Ok(module) => module,
                        Err(message) => return now(Err(message)),
                    };
                    let target: Module = match peer(&peers, Some(target), "a Module") {
                        Ok(module) => module,
                        Err(message) => return now(Err(message)),
                    };
                    plan.push((referrer, text(Some(specifier)).unwrap_or_default(), target));
                }
                let module = self.clone();
                let make = move |at_once| {
                    in_form(&module.isolate().clone(), at_once, move || {
                        module.instantiate(&context, |specifier, referrer| {
                            let planned = plan.iter().find(|(from, to, _)| from == referrer && to == specifier);
                            planned
                                .map(|(_, _, target)| target.clone())
                                .ok_or_else(|| crate::Error::InvalidArgument(format!("no module for \"{specifier}\"")))
                        })
                    })
                };
                queued(self.isolate(), make, |()| Transferable::from(Value::Undefined))
            }
            // (mode, promise, timeout)
            "evaluate" => {
                let (run, _) = match call_options(&arguments) {
                    Ok(options) => options,
                    Err(refusal) => return now(Err(refusal)),
                };
                let module = self.clone();
                let make = move |at_once| in_form(&module.isolate().clone(), at_once, move || module.evaluate(&run));
                queued(self.isolate(), make, remote_result)
            }
            other => now(Err(unsupported(other))),
        }
    }
}

impl ApiObject for Context {
    fn method(&self, name: &str, arguments: Vec<Structured>, _peers: Peers) -> Outcome {
        match name {
            "global" => now(self.global().map(remote).map_err(HostError::from)),
            "release" => {
                self.release();
                now(Ok(Value::Undefined.into()))
            }
            // (code, mode, promise, timeout, ...arguments)
            "eval" | "evalClosure" => {
                let Some(code) = text(arguments.first()) else {
                    return now(Err(HostError::Type("`code` must be a string".into())));
                };
                let (run, undefined) = match call_options(arguments.get(1..).unwrap_or_default()) {
                    Ok(options) => options,
                    Err(refusal) => return now(Err(refusal)),
                };
                let options = eval_options(run);
                let context = self.clone();
                let values: Vec<Transferable> = arguments.into_iter().skip(4).map(Transferable::Copy).collect();
                let closure = name == "evalClosure";
                let make = move |at_once| match (closure, at_once) {
                    (false, true) => context.eval_queued::<SyncFollowing>(code, options),
                    (false, false) => context.eval_queued::<Async>(code, options),
                    (true, true) => context.eval_closure_queued::<SyncFollowing>(code, values, options),
                    (true, false) => context.eval_closure_queued::<Async>(code, values, options),
                };
                queued(self.isolate(), make, move |value| eval_result(value, undefined))
            }
            other => now(Err(unsupported(other))),
        }
    }
}

impl ApiObject for Script {
    fn method(&self, name: &str, arguments: Vec<Structured>, peers: Peers) -> Outcome {
        match name {
            "release" => {
                self.release();
                now(Ok(Value::Undefined.into()))
            }
            // (context, mode, promise, timeout)
            "run" => {
                let context: Context = match peer(&peers, arguments.first(), "a Context of the script's isolate") {
                    Ok(context) => context,
                    Err(message) => return now(Err(message)),
                };
                let (run, undefined) = match call_options(arguments.get(1..).unwrap_or_default()) {
                    Ok(options) => options,
                    Err(refusal) => return now(Err(refusal)),
                };
                let script = self.clone();
                let make = move |at_once| match at_once {
                    true => script.run_queued::<SyncFollowing>(&context, run),
                    false => script.run_queued::<Async>(&context, run),
                };
                queued(self.isolate(), make, move |value| eval_result(value, undefined))
            }
            other => now(Err(unsupported(other))),
        }
    }
}
