//! Values between Node and ivm. Primitives convert directly; anything else
//! crosses as the bytes of V8's serialization format, written and read by
//! Node's own `v8.Serializer` / `v8.Deserializer` (through `index.js`'s
//! helpers) on Node's side and by ivm-marshal's `foreign` module on ours.
//! No Node handle ever reaches an ivm isolate.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use bytes::Bytes;
use ivm_core::{BigInt, CopyOptions, JsString, OwnedBytes, Serialized, SharedBuffer, Structured, Transferable, Value};
use napi::{Env, JsBigInt, JsBuffer, JsFunction, JsNumber, JsObject, JsTypedArray, JsUnknown, ValueType};

use crate::env_state::{JsHandle, state};
use crate::errors::{internal, to_napi, type_error};
use crate::external_copy::{ExternalCopy, ExternalCopyInto};
use crate::reference::{Callback, Reference};

/// How a result leaves the isolate, as isolated-vm's TransferOptions say
/// (read by `options.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultMode {
    /// Primitives and functions; anything else is `undefined` (eval and
    /// run's default).
    Transferable,
    /// Primitives and functions; anything else is a TypeError (evalClosure's
    /// default).
    TransferableOnly,
    /// Primitives; anything else a Reference (apply and get's default).
    OrReference,
    Copy,
    ExternalCopy,
    Reference,
}

impl ResultMode {
    /// The transfer mode exactly as TransferOptions ask (a result that
    /// stays in Node: the host rule's `leave`).
    pub(crate) fn as_asked(self) -> ivm_core::TransferMode {
        match self {
            ResultMode::Transferable | ResultMode::TransferableOnly | ResultMode::OrReference => {
                ivm_core::TransferMode::Auto
            }
            ResultMode::Copy => ivm_core::TransferMode::Copy,
            ResultMode::ExternalCopy => ivm_core::TransferMode::ExternalCopy,
            ResultMode::Reference => ivm_core::TransferMode::Reference,
        }
    }

    /// The core's transfer mode that gets this result.
    pub(crate) fn transfer_mode(self) -> ivm_core::TransferMode {
        match self {
            ResultMode::Transferable | ResultMode::TransferableOnly | ResultMode::OrReference => {
                ivm_core::TransferMode::Auto
            }
            // A copy for Node leaves in V8's own format, which Node's
            // deserializer reads without ivm building the value model.
            ResultMode::Copy | ResultMode::ExternalCopy => ivm_core::TransferMode::ExternalCopy,
            ResultMode::Reference => ivm_core::TransferMode::Reference,
        }
    }
}

/// A primitive as a Node value.
pub(crate) fn value_to_js(env: &Env, value: &Value) -> napi::Result<JsUnknown> {
    Ok(match value {
        Value::Undefined => env.get_undefined()?.into_unknown(),
        Value::Null => env.get_null()?.into_unknown(),
        Value::Bool(b) => env.get_boolean(*b)?.into_unknown(),
        Value::Number(n) => env.create_double(*n)?.into_unknown(),
        Value::String(JsString::Utf8(s)) => env.create_string(s)?.into_unknown(),
        Value::String(JsString::Utf16(units)) => env.create_string_utf16(units)?.into_unknown(),
        Value::BigInt(b) => env.create_bigint_from_words(b.is_negative(), b.words().to_vec())?.into_unknown()?,
        Value::Object(_) => return Err(napi::Error::from_reason("an object reference without its graph")),
        _ => return Err(napi::Error::from_reason("a value this version of the addon does not know")),
    })
}

/// A Node primitive as a value, or `None` for objects and functions.
pub(crate) fn js_to_value(env: &Env, value: &JsUnknown) -> napi::Result<Option<Value>> {
    Ok(Some(match value.get_type()? {
        ValueType::Undefined => Value::Undefined,
        ValueType::Null => Value::Null,
        ValueType::Boolean => {
            // SAFETY: the value's type was checked just above.
            let boolean = unsafe { value.cast::<napi::JsBoolean>() };
            Value::Bool(boolean.get_value()?)
        }
        ValueType::Number => {
            // SAFETY: as above.
            let number = unsafe { value.cast::<JsNumber>() };
            Value::Number(number.get_double()?)
        }
        ValueType::String => Value::String(JsString::from_utf16(utf16_units(env, value)?)),
        ValueType::BigInt => {
            // SAFETY: as above.
            let mut bigint = unsafe { value.cast::<JsBigInt>() };
            let (negative, words) = bigint.get_words()?;
            Value::BigInt(BigInt::from_words(negative, words))
        }
        _ => return Ok(None),
    }))
}

