//! `ivm.Isolate`, `ivm.Context` and `ivm.Script`: napi-rs classes over
//! ivm-core's handles. The methods named `_…` take isolated-vm's arguments
//! and option objects (read by `options.rs`) and a form code (sync, async,
//! ignored); `index.js` adds the public names.

use std::time::Duration;

use ivm_core::{
    Async, CompileOptions, ContextOptions, EvalOptions, HeapStatistics, IsolateOptions, SyncFollowing,
    ThreadCpuProfile, numeric,
};
use napi::{Env, JsBigInt, JsObject, JsUnknown};
use napi_derive::napi;

use crate::code_cache::CacheRequest;
use crate::convert::{ResultMode, transferable_to_js};
use crate::env_state::{JsHandle, state};
use crate::errors::{range_error, sync_to_napi, throw_saying, to_napi};
use crate::forms::{Form, Queue, run, run_returning};
use crate::module::Module;
use crate::options::Options;
use crate::reference::{Reference, instance, transferables};

#[derive(Debug)]
#[napi]
pub struct Isolate {
    pub(crate) isolate: ivm_core::Isolate,
}

fn bigint_nanos(env: &Env, time: Duration) -> napi::Result<JsBigInt> {
    env.create_bigint_from_u64(u64::try_from(time.as_nanos()).unwrap_or(u64::MAX))
}

/// CompileOptions: ScriptOrigin's fields and CachedDataOptions.
fn compile_options(env: &Env, options: Option<JsUnknown>) -> napi::Result<(CompileOptions, CacheRequest)> {
    let given = Options::of(env, options, "options")?;
    let options = CompileOptions::new().origin(given.origin()?);
    CacheRequest::apply(env, options, &given)
}

fn heap_statistics_js(env: &Env, stats: HeapStatistics) -> napi::Result<JsUnknown> {
    let mut object = env.create_object()?;
    for (name, value) in stats.sizes() {
        object.set_named_property(name, env.create_double(value as f64)?)?;
    }
    object.set_named_property("does_zap_garbage", env.create_double(f64::from(u8::from(stats.does_zap_garbage)))?)?;
    Ok(object.into_unknown())
}

/// `IsolateOptions` from the options object of `new ivm.Isolate(options)`
/// (and of `new ivm.IsolatePool(options)`, which takes the same ones):
/// `memoryLimit`, `inspector`, `snapshot`, `onCatastrophicError`.
pub(crate) fn isolate_options(env: &Env, given: &Options<'_>) -> napi::Result<IsolateOptions> {
    let env = *env;
    let mut isolate_options = IsolateOptions::new();
    if let Some(limit) = given.number("memoryLimit")? {
        let limit = numeric::memory_limit("memoryLimit", limit).map_err(|e| range_error(&env, e))?;
        isolate_options = isolate_options.memory_limit(limit);
    }
    if given.value("inspector")?.is_some() {
        isolate_options = isolate_options.inspector(given.truthy("inspector")?);
    }
    if let Some(snapshot) = given.value("snapshot")? {
        isolate_options = isolate_options.snapshot(crate::snapshot::snapshot_bytes(&env, &snapshot)?);
    }
    if let Some(handler) = given.function("onCatastrophicError")? {
        let main = std::sync::Arc::clone(&state(&env)?.main);
        let handler = std::sync::Arc::new(JsHandle::new(env, &main, &handler)?);
        isolate_options = isolate_options.on_catastrophic_error(move |message: &str| {
            let (handler, message) = (std::sync::Arc::clone(&handler), message.to_owned());
            let _ = main.post(Box::new(move |env| {
                if let Some(env) = env {
                    if let (Ok(function), Ok(message)) = (handler.function(&env), env.create_string(&message)) {
                        let _ = crate::host::call_function(&env, &function, None, &[message.into_unknown()]);
                    }
                }
            }));
        });
    }
    Ok(isolate_options)
}

