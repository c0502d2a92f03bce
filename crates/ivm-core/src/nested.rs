//! isolated-vm's API inside an isolate: the library object, `Isolate`,
//! `Context` and `Script`, passed in as remote values (see `remote.rs`), so
//! that JavaScript can make and drive isolates of its own.
//!
//! An isolate's lock cannot be taken on a thread that holds another's, so
//! every operation on a nested isolate runs as that isolate's async call;
//! the `…Sync` methods wait for it the way `applySyncPromise` waits (the
//! calling isolate's timeout still ends the wait). Nested isolates run on a
//! pool of their own: a pool worker blocked in a parent's synchronous call
//! must not be the worker its child's call waits for.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use ivm_marshal::{Structured, Value};

use crate::callback::{CallbackResult, Resolver};
use crate::remote::{Peers, RemoteClass, remote_result, run_options};
use crate::{
    CompileOptions, Context, EvalOptions, Isolate, IsolateOptions, Pending, Remote, RemoteOp, Result, Script,
    ScriptOrigin, TransferMode, Transferable,
};

/// isolated-vm's library object, for passing into an isolate: there it is
/// the module, whose `Isolate` class makes new isolates.
#[derive(Debug, Clone, Copy, Default)]
pub struct Library;

/// The worker pool of isolates made inside isolates.
fn nested_executor() -> crate::Executor {
    static NESTED: std::sync::OnceLock<crate::Executor> = std::sync::OnceLock::new();
    NESTED
        .get_or_init(|| crate::Executor::new(std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)))
        .clone()
}

fn unsupported(method: &str) -> String {
    format!("`{method}` is not supported inside an isolate yet")
}

