//! `ivm.library`: isolated-vm's library for passing into an isolate, whose
//! JavaScript can then make and drive isolates of its own
//! (`new ivm.Isolate(...)`), each inside the limit of the one that made it.

use pyo3::prelude::*;

/// isolated-vm's library, for an isolate's JavaScript:
/// ``context.global_.set("ivm", ivm.library)`` gives its code
/// ``new ivm.Isolate({ memoryLimit })``, ``ivm.ExternalCopy`` and the rest.
/// An isolate made there draws its memory limit from the one that made it,
/// and goes when that one goes.
#[pyclass(module = "ivm", frozen, name = "Library")]
pub(crate) struct Library;

#[pymethods]
impl Library {
    fn __repr__(&self) -> &'static str {
        "ivm.library"
    }
}