#[napi]
impl Isolate {
    /// `new ivm.Isolate({ memoryLimit, inspector, snapshot, onCatastrophicError })`.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: Option<JsObject>) -> napi::Result<Self> {
        let isolate_options = isolate_options(&env, &Options::object(&env, options))?;
        let isolate = ivm_core::Isolate::new(isolate_options).map_err(|e| to_napi(&env, e))?;
        Ok(Isolate { isolate })
    }

    /// `isolate.createContext({ inspector, name, origin, codeGeneration: { strings, wasm } })`:
    /// isolated-vm's `inspector` (read as isolated-vm reads it, truthy or
    /// not) shows the context to the isolate's inspector, under node:vm's
    /// `name` and `origin` if given; node:vm's code generation controls are
    /// both allowed unless `false`.
    #[napi(js_name = "_createContext", catch_unwind)]
    pub fn create_context(&self, env: Env, form: u32, options: Option<JsUnknown>) -> napi::Result<JsUnknown> {
        let isolate = &self.isolate;
        let given = Options::of(&env, options, "options")?;
        let generation = given.options("codeGeneration")?;
        let mut options = ContextOptions::new()
            .code_generation_from_strings(generation.boolean("strings")?.unwrap_or(true))
            .wasm_code_generation(generation.boolean("wasm")?.unwrap_or(true))
            .inspector(given.truthy("inspector")?);
        if let Some(name) = given.string("name")? {
            options = options.name(name);
        }
        if let Some(origin) = given.string("origin")? {
            options = options.origin(origin);
        }
        run(
            &env,
            Form::from_code(form)?,
            || isolate.create_context_with(&options),
            || isolate.create_context_with_async(options.clone()),
            |env, context| instance(env, Context { context }),
        )
    }

    /// `compileScript(code, { filename, lineOffset, columnOffset,
    /// cachedData, produceCachedData })`.
    #[napi(js_name = "_compileScript", catch_unwind)]
    pub fn compile_script(
        &self,
        env: Env,
        code: String,
        form: u32,
        options: Option<JsUnknown>,
    ) -> napi::Result<JsUnknown> {
        let isolate = &self.isolate;
        let (options, cache) = compile_options(&env, options)?;
        run(
            &env,
            Form::from_code(form)?,
            || isolate.compile_script(&code, &options),
            || isolate.compile_script_async(code.clone(), options.clone()),
            move |env, script| {
                let object = instance(env, Script { script: script.clone() })?;
                cache.write(env, object, script.cached_data(), script.cached_data_rejected())
            },
        )
    }

    /// `compileModule(code, options)`, with `compileScript`'s options.
    #[napi(js_name = "_compileModule", catch_unwind)]
    pub fn compile_module(
        &self,
        env: Env,
        code: String,
        form: u32,
        options: Option<JsUnknown>,
    ) -> napi::Result<JsUnknown> {
        let isolate = &self.isolate;
        let (options, cache) = compile_options(&env, options)?;
        run(
            &env,
            Form::from_code(form)?,
            || isolate.compile_module(&code, &options),
            || isolate.compile_module_async(code.clone(), options.clone()),
            move |env, module| {
                let object = instance(env, Module { module: module.clone() })?;
                cache.write(env, object, module.cached_data(), module.cached_data_rejected())
            },
        )
    }

    #[napi(js_name = "_heapStatistics", catch_unwind)]
    pub fn heap_statistics(&self, env: Env, form: u32) -> napi::Result<JsUnknown> {
        let isolate = &self.isolate;
        run(
            &env,
            Form::from_code(form)?,
            || isolate.heap_statistics(),
            || isolate.heap_statistics_async(),
            heap_statistics_js,
        )
    }

    /// `startCpuProfiler(title)`: profiles each entry into the isolate from
    /// now until `stopCpuProfiler(title)`.
    #[napi(catch_unwind)]
    pub fn start_cpu_profiler(&self, env: Env, title: String) -> napi::Result<()> {
        self.isolate.start_cpu_profiler(&title).map_err(|e| to_napi(&env, e))
    }

    /// The profiles taken under `title`, as JSON that `index.js` parses.
    #[napi(js_name = "_stopCpuProfiler", catch_unwind)]
    pub fn stop_cpu_profiler(&self, env: Env, title: String, form: u32) -> napi::Result<JsUnknown> {
        let isolate = &self.isolate;
        // isolated-vm throws at once rather than reject.
        self.check_live(&env)?;
        run(
            &env,
            Form::from_code(form)?,
            || isolate.stop_cpu_profiler(&title),
            || isolate.stop_cpu_profiler_async(title.clone()),
            |env, profiles| Ok(env.create_string(&ThreadCpuProfile::json(&profiles))?.into_unknown()),
        )
    }

    /// Disposes the isolate; its calls in progress end with an error.
    #[napi(catch_unwind)]
    pub fn dispose(&self, env: Env) -> napi::Result<()> {
        self.isolate.dispose().map_err(|error| match error {
            ivm_core::Error::Disposed => throw_saying(&env, &error, Some("Isolate is already disposed")),
            other => to_napi(&env, other),
        })
    }

    #[napi(getter, catch_unwind)]
    pub fn is_disposed(&self) -> bool {
        self.isolate.is_disposed()
    }

    /// CPU time spent in the isolate, in nanoseconds.
    #[napi(getter, catch_unwind)]
    pub fn cpu_time(&self, env: Env) -> napi::Result<JsBigInt> {
        self.check_live(&env)?;
        bigint_nanos(&env, self.isolate.cpu_time())
    }

    /// Wall time the isolate has been running, in nanoseconds.
    #[napi(getter, catch_unwind)]
    pub fn wall_time(&self, env: Env) -> napi::Result<JsBigInt> {
        self.check_live(&env)?;
        bigint_nanos(&env, self.isolate.wall_time())
    }

    #[napi(getter, catch_unwind)]
    pub fn reference_count(&self, env: Env) -> napi::Result<u32> {
        self.check_live(&env)?;
        Ok(u32::try_from(self.isolate.reference_count()).unwrap_or(u32::MAX))
    }
}

