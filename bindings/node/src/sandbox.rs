//! The native side of `ivm/vm` (`vm.js`): ivm-core's `Sandbox`, whose runs
//! take the sandbox object's properties as `vm.js` prepared them and give
//! back what to write onto it.

use ivm_core::{Completion, Error, EvalOptions, SandboxChanges, SandboxValue, ScriptOrigin, Transferable, numeric};
use std::sync::{Mutex, PoisonError};

use napi::bindgen_prelude::{External, ObjectFinalize};
use napi::{Env, JsObject, JsUnknown};
use napi_derive::napi;

use crate::convert::{ResultMode, js_to_transferable, transferable_to_js};
use crate::errors::{range_error, rejection, sync_to_napi};
use crate::isolate::Context;

#[derive(Debug)]
#[napi(custom_finalize)]
pub struct Sandbox {
    sandbox: ivm_core::Sandbox,
}

/// What a sandbox's isolate is reported to hold, as memory outside Node's
/// heap: about its footprint when it is new. Node's collector counts it, so
/// that sandboxes nothing refers to any more (`runInNewContext` in a loop)
/// are collected, and their isolates disposed, as their contexts would be
/// in node:vm.
const FOOTPRINT: i64 = 2 << 20;

impl ObjectFinalize for Sandbox {
    fn finalize(self, mut env: Env) -> napi::Result<()> {
        env.adjust_external_memory(-FOOTPRINT)?;
        Ok(())
    }
}

#[napi]
impl Sandbox {
    /// Makes `context` (a fresh one) a sandbox's.
    #[napi(constructor, catch_unwind)]
    pub fn new(mut env: Env, context: &Context) -> napi::Result<Sandbox> {
        let sandbox = ivm_core::Sandbox::new(context.context.clone()).map_err(|e| sync_to_napi(&env, e))?;
        env.adjust_external_memory(FOOTPRINT)?;
        Ok(Sandbox { sandbox })
    }

