//! The native side of `ivm.vm` (`python/ivm/vm.py`): ivm-core's `Sandbox`,
//! whose runs take a dict's items as the context's globals and give back
//! what to write onto the dict.

use ivm_core::{Completion, Error, SandboxChanges, SandboxValue, Transferable};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::aio::detached;
use crate::convert::{from_transferable, to_transferable};
use crate::errors::{timeout_error, to_py, transfer_error};
use crate::isolate::Context;
use crate::options::{self, EVAL_CLOSURE};

/// A context whose globals follow a dict (see `ivm.vm`).
#[pyclass(module = "ivm", frozen)]
pub(crate) struct Sandbox {
    inner: ivm_core::Sandbox,
}

#[pymethods]
impl Sandbox {
    #[new]
    fn new(py: Python<'_>, context: &Context) -> PyResult<Sandbox> {
        let inner = ivm_core::Sandbox::new(context.inner.clone()).map_err(|e| to_py(py, e))?;
        Ok(Sandbox { inner })
    }

    /// Runs `code` with `globals`' items as the context's globals:
    /// `(exception or None, result, set, deleted)`, where `set` lists the
    /// `(name, value)` pairs to write onto the dict and `deleted` the names
    /// to remove from it, also when the run raised.
    #[pyo3(signature = (code, globals, **options))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        code: &str,
        globals: &Bound<'py, PyDict>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let options = options::parse("run", EVAL_CLOSURE, options)?;
        let timeout = options.run.timeout;
        let values = globals
            .iter()
            .map(|(name, value)| {
                let name: String =
                    name.extract().map_err(|_| transfer_error(py, "a sandbox's keys must be strings"))?;
                let value = sandbox_value(&value, &name)?;
                Ok((name, value))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let sandbox = self.inner.clone();
        // Ctrl-C while it runs ends the run, as for every call.
        let (result, changes) = detached(py, || Ok(sandbox.run(&values, code, &options)))?;
        report(py, result, changes, timeout)
    }

    /// Calls `function`, a function of the context's (a Reference that a
    /// run's changes gave), with `args` going in as a dict's values do:
    /// `(exception or None, result, set, deleted)` as `run` gives them, a
    /// promise it returned settled first (see `ivm_core::Sandbox::call`).
    fn call<'py>(
        &self,
        py: Python<'py>,
        function: &crate::reference::Reference,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let function = function.in_isolate().ok_or_else(|| transfer_error(py, "not a function of a context"))?.clone();
        let arguments = args
            .iter()
            .enumerate()
            .map(|(index, value)| sandbox_value(&value, &format!("argument {index}")))
            .collect::<PyResult<Vec<_>>>()?;
        let sandbox = self.inner.clone();
        let (result, changes) = detached(py, || Ok(sandbox.call(&function, &arguments)))?;
        report(py, result, changes, None)
    }
}

/// A run's or a call's `(exception or None, result, set, deleted)`.
fn report<'py>(
    py: Python<'py>,
    result: ivm_core::Result<Completion>,
    changes: SandboxChanges,
    timeout: Option<std::time::Duration>,
) -> PyResult<Bound<'py, PyTuple>> {
    let (raised, result) = match result {
        // Python has no promise of the context's to give: a promise's
        // value, or its rejection raised.
        Ok(Completion::Value(value) | Completion::Fulfilled(value)) => {
            (py.None().into_bound(py), from_transferable(py, value)?)
        }
        Ok(Completion::Rejected(error)) => {
            (to_py(py, error).into_value(py).into_bound(py).into_any(), py.None().into_bound(py))
        }
        Err(Error::Timeout) => {
            let message = ivm_core::Sandbox::timeout_message(timeout.unwrap_or_default());
            (timeout_error(py, message).into_value(py).into_bound(py).into_any(), py.None().into_bound(py))
        }
        Err(error) => (to_py(py, error).into_value(py).into_bound(py).into_any(), py.None().into_bound(py)),
    };
    let (set, deleted) = changes_to_py(py, changes)?;
    PyTuple::new(py, [raised, result, set, deleted])
}

/// `(set, deleted)`: the `(name, value)` pairs to write onto the dict and
/// the names to remove from it.
fn changes_to_py(py: Python<'_>, changes: SandboxChanges) -> PyResult<(Bound<'_, PyAny>, Bound<'_, PyAny>)> {
    let set = PyList::empty(py);
    for (name, value) in changes.set {
        set.append((name, from_transferable(py, value)?))?;
    }
    Ok((set.into_any(), PyList::new(py, changes.deleted)?.into_any()))
}

/// A dict's value as it goes into the context: a dict holding callables is
/// rebuilt inside as an object of its items (`{"print": print}`), anything
/// else crosses as `to_transferable` makes it (callables as callbacks), and
/// an object that cannot (an instance of a class, a module) is rebuilt
/// inside from its public attributes ([`members`]).
fn sandbox_value(value: &Bound<'_, PyAny>, path: &str) -> PyResult<SandboxValue> {
    let with_path =
        |error: PyErr| transfer_error(value.py(), format!("{path}: {}", crate::errors::message_of(value.py(), &error)));
    if let Ok(dict) = value.cast::<PyDict>() {
        // Converted once: a copy when it has one.
        match crate::convert::to_structured(value) {
            Ok(copy) => return Ok(SandboxValue::Value(Transferable::Copy(copy))),
            Err(error) => {
                let holds_callable =
                    dict.values().iter().any(|item| item.is_callable() || item.cast::<PyDict>().is_ok());
                if !holds_callable {
                    return Err(with_path(error));
                }
            }
        }
        let properties = dict
            .iter()
            .map(|(name, item)| {
                let name: String =
                    name.extract().map_err(|_| transfer_error(value.py(), format!("{path}: keys must be strings")))?;
                let item = sandbox_value(&item, &format!("{path}.{name}"))?;
                Ok((name, item))
            })
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(SandboxValue::Object(properties));
    }
    match to_transferable(value) {
        Ok(value) => Ok(SandboxValue::Value(value)),
        Err(error) if !value.is_callable() => members(value).map(SandboxValue::Object).ok_or_else(|| with_path(error)),
        Err(error) => Err(with_path(error)),
    }
}

/// The public attributes of an object that has no copy, as it goes in:
/// its methods and functions as callbacks (a method called on the object
/// itself, so that it sees and changes the object's own state), its data as
/// copies; attributes that are neither (another module, say), or that fail
/// to read, are left out, and so are properties (reading one runs its code
/// before the script asks). `None` if it has no public attribute.
fn members(value: &Bound<'_, PyAny>) -> Option<Vec<(String, SandboxValue)>> {
    let names = value.dir().ok()?;
    let class = value.get_type();
    let mut members = Vec::new();
    for name in names.iter() {
        let Ok(name) = name.extract::<String>() else { continue };
        if name.starts_with('_') {
            continue;
        }
        let descriptor = class.getattr(name.as_str()).ok();
        if descriptor.is_some_and(|descriptor| descriptor.hasattr("__set__").unwrap_or(true)) {
            continue;
        }
        let Ok(member) = value.getattr(name.as_str()) else { continue };
        let Ok(member) = to_transferable(&member) else { continue };
        members.push((name, SandboxValue::Value(member)));
    }
    (!members.is_empty()).then_some(members)
}
