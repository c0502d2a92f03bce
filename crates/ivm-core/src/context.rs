//! Contexts: a global object and its built-ins inside an isolate.

use std::fmt;
use std::sync::Arc;

use crate::exception::caught;
use crate::held::Held;
use crate::run::Limits;
use crate::script::source_with_cache;
use crate::transfer::{JsScope, transfer_in, transfer_out};
use crate::{CompileOptions, Error, EvalOptions, Isolate, Reference, Result, RunOptions, ScriptOrigin, Transferable};

/// A sandboxed global environment within an isolate. Cheap to clone; clones
/// share one handle, and [`Context::release`] releases it for all of them.
#[derive(Clone)]
pub struct Context {
    held: Arc<Held<v8::Context>>,
    /// `globalThis`, taken when the context was made, so that asking for it
    /// never waits for the isolate's queued calls; `None` for a context
    /// whose isolate was disposed as it was being made ([`Context::disposed`]).
    global: Option<Reference>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("released", &self.held.is_released()).finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn from_global(
        isolate: Isolate,
        context: v8::Global<v8::Context>,
        global_object: v8::Global<v8::Value>,
    ) -> Context {
        let context = Arc::new(context);
        let global = Reference::from_global(&isolate, &context, global_object);
        Context { held: Arc::new(Held::new(isolate, "Context is released", context)), global: Some(global) }
    }

    /// The context of `isolate` that a `create_context` the isolate had
    /// taken up gives when a dispose overtakes it, as isolated-vm's does:
    /// every use of it fails as the isolate's do.
    pub(crate) fn disposed(isolate: &Isolate) -> Context {
        Context { held: Arc::new(Held::never(isolate.clone(), "Context is released")), global: None }
    }

    pub fn isolate(&self) -> &Isolate {
        self.held.isolate()
    }

    pub(crate) fn global_handle(&self) -> Result<Arc<v8::Global<v8::Context>>> {
        self.held.get()
    }

    /// A reference to the context's global object (`globalThis`), the same
    /// one each time; releasing the context releases it too.
    pub fn global(&self) -> Result<Reference> {
        self.held.get()?;
        self.global.clone().ok_or(Error::Disposed)
    }

    /// Compiles and runs `code` as a classic script and returns its
    /// completion value. A `cached_data` in the options (a script's, from
    /// [`Script::cached_data`](crate::Script::cached_data)) speeds up the
    /// compile.
    pub fn eval(&self, code: &str, options: &EvalOptions) -> Result<Transferable> {
        let context = self.held.get()?;
        let isolate = self.isolate();
        isolate.run_in(&context, Limits::from(&options.run), |scope| eval_in(scope, isolate, &context, code, options))
    }

    /// Runs `code` as the body of a function whose arguments are visible as
    /// `$0`, `$1`, …; `return` gives the result.
    pub fn eval_closure(&self, code: &str, arguments: &[Transferable], options: &EvalOptions) -> Result<Transferable> {
        let context = self.held.get()?;
        let isolate = self.isolate();
        isolate.run_in(&context, Limits::from(&options.run), |scope| {
            let arguments =
                arguments.iter().map(|argument| transfer_in(scope, isolate, argument)).collect::<Result<Vec<_>>>()?;
            let parameters =
                (0..arguments.len()).map(|i| new_string(scope, &format!("${i}"))).collect::<Result<Vec<_>>>()?;
            let origin = script_origin(scope, &options.compile.origin)?;
            let mut source = v8::script_compiler::Source::new(new_string(scope, code)?, Some(&origin));
            let function = v8::script_compiler::compile_function(
                scope,
                &mut source,
                &parameters,
                &[],
                v8::script_compiler::CompileOptions::NoCompileOptions,
                v8::script_compiler::NoCacheReason::NoReason,
            )
            .ok_or_else(|| caught(scope))?;
            let receiver = v8::undefined(scope).into();
            let value = function.call(scope, receiver, &arguments).ok_or_else(|| caught(scope))?;
            transfer_out(scope, isolate, &context, value, &options.run)
        })
    }

