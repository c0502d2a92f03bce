//! node:vm's "contextified" sandbox, made a real one: a context of its own
//! isolate whose globals are kept in step with an object of the host's by
//! copying. Before a run, the object's own properties become the context's
//! globals ([`SandboxValue`]: copies, and host functions as callbacks);
//! after it, every global that code created, changed or deleted is
//! reported ([`SandboxChanges`]) for the host to write back onto its
//! object, as node:vm's sandbox would show it. Nothing of the host is ever
//! inside: values are copies, functions are callbacks.
//!
//! A run that completes with a promise (an async function's call, say)
//! gives what the promise came to once the run's own jobs ran
//! ([`Completion`]): node:vm hands the promise itself to a caller that
//! awaits it, and a promise cannot be copied.
//!
//! Both bindings' `vm` modules are built on this type; they convert their
//! objects to and from [`SandboxValue`]s and map [`Error`]s to node:vm's
//! errors ([`Sandbox::timeout_message`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use crate::context::{compile_in, new_string};
use crate::exception::{caught, thrown};
use crate::reference::{OwnProperty, own_property};
use crate::run::Limits;
use crate::transfer::{JsScope, Settled, settle, transfer_in, transfer_out};
use crate::{
    CompileOptions, Context, Error, EvalOptions, Isolate, Reference, Result, RunOptions, ScriptOrigin, TransferMode,
    Transferable,
};

/// A property of a host's sandbox object, as it goes into the context.
#[derive(Debug, Clone)]
pub enum SandboxValue {
    /// A value that crosses on its own: a copy, a host function (a
    /// [`Callback`](crate::Callback)) or one of ivm's handles.
    Value(Transferable),
    /// An object of the host's holding something that has no copy (a
    /// function, as `console` does): made inside as a plain object of the
    /// same properties, each crossing the same way.
    Object(Vec<(String, SandboxValue)>),
    /// A host function with properties of its own (a library's namespace
    /// function, as lodash's `_`): made inside as the function (the
    /// [`Callback`](crate::Callback) given) with those properties.
    Function(Transferable, Vec<(String, SandboxValue)>),
}

/// What a run's script completed with.
#[derive(Debug)]
pub enum Completion {
    /// A value that is not a promise.
    Value(Transferable),
    /// A promise the run's jobs fulfilled, with its value.
    Fulfilled(Transferable),
    /// A promise the run's jobs rejected, with its reason; or one still
    /// pending when they were done (nothing outside the run can settle it
    /// for the host any more), with [`Error::InvalidArgument`].
    Rejected(Error),
}

impl Completion {
    /// The value, if the script completed with a copy of a primitive
    /// (not a promise).
    pub fn as_value(&self) -> Option<&ivm_marshal::Value> {
        match self {
            Completion::Value(value) => value.as_value(),
            _ => None,
        }
    }
}

/// What a run did to the context's globals, for the host's object.
#[derive(Debug, Default)]
pub struct SandboxChanges {
    /// The globals that code made or that the sandbox gave, as they are now
    /// (copies; functions as callable References). Globals with no copy
    /// (objects holding functions) stay inside the context only.
    pub set: Vec<(String, Transferable)>,
    /// The globals the host's object holds that are gone, or that have no
    /// copy any more (they stay inside the context).
    pub deleted: Vec<String>,
}

/// A context whose globals follow a host object (see the module's
/// comment). Cheap to clone; clones share the context.
#[derive(Clone)]
pub struct Sandbox {
    context: Context,
    /// The names of the context's own globals when it was made (`Object`,
    /// `Array`, …), asked about each name the host gives.
    builtins: Arc<HashSet<String>>,
    synced: Arc<Mutex<Synced>>,
}

/// What the sandbox knows of the host's object between runs.
#[derive(Default)]
struct Synced {
    /// The globals the host's object holds as far as the last run knows:
    /// those it gave and those reported to it. Deletions are judged against
    /// these, and a global the host never held is never deleted for it.
    names: HashSet<String>,
    /// Those of them that have a built-in's name (`console`, say).
    shadowing: Vec<String>,
    /// What the host's object holds, by name, where a global still holding
    /// it is unchanged and not reported back: what the last copy in set
    /// (primitives, and the host's functions and objects rebuilt inside,
    /// which would come back as functions of the isolate's, wrapping the
    /// host's), and the primitives and functions reported since. Not copies
    /// of objects, which code may have changed in place.
    given_values: HashMap<String, v8::Global<v8::Value>>,
    /// The last run's script (see `compiled`).
    compiled: Option<Compiled>,
}

