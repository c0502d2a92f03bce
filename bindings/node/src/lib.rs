//! ivm-node: the Node.js addon, a drop-in for isolated-vm. It defines
//! isolated-vm's classes (`Isolate`, `Context`, `Script`, `Reference`,
//! `ExternalCopy`, `Callback`, `Module`, `InspectorSession`), and ivm's own
//! `IsolatePool` and `InspectorServer`, as napi-rs classes over ivm-core,
//! and `index.js` completes them: option objects, the `…Sync`/`…Ignored`
//! names, and Node's side of copying values (its `v8.Serializer`).
//!
//! It holds no isolate logic, only type conversion and Node's idioms. Node's
//! V8 is not ivm's: no Node handle ever reaches an ivm isolate. Values cross
//! as bytes of V8's serialization format, and Node functions that isolates
//! call run on Node's own thread. The addon exports nothing but Node-API's
//! entry point, so ivm's V8 never binds to Node's.

// napi-rs registers what is `pub`; nothing here is a Rust API.
#![allow(unreachable_pub)]
// Each class's Rust name is its JavaScript name: napi-derive registers a
// class under a `js_name` from its struct and under the Rust name from its
// `impl` blocks, whichever runs first at load, so the two must not differ.

/// Copies out of isolates are bounded as V8 makes them
/// (`ivm_core::BoundedAllocator`).
#[global_allocator]
static ALLOCATOR: ivm_core::BoundedAllocator = ivm_core::BoundedAllocator;

mod code_cache;
mod convert;
mod env_state;
mod errors;
mod external_copy;
mod forms;
mod host;
mod inspector;
mod isolate;
mod main_thread;
mod module;
mod options;
mod pool;
mod reference;
mod sandbox;
mod sigint;
mod snapshot;

use napi::{Env, JsFunction, JsObject};
use napi_derive::napi;

use crate::env_state::{EnvState, JsHandle};
use crate::main_thread::MainThread;

/// Called once per Node environment by `index.js`, with its helpers, the
/// serialization format version Node's deserializer reads and Node's own
/// flags (`process.execArgv`).
#[napi(js_name = "_init", catch_unwind)]
pub fn init(env: Env, helpers: JsObject, format_version: u32, node_flags: Vec<String>) -> napi::Result<()> {
    // Node's V8 flags reach isolated-vm's isolates, which run on Node's V8;
    // ivm's those that stay within the language (ivm-core's choice).
    ivm_core::embedding::forward_v8_flags(node_flags.iter().map(String::as_str));
    let min = ivm_core::embedding::foreign::OLDEST_VERSION;
    let version = format_version.clamp(min, ivm_core::embedding::foreign::LATEST_VERSION);
    let main = MainThread::new(env)?;
    main.serve_while_waiting(env);
    let handle = |name: &str| -> napi::Result<JsHandle> {
        let value: JsObject = helpers.get_named_property(name)?;
        JsHandle::new(env, &main, &value)
    };
    let function = |name: &str| -> napi::Result<JsHandle> {
        let value: JsFunction = helpers.get_named_property(name)?;
        JsHandle::new(env, &main, &value)
    };
    let state = EnvState {
        format_version: version,
        serialize: function("serialize")?,
        deserialize: function("deserialize")?,
        settle: function("settle")?,
        host_objects: handle("hostObjects")?,
        errors: handle("errors")?,
        noop: function("noop")?,
        function_of: function("functionOf")?,
        library: function("library")?,
        host_stack: function("hostStack")?,
        main,
    };
    env_state::install(env, state)?;
    let raw = env.raw();
    ivm_core::embedding::set_host_exit_check(Some(std::rc::Rc::new(move || {
        // SAFETY: the check runs on this thread only (it is thread-local),
        // inside a synchronous call Node made, while the environment lives.
        sigint::interrupted() || node_is_stopping(&unsafe { Env::from_raw(raw) })
    })));
    Ok(())
}

/// Panics, in debug builds only: the test that a panic in the addon becomes
/// a thrown Error (`catch_unwind`, which every export has) and never aborts
/// Node.
#[cfg(debug_assertions)]
#[napi(js_name = "_panicForTesting", catch_unwind)]
pub fn panic_for_testing() {
    panic!("a panic in the addon, on purpose");
}

/// ivm's error classes as `[name, code]` pairs (ivm-core's `ErrorClass`),
/// from which `index.js` makes its classes: one table for every binding.
#[napi(js_name = "_errorClasses", catch_unwind)]
pub fn error_classes() -> Vec<Vec<&'static str>> {
    let ivm = ivm_core::ErrorClass::ALL.into_iter().filter(|class| *class != ivm_core::ErrorClass::Js);
    ivm.map(|class| vec![class.name(), class.code()]).collect()
}

/// The line a stack gets where it crosses between Node and an isolate
/// (ivm-core's), for `index.js` to continue an async call's failure with
/// its caller's frames.
#[napi(js_name = "_stackBoundary", catch_unwind)]
pub fn stack_boundary() -> &'static str {
    ivm_core::embedding::STACK_BOUNDARY
}

/// Whether Node is terminating this thread (`worker.terminate()`, or
/// `process.exit()` stopping workers): then V8 refuses to run even a
/// function that does nothing.
fn node_is_stopping(env: &Env) -> bool {
    host::in_scope(env, |env| {
        let Ok(noop) = env_state::state(env).and_then(|state| state.noop.function(env)) else { return false };
        if errors::exception_pending(env) {
            // An exception of the caller's own is waiting: not ours to judge.
            return false;
        }
        noop.call_without_args(None).is_err()
    })
}
