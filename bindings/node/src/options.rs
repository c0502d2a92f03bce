//! isolated-vm's option objects, read where they are used: `index.js` hands
//! the caller's objects over as they are, and each method reads its options
//! by name, with a TypeError that names an option of the wrong type and
//! ivm-core's `numeric` ranges for numbers (a RangeError). One reader per
//! kind of option, so adding an option to a method is a line here or there.

use std::borrow::Cow;
use std::time::Duration;

use ivm_core::{RunOptions, ScriptOrigin, numeric};
use napi::{Env, JsFunction, JsObject, JsUnknown, ValueType};

use crate::convert::ResultMode;
use crate::errors::{range_error, type_error};

/// isolated-vm's file name for code given none.
const ANONYMOUS: &str = "<isolated-vm>";

/// An options argument: an object, or nothing at all.
pub(crate) struct Options<'e> {
    env: &'e Env,
    object: Option<JsObject>,
    /// The option these options are nested in (`codeGeneration` for
    /// `{ codeGeneration: { … } }`), for the messages that name them; one
    /// level is all isolated-vm's options have.
    parent: Option<&'static str>,
}

impl<'e> Options<'e> {
    /// `value` as an options object (`undefined` and `null` are none), or a
    /// TypeError naming it.
    pub(crate) fn of(env: &'e Env, value: Option<JsUnknown>, name: &str) -> napi::Result<Options<'e>> {
        let object = match value {
            None => None,
            Some(value) => match value.get_type()? {
                ValueType::Undefined | ValueType::Null => None,
                ValueType::Object => Some(value.coerce_to_object()?),
                _ => return Err(type_error(env, format!("`{name}` must be an object"))),
            },
        };
        Ok(Options { env, object, parent: None })
    }

    /// An options object napi-rs has already checked to be one.
    pub(crate) fn object(env: &'e Env, object: Option<JsObject>) -> Options<'e> {
        Options { env, object, parent: None }
    }

    /// The full name of option `name`, as messages give it.
    fn name<'n>(&self, name: &'n str) -> Cow<'n, str> {
        match self.parent {
            None => Cow::Borrowed(name),
            Some(parent) => Cow::Owned(format!("{parent}.{name}")),
        }
    }

    /// The option `name`, if it is set (neither `undefined` nor `null`).
    pub(crate) fn value(&self, name: &str) -> napi::Result<Option<JsUnknown>> {
        let Some(object) = &self.object else { return Ok(None) };
        let value: JsUnknown = object.get_named_property(name)?;
        Ok(match value.get_type()? {
            ValueType::Undefined | ValueType::Null => None,
            _ => Some(value),
        })
    }

    fn typed(&self, name: &str, kind: ValueType, what: &str) -> napi::Result<Option<JsUnknown>> {
        match self.value(name)? {
            Some(value) if value.get_type()? != kind => {
                Err(type_error(self.env, format!("`{}` must be {what}", self.name(name))))
            }
            value => Ok(value),
        }
    }

    /// A boolean option.
    pub(crate) fn boolean(&self, name: &str) -> napi::Result<Option<bool>> {
        self.typed(name, ValueType::Boolean, "a boolean")?.map(|value| value.coerce_to_bool()?.get_value()).transpose()
    }

    /// An option read as JavaScript reads a condition, as isolated-vm reads
    /// its switches (`promise`, `inspector`, `accessors`).
    pub(crate) fn truthy(&self, name: &str) -> napi::Result<bool> {
        Ok(match self.value(name)? {
            Some(value) => value.coerce_to_bool()?.get_value()?,
            None => false,
        })
    }

    pub(crate) fn string(&self, name: &str) -> napi::Result<Option<String>> {
        let value = self.typed(name, ValueType::String, "a string")?;
        value.map(|value| value.coerce_to_string()?.into_utf8()?.into_owned()).transpose()
    }

    pub(crate) fn function(&self, name: &str) -> napi::Result<Option<JsFunction>> {
        let value = self.typed(name, ValueType::Function, "a function")?;
        // SAFETY: `typed` checked that it is a function.
        Ok(value.map(|value| unsafe { value.cast::<JsFunction>() }))
    }

    pub(crate) fn number(&self, name: &str) -> napi::Result<Option<f64>> {
        self.typed(name, ValueType::Number, "a number")?.map(|value| value.coerce_to_number()?.get_double()).transpose()
    }