/// A script a run compiled, with what it was compiled from.
struct Compiled {
    code: String,
    origin: ScriptOrigin,
    script: v8::Global<v8::UnboundScript>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox").field("context", &self.context).finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Makes `context` a sandbox's; its globals now are its built-ins.
    pub fn new(context: Context) -> Result<Sandbox> {
        let builtins = context.enter(|scope| {
            let global = scope.get_current_context().global(scope);
            let mut names = HashSet::new();
            if let Some(keys) = global.get_property_names(scope, own_string_keys()) {
                for index in 0..keys.length() {
                    if let Some(key) = keys.get_index(scope, index) {
                        names.insert(key.to_rust_string_lossy(scope));
                    }
                }
            }
            names
        })?;
        Ok(Sandbox { context, builtins: Arc::new(builtins), synced: Arc::default() })
    }

    pub fn context(&self) -> &Context {
        &self.context
    }

    pub fn isolate(&self) -> &Isolate {
        self.context.isolate()
    }

    /// Runs `code` as a classic script in the context, with `globals` (the
    /// host object's own properties) as its globals first: what the script
    /// completes with (a promise settled first, see [`Completion`]; values
    /// leave as node:vm's do, copies but for functions, which come as
    /// callable [`Reference`]s, whatever `options.run.result` says), and
    /// what it did to the globals, read
    /// even when the script throws or times out (what it did before stays
    /// done, as in node:vm); only a disposed isolate has none.
    pub fn run(
        &self,
        globals: &[(String, SandboxValue)],
        code: &str,
        options: &EvalOptions,
    ) -> (Result<Completion>, SandboxChanges) {
        let mut synced = self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        self.entered(Some(&mut synced), &options.run, |scope, context, synced| {
            self.copy_in(scope, synced, globals)?;
            Ok(compiled(scope, synced, code, &options.compile).and_then(|script| {
                let value = script.run(scope).ok_or_else(|| caught(scope))?;
                completion(scope, self.isolate(), context, value, "script's")
            }))
        })
    }

    /// Calls `function`, one of the context's that came out of a run (a
    /// global's value, a callable [`Reference`]), from the host, with the
    /// context's global as `this` (node:vm's is the contextified object,
    /// whose properties are the global's): what it returned, a promise
    /// settled first as a run's completion is (an async function's call),
    /// and what the call did to the globals, read even when it throws, as
    /// [`run`](Sandbox::run) reads them. Called by host
    /// code that a run of this sandbox called, it reports no changes: that
    /// run does. Inside another isolate's call on this thread it fails as
    /// a run does there ([`Error::NestedCall`]).
    /// Without a time limit, as node:vm's calls of a context's functions.
    pub fn call(&self, function: &Reference, arguments: &[SandboxValue]) -> (Result<Completion>, SandboxChanges) {
        let mut synced = self.synced_unless_running();
        self.entered(synced.as_deref_mut(), &RunOptions::new(), |scope, context, _| {
            Ok(called(scope, self.isolate(), context, function, arguments))
        })
    }

