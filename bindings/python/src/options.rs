//! Keyword options, as ivm-core's option structs. Every method that runs
//! JavaScript takes the same keywords, so they are read here once:
//!
//! - `timeout`, `cpu_limit`: seconds (`int` or `float`, from 0 to
//!   2^53 − 1 milliseconds' worth), or `None` for no limit;
//! - `copy`, `reference`, `external_copy`: how the result leaves the isolate
//!   (at most one; by default primitives are copied and anything else comes
//!   back as a `Reference`, as isolated-vm does);
//! - `promise`: wait for a returned promise and give its value;
//! - `accessors` (`get` only): read through getters and the prototype chain;
//! - `filename`, `line_offset`, `column_offset` (code only): the origin shown
//!   in stack traces;
//! - `cached_data` (bytes; compiling and `eval`), `produce_cached_data`
//!   (compiling only): V8's code cache, consumed and made.

use std::time::Duration;

use ivm_core::{CompileOptions, ContextOptions, EvalOptions, RunOptions, ScriptOrigin, TransferMode, numeric};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt};

use crate::convert::to_structured;

/// Which keywords a method takes.
#[derive(Clone, Copy)]
pub(crate) struct Accepts {
    pub(crate) compile: bool,
    /// `cached_data`, a code cache to compile with.
    pub(crate) cached_data: bool,
    /// `produce_cached_data`, for compiled scripts and modules only.
    pub(crate) produce_cached_data: bool,
    pub(crate) run: bool,
    pub(crate) accessors: bool,
}

pub(crate) const EVAL: Accepts =
    Accepts { compile: true, cached_data: true, produce_cached_data: false, run: true, accessors: false };
pub(crate) const EVAL_CLOSURE: Accepts =
    Accepts { compile: true, cached_data: false, produce_cached_data: false, run: true, accessors: false };
pub(crate) const COMPILE: Accepts =
    Accepts { compile: true, cached_data: true, produce_cached_data: true, run: false, accessors: false };
pub(crate) const RUN: Accepts =
    Accepts { compile: false, cached_data: false, produce_cached_data: false, run: true, accessors: false };
pub(crate) const GET: Accepts =
    Accepts { compile: false, cached_data: false, produce_cached_data: false, run: true, accessors: true };

/// Reads `options` (a method's `**options`), refusing keywords the method
/// does not take.
pub(crate) fn parse(method: &str, accepts: Accepts, options: Option<&Bound<'_, PyDict>>) -> PyResult<EvalOptions> {
    let mut eval = EvalOptions::new();
    let Some(options) = options else { return Ok(eval) };
    let mut origin = ScriptOrigin::default();
    let mut modes = Vec::new();
    let (mut cached_data, mut produce_cached_data) = (None, false);
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        let accepted = match key.as_str() {
            "filename" | "line_offset" | "column_offset" => accepts.compile,
            "cached_data" => accepts.cached_data,
            "produce_cached_data" => accepts.produce_cached_data,
            "accessors" => accepts.accessors,
            _ => accepts.run,
        };
        if !accepted {
            return Err(PyTypeError::new_err(format!("{method}() got an unexpected keyword argument '{key}'")));
        }
        match key.as_str() {
            "filename" => origin.filename = value.extract::<String>()?.into(),
            "line_offset" => origin.line_offset = offset(&key, &value)?,
            "column_offset" => origin.column_offset = offset(&key, &value)?,
            "cached_data" => {
                if !value.is_none() {
                    cached_data = Some(std::sync::Arc::from(value.extract::<Vec<u8>>()?));
                }
            }
            "produce_cached_data" => produce_cached_data = value.is_truthy()?,
            "timeout" => eval.run.timeout = seconds(&key, &value)?,
            "cpu_limit" => eval.run.cpu_limit = seconds(&key, &value)?,
            "promise" => eval.run.promise = value.is_truthy()?,
            "accessors" => eval.run.accessors = value.is_truthy()?,
            "copy" | "reference" | "external_copy" => {
                if value.is_truthy()? {
                    modes.push(key);
                }
            }
            _ => return Err(PyTypeError::new_err(format!("{method}() got an unexpected keyword argument '{key}'"))),
        }
    }
    eval.run.result = match modes.as_slice() {
        [] => TransferMode::Auto,
        [mode] => match mode.as_str() {
            "copy" => TransferMode::Copy,
            "reference" => TransferMode::Reference,
            _ => TransferMode::ExternalCopy,
        },
        _ => return Err(PyValueError::new_err("only one of copy, reference and external_copy may be set")),
    };
    let mut compile = CompileOptions::new().origin(origin).produce_cached_data(produce_cached_data);
    compile.cached_data = cached_data;
    eval.compile = compile;
    Ok(eval)
}