/// A string's UTF-16 code units, lone surrogates kept.
fn utf16_units(env: &Env, value: &JsUnknown) -> napi::Result<Vec<u16>> {
    let env = env.raw();
    let mut length = 0;
    // SAFETY: `value` is a string of `env` (checked by the caller).
    napi::check_status!(unsafe {
        napi::sys::napi_get_value_string_utf16(env, raw(value), ptr::null_mut(), 0, &mut length)
    })?;
    let mut units = vec![0u16; length + 1];
    let mut written = 0;
    // SAFETY: `units` has room for the string and its terminator.
    napi::check_status!(unsafe {
        napi::sys::napi_get_value_string_utf16(env, raw(value), units.as_mut_ptr(), units.len(), &mut written)
    })?;
    units.truncate(written);
    Ok(units)
}

/// A copy out of an isolate as a Node value.
pub(crate) fn structured_to_js(env: &Env, copy: &Structured) -> napi::Result<JsUnknown> {
    if let Some(primitive) = copy.as_primitive() {
        return value_to_js(env, primitive);
    }
    let written = ivm_core::embedding::foreign::write(copy, state(env)?.format_version)
        .map_err(|e| crate::errors::to_napi(env, ivm_core::Error::Marshal(e)))?;
    foreign_to_js(env, written)
}

/// A copy held in V8's format (an ExternalCopy's, or a result's) as a Node
/// value: its bytes go to Node's deserializer as they are.
pub(crate) fn serialized_to_js(env: &Env, copy: &Serialized) -> napi::Result<JsUnknown> {
    if let Some(lent) = lent_shared_to_js(env, copy)? {
        return Ok(lent);
    }
    let written = ivm_core::embedding::foreign::write_serialized(copy, state(env)?.format_version)
        .map_err(|e| crate::errors::to_napi(env, ivm_core::Error::Marshal(e)))?;
    foreign_to_js(env, written)
}

/// Bytes and buffers read by Node's deserializer (`index.js`'s helper).
fn foreign_to_js(env: &Env, written: ivm_core::embedding::foreign::ForeignBytes) -> napi::Result<JsUnknown> {
    let bytes = env.create_buffer_with_data(written.bytes)?.into_raw();
    let mut buffers = env.create_array_with_length(written.array_buffers.len())?;
    for (index, buffer) in written.array_buffers.into_iter().enumerate() {
        let index = u32::try_from(index).map_err(|_| internal("too many ArrayBuffers"))?;
        buffers.set_element(index, owned_array_buffer(env, buffer.into_owned())?)?;
    }
    let deserialize: JsFunction = state(env)?.deserialize.function(env)?;
    deserialize.call(None, &[bytes.into_unknown(), buffers.into_unknown()])
}

/// A Node ArrayBuffer over `memory`, without a copy where Node allows
/// external memory (it frees it through the finalizer below).
fn owned_array_buffer(env: &Env, mut memory: OwnedBytes) -> napi::Result<JsUnknown> {
    unsafe extern "C" fn release(env: napi::sys::napi_env, _data: *mut std::ffi::c_void, hint: *mut std::ffi::c_void) {
        // SAFETY: `hint` is the box `owned_array_buffer` leaked for this buffer.
        let memory = unsafe { Box::from_raw(hint.cast::<OwnedBytes>()) };
        let mut total = 0;
        // SAFETY: Node calls finalizers on the environment's thread.
        unsafe { napi::sys::napi_adjust_external_memory(env, -(memory.len() as i64), &mut total) };
    }
    if memory.is_empty() {
        return Ok(env.create_arraybuffer(0)?.into_raw().into_unknown());
    }
    let (data, len) = (memory.as_mut_ptr(), memory.len());
    let hint = Box::into_raw(Box::new(memory));
    let mut buffer = ptr::null_mut();
    // SAFETY: `data` points to `len` bytes owned by `*hint` alone, which
    // Node keeps until it calls `release`.
    let status = unsafe {
        napi::sys::napi_create_external_arraybuffer(
            env.raw(),
            data.cast(),
            len,
            Some(release),
            hint.cast(),
            &mut buffer,
        )
    };
    if status == napi::sys::Status::napi_ok {
        // Node's garbage collector learns of the memory, so that it frees
        // such buffers as promptly as its own.
        let mut total = 0;
        // SAFETY: on the environment's thread.
        unsafe { napi::sys::napi_adjust_external_memory(env.raw(), len as i64, &mut total) };
        // SAFETY: a live value of `env`.
        return Ok(unsafe { napi::NapiValue::from_raw_unchecked(env.raw(), buffer) });
    }
    // Node refused external memory (a sandboxed build): copy it.
    // SAFETY: the call failed, so the box is still ours.
    let memory = unsafe { Box::from_raw(hint) };
    // SAFETY: `memory` owns `len` bytes at `data`.
    let contents = unsafe { std::slice::from_raw_parts(data, len) }.to_vec();
    drop(memory);
    Ok(env.create_arraybuffer_with_data(contents)?.into_raw().into_unknown())
}