    /// Runs `f` with this context entered, for Rust code that works with V8
    /// values directly (for example [`Reference::deref`]). No timeout applies.
    pub fn enter<R>(&self, f: impl FnOnce(&mut v8::PinScope<'_, '_>) -> R) -> Result<R> {
        let context = self.held.get()?;
        self.isolate().run_in(&context, Limits::default(), |scope| Ok(f(scope)))
    }

    /// Releases this handle to the context. References obtained from it keep
    /// working; the context is collected once nothing refers to it.
    pub fn release(&self) {
        self.held.release();
        if let Some(global) = &self.global {
            global.release();
        }
    }
}

/// [`Context::eval`]'s work, in a run of `context` already entered.
pub(crate) fn eval_in<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    isolate: &Isolate,
    context: &Arc<v8::Global<v8::Context>>,
    code: &str,
    options: &EvalOptions,
) -> Result<Transferable> {
    let script = compile_in(scope, code, &options.compile)?;
    run_compiled(scope, isolate, context, script, &options.run)
}

/// `code` compiled as a script of the scope's context.
pub(crate) fn compile_in<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    code: &str,
    options: &CompileOptions,
) -> Result<v8::Local<'s, v8::Script>> {
    let origin = script_origin(scope, &options.origin)?;
    // A code cache given is used, as isolated-vm's and node:vm's eval do;
    // one V8 rejects only costs the compile it would have saved.
    let (mut source, compile) = source_with_cache(new_string(scope, code)?, &origin, options);
    v8::script_compiler::compile(scope, &mut source, compile, v8::script_compiler::NoCacheReason::NoReason)
        .ok_or_else(|| caught(scope))
}

/// Runs `script` and copies its completion value out as `options` say.
fn run_compiled<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    isolate: &Isolate,
    context: &Arc<v8::Global<v8::Context>>,
    script: v8::Local<'s, v8::Script>,
    options: &RunOptions,
) -> Result<Transferable> {
    let value = script.run(scope).ok_or_else(|| caught(scope))?;
    transfer_out(scope, isolate, context, value, options)
}

pub(crate) fn new_string<'s>(scope: &v8::PinScope<'s, '_>, s: &str) -> Result<v8::Local<'s, v8::String>> {
    v8::String::new(scope, s).ok_or(Error::Marshal(ivm_marshal::Error::TooLarge { what: "string" }))
}

pub(crate) fn script_origin<'s>(scope: &v8::PinScope<'s, '_>, origin: &ScriptOrigin) -> Result<v8::ScriptOrigin<'s>> {
    origin_of(scope, origin, None)
}

/// The origin of an ES module's source, which carries the module's id as
/// its host-defined options (what a dynamic `import()` in it is told).
pub(crate) fn module_origin<'s>(
    scope: &v8::PinScope<'s, '_>,
    origin: &ScriptOrigin,
    id: u32,
) -> Result<v8::ScriptOrigin<'s>> {
    origin_of(scope, origin, Some(id))
}

fn origin_of<'s>(
    scope: &v8::PinScope<'s, '_>,
    origin: &ScriptOrigin,
    module_id: Option<u32>,
) -> Result<v8::ScriptOrigin<'s>> {
    let host_options = module_id.map(|id| {
        let options = v8::PrimitiveArray::new(scope, 1);
        let id = v8::Integer::new_from_unsigned(scope, id);
        options.set(scope, 0, id.into());
        options.into()
    });
    let name = new_string(scope, &origin.filename)?;
    Ok(v8::ScriptOrigin::new(
        scope,
        name.into(),
        origin.line_offset,
        origin.column_offset,
        false,
        -1,
        None,
        false,
        false,
        module_id.is_some(),
        host_options,
    ))
}
