//! `Callback`: a Python function that JavaScript calls. Its arguments arrive
//! as copies and what it returns goes back as any argument does; an
//! exception it raises is thrown in JavaScript as an `Error` with the
//! exception's message (and comes back out of the call as a `JSError`).
//!
//! A plain function runs while JavaScript waits, on the thread running the
//! isolate, holding the interpreter. A coroutine function (``async def``)
//! returns a promise at once: the coroutine runs on the asyncio loop that was
//! running when the callback was made, and settles the promise when done.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::aio::{asyncio, when_ready};
use crate::convert::{from_structured, to_transferable};
use crate::errors::{host_error, raise_into_javascript};

/// A Python function that JavaScript can call. Any callable passed into an
/// isolate becomes one; make one explicitly to pass it inside a value's
/// top level (``ctx.global_.set("log", Callback(print))``).
#[pyclass(module = "ivm", frozen)]
pub(crate) struct Callback {
    inner: ivm_core::Callback,
}

impl From<ivm_core::Callback> for Callback {
    fn from(inner: ivm_core::Callback) -> Callback {
        Callback { inner }
    }
}

impl Callback {
    pub(crate) fn callback(&self) -> ivm_core::Callback {
        self.inner.clone()
    }

    /// A callback calling `function`: async for a coroutine function.
    pub(crate) fn wrap(function: &Bound<'_, PyAny>) -> PyResult<Callback> {
        let py = function.py();
        if !function.is_callable() {
            return Err(PyTypeError::new_err("Callback() needs a callable"));
        }
        let is_coroutine_function =
            py.import("inspect")?.call_method1("iscoroutinefunction", (function,))?.is_truthy()?;
        let function = function.clone().unbind();
        if !is_coroutine_function {
            return Ok(Callback {
                inner: ivm_core::Callback::new(move |arguments| {
                    crate::interpreter::attach(|py| {
                        let call = || {
                            let arguments = arguments.into_iter().map(|argument| from_structured(py, argument));
                            let arguments = PyTuple::new(py, arguments.collect::<PyResult<Vec<_>>>()?)?;
                            to_transferable(&function.bind(py).call1(arguments)?)
                        };
                        call().map_err(|error| raise_into_javascript(py, &error))
                    })
                    .unwrap_or_else(|| Err(crate::interpreter::SHUT_DOWN.into()))
                }),
            });
        }
        let event_loop = asyncio(py)?.call_method0("get_running_loop").ok().map(Bound::unbind);
        Ok(Callback {
            inner: ivm_core::Callback::new_async(move |arguments, resolver| {
                // Shutting down: the resolver is dropped, which rejects the call.
                crate::interpreter::attach(|py| {
                    let arguments = arguments.into_iter().map(|argument| from_structured(py, argument));
                    let called = arguments
                        .collect::<PyResult<Vec<_>>>()
                        .and_then(|arguments| function.bind(py).call1(PyTuple::new(py, arguments)?));
                    when_ready(py, called, event_loop.as_ref(), move |py, outcome| {
                        match outcome.and_then(|value| to_transferable(&value)) {
                            Ok(value) => resolver.resolve(value),
                            Err(error) => resolver.reject(host_error(py, &error)),
                        }
                    });
                });
            }),
        })
    }
}

#[pymethods]
impl Callback {
    #[new]
    fn new(function: &Bound<'_, PyAny>) -> PyResult<Callback> {
        Callback::wrap(function)
    }

    fn __repr__(&self) -> &'static str {
        "<ivm.Callback>"
    }
}