/// A Node value as a copy in V8's format: what Node's serializer wrote,
/// kept as it is.
pub(crate) fn js_to_serialized(env: &Env, value: JsUnknown) -> napi::Result<Serialized> {
    if let Some(primitive) = js_to_value(env, &value)? {
        return Ok(Serialized::from(Structured::from(primitive)));
    }
    let serialize: JsFunction = state(env)?.serialize.function(env)?;
    let bytes = serialize.call(None, &[value])?;
    buffer_to_serialized(env, bytes)
}

fn buffer_to_serialized(env: &Env, bytes: JsUnknown) -> napi::Result<Serialized> {
    if !bytes.is_buffer()? {
        return Err(internal("the serializer did not return a Buffer"));
    }
    // SAFETY: checked to be a Buffer (an object) just above.
    let object = unsafe { bytes.cast::<JsObject>() };
    let shared = lent_shared_buffers(env, &object)?;
    // SAFETY: as above.
    let buffer = unsafe { bytes.cast::<JsBuffer>() }.into_value()?;
    ivm_core::embedding::foreign::serialized_sharing(Bytes::copy_from_slice(&buffer), shared)
        .map_err(|e| crate::errors::to_napi(env, ivm_core::Error::Marshal(e)))
}

/// The SharedArrayBuffers that serialized bytes refer to by id, which
/// `index.js`'s serializer lists beside them (as `shared`, a Uint8Array
/// over each), as memory Node lends: each is kept alive by a handle on the
/// Node SharedArrayBuffer until neither a copy nor an isolate uses it, and
/// comes back to Node as that very object (`lent_shared_to_js`).
fn lent_shared_buffers(env: &Env, bytes: &JsObject) -> napi::Result<Vec<SharedBuffer>> {
    if !bytes.has_named_property("shared")? {
        return Ok(Vec::new());
    }
    let views: JsObject = bytes.get_named_property("shared")?;
    let main = &state(env)?.main;
    (0..views.get_array_length()?)
        .map(|index| {
            let view: JsTypedArray = views.get_element(index)?;
            let mut info = view.into_value()?;
            let memory: &mut [u8] = info.as_mut();
            let (data, length) = (memory.as_mut_ptr(), memory.len());
            if length == 0 {
                return SharedBuffer::new(0).map_err(|e| crate::errors::to_napi(env, ivm_core::Error::Marshal(e)));
            }
            let origin = JsHandle::new(*env, main, &info.arraybuffer)?;
            // SAFETY: the memory is the SharedArrayBuffer's (a view of all
            // of it), which the handle keeps alive until the origin is
            // dropped; shared memory may be used from any thread.
            Ok(unsafe { SharedBuffer::lent(data, length, std::sync::Arc::new(origin)) })
        })
        .collect()
}

/// A copy that is only a SharedArrayBuffer Node lent, as that Node object
/// again; `None` for anything else (no other SharedArrayBuffer can reach
/// Node: Node-API cannot make one over memory of ivm's).
fn lent_shared_to_js(env: &Env, copy: &Serialized) -> napi::Result<Option<JsUnknown>> {
    let origin = ivm_core::embedding::foreign::lone_shared_buffer(copy).and_then(SharedBuffer::origin);
    match origin.and_then(|origin| origin.downcast_ref::<JsHandle>()) {
        Some(handle) if handle.raw_env() == env.raw() => handle.unknown(env).map(Some),
        _ => Ok(None),
    }
}

