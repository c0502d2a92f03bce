//! ivm's Python package, compiled half (`ivm._ivm`): ivm-core's Isolate,
//! Context, Script, Module, Reference, ExternalCopy and Callback as Python classes,
//! with Python's idioms (keyword options, context managers, asyncio futures
//! for the async forms, exceptions of their own classes) and Python values
//! converted to and from ivm's value model.
//!
//! It owns only conversion and idiom: what an operation does is ivm-core's.
//! The interpreter is released whenever JavaScript runs or a caller waits
//! on an isolate, so Python threads run isolates in parallel.

/// Copies out of isolates are bounded as V8 makes them
/// (`ivm_core::BoundedAllocator`).
#[global_allocator]
static ALLOCATOR: ivm_core::BoundedAllocator = ivm_core::BoundedAllocator;

mod aio;
mod callback;
mod convert;
mod errors;
mod external_copy;
mod inspector;
mod interpreter;
mod isolate;
mod library;
mod module;
mod options;
mod pool;
mod reference;
mod sandbox;
mod signals;
mod snapshot;

use pyo3::prelude::*;

/// Bytes held by every live ExternalCopy in the process.
#[pyfunction]
fn total_external_size() -> usize {
    ivm_core::total_external_size()
}

/// Panics, in debug builds only: the test that a panic in the package is
/// raised (pyo3's `PanicException`) and never aborts the interpreter.
#[cfg(debug_assertions)]
#[pyfunction]
fn _panic_for_testing() {
    panic!("a panic in the package, on purpose");
}

#[pymodule]
fn _ivm(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<isolate::Isolate>()?;
    module.add_class::<isolate::Context>()?;
    module.add_class::<isolate::Script>()?;
    module.add_class::<module::Module>()?;
    module.add_class::<reference::Reference>()?;
    module.add_class::<external_copy::ExternalCopy>()?;
    module.add_class::<external_copy::CopyInto>()?;
    module.add_class::<external_copy::SharedMemory>()?;
    module.add_class::<callback::Callback>()?;
    module.add_class::<inspector::InspectorSession>()?;
    module.add_class::<inspector::InspectorServer>()?;
    module.add_class::<pool::IsolatePool>()?;
    module.add_class::<pool::PooledIsolate>()?;
    module.add_class::<sandbox::Sandbox>()?;
    module.add_class::<library::Library>()?;
    module.add("library", library::Library)?;
    module.add_function(wrap_pyfunction!(total_external_size, module)?)?;
    module.add_function(wrap_pyfunction!(interpreter::shutdown, module)?)?;
    module.add_function(wrap_pyfunction!(snapshot::create_snapshot, module)?)?;
    module.add_function(wrap_pyfunction!(snapshot::_snapshot_worker, module)?)?;
    // Not in `__all__`: it is no part of the API.
    #[cfg(debug_assertions)]
    module.setattr("_panic_for_testing", wrap_pyfunction!(_panic_for_testing, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
