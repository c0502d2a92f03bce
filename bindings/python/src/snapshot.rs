//! Startup snapshots: `ivm.create_snapshot` runs scripts in a snapshot
//! worker (a Python of its own running `_snapshot_worker`, see ivm-core's
//! snapshot module) and returns bytes that `Isolate(snapshot=…)` boots from.

use ivm_core::{ScriptOrigin, SnapshotOptions, SnapshotScript, SnapshotWorker};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::aio::detached;
use crate::options::{number, seconds_of};

/// The snapshot of a fresh context after running `scripts` (each a str, or
/// a ``(code, filename)`` tuple), in order: an isolate made with
/// ``Isolate(snapshot=…)`` starts with their globals. With `warmup`, the
/// functions it calls are compiled into the snapshot too (its state is not
/// kept). The scripts run in a separate process under `memory_limit` (MiB)
/// and `timeout` (seconds): what they throw is raised here, and a crash or a
/// runaway loop there is an error here.
#[pyfunction]
#[pyo3(
    signature = (scripts, warmup = None, *, memory_limit = None, timeout = None),
    text_signature = "(scripts, warmup=None, *, memory_limit=128, timeout=10.0)"
)]
pub(crate) fn create_snapshot<'py>(
    py: Python<'py>,
    scripts: &Bound<'_, PyAny>,
    warmup: Option<String>,
    memory_limit: Option<&Bound<'_, PyAny>>,
    timeout: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    // Left unset, the core's defaults hold (128 MiB, 10 s).
    let mut options = SnapshotOptions::new();
    if let Some(megabytes) = crate::options::memory_limit(memory_limit)? {
        options = options.memory_limit(megabytes);
    }
    if let Some(timeout) = timeout {
        options = options.timeout(seconds_of("timeout", number("timeout", timeout)?)?);
    }
    let mut parsed = Vec::new();
    for (index, script) in scripts.try_iter()?.enumerate() {
        let script = script?;
        parsed.push(if let Ok(code) = script.cast::<PyString>() {
            SnapshotScript::new(code.to_str()?, ScriptOrigin::new(format!("<snapshot script {index}>")))
        } else if let Ok(pair) = script.cast::<PyTuple>() {
            let (code, filename): (String, String) = pair.extract()?;
            SnapshotScript::new(code, ScriptOrigin::new(filename))
        } else {
            return Err(PyTypeError::new_err("each snapshot script is a str or a (code, filename) tuple"));
        });
    }
    let executable: String = py.import("sys")?.getattr("executable")?.extract()?;
    let worker =
        SnapshotWorker::new(executable).arg("-c").arg("import sys, ivm._ivm as ivm; sys.exit(ivm._snapshot_worker())");
    let options = options.worker(worker);
    let snapshot = detached(py, || ivm_core::create_snapshot(&parsed, warmup.as_deref(), &options))?;
    Ok(PyBytes::new(py, &snapshot))
}

/// The body of a snapshot worker process (what `create_snapshot` starts).
#[pyfunction]
pub(crate) fn _snapshot_worker(py: Python<'_>) -> i32 {
    py.detach(ivm_core::serve_snapshot_worker)
}