/// A Node value as a copy: primitives directly, the rest through Node's
/// serializer (which throws a DataCloneError for what has no copy), read
/// into the value model.
pub(crate) fn js_to_structured(env: &Env, value: JsUnknown) -> napi::Result<Structured> {
    js_to_serialized(env, value)?
        .into_structured()
        .map_err(|e| crate::errors::to_napi(env, ivm_core::Error::Marshal(e)))
}

/// A value `index.js` prepared for passing into an isolate: a primitive, a
/// Buffer of serialized bytes (a copy), or one of the addon's transferable
/// handles.
pub(crate) fn js_to_transferable(env: &Env, value: JsUnknown) -> napi::Result<Transferable> {
    if let Some(primitive) = js_to_value(env, &value)? {
        return Ok(Transferable::from(primitive));
    }
    if value.is_buffer()? {
        // Node's serializer wrote it: it enters the isolate through V8's
        // deserializer as it is, moved rather than copied again.
        let copy = ivm_core::ExternalCopy::from_serialized(buffer_to_serialized(env, value)?);
        return Ok(Transferable::ExternalCopy(copy, CopyOptions::new().transfer_in(true)));
    }
    if let Some(handle) = handle_transferable(env, &value)? {
        return Ok(handle);
    }
    if let Some(remote) = api_object(env, &value)? {
        return Ok(Transferable::Remote(remote));
    }
    Err(type_error(env, "A non-transferable value was passed"))
}

/// One of the addon's handles (a Reference, an ExternalCopy, what
/// `copyInto()` returns, a Callback) as what it stands for; `None` for
/// anything else.
pub(crate) fn handle_transferable(env: &Env, value: &JsUnknown) -> napi::Result<Option<Transferable>> {
    if Reference::instance_of(*env, value)? {
        // SAFETY: checked to be an instance of the class just above.
        let reference = unsafe { crate::reference::unwrap::<Reference>(env, value) }?;
        return reference.transferable(env).map(Some);
    }
    if ExternalCopyInto::instance_of(*env, value)? {
        // SAFETY: as above.
        let into = unsafe { crate::reference::unwrap::<ExternalCopyInto>(env, value) }?;
        return into.transferable(env).map(Some);
    }
    if Callback::instance_of(*env, value)? {
        // SAFETY: as above.
        let callback = unsafe { crate::reference::unwrap::<Callback>(env, value) }?;
        return Ok(Some(Transferable::Callback(callback.callback.clone())));
    }
    if ExternalCopy::instance_of(*env, value)? {
        // SAFETY: as above.
        let copy = unsafe { crate::reference::unwrap::<ExternalCopy>(env, value) }?;
        return Ok(Some(Transferable::Remote(copy.remote())));
    }
    Ok(None)
}

/// The library object, an Isolate, a Context or a Script, as they go into
/// an isolate: isolated-vm's objects there.
fn api_object(env: &Env, value: &JsUnknown) -> napi::Result<Option<std::sync::Arc<dyn ivm_core::Remote>>> {
    use crate::isolate::{Context, Isolate, Library, Script};
    if Library::instance_of(*env, value)? {
        return Ok(Some(std::sync::Arc::new(ivm_core::Library)));
    }
    if Isolate::instance_of(*env, value)? {
        // SAFETY: checked to be an instance of the class just above.
        let isolate = unsafe { crate::reference::unwrap::<Isolate>(env, value) }?;
        return Ok(Some(std::sync::Arc::new(isolate.isolate.clone())));
    }
    if Context::instance_of(*env, value)? {
        // SAFETY: as above.
        let context = unsafe { crate::reference::unwrap::<Context>(env, value) }?;
        return Ok(Some(std::sync::Arc::new(context.context.clone())));
    }
    if Script::instance_of(*env, value)? {
        // SAFETY: as above.
        let script = unsafe { crate::reference::unwrap::<Script>(env, value) }?;
        return Ok(Some(std::sync::Arc::new(script.script.clone())));
    }
    Ok(None)
}