/// Settles `resolver` with `pending`'s result, as `map` turns it.
fn settle_when<T: Send + 'static>(
    pending: Pending<T>,
    resolver: Resolver,
    map: impl FnOnce(T) -> Transferable + Send + 'static,
) {
    pending.on_ready(move |result| match result {
        Ok(value) => resolver.resolve(map(value)),
        Err(error) => resolver.reject(error.to_string()),
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

/// The run options of `(mode, promise, timeout)` arguments.
fn call_options(args: &[Structured]) -> (crate::RunOptions, bool) {
    let (mode, undefined) = result_mode(number(args.first()));
    let promise = args.get(1).and_then(Structured::as_primitive).and_then(Value::as_bool).unwrap_or(false);
    let timeout = number(args.get(2)).filter(|ms| *ms > 0.0).and_then(|ms| Duration::try_from_secs_f64(ms / 1e3).ok());
    (run_options(mode, promise, timeout), undefined)
}

fn eval_options(run: crate::RunOptions) -> EvalOptions {
    let mut options = EvalOptions::new().result(run.result).promise(run.promise);
    if let Some(timeout) = run.timeout {
        options = options.timeout(timeout);
    }
    options
}

fn peer<T: Clone + Send + Sync + 'static>(peers: &Peers, id: Option<&Structured>, what: &str) -> Result<T, String> {
    let value = id.and_then(Structured::as_primitive).ok_or_else(|| format!("{what} expected"))?;
    let any: Arc<dyn Any + Send + Sync> = peers.get(value).ok_or_else(|| format!("{what} expected"))?;
    any.downcast::<T>().map(|value| (*value).clone()).map_err(|_| format!("{what} expected"))
}

impl Remote for Library {
    fn type_of(&self) -> String {
        "object".into()
    }

    fn class(&self) -> RemoteClass {
        RemoteClass::Library
    }

    fn call(&self, _op: RemoteOp) -> CallbackResult {
        Err(unsupported("a synchronous library call"))
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        let RemoteOp::Call { method, arguments, .. } = op else {
            return resolver.reject(unsupported("this operation"));
        };
        match method.as_str() {
            "newIsolate" => {
                let mut options = IsolateOptions::new().executor(nested_executor());
                if let Some(limit) = number(arguments.first()).filter(|mb| mb.is_finite() && *mb > 0.0) {
                    options = options.memory_limit(limit as usize);
                }
                // A new isolate is made on a thread of its own: this one
                // holds the calling isolate's lock.
                std::thread::spawn(move || match Isolate::new(options) {
                    Ok(isolate) => resolver.resolve(remote(isolate)),
                    Err(error) => resolver.reject(error.to_string()),
                });
            }
            "newExternalCopy" => match arguments.into_iter().next() {
                Some(value) => resolver.resolve(remote(crate::ExternalCopy::new(value))),
                None => resolver.reject("ExternalCopy needs a value"),
            },
            other => resolver.reject(unsupported(other)),
        }
    }

    fn call_blocking(&self, op: RemoteOp, resolver: Resolver) {
        self.call_async(op, resolver);
    }
}

impl Remote for Isolate {
    fn type_of(&self) -> String {
        "object".into()
    }

    fn class(&self) -> RemoteClass {
        RemoteClass::Isolate
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        let RemoteOp::Call { method, .. } = op else { return Err(unsupported("this operation")) };
        let nanos = |time: Duration| Value::Number(time.as_nanos() as f64).into();
        match method.as_str() {
            "isDisposed" => Ok(Value::Bool(self.is_disposed()).into()),
            "cpuTime" => Ok(nanos(self.cpu_time())),
            "wallTime" => Ok(nanos(self.wall_time())),
            "referenceCount" => Ok(Value::Number(self.reference_count() as f64).into()),
            "dispose" => self.dispose().map(|()| Value::Undefined.into()).map_err(|e| e.to_string()),
            other => Err(unsupported(other)),
        }
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        let RemoteOp::Call { method, arguments, .. } = op else {
            return resolver.reject(unsupported("this operation"));
        };
        match method.as_str() {
            "createContext" => settle_when(self.create_context_async(), resolver, remote),
            "compileScript" => {
                let Some(code) = text(arguments.first()) else { return resolver.reject("`code` must be a string") };
                let mut options = CompileOptions::new();
                if let Some(filename) = text(arguments.get(1)) {
                    options = options.origin(ScriptOrigin::new(filename));
                }
                settle_when(self.compile_script_async(code, options), resolver, remote);
            }
            _ => match self.call(RemoteOp::Call { method, arguments, peers: Peers::none() }) {
                Ok(value) => resolver.resolve(value),
                Err(message) => resolver.reject(message),
            },
        }
    }

    fn call_blocking(&self, op: RemoteOp, resolver: Resolver) {
        self.call_async(op, resolver);
    }
}

impl Remote for Context {
    fn type_of(&self) -> String {
        "object".into()
    }

    fn class(&self) -> RemoteClass {
        RemoteClass::Context
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        let RemoteOp::Call { method, .. } = op else { return Err(unsupported("this operation")) };
        match method.as_str() {
            "global" => self.global().map(remote).map_err(|e| e.to_string()),
            "release" => {
                self.release();
                Ok(Value::Undefined.into())
            }
            other => Err(unsupported(other)),
        }
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        let RemoteOp::Call { method, arguments, peers } = op else {
            return resolver.reject(unsupported("this operation"));
        };
        match method.as_str() {
            // (code, mode, promise, timeout, ...arguments)
            "eval" | "evalClosure" => {
                let Some(code) = text(arguments.first()) else { return resolver.reject("`code` must be a string") };
                let (run, undefined) = call_options(arguments.get(1..).unwrap_or_default());
                let options = eval_options(run);
                let pending = if method == "eval" {
                    self.eval_async(code, options)
                } else {
                    let values = arguments.into_iter().skip(4).map(Transferable::Copy).collect();
                    self.eval_closure_async(code, values, options)
                };
                settle_when(pending, resolver, move |value| eval_result(value, undefined));
            }
            _ => match self.call(RemoteOp::Call { method, arguments, peers }) {
                Ok(value) => resolver.resolve(value),
                Err(message) => resolver.reject(message),
            },
        }
    }

    fn call_blocking(&self, op: RemoteOp, resolver: Resolver) {
        self.call_async(op, resolver);
    }
}

impl Remote for Script {
    fn type_of(&self) -> String {
        "object".into()
    }

    fn class(&self) -> RemoteClass {
        RemoteClass::Script
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        let RemoteOp::Call { method, .. } = op else { return Err(unsupported("this operation")) };
        match method.as_str() {
            "release" => {
                self.release();
                Ok(Value::Undefined.into())
            }
            other => Err(unsupported(other)),
        }
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        let RemoteOp::Call { method, arguments, peers } = op else {
            return resolver.reject(unsupported("this operation"));
        };
        match method.as_str() {
            // (context, mode, promise, timeout)
            "run" => {
                let context: Context = match peer(&peers, arguments.first(), "a Context of the script's isolate") {
                    Ok(context) => context,
                    Err(message) => return resolver.reject(message),
                };
                let (run, undefined) = call_options(arguments.get(1..).unwrap_or_default());
                settle_when(self.run_async(&context, run), resolver, move |value| eval_result(value, undefined));
            }
            _ => match self.call(RemoteOp::Call { method, arguments, peers }) {
                Ok(value) => resolver.resolve(value),
                Err(message) => resolver.reject(message),
            },
        }
    }

    fn call_blocking(&self, op: RemoteOp, resolver: Resolver) {
        self.call_async(op, resolver);
    }
}
