//! `Module`: ES modules. The resolver a module is instantiated with is a
//! Python callable `(specifier, referrer) -> Module`; in the async form it
//! may be a coroutine function, whose coroutines run on the asyncio loop
//! that called `instantiate_async`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::aio::{asyncio, detached, future, when_ready};
use crate::convert::{from_transferable, to_structured};
use crate::errors::message_of;
use crate::isolate::Context;
use crate::options::{self, RUN};
use crate::reference::Reference;

/// An ES module of an isolate (``Isolate.compile_module``): instantiate it
/// in a context with a resolver for its imports, then evaluate it.
#[pyclass(module = "ivm", frozen)]
pub(crate) struct Module {
    inner: ivm_core::Module,
}

impl From<ivm_core::Module> for Module {
    fn from(inner: ivm_core::Module) -> Module {
        Module { inner }
    }
}

/// The module a resolver answered with.
fn answer(value: &Bound<'_, PyAny>) -> PyResult<ivm_core::Module> {
    match value.cast::<Module>() {
        Ok(module) => Ok(module.get().inner.clone()),
        Err(_) => {
            let kind = value.get_type().name().map(|name| name.to_string()).unwrap_or_default();
            Err(PyTypeError::new_err(format!("a module resolver must return an ivm.Module, not {kind}")))
        }
    }
}

#[pymethods]
impl Module {
    /// The specifiers of the module's static imports, in source order.
    #[getter]
    fn dependency_specifiers(&self) -> Vec<String> {
        self.inner.dependency_specifiers().to_vec()
    }

    /// Links the module and its imports into `context`: `resolver` is called
    /// as ``resolver(specifier, referrer)`` for each import of each module
    /// not linked yet and returns the ``Module`` it names.
    fn instantiate(&self, py: Python<'_>, context: &Bound<'_, Context>, resolver: Py<PyAny>) -> PyResult<()> {
        let context = &context.get().inner;
        let mut raised = None;
        let linked = detached(py, || {
            self.inner.instantiate(context, |specifier, referrer| {
                Python::attach(|py| {
                    let referrer = Module::from(referrer.clone());
                    let resolved = resolver.bind(py).call1((specifier, referrer)).and_then(|value| answer(&value));
                    resolved.map_err(|error| {
                        let message = message_of(py, &error);
                        raised = Some(error);
                        ivm_core::Error::InvalidArgument(message)
                    })
                })
            })
        });
        // The resolver's own exception is the clearest error there is.
        match (linked, raised) {
            (Err(_), Some(error)) => Err(error),
            (result, _) => result,
        }
    }

    /// `instantiate`, awaitable; the resolver may be a coroutine function.
    fn instantiate_async<'py>(
        &self,
        py: Python<'py>,
        context: &Bound<'_, Context>,
        resolver: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = asyncio(py)?.call_method0("get_running_loop")?.unbind();
        let pending = self.inner.instantiate_async(&context.get().inner, move |specifier, referrer, settle| {
            // Shutting down: `settle` is dropped, which fails the instantiation.
            crate::interpreter::attach(|py| {
                let asked = resolver.bind(py).call1((specifier, Module::from(referrer)));
                when_ready(py, asked, Some(&event_loop), move |py, outcome| {
                    match outcome.and_then(|value| answer(&value)) {
                        Ok(module) => settle.resolve(module),
                        Err(error) => settle.reject(crate::errors::host_error(py, &error)),
                    }
                });
            });
        });
        future(py, pending, |py, ()| Ok(py.None().into_bound(py)))
    }

    /// Runs the module (and the modules it imports that have not run),
    /// waiting for its top-level ``await``; raises what it throws.
    #[pyo3(signature = (**options), text_signature = "($self, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn evaluate<'py>(&self, py: Python<'py>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("evaluate", RUN, options)?;
        let result = detached(py, || self.inner.evaluate(&options))?;
        from_transferable(py, result)
    }

    /// `evaluate`, awaitable: a top-level ``await`` may wait on Python
    /// (an async callback).
    #[pyo3(signature = (**options), text_signature = "($self, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn evaluate_async<'py>(&self, py: Python<'py>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("evaluate_async", RUN, options)?;
        future(py, self.inner.evaluate_async(options), from_transferable)
    }

    /// A reference to the module's namespace object (its exports).
    #[getter]
    fn namespace(&self, py: Python<'_>) -> PyResult<Reference> {
        Ok(Reference::isolate(detached(py, || self.inner.namespace())?))
    }

    /// Properties for the module's ``import.meta`` besides ``url`` (its
    /// filename): a dict copied in, read by code that runs after this call.
    fn set_import_meta(&self, meta: &Bound<'_, PyDict>) -> PyResult<()> {
        self.inner.set_import_meta(to_structured(meta.as_any())?);
        Ok(())
    }

    /// V8's code cache of the module, when compiled with
    /// ``produce_cached_data=True``.
    #[getter]
    fn cached_data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, pyo3::types::PyBytes>> {
        self.inner.cached_data().map(|data| pyo3::types::PyBytes::new(py, data))
    }

    /// Whether V8 rejected the ``cached_data`` the module was compiled with
    /// (``None`` when it was given none).
    #[getter]
    fn cached_data_rejected(&self) -> Option<bool> {
        self.inner.cached_data_rejected()
    }

    /// Releases the module; later uses raise `ReleasedError`.
    fn release(&self) {
        self.inner.release();
    }

    fn __repr__(&self) -> String {
        format!("<ivm.Module importing {:?}>", self.inner.dependency_specifiers())
    }
}