    /// Runs `body`, a run's or a call's work, in one entry into the
    /// isolate, then reads what it did to the globals with `synced` (none
    /// when another run of this sandbox is in progress: that run reports
    /// them): in the same entry, or, if the work was terminated, in a
    /// second. The changes are read even when the work threw or timed out
    /// (what it did before stays done, as in node:vm); only a disposed
    /// isolate has none.
    fn entered(
        &self,
        mut synced: Option<&mut Synced>,
        options: &RunOptions,
        body: impl FnOnce(
            &mut JsScope<'_, '_, '_, '_>,
            &Arc<v8::Global<v8::Context>>,
            &mut Synced,
        ) -> Result<Result<Completion>>,
    ) -> (Result<Completion>, SandboxChanges) {
        let context = match self.context.global_handle() {
            Ok(context) => context,
            Err(error) => return (Err(error), SandboxChanges::default()),
        };
        let outcome = self.isolate().run_in(&context, Limits::from(options), |scope| {
            let result = match synced.as_deref_mut() {
                Some(synced) => body(scope, &context, synced)?,
                None => body(scope, &context, &mut Synced::default())?,
            };
            if scope.has_terminated() {
                return Ok((result, None));
            }
            // The work's exception is the result's; reading the globals
            // starts afresh.
            scope.reset();
            let changes = match synced.as_deref_mut() {
                Some(synced) => self.copy_out(scope, &context, synced)?,
                None => SandboxChanges::default(),
            };
            Ok((result, Some(changes)))
        });
        let mut read_apart = || {
            synced
                .as_deref_mut()
                .and_then(|synced| self.read_changes(&context, synced, options.time_limit()).ok())
                .unwrap_or_default()
        };
        match outcome {
            Ok((result, Some(changes))) => (result, changes),
            Ok((result, None)) => (result, read_apart()),
            Err(error @ (Error::Disposed | Error::DisposedDuringExecution | Error::MemoryLimit)) => {
                (Err(error), SandboxChanges::default())
            }
            Err(error) => (Err(error), read_apart()),
        }
    }

    /// The sandbox's record, unless a run of it is in progress (on this
    /// thread, in host code the run called: waiting would never end).
    fn synced_unless_running(&self) -> Option<MutexGuard<'_, Synced>> {
        match self.synced.try_lock() {
            Ok(synced) => Some(synced),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Sets `globals` as the context's, as [`run`](Sandbox::run) does before
    /// its code: for other work in the context, such as a module's
    /// evaluation, which [`changes`](Sandbox::changes) then follows.
    pub fn set_globals(&self, globals: &[(String, SandboxValue)]) -> Result<()> {
        let context = self.context.global_handle()?;
        let mut synced = self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        self.isolate().run_in(&context, Limits::default(), |scope| self.copy_in(scope, &mut synced, globals))
    }

    /// What the context's globals became since they were last set or read,
    /// as [`run`](Sandbox::run) reads them after its code; `timeout` bounds
    /// the copying. None while a run of this sandbox is in progress (asked
    /// by host code that the run called, say): that run reports them.
    pub fn changes(&self, timeout: Option<std::time::Duration>) -> Result<SandboxChanges> {
        let context = self.context.global_handle()?;
        let Some(mut synced) = self.synced_unless_running() else { return Ok(SandboxChanges::default()) };
        self.read_changes(&context, &mut synced, timeout)
    }

    /// node:vm's message for a run that `timeout` ended.
    pub fn timeout_message(timeout: std::time::Duration) -> String {
        format!("Script execution timed out after {}ms", timeout.as_millis())
    }

    /// The changes since the last copy, read in an entry of their own under
    /// `timeout` (for [`changes`](Sandbox::changes), and a run that ended
    /// without reading them).
    fn read_changes(
        &self,
        context: &Arc<v8::Global<v8::Context>>,
        synced: &mut Synced,
        timeout: Option<std::time::Duration>,
    ) -> Result<SandboxChanges> {
        let limits = Limits { timeout, ..Limits::default() };
        self.isolate().run_in(context, limits, |scope| self.copy_out(scope, context, synced))
    }

    /// Sets `globals` as the context's, and deletes the ones the host's
    /// object no longer has.
    fn copy_in<'s>(
        &self,
        scope: &mut JsScope<'_, '_, 's, '_>,
        synced: &mut Synced,
        globals: &[(String, SandboxValue)],
    ) -> Result<()> {
        let isolate = self.isolate();
        let global = scope.get_current_context().global(scope);
        let given: HashSet<String> = globals.iter().map(|(name, _)| name.clone()).collect();
        for name in synced.names.iter().filter(|name| !given.contains(*name)) {
            let key = new_string(scope, name)?;
            // A global `var` cannot be deleted: it is left undefined.
            if !global.delete(scope, key.into()).ok_or_else(|| caught(scope))? {
                let undefined = v8::undefined(scope);
                global.set(scope, key.into(), undefined.into()).ok_or_else(|| caught(scope))?;
            }
        }
        let mut given_values = HashMap::new();
        let mut shadowing = Vec::new();
        for (name, value) in globals {
            let made = materialise(scope, isolate, value, name)?;
            let key = new_string(scope, name)?;
            global.set(scope, key.into(), made).ok_or_else(|| caught(scope))?;
            // A copy of an object may be changed in place; anything else
            // still there is still what the host gave.
            let mutable_copy = match value {
                SandboxValue::Value(Transferable::Copy(copy)) => copy.as_primitive().is_none(),
                SandboxValue::Value(Transferable::ExternalCopy(..)) => true,
                _ => false,
            };
            if !mutable_copy {
                given_values.insert(name.clone(), v8::Global::new(scope, made));
            }
            if self.builtins.contains(name) {
                shadowing.push(name.clone());
            }
        }
        synced.names = given;
        synced.shadowing = shadowing;
        synced.given_values = given_values;
        Ok(())
    }

