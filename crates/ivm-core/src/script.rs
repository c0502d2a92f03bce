//! Scripts compiled once and run in any context of their isolate.

use std::fmt;
use std::sync::Arc;

use crate::context::{new_string, script_origin};
use crate::exception::caught;
use crate::held::Held;
use crate::isolate::Limits;
use crate::transfer::transfer_out;
use crate::{CompileOptions, Context, Error, Isolate, Result, RunOptions, Transferable};

/// A compiled script, not bound to a context. Cheap to clone.
#[derive(Clone)]
pub struct Script {
    held: Arc<Held<v8::UnboundScript>>,
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
        let global = self.run_in(&context, Limits::default(), |scope| {
            let origin = script_origin(scope, &options.origin)?;
            let mut source = v8::script_compiler::Source::new(new_string(scope, code)?, Some(&origin));
            let script = v8::script_compiler::compile_unbound_script(
                scope,
                &mut source,
                v8::script_compiler::CompileOptions::NoCompileOptions,
                v8::script_compiler::NoCacheReason::NoReason,
            )
            .ok_or_else(|| caught(scope))?;
            Ok(v8::Global::new(scope, script))
        })?;
        Ok(Script { held: Arc::new(Held::new(self.clone(), "Script", global)) })
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

    /// Releases the compiled script; later runs fail.
    pub fn release(&self) {
        self.held.release();
    }
}