    /// Runs `code` with the sandbox's properties `names` and `values`
    /// (each a value `js_to_transferable` takes, or `[names, values]` for
    /// an object rebuilt inside), as node:vm's script `filename` at
    /// `line_offset` and `column_offset`, within `timeout` milliseconds if
    /// given, compiled with `cached_data` (an ExternalCopy of V8's code
    /// cache) if given, ended by Ctrl-C with `break_on_sigint`;
    /// positional, as it is called for every run. Gives the result itself
    /// when the run neither threw nor changed a global (most runs: no array
    /// to make and fill); otherwise `report`, an empty array `vm.js` keeps
    /// for this, filled with `[threw, result or error, set names, set
    /// values, deleted names]`, and `"fulfilled"` or `"rejected"` after
    /// them when the result is what a promise came to (`vm.js` gives a
    /// promise of it).
    #[napi(js_name = "_run", catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        env: Env,
        mut report: JsObject,
        code: String,
        names: Vec<String>,
        values: JsObject,
        filename: String,
        line_offset: i32,
        column_offset: i32,
        timeout: Option<f64>,
        cached_data: Option<JsUnknown>,
        break_on_sigint: Option<bool>,
    ) -> napi::Result<JsUnknown> {
        let globals = globals(&env, names, &values)?;
        let origin = ScriptOrigin::new(filename).line_offset(line_offset).column_offset(column_offset);
        let mut options = EvalOptions::new().origin(origin);
        let timeout = timeout
            .map(|ms| numeric::duration("timeout", ms, numeric::Unit::Milliseconds).map_err(|e| range_error(&env, e)))
            .transpose()?;
        if let Some(timeout) = timeout {
            options = options.timeout(timeout);
        }
        if let Some(cached) =
            cached_data.filter(|value| value.get_type().is_ok_and(|t| t != napi::ValueType::Undefined))
        {
            options = options.cached_data(crate::code_cache::cached_data_bytes(&env, &cached)?);
        }
        let sigint = match break_on_sigint {
            Some(true) => {
                Some(crate::sigint::BreakOnSigint::start().map_err(|e| napi::Error::from_reason(e.to_string()))?)
            }
            _ => None,
        };
        let (result, changes) = self.sandbox.run(&globals, &code, &options);
        let interrupted = sigint.as_ref().is_some_and(crate::sigint::BreakOnSigint::seen);
        drop(sigint);
        if changes.set.is_empty() && changes.deleted.is_empty() {
            if let Ok(Completion::Value(value)) = result {
                return transferable_to_js(&env, value, ResultMode::OrReference);
            }
        }
        let ended = match result {
            Err(Error::Canceled) if interrupted => Err(interrupted_error(&env)?.into_unknown()),
            Err(Error::Timeout) => Err(timed_out(&env, timeout.unwrap_or_default())?.into_unknown()),
            result => Ok(result),
        };
        fill_report(&env, &mut report, ended, changes)?;
        Ok(report.into_unknown())
    }

    /// Calls `function` (a function of the context's, which a run's
    /// changes gave as a Reference) with `values` (as `_run`'s), as
    /// `ivm_core::Sandbox::call` does: a report as `_run`'s.
    #[napi(js_name = "_call", catch_unwind)]
    pub fn call(&self, env: Env, function: &crate::reference::Reference, values: JsObject) -> napi::Result<JsObject> {
        let arguments = (0..values.get_array_length()?)
            .map(|index| sandbox_value(&env, values.get_element(index)?))
            .collect::<napi::Result<Vec<_>>>()?;
        let (result, changes) = self.sandbox.call(function.in_isolate()?, &arguments);
        let mut report = env.create_array_with_length(6)?;
        fill_report(&env, &mut report, Ok(result), changes)?;
        Ok(report)
    }

    /// node:vm's error for a run `ms` milliseconds ended, for the runs
    /// `vm.js` times itself (modules' evaluations).
    #[napi(js_name = "_timeoutError", catch_unwind)]
    pub fn timeout_error(env: Env, ms: f64) -> napi::Result<JsObject> {
        let timeout =
            numeric::duration("timeout", ms, numeric::Unit::Milliseconds).map_err(|e| range_error(&env, e))?;
        timed_out(&env, timeout)
    }

    /// Makes Ctrl-C end the runs on this thread until `_endBreakOnSigint`,
    /// for the runs `vm.js` makes itself (modules' evaluations).
    #[napi(js_name = "_breakOnSigint", catch_unwind)]
    pub fn break_on_sigint() -> napi::Result<External<Mutex<Option<crate::sigint::BreakOnSigint>>>> {
        let watch = crate::sigint::BreakOnSigint::start().map_err(|e| napi::Error::from_reason(e.to_string()))?;
        Ok(External::new(Mutex::new(Some(watch))))
    }

    /// Gives SIGINT back to Node: node:vm's interruption error if one came
    /// meanwhile, else `undefined`.
    #[napi(js_name = "_endBreakOnSigint", catch_unwind)]
    pub fn end_break_on_sigint(
        env: Env,
        watch: External<Mutex<Option<crate::sigint::BreakOnSigint>>>,
    ) -> napi::Result<Option<JsObject>> {
        let watch = watch.lock().unwrap_or_else(PoisonError::into_inner).take();
        match watch {
            Some(watch) if watch.seen() => Ok(Some(interrupted_error(&env)?)),
            _ => Ok(None),
        }
    }

    /// Sets the sandbox's properties `names` and `values` as the context's
    /// globals, before a module's evaluation.
    #[napi(js_name = "_setGlobals", catch_unwind)]
    pub fn set_globals(&self, env: Env, names: Vec<String>, values: JsObject) -> napi::Result<()> {
        let globals = globals(&env, names, &values)?;
        self.sandbox.set_globals(&globals).map_err(|e| sync_to_napi(&env, e))
    }

    /// What the globals became since: `[set names, set values, deleted
    /// names]`.
    #[napi(js_name = "_changes", catch_unwind)]
    pub fn changes(&self, env: Env) -> napi::Result<JsObject> {
        let changes = self.sandbox.changes(None).map_err(|e| sync_to_napi(&env, e))?;
        let mut out = env.create_array_with_length(3)?;
        write_changes(&env, &mut out, 0, changes)?;
        Ok(out)
    }
}

/// node:vm's timeout error, with ivm-core's message for it.
fn timed_out(env: &Env, timeout: std::time::Duration) -> napi::Result<JsObject> {
    vm_error(env, "ERR_SCRIPT_EXECUTION_TIMEOUT", &ivm_core::Sandbox::timeout_message(timeout))
}

/// node:vm's error for a run Ctrl-C ended.
fn interrupted_error(env: &Env) -> napi::Result<JsObject> {
    vm_error(env, "ERR_SCRIPT_EXECUTION_INTERRUPTED", "Script execution was interrupted by `SIGINT`")
}