    /// The globals that are not built-ins, as they are now, and the ones
    /// that went since the last run. Reading a global runs no code
    /// (accessors are left alone), but copying a value walks it.
    fn copy_out<'s>(
        &self,
        scope: &mut JsScope<'_, '_, 's, '_>,
        context: &Arc<v8::Global<v8::Context>>,
        synced: &mut Synced,
    ) -> Result<SandboxChanges> {
        let isolate = self.isolate();
        let copy = leaving();
        let global = scope.get_current_context().global(scope);
        // V8's built-in globals are non-enumerable (but for a few that flags
        // add, such as `--expose-gc`'s `gc`), and what code declares or
        // assigns is enumerable: asking for the enumerable ones leaves the
        // built-ins out without looking at each. A global the host gave
        // under a built-in's name is looked at by name (it keeps the
        // built-in's attributes).
        let mut found: Vec<(String, v8::Local<'s, v8::Name>)> = Vec::new();
        if let Some(keys) = global.get_property_names(scope, enumerable_string_keys()) {
            for index in 0..keys.length() {
                let Some(key) = keys.get_index(scope, index) else { continue };
                let Ok(name) = v8::Local::<v8::Name>::try_from(key) else { continue };
                let text = key.to_rust_string_lossy(scope);
                if !self.builtins.contains(&text) {
                    found.push((text, name));
                }
            }
        }
        for name in &synced.shadowing {
            let key = new_string(scope, name)?;
            if global.has_own_property(scope, key.into()) == Some(true) {
                found.push((name.clone(), key.into()));
            }
        }
        let mut set = Vec::new();
        let mut now = HashSet::new();
        for (name, key) in found {
            // An accessor's getter is not run, nor is a global that went
            // (with its getter, say) reported.
            let Some(OwnProperty::Data(value)) = own_property(scope, global, key) else { continue };
            if synced.given_values.get(&name).is_some_and(|given| v8::Local::new(scope, given).strict_equals(value)) {
                now.insert(name);
                continue;
            }
            match transfer_out(scope, isolate, context, value, &copy) {
                Ok(copied) => {
                    // What the host's object now holds, as what a copy in
                    // gives is (a function's call reports only what it
                    // changed).
                    if value.is_function() || !value.is_object() {
                        synced.given_values.insert(name.clone(), v8::Global::new(scope, value));
                    }
                    now.insert(name.clone());
                    set.push((name, copied));
                }
                // No copy: it stays inside, where code can still use it,
                // and the host's object no longer has it.
                Err(Error::Marshal(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let deleted = synced.names.iter().filter(|name| !now.contains(*name)).cloned().collect();
        synced.names = now;
        Ok(SandboxChanges { set, deleted })
    }
}

/// How a sandbox's values leave for the host, as node:vm's do: copies,
/// but for functions, which stay inside and are called there (callable
/// References).
fn leaving() -> RunOptions {
    RunOptions::new().result(TransferMode::CopyExceptFunctions)
}

/// What `value`, a script's completion or a function's result (`whose`),
/// gives the host: itself, or what the promise it is came to once the
/// run's jobs ran.
fn completion<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    isolate: &Isolate,
    context: &Arc<v8::Global<v8::Context>>,
    value: v8::Local<'s, v8::Value>,
    whose: &str,
) -> Result<Completion> {
    let options = &leaving();
    Ok(match settle(scope, value)? {
        Settled::NotAPromise(value) => Completion::Value(transfer_out(scope, isolate, context, value, options)?),
        Settled::Fulfilled(value) => Completion::Fulfilled(transfer_out(scope, isolate, context, value, options)?),
        Settled::Rejected(reason) => {
            // Its rejection goes to the host and does not fail the run: V8
            // tells the isolate's rejection watch that it is handled.
            value.cast::<v8::Promise>().mark_as_handled();
            Completion::Rejected(thrown(scope, reason, None))
        }
        Settled::Pending(_) => Completion::Rejected(Error::InvalidArgument(format!(
            "The {whose} promise was still pending when its run ended: only a promise that the run's own jobs \
             settle can be given to the host"
        ))),
    })
}

/// Calls `function` with the context's global as `this`, and settles what
/// it returns as a script's completion is ([`completion`]).
fn called<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    isolate: &Isolate,
    context: &Arc<v8::Global<v8::Context>>,
    function: &Reference,
    arguments: &[SandboxValue],
) -> Result<Completion> {
    let function = function
        .deref(scope)?
        .try_cast::<v8::Function>()
        .map_err(|_| Error::InvalidArgument("Reference is not a function".to_owned()))?;
    let arguments = arguments
        .iter()
        .enumerate()
        .map(|(index, argument)| materialise(scope, isolate, argument, &format!("argument {index}")))
        .collect::<Result<Vec<_>>>()?;
    let global = scope.get_current_context().global(scope);
    let value = function.call(scope, global.into(), &arguments).ok_or_else(|| caught(scope))?;
    completion(scope, isolate, context, value, "function's")
}

/// The keys of a global that code made: its own enumerable string-keyed
/// ones, as strings.
fn enumerable_string_keys() -> v8::GetPropertyNamesArgs {
    v8::GetPropertyNamesArgs {
        property_filter: v8::PropertyFilter::ONLY_ENUMERABLE | v8::PropertyFilter::SKIP_SYMBOLS,
        ..own_string_keys()
    }
}

/// Which of a global's keys are its names: its own, string-keyed ones, as
/// strings.
fn own_string_keys() -> v8::GetPropertyNamesArgs {
    v8::GetPropertyNamesArgs {
        mode: v8::KeyCollectionMode::OwnOnly,
        property_filter: v8::PropertyFilter::SKIP_SYMBOLS,
        index_filter: v8::IndexFilter::IncludeIndices,
        key_conversion: v8::KeyConversionMode::ConvertToString,
    }
}

/// A sandbox value made inside the isolate; `path` names it in errors.
fn materialise<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    isolate: &Isolate,
    value: &SandboxValue,
    path: &str,
) -> Result<v8::Local<'s, v8::Value>> {
    let (object, properties) = match value {
        SandboxValue::Value(value) => return transfer_in(scope, isolate, value),
        SandboxValue::Object(properties) => (v8::Object::new(scope), properties),
        SandboxValue::Function(function, properties) => {
            let made = transfer_in(scope, isolate, function)?;
            let object = v8::Local::<v8::Object>::try_from(made)
                .map_err(|_| Error::InvalidArgument(format!("{path} is not a function")))?;
            (object, properties)
        }
    };
    for (name, value) in properties {
        let value = materialise(scope, isolate, value, &format!("{path}.{name}"))?;
        let key = new_string(scope, name)?;
        object.create_data_property(scope, key.into(), value).ok_or_else(|| caught(scope))?;
    }
    Ok(object.into())
}

/// `code` as a script of the scope's context: the last run's script bound
/// again when the code and origin are the same, as they are on every call
/// of node:vm's function forms (`vm.runInContext(code, …)`), which skips
/// the compile; compiled (and kept for next time) otherwise.
fn compiled<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    synced: &mut Synced,
    code: &str,
    options: &CompileOptions,
) -> Result<v8::Local<'s, v8::Script>> {
    // A code cache given is V8's to take or reject on each compile.
    if options.cached_data.is_some() {
        return compile_in(scope, code, options);
    }
    if let Some(last) = synced.compiled.as_ref().filter(|last| last.code == code && last.origin == options.origin) {
        return Ok(v8::Local::new(scope, &last.script).bind_to_current_context(scope));
    }
    let script = compile_in(scope, code, options)?;
    let unbound = script.get_unbound_script(scope);
    synced.compiled = Some(Compiled {
        code: code.to_owned(),
        origin: options.origin.clone(),
        script: v8::Global::new(scope, unbound),
    });
    Ok(script)
}
