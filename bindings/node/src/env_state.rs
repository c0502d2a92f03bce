//! What the addon keeps per Node environment (the main thread and each
//! worker load it separately): the job queue of its thread, the helpers
//! `index.js` registers, and handles that keep Node values alive for ivm.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use napi::{Env, JsFunction, JsObject, JsUnknown, NapiRaw, NapiValue, sys};

use crate::convert::raw;
use crate::main_thread::MainThread;

/// The environment's state, set once by `init`.
pub(crate) struct EnvState {
    pub(crate) main: Arc<MainThread>,
    /// The V8 serialization format version Node's `v8.Deserializer` reads.
    pub(crate) format_version: u32,
    /// `index.js`'s helpers: `serialize(value) -> Buffer`,
    /// `deserialize(bytes, arrayBuffers) -> value`, `settle(value, done)`.
    pub(crate) serialize: JsHandle,
    pub(crate) deserialize: JsHandle,
    pub(crate) settle: JsHandle,
    /// The primitives ivm-core's host rule needs of Node objects
    /// (`isProxy`, `ownProperty`, `prototypeOf`, `define`; see `host.rs`).
    pub(crate) host_objects: JsHandle,
    /// Error classes by ivm error kind (see `errors.rs`).
    pub(crate) errors: JsHandle,
    /// `hostStack()`: the stack frames of the Node code calling into the
    /// addon (see `errors.rs`).
    pub(crate) host_stack: JsHandle,
    /// `library()`: the library object (`index.js`'s exports), which the
    /// library passed into an isolate becomes again when it comes back.
    pub(crate) library: JsHandle,
    /// `functionOf(call, name, length)`: the Node function that stands for
    /// a function of an isolate (see `convert.rs`).
    pub(crate) function_of: JsHandle,
    /// A JavaScript function that does nothing, which a terminating Node
    /// refuses to run (see `lib.rs`'s host-exit check).
    pub(crate) noop: JsHandle,
}

/// Stores `state` as the environment's instance data.
pub(crate) fn install(env: Env, state: EnvState) -> napi::Result<()> {
    unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
        // SAFETY: `data` is the box `install` leaked.
        drop(unsafe { Box::from_raw(data.cast::<EnvState>()) });
    }
    let data = Box::into_raw(Box::new(state));
    // SAFETY: `env` is the current environment; Node hands `data` back to
    // `finalize` once, at teardown.
    napi::check_status!(unsafe { sys::napi_set_instance_data(env.raw(), data.cast(), Some(finalize), ptr::null_mut()) })
}

/// The environment's state; an error if `index.js` has not initialised it.
pub(crate) fn state(env: &Env) -> napi::Result<&'static EnvState> {
    let mut data = ptr::null_mut();
    // SAFETY: reading this environment's instance data.
    napi::check_status!(unsafe { sys::napi_get_instance_data(env.raw(), &mut data) })?;
    if data.is_null() {
        return Err(napi::Error::from_reason("ivm's native module was loaded without index.js"));
    }
    // SAFETY: only `install` sets instance data, with a leaked `EnvState`
    // that lives until the environment is torn down, after every call.
    Ok(unsafe { &*data.cast::<EnvState>() })
}

/// Keeps a Node value alive for as long as ivm holds it, from any thread.
/// The value can only be read on Node's thread; dropping the handle
/// elsewhere posts the release there.
#[derive(Debug)]
pub(crate) struct JsHandle {
    reference: sys::napi_ref,
    env: sys::napi_env,
    main: Arc<MainThread>,
}

// SAFETY: the napi handles are only used on the environment's own thread:
// `get` checks it, and `Drop` posts the release there when dropped
// elsewhere.
unsafe impl Send for JsHandle {}
// SAFETY: as above; shared access only reads the handles.
unsafe impl Sync for JsHandle {}

impl JsHandle {
    pub(crate) fn new<V: NapiRaw>(env: Env, main: &Arc<MainThread>, value: &V) -> napi::Result<JsHandle> {
        let mut reference = ptr::null_mut();
        // SAFETY: `value` belongs to `env`, the current environment.
        napi::check_status!(unsafe { sys::napi_create_reference(env.raw(), raw(value), 1, &mut reference) })?;
        Ok(JsHandle { reference, env: env.raw(), main: Arc::clone(main) })
    }

    /// The value; only on Node's thread.
    pub(crate) fn get<V: NapiValue>(&self, env: &Env) -> napi::Result<V> {
        if !self.main.is_current() || env.raw() != self.env {
            return Err(napi::Error::from_reason("a Node value was used outside its own thread"));
        }
        let mut value = ptr::null_mut();
        // SAFETY: on the environment's thread, with its own env.
        napi::check_status!(unsafe { sys::napi_get_reference_value(self.env, self.reference, &mut value) })?;
        // SAFETY: `value` is a live value of this environment.
        unsafe { V::from_raw(self.env, value) }
    }

    /// The environment the value belongs to (usable only on its thread).
    pub(crate) fn raw_env(&self) -> sys::napi_env {
        self.env
    }

    pub(crate) fn function(&self, env: &Env) -> napi::Result<JsFunction> {
        self.get(env)
    }

    pub(crate) fn object(&self, env: &Env) -> napi::Result<JsObject> {
        self.get(env)
    }

    pub(crate) fn unknown(&self, env: &Env) -> napi::Result<JsUnknown> {
        self.get(env)
    }
}

impl Drop for JsHandle {
    fn drop(&mut self) {
        let reference = RawRef(self.reference);
        let release = move |env: Option<Env>| {
            if let Some(env) = env {
                let RawRef(reference) = { reference };
                // SAFETY: on the environment's thread (see `MainThread`).
                unsafe { sys::napi_delete_reference(env.raw(), reference) };
            }
        };
        if self.main.is_current() {
            // SAFETY: `self.env` is the current thread's environment.
            release(Some(unsafe { Env::from_raw(self.env) }));
        } else {
            // An environment already gone has released everything itself.
            let _ = self.main.post(Box::new(release));
        }
    }
}

struct RawRef(sys::napi_ref);

// SAFETY: moved to Node's thread before it is used.
unsafe impl Send for RawRef {}