/// One of node:vm's errors: an Error with Node's `code`.
fn vm_error(env: &Env, code: &str, message: &str) -> napi::Result<JsObject> {
    let mut error = env.create_error(napi::Error::from_reason(message))?;
    error.set_named_property("code", env.create_string(code)?)?;
    Ok(error)
}

/// The sandbox's properties `names` with `values` (see `sandbox_value`).
fn globals(env: &Env, names: Vec<String>, values: &JsObject) -> napi::Result<Vec<(String, SandboxValue)>> {
    names
        .into_iter()
        .enumerate()
        .map(|(index, name)| Ok((name, sandbox_value(env, values.get_element(index as u32)?)?)))
        .collect()
}

/// A run's or a call's `[threw, result or error, set names, set values,
/// deleted names]` into `report`, and `"fulfilled"` or `"rejected"` after
/// them when the result is what a promise came to; `ended` is node:vm's
/// own error where the binding made one (a timeout's, an interruption's).
fn fill_report(
    env: &Env,
    report: &mut JsObject,
    ended: Result<ivm_core::Result<Completion>, JsUnknown>,
    changes: SandboxChanges,
) -> napi::Result<()> {
    let (threw, result, settled) = match ended {
        Ok(Ok(Completion::Value(value))) => (false, transferable_to_js(env, value, ResultMode::OrReference)?, None),
        Ok(Ok(Completion::Fulfilled(value))) => {
            (false, transferable_to_js(env, value, ResultMode::OrReference)?, Some("fulfilled"))
        }
        Ok(Ok(Completion::Rejected(error))) => (false, rejection(env, sync_to_napi(env, error)), Some("rejected")),
        Ok(Err(error)) => (true, rejection(env, sync_to_napi(env, error)), None),
        Err(error) => (true, error, None),
    };
    report.set_element(0, env.get_boolean(threw)?)?;
    report.set_element(1, result)?;
    write_changes(env, report, 2, changes)?;
    if let Some(settled) = settled {
        report.set_element(5, env.create_string(settled)?)?;
    }
    Ok(())
}

/// `changes` into `out` from index `at`: set names, set values, deleted
/// names (each left `undefined` when there are none, which is most runs).
/// A function of the context's comes as a Reference, for `vm.js` to call
/// with `_call`.
fn write_changes(env: &Env, out: &mut JsObject, at: u32, changes: SandboxChanges) -> napi::Result<()> {
    if changes.set.is_empty() && changes.deleted.is_empty() {
        return Ok(());
    }
    let mut set_names = env.create_array_with_length(changes.set.len())?;
    let mut set_values = env.create_array_with_length(changes.set.len())?;
    for (index, (name, value)) in changes.set.into_iter().enumerate() {
        set_names.set_element(index as u32, env.create_string(&name)?)?;
        let mode = match &value {
            Transferable::Reference(function) if function.callable().is_some() => ResultMode::Reference,
            _ => ResultMode::OrReference,
        };
        set_values.set_element(index as u32, transferable_to_js(env, value, mode)?)?;
    }
    let mut deleted = env.create_array_with_length(changes.deleted.len())?;
    for (index, name) in changes.deleted.iter().enumerate() {
        deleted.set_element(index as u32, env.create_string(name)?)?;
    }
    out.set_element(at, set_names)?;
    out.set_element(at + 1, set_values)?;
    out.set_element(at + 2, deleted)
}

/// A sandbox property as `vm.js` prepared it: `[names, values]` for an
/// object rebuilt inside (`[names, values, callback]` for a function with
/// properties), anything else a value that crosses on its own.
fn sandbox_value(env: &Env, value: JsUnknown) -> napi::Result<SandboxValue> {
    if value.is_array()? {
        // SAFETY: checked to be an array (an object) just above.
        let pair = unsafe { value.cast::<JsObject>() };
        let names: JsObject = pair.get_element(0)?;
        let values: JsObject = pair.get_element(1)?;
        let properties = (0..names.get_array_length()?)
            .map(|index| {
                let name: napi::JsString = names.get_element(index)?;
                Ok((name.into_utf8()?.into_owned()?, sandbox_value(env, values.get_element(index)?)?))
            })
            .collect::<napi::Result<Vec<_>>>()?;
        if pair.get_array_length()? > 2 {
            let function = js_to_transferable(env, pair.get_element(2)?)?;
            return Ok(SandboxValue::Function(function, properties));
        }
        return Ok(SandboxValue::Object(properties));
    }
    Ok(SandboxValue::Value(js_to_transferable(env, value)?))
}
