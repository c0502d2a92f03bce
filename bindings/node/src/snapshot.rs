//! isolated-vm's startup snapshots: `ivm.Isolate.createSnapshot(scripts,
//! warmupScript)` returns an `ExternalCopy` of an ArrayBuffer, which
//! `new ivm.Isolate({ snapshot })` boots from.
//!
//! ivm-core makes a snapshot in a worker process of its own (V8 cannot
//! make one beside running isolates, and the scripts run there under a
//! memory limit and a timeout, so a crash or a runaway loop is an error
//! here). In Node that process is Node itself, started by `index.js`'s
//! command line to load this very addon file and call `_snapshotWorker`.

use ivm_core::{ScriptOrigin, SnapshotOptions, SnapshotScript, SnapshotWorker, numeric};
use napi::{Env, JsUnknown};
use napi_derive::napi;

use crate::code_cache::{array_buffer_copy, array_buffer_copy_bytes};
use crate::errors::{internal, range_error, to_napi};
use crate::isolate::offset;
use crate::reference::timeout;

/// One of `createSnapshot`'s scripts, as `index.js` checked it.
#[napi(object)]
#[derive(Debug)]
pub struct SnapshotScriptInfo {
    pub code: String,
    pub filename: Option<String>,
    pub line_offset: Option<f64>,
    pub column_offset: Option<f64>,
}

/// `Isolate.createSnapshot(scripts, warmupScript, { memoryLimit, timeout })`:
/// runs the scripts in a worker started as `worker` (the program, then its
/// arguments) with `worker_env` (names and values, alternating) added to
/// its environment, and returns the snapshot as an `ExternalCopy` of an
/// ArrayBuffer. Blocks until the worker is done, as isolated-vm's does.
#[napi(js_name = "_createSnapshot", catch_unwind)]
#[allow(dead_code, reason = "called from JavaScript, through napi-rs' registration")]
pub fn create_snapshot(
    env: Env,
    scripts: Vec<SnapshotScriptInfo>,
    warmup: Option<String>,
    memory_limit_mb: Option<f64>,
    timeout_ms: Option<f64>,
    worker: Vec<String>,
    worker_env: Vec<String>,
) -> napi::Result<JsUnknown> {
    let scripts = scripts
        .into_iter()
        .map(|script| {
            let origin = script.filename.map_or_else(ScriptOrigin::default, ScriptOrigin::new);
            let origin = origin.line_offset(offset(&env, "lineOffset", script.line_offset)?).column_offset(offset(
                &env,
                "columnOffset",
                script.column_offset,
            )?);
            Ok(SnapshotScript::new(script.code, origin))
        })
        .collect::<napi::Result<Vec<_>>>()?;
    let mut options = SnapshotOptions::new().worker(worker_command(worker, worker_env)?);
    if let Some(mb) = memory_limit_mb {
        options = options.memory_limit(numeric::memory_limit("memoryLimit", mb).map_err(|e| range_error(&env, e))?);
    }
    if let Some(timeout) = timeout(&env, timeout_ms)? {
        options = options.timeout(timeout);
    }
    let bytes = ivm_core::create_snapshot(&scripts, warmup.as_deref(), &options).map_err(|e| to_napi(&env, e))?;
    array_buffer_copy(&env, &bytes)
}

fn worker_command(worker: Vec<String>, worker_env: Vec<String>) -> napi::Result<SnapshotWorker> {
    let mut worker = worker.into_iter();
    let program = worker.next().ok_or_else(|| internal("no snapshot worker program"))?;
    let mut command = worker.fold(SnapshotWorker::new(program), |command, arg| command.arg(arg));
    let mut pairs = worker_env.into_iter();
    while let (Some(name), Some(value)) = (pairs.next(), pairs.next()) {
        command = command.env(name, value);
    }
    Ok(command)
}

/// The body of a snapshot worker process (a Node that `createSnapshot`
/// started): serves the request on stdin and returns the exit code, which
/// the worker's command line makes the process's.
#[napi(js_name = "_snapshotWorker", catch_unwind)]
#[allow(dead_code, reason = "called from JavaScript, through napi-rs' registration")]
pub fn snapshot_worker() -> i32 {
    ivm_core::serve_snapshot_worker()
}

/// The bytes of `new ivm.Isolate({ snapshot })`'s `snapshot`, an
/// `ExternalCopy` of an ArrayBuffer (a TypeError otherwise, as in
/// isolated-vm).
pub(crate) fn snapshot_bytes(env: &Env, value: &JsUnknown) -> napi::Result<Vec<u8>> {
    array_buffer_copy_bytes(env, value, "`snapshot` must be an ExternalCopy to ArrayBuffer", <[u8]>::to_vec)
}