/// A remote value (one a `Reference` or `ExternalCopy` object inside an
/// isolate stood for) back in Node, as the handle it was.
fn remote_to_js(env: &Env, remote: std::sync::Arc<dyn ivm_core::Remote>) -> napi::Result<JsUnknown> {
    let any: std::sync::Arc<dyn std::any::Any + Send + Sync> = remote;
    use crate::isolate::{Context, Isolate, Script};
    // The library itself, passed in and back out: Node's.
    if any.is::<ivm_core::Library>() {
        let library: JsFunction = state(env)?.library.function(env)?;
        return library.call_without_args(None);
    }
    let any = match any.downcast::<ivm_core::ExternalCopy>() {
        Ok(copy) => return ExternalCopy::from_copy((*copy).clone()).into_js(env),
        Err(any) => any,
    };
    let any = match any.downcast::<ivm_core::Isolate>() {
        Ok(isolate) => return crate::reference::instance(env, Isolate { isolate: (*isolate).clone() }),
        Err(any) => any,
    };
    let any = match any.downcast::<ivm_core::Context>() {
        Ok(context) => return crate::reference::instance(env, Context { context: (*context).clone() }),
        Err(any) => any,
    };
    let any = match any.downcast::<ivm_core::Script>() {
        Ok(script) => return crate::reference::instance(env, Script { script: (*script).clone() }),
        Err(any) => any,
    };
    Reference::from_any(any)?.into_js(env)
}

/// A result out of an isolate as a Node value.
pub(crate) fn transferable_to_js(env: &Env, value: Transferable, mode: ResultMode) -> napi::Result<JsUnknown> {
    match value {
        Transferable::Copy(copy) => structured_to_js(env, &copy),
        Transferable::Reference(reference) if mode != ResultMode::Reference && reference.callable().is_some() => {
            function_to_js(env, reference)
        }
        Transferable::Reference(reference) if mode == ResultMode::Transferable => {
            reference.release();
            Ok(env.get_undefined()?.into_unknown())
        }
        Transferable::Reference(reference) if mode == ResultMode::TransferableOnly => {
            reference.release();
            Err(type_error(env, "A non-transferable value was passed"))
        }
        Transferable::Reference(reference) => Reference::isolate(reference).into_js(env),
        // A copy (see `ResultMode::transfer_mode`) comes as V8's bytes.
        Transferable::ExternalCopy(copy, _) if mode == ResultMode::Copy => {
            let copy = copy.copy_serialized(&CopyOptions::new().transfer_in(true)).map_err(|e| to_napi(env, e))?;
            serialized_to_js(env, &copy)
        }
        Transferable::ExternalCopy(copy, _) => ExternalCopy::from_copy(copy).into_js(env),
        Transferable::Callback(_) => Err(napi::Error::from_reason("a host function cannot come out of an isolate")),
        Transferable::Remote(remote) => remote_to_js(env, remote),
        Transferable::Dereferenced(remote) => {
            let any: std::sync::Arc<dyn std::any::Any + Send + Sync> = remote;
            match any.downcast::<crate::host::NodeValue>() {
                Ok(value) => value.get(env),
                Err(_) => Err(type_error(env, "Cannot dereference this into target isolate")),
            }
        }
        _ => Err(napi::Error::from_reason("a result this version of the addon does not know")),
    }
}

/// A function of an isolate as Node gets it (isolated-vm 4 and later):
/// what `index.js`'s `functionOf` makes of a native function that calls it
/// with `Reference::call`, on this thread and at once.
fn function_to_js(env: &Env, reference: ivm_core::Reference) -> napi::Result<JsUnknown> {
    let (name, length) = reference.callable().map(|(name, length)| (name.to_owned(), length)).unwrap_or_default();
    let call = env.create_function_from_closure("call", move |context| {
        let env: &Env = &*context.env;
        // This closure is an export too: a panic in it must not unwind into
        // Node.
        catch_unwind(AssertUnwindSafe(|| {
            let arguments: napi::JsObject = context.get(0)?;
            let arguments = crate::reference::transferables(env, &arguments)?;
            let result = reference.call(&arguments).map_err(|e| crate::errors::sync_to_napi(env, e))?;
            transferable_to_js(env, result, ResultMode::Transferable)
        }))
        .unwrap_or_else(|_| Err(internal("the addon panicked calling a function of an isolate")))
    })?;
    let function_of: JsFunction = state(env)?.function_of.function(env)?;
    let name = env.create_string(&name)?.into_unknown();
    function_of.call(None, &[call.into_unknown(), name, env.create_uint32(length)?.into_unknown()])
}

/// The napi handle of `value`.
pub(crate) fn raw<V: napi::NapiRaw>(value: &V) -> napi::sys::napi_value {
    // SAFETY: reading the handle has no precondition; napi-rs marks it
    // unsafe because the handle must not outlive its scope, and callers
    // use it only within the call at hand.
    unsafe { value.raw() }
}