impl Isolate {
    /// Throws "Isolate is disposed" for a disposed isolate, as isolated-vm's
    /// getters and profiler methods do.
    fn check_live(&self, env: &Env) -> napi::Result<()> {
        if self.isolate.is_disposed() {
            return Err(to_napi(env, ivm_core::Error::Disposed));
        }
        Ok(())
    }
}

#[derive(Debug)]
#[napi]
pub struct Context {
    pub(crate) context: ivm_core::Context,
}

#[napi]
impl Context {
    /// A Reference to the context's global object (`index.js` makes it
    /// the `global` property).
    #[napi(js_name = "_global", catch_unwind)]
    pub fn global(&self, env: Env) -> napi::Result<Reference> {
        self.context.global().map(Reference::isolate).map_err(|e| sync_to_napi(&env, e))
    }

    /// `eval(code, { timeout, filename, lineOffset, columnOffset,
    /// cachedData, promise, …TransferOptions })`.
    #[napi(js_name = "_eval", catch_unwind)]
    pub fn eval(&self, env: Env, code: String, form: u32, options: Option<JsUnknown>) -> napi::Result<JsUnknown> {
        let context = &self.context;
        let given = Options::of(&env, options, "options")?;
        let (mut options, mode) = eval_options(&given)?;
        if let Some(cached_data) = given.value("cachedData")? {
            options = options.cached_data(crate::code_cache::cached_data_bytes(&env, &cached_data)?);
        }
        run_returning(
            &env,
            Form::from_code(form)?,
            options.run.promise,
            || context.eval(&code, &options),
            |queue| match queue {
                Queue::Async => context.eval_queued::<Async>(code.clone(), options.clone()),
                Queue::SyncFollowing => context.eval_queued::<SyncFollowing>(code.clone(), options.clone()),
            },
            move |env, value| transferable_to_js(env, value, mode),
        )
    }

    /// `evalClosure(code, arguments, { timeout, filename, result })`, with
    /// the arguments as `index.js` prepared them for the isolate.
    #[napi(js_name = "_evalClosure", catch_unwind)]
    pub fn eval_closure(
        &self,
        env: Env,
        code: String,
        arguments: JsObject,
        form: u32,
        options: Option<JsUnknown>,
    ) -> napi::Result<JsUnknown> {
        let context = &self.context;
        let arguments = transferables(&env, &arguments)?;
        let given = Options::of(&env, options, "options")?;
        let (run, mode) = given.call(ResultMode::TransferableOnly)?;
        let mut options = EvalOptions::new().origin(given.named()?);
        options.run = run;
        run_returning(
            &env,
            Form::from_code(form)?,
            options.run.promise,
            || context.eval_closure(&code, &arguments, &options),
            |queue| match queue {
                Queue::Async => context.eval_closure_queued::<Async>(code.clone(), arguments.clone(), options.clone()),
                Queue::SyncFollowing => {
                    context.eval_closure_queued::<SyncFollowing>(code.clone(), arguments.clone(), options.clone())
                }
            },
            move |env, value| transferable_to_js(env, value, mode),
        )
    }

    #[napi(catch_unwind)]
    pub fn release(&self) {
        self.context.release();
    }
}

/// EvalOptions: RunOptions' and ScriptOrigin's fields.
fn eval_options(given: &Options<'_>) -> napi::Result<(EvalOptions, ResultMode)> {
    let (run, mode) = given.run(ResultMode::Transferable)?;
    let mut options = EvalOptions::new();
    options.run = run;
    options = options.origin(given.origin()?);
    Ok((options, mode))
}

#[derive(Debug)]
#[napi]
pub struct Script {
    pub(crate) script: ivm_core::Script,
}

#[napi]
impl Script {
    /// `run(context, { timeout, promise, …TransferOptions })`.
    #[napi(js_name = "_run", catch_unwind)]
    pub fn run(&self, env: Env, context: &Context, form: u32, options: Option<JsUnknown>) -> napi::Result<JsUnknown> {
        let (script, context) = (&self.script, &context.context);
        let (options, mode) = Options::of(&env, options, "options")?.run(ResultMode::Transferable)?;
        run_returning(
            &env,
            Form::from_code(form)?,
            options.promise,
            || script.run(context, &options),
            |queue| match queue {
                Queue::Async => script.run_queued::<Async>(context, options.clone()),
                Queue::SyncFollowing => script.run_queued::<SyncFollowing>(context, options.clone()),
            },
            move |env, value| transferable_to_js(env, value, mode),
        )
    }

    #[napi(catch_unwind)]
    pub fn release(&self) {
        self.script.release();
    }
}

/// What `index.js` passes for the library object itself (`ivm`): inside an
/// isolate it is isolated-vm's module, whose `Isolate` makes child
/// isolates.
#[napi]
#[derive(Debug)]
pub struct Library {}

#[napi]
impl Library {
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Self {
        Library {}
    }
}
