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
use napi::{Env, JsObject, JsUnknown};
use napi_derive::napi;

use crate::code_cache::{array_buffer_copy, array_buffer_copy_bytes};
use crate::errors::{internal, range_error, to_napi, type_error};
use crate::options::Options;
use crate::reference::array_items;

/// `Isolate.createSnapshot(scripts, warmupScript, { memoryLimit, timeout })`:
/// runs the scripts (`{ code, filename, lineOffset, columnOffset }` each) in
/// a worker started as `worker` (the program, then its arguments) with
/// `worker_env` (names and values, alternating) added to its environment,
/// and returns the snapshot as an `ExternalCopy` of an ArrayBuffer. Blocks
/// until the worker is done, as isolated-vm's does. ivm's third argument
/// sets the worker's limits (ivm-core's defaults: 128 MB and 10 s).
#[napi(js_name = "_createSnapshot", catch_unwind)]
#[allow(dead_code, reason = "called from JavaScript, through napi-rs' registration")]
pub fn create_snapshot(
    env: Env,
    scripts: JsUnknown,
    warmup: Option<JsUnknown>,
    options: Option<JsUnknown>,
    worker: Vec<String>,
    worker_env: Vec<String>,
) -> napi::Result<JsUnknown> {
    if !scripts.is_array()? {
        return Err(type_error(&env, "`scripts` must be an array"));
    }
    // SAFETY: checked to be an array, an object.
    let list: JsObject = unsafe { scripts.cast() };
    let scripts = array_items(&list)?
        .into_iter()
        .map(|script| {
            if script.get_type()? != napi::ValueType::Object {
                return Err(type_error(&env, "Each script must be an object"));
            }
            let script = Options::of(&env, Some(script), "script")?;
            let code = script.string("code")?.ok_or_else(|| type_error(&env, "`code` must be a string"))?;
            let origin = script.string("filename")?.map_or_else(ScriptOrigin::default, ScriptOrigin::new);
            Ok(SnapshotScript::new(code, script.with_offsets(origin)?))
        })
        .collect::<napi::Result<Vec<_>>>()?;
    let warmup = match warmup {
        Some(warmup) if warmup.get_type()? == napi::ValueType::String => {
            Some(warmup.coerce_to_string()?.into_utf8()?.into_owned()?)
        }
        Some(warmup) if warmup.get_type()? != napi::ValueType::Undefined => {
            return Err(type_error(&env, "`warmupScript` must be a string"));
        }
        _ => None,
    };
    let given = Options::of(&env, options, "options")?;
    let mut options = SnapshotOptions::new().worker(worker_command(worker, worker_env)?);
    if let Some(mb) = given.number("memoryLimit")? {
        options = options.memory_limit(numeric::memory_limit("memoryLimit", mb).map_err(|e| range_error(&env, e))?);
    }
    if let Some(timeout) = given.timeout()? {
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
