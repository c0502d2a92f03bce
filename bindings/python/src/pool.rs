//! `IsolatePool`: ivm-core's warm pool of isolates, each checked out with
//! its context for one request (`with pool.checkout() as pooled:`) and
//! replaced by a fresh one when handed back.

use std::sync::Mutex;

use pyo3::prelude::*;

use crate::aio::{detached, future};
use crate::errors::usage_error;
use crate::isolate::{Context, Isolate, isolate_options};
use crate::options::{number, out_of_range};
use ivm_core::numeric;

/// A pool of `size` isolates booted ahead of time (from `snapshot`,
/// typically; the other options are `Isolate`'s), so a request takes a
/// ready isolate instead of booting one.
/// An isolate handed back is disposed and replaced, never reused.
#[pyclass(module = "ivm", frozen)]
pub(crate) struct IsolatePool {
    inner: ivm_core::IsolatePool,
}

#[pymethods]
impl IsolatePool {
    #[new]
    #[pyo3(signature = (size, *, memory_limit = None, snapshot = None, on_catastrophic_error = None))]
    fn new(
        py: Python<'_>,
        size: &Bound<'_, PyAny>,
        memory_limit: Option<&Bound<'_, PyAny>>,
        snapshot: Option<Vec<u8>>,
        on_catastrophic_error: Option<Py<PyAny>>,
    ) -> PyResult<IsolatePool> {
        let size = numeric::pool_size("size", number("size", size)?).map_err(out_of_range)?;
        let options = isolate_options(memory_limit, snapshot, on_catastrophic_error)?;
        Ok(IsolatePool { inner: detached(py, || ivm_core::IsolatePool::new(options, size))? })
    }

    /// An isolate and its context for one request, waiting for one to be
    /// ready if all are out; use it as a context manager, or call
    /// ``release()`` when done.
    fn checkout(&self, py: Python<'_>) -> PyResult<PooledIsolate> {
        PooledIsolate::new(py, detached(py, || self.inner.checkout())?)
    }

    /// `checkout`, awaitable: waiting checkouts are served in the order they
    /// came, as the pool boots isolates.
    fn checkout_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        future(py, self.inner.checkout_async(), |py, pooled| {
            Ok(Bound::new(py, PooledIsolate::new(py, pooled)?)?.into_any())
        })
    }

    /// How many isolates are ready now.
    #[getter]
    fn ready(&self) -> usize {
        self.inner.ready()
    }

    /// How many isolates the pool keeps ready.
    #[getter]
    fn size(&self) -> usize {
        self.inner.size()
    }

    fn __repr__(&self) -> String {
        format!("<ivm.IsolatePool of {} ({} ready)>", self.inner.size(), self.inner.ready())
    }
}

/// An isolate checked out of an `IsolatePool`, with its context.
#[pyclass(module = "ivm", frozen)]
pub(crate) struct PooledIsolate {
    isolate: Py<Isolate>,
    context: Py<Context>,
    pooled: Mutex<Option<ivm_core::PooledIsolate>>,
}

#[pymethods]
impl PooledIsolate {
    /// The isolate.
    #[getter]
    fn isolate(&self, py: Python<'_>) -> PyResult<Py<Isolate>> {
        self.check(py)?;
        Ok(self.isolate.clone_ref(py))
    }

    /// Its context.
    #[getter]
    fn context(&self, py: Python<'_>) -> PyResult<Py<Context>> {
        self.check(py)?;
        Ok(self.context.clone_ref(py))
    }

    /// Hands the isolate back to be disposed and replaced; releasing twice
    /// is harmless.
    fn release(&self) {
        let pooled = self.pooled.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        drop(pooled);
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(&self, _kind: &Bound<'_, PyAny>, _error: &Bound<'_, PyAny>, _traceback: &Bound<'_, PyAny>) {
        self.release();
    }
}

impl PooledIsolate {
    fn new(py: Python<'_>, pooled: ivm_core::PooledIsolate) -> PyResult<PooledIsolate> {
        Ok(PooledIsolate {
            isolate: Py::new(py, Isolate::from(pooled.isolate().clone()))?,
            context: Py::new(py, Context { inner: pooled.context().clone() })?,
            pooled: Mutex::new(Some(pooled)),
        })
    }

    fn check(&self, py: Python<'_>) -> PyResult<()> {
        let released = self.pooled.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_none();
        if released { Err(usage_error(py, "this pooled isolate has been handed back")) } else { Ok(()) }
    }
}
