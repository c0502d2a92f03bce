//! Scripts compiled once and run in any context of their isolate.

use std::fmt;
use std::sync::Arc;

use crate::context::{new_string, script_origin};
use crate::exception::caught;
use crate::held::Held;
use crate::run::Limits;
use crate::transfer::transfer_out;
use crate::{CompileOptions, Context, Error, Isolate, Result, RunOptions, Transferable};

/// A compiled script, not bound to a context. Cheap to clone.
#[derive(Clone)]
pub struct Script {
    held: Arc<Held<v8::UnboundScript>>,
    cache: CodeCache,
}

/// What a compilation did with V8's code cache ([`CompileOptions`]'s
/// `cached_data` and `produce_cached_data`).
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeCache {
    /// The cache made of the compiled code, when asked for.
    pub(crate) produced: Option<Arc<[u8]>>,
    /// Whether V8 refused the cache it was given; `None` when given none.
    pub(crate) rejected: Option<bool>,
}

/// The source to compile `code` from, with the code cache `options` give,
/// and how to compile it. The source points into the cache's bytes (V8
/// reads them while compiling), so `options` must outlive its use.
pub(crate) fn source_with_cache(
    code: v8::Local<'_, v8::String>,
    origin: &v8::ScriptOrigin<'_>,
    options: &CompileOptions,
) -> (v8::script_compiler::Source, v8::script_compiler::CompileOptions) {
    match &options.cached_data {
        Some(bytes) => (
            v8::script_compiler::Source::new_with_cached_data(code, Some(origin), v8::CachedData::new(bytes)),
            v8::script_compiler::CompileOptions::ConsumeCodeCache,
        ),
        None => (
            v8::script_compiler::Source::new(code, Some(origin)),
            v8::script_compiler::CompileOptions::NoCompileOptions,
        ),
    }
}

/// What became of the cache a source was given.
pub(crate) fn cache_rejected(source: &v8::script_compiler::Source) -> Option<bool> {
    source.get_cached_data().map(|cached| cached.rejected())
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script").field("released", &self.held.is_released()).finish_non_exhaustive()
    }
}

impl Isolate {
    /// Compiles `code` for running later in any context of this isolate.
    /// Syntax errors are returned here, as [`Error::Js`].
    pub fn compile_script(&self, code: &str, options: &CompileOptions) -> Result<Script> {
        let context = self.compile_context()?;
        let (global, cache) = self.run_in(&context, Limits::default(), |scope| {
            let origin = script_origin(scope, &options.origin)?;
            let (mut source, compile) = source_with_cache(new_string(scope, code)?, &origin, options);
            let script = v8::script_compiler::compile_unbound_script(
                scope,
                &mut source,
                compile,
                v8::script_compiler::NoCacheReason::NoReason,
            )
            .ok_or_else(|| caught(scope))?;
            let produced = if options.produce_cached_data { script.create_code_cache() } else { None };
            let cache =
                CodeCache { produced: produced.map(|data| Arc::from(&data[..])), rejected: cache_rejected(&source) };
            Ok((v8::Global::new(scope, script), cache))
        })?;
        Ok(Script { held: Arc::new(Held::new(self.clone(), "Script has been released", global)), cache })
    }
}

impl Script {
    pub fn isolate(&self) -> &Isolate {
        self.held.isolate()
    }

    /// Runs the script in `context` and returns its completion value.
    pub fn run(&self, context: &Context, options: &RunOptions) -> Result<Transferable> {
        if context.isolate() != self.isolate() {
            return Err(Error::WrongIsolate("A Script can only run in a context of the isolate that compiled it"));
        }
        let script = self.held.get()?;
        let context_handle = context.global_handle()?;
        let isolate = self.isolate();
        isolate.run_in(&context_handle, Limits::from(options), |scope| {
            let script = v8::Local::new(scope, &*script).bind_to_current_context(scope);
            let value = script.run(scope).ok_or_else(|| caught(scope))?;
            transfer_out(scope, isolate, &context_handle, value, options)
        })
    }

    /// V8's code cache of the script, if it was compiled with
    /// `produce_cached_data`: pass it as `cached_data` to compile the same
    /// source faster.
    pub fn cached_data(&self) -> Option<&[u8]> {
        self.cache.produced.as_deref()
    }

    /// Whether V8 rejected the `cached_data` the script was compiled with
    /// (`None` if it was given none).
    pub fn cached_data_rejected(&self) -> Option<bool> {
        self.cache.rejected
    }

    /// Releases the compiled script; later runs fail.
    pub fn release(&self) {
        self.held.release();
    }
}