    /// An options object nested in this one (`result`, `codeGeneration`).
    pub(crate) fn options(&self, name: &'static str) -> napi::Result<Options<'e>> {
        let options = Options::of(self.env, self.value(name)?, &self.name(name))?;
        Ok(Options { parent: Some(name), ..options })
    }

    /// `timeout`, in milliseconds from 0 to 2^53 − 1; 0 (or none) means no
    /// timeout, as in isolated-vm.
    pub(crate) fn timeout(&self) -> napi::Result<Option<Duration>> {
        let Some(ms) = self.number("timeout")? else { return Ok(None) };
        let timeout = numeric::duration(&self.name("timeout"), ms, numeric::Unit::Milliseconds)
            .map_err(|e| range_error(self.env, e))?;
        Ok(Some(timeout).filter(|timeout| !timeout.is_zero()))
    }

    /// `run` with these options' `timeout`, which as in isolated-vm stops
    /// while the call waits on a host function.
    pub(crate) fn timed(&self, run: RunOptions) -> napi::Result<RunOptions> {
        Ok(match self.timeout()? {
            Some(timeout) => run.timeout(timeout).pause_timeout_in_host(true),
            None => run,
        })
    }

    /// isolated-vm's TransferOptions: at most one of `copy`, `externalCopy`
    /// and `reference`, else `fallback`.
    pub(crate) fn result_mode(&self, fallback: ResultMode) -> napi::Result<ResultMode> {
        let set = [
            ("copy", ResultMode::Copy),
            ("externalCopy", ResultMode::ExternalCopy),
            ("reference", ResultMode::Reference),
        ];
        let mut chosen = None;
        for (name, mode) in set {
            if self.truthy(name)? {
                if chosen.is_some() {
                    return Err(type_error(self.env, "Only one of `copy`, `externalCopy`, or `reference` may be set"));
                }
                chosen = Some(mode);
            }
        }
        Ok(chosen.unwrap_or(fallback))
    }

    /// How a call's result leaves: these options' TransferOptions and
    /// `promise`.
    pub(crate) fn transfer(&self, fallback: ResultMode) -> napi::Result<(RunOptions, ResultMode)> {
        let mode = self.result_mode(fallback)?;
        Ok((RunOptions::new().result(mode.transfer_mode()).promise(self.truthy("promise")?), mode))
    }

    /// The run options of a call whose options hold it all: `timeout`, and
    /// how its result leaves (`eval`, `run`, `get`).
    pub(crate) fn run(&self, fallback: ResultMode) -> napi::Result<(RunOptions, ResultMode)> {
        if self.object.is_none() {
            return Ok(Self::defaults(fallback));
        }
        let (run, mode) = self.transfer(fallback)?;
        Ok((self.timed(run)?, mode))
    }

    /// The run options of a call whose result's options are nested in
    /// `result` (`apply`, `evalClosure`): `timeout` is read here, not there.
    pub(crate) fn call(&self, fallback: ResultMode) -> napi::Result<(RunOptions, ResultMode)> {
        if self.object.is_none() {
            return Ok(Self::defaults(fallback));
        }
        let (run, mode) = self.options("result")?.transfer(fallback)?;
        Ok((self.timed(run)?, mode))
    }

    /// What a call without options runs with: read without a pass over
    /// every option, which costs a call from Node (applySync) a tenth of
    /// its time in the results' moves alone.
    fn defaults(fallback: ResultMode) -> (RunOptions, ResultMode) {
        (RunOptions::new().result(fallback.transfer_mode()), fallback)
    }

    /// ScriptOrigin's `filename`, `lineOffset` and `columnOffset`.
    pub(crate) fn origin(&self) -> napi::Result<ScriptOrigin> {
        self.with_offsets(self.named()?)
    }

    /// An origin named by `filename`, or by isolated-vm's name for code
    /// without one (which costs no allocation).
    pub(crate) fn named(&self) -> napi::Result<ScriptOrigin> {
        Ok(self.string("filename")?.map_or(ScriptOrigin::named(ANONYMOUS), ScriptOrigin::new))
    }

    /// `origin` with `lineOffset` and `columnOffset` (whole 32-bit numbers).
    pub(crate) fn with_offsets(&self, origin: ScriptOrigin) -> napi::Result<ScriptOrigin> {
        let offset = |name| -> napi::Result<i32> {
            let Some(value) = self.number(name)? else { return Ok(0) };
            numeric::offset(&self.name(name), value).map_err(|e| range_error(self.env, e))
        };
        Ok(origin.line_offset(offset("lineOffset")?).column_offset(offset("columnOffset")?))
    }
}