/// `create_context`'s keywords: node:vm's `code_generation_from_strings`
/// and `wasm_code_generation` (bools, default `True`), `globals` (a dict
/// copied in as global variables), and `inspector` (a bool), `name` and
/// `origin` (strings) for the inspector.
pub(crate) fn context(method: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<ContextOptions> {
    let mut context = ContextOptions::new();
    let Some(options) = options else { return Ok(context) };
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        context = match key.as_str() {
            "code_generation_from_strings" => context.code_generation_from_strings(value.extract()?),
            "wasm_code_generation" => context.wasm_code_generation(value.extract()?),
            "inspector" => context.inspector(value.extract()?),
            "name" if value.is_none() => context,
            "name" => context.name(value.extract::<String>()?),
            "origin" if value.is_none() => context,
            "origin" => context.origin(value.extract::<String>()?),
            "globals" if value.is_none() => context,
            "globals" => context.globals(to_structured(value.cast::<PyDict>()?.as_any())?),
            _ => return Err(PyTypeError::new_err(format!("{method}() got an unexpected keyword argument '{key}'"))),
        };
    }
    Ok(context)
}

/// The run options alone, for methods that take no code.
pub(crate) fn run(method: &str, accepts: Accepts, options: Option<&Bound<'_, PyDict>>) -> PyResult<RunOptions> {
    Ok(parse(method, accepts, options)?.run)
}

/// A numeric option out of its range, as Python raises it: `UsageError`,
/// a `ValueError`.
pub(crate) fn out_of_range(error: numeric::RangeError) -> PyErr {
    Python::attach(|py| crate::errors::usage_error(py, error.to_string()))
}

/// A numeric argument or option: an `int` or a `float`, never a `bool`,
/// else a TypeError naming it. Its range is ivm-core's to check
/// (`numeric`), raised as `UsageError` (a `ValueError`). An int too large
/// for a float is out of every range, and becomes an infinity.
pub(crate) fn number(key: &str, value: &Bound<'_, PyAny>) -> PyResult<f64> {
    if value.is_instance_of::<PyBool>() || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>()) {
        let type_name = value.get_type().name()?;
        return Err(PyTypeError::new_err(format!("`{key}` must be an int or a float, not {type_name}")));
    }
    match value.extract::<f64>() {
        Ok(number) => Ok(number),
        // Only an int can be too large for a float.
        Err(_) => Ok(if value.lt(0)? { f64::NEG_INFINITY } else { f64::INFINITY }),
    }
}

/// A duration in seconds (`None` for none).
fn seconds(key: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<Duration>> {
    if value.is_none() {
        return Ok(None);
    }
    seconds_of(key, number(key, value)?).map(Some)
}

/// `value` seconds, checked.
pub(crate) fn seconds_of(key: &str, value: f64) -> PyResult<Duration> {
    numeric::duration(key, value, numeric::Unit::Seconds).map_err(out_of_range)
}

/// The `memory_limit` keyword (MiB), if given.
pub(crate) fn memory_limit(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<usize>> {
    let Some(value) = value else { return Ok(None) };
    let megabytes = number("memory_limit", value)?;
    numeric::memory_limit("memory_limit", megabytes).map(Some).map_err(out_of_range)
}

/// A whole number from `min` to `max`, checked.
pub(crate) fn whole(key: &str, value: f64, min: i64, max: i64) -> PyResult<i64> {
    numeric::integer(key, value, min, max).map_err(out_of_range)
}

/// A line or column offset.
fn offset(key: &str, value: &Bound<'_, PyAny>) -> PyResult<i32> {
    numeric::offset(key, number(key, value)?).map_err(out_of_range)
}
