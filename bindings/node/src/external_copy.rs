//! `ivm.ExternalCopy`: a Node value copied outside every isolate, and the
//! marker `copyInto()` returns. ArrayBuffers and typed arrays are read
//! straight from their memory (one copy) instead of going through Node's
//! serializer.

use std::cell::Cell;
use std::ptr;

use ivm_core::{Buffer, CopyOptions, Object, ObjectId, Serialized, Structured, Transferable, Value, ViewKind};
use napi::{Env, JsObject, JsUnknown, NapiValue, sys};
use napi_derive::napi;

use crate::convert::raw;
use crate::convert::{js_to_serialized, serialized_to_js};
use crate::errors::{to_napi, type_error};
use crate::options::Options;
use crate::reference::{array_items, instance};

#[derive(Debug)]
#[napi]
pub struct ExternalCopy {
    copy: ivm_core::ExternalCopy,
}

impl ExternalCopy {
    pub(crate) fn from_copy(copy: ivm_core::ExternalCopy) -> ExternalCopy {
        ExternalCopy { copy }
    }

    /// The core's copy this object holds.
    pub(crate) fn core(&self) -> &ivm_core::ExternalCopy {
        &self.copy
    }

    pub(crate) fn into_js(self, env: &Env) -> napi::Result<JsUnknown> {
        instance(env, self)
    }

    /// The copy as it goes into an isolate when passed as itself: an
    /// `ExternalCopy` object there.
    pub(crate) fn remote(&self) -> std::sync::Arc<dyn ivm_core::Remote> {
        std::sync::Arc::new(self.copy.clone())
    }
}

/// A copy of an ArrayBuffer's contents, or `None` if `value` is not one.
fn array_buffer_bytes(env: &Env, value: &JsUnknown) -> napi::Result<Option<Buffer>> {
    let mut is_buffer = false;
    // SAFETY: `value` belongs to `env`.
    napi::check_status!(unsafe { sys::napi_is_arraybuffer(env.raw(), raw(&value), &mut is_buffer) })?;
    if !is_buffer {
        return Ok(None);
    }
    let (mut data, mut length) = (ptr::null_mut(), 0);
    // SAFETY: checked to be an ArrayBuffer.
    napi::check_status!(unsafe { sys::napi_get_arraybuffer_info(env.raw(), raw(&value), &mut data, &mut length) })?;
    if length == 0 || data.is_null() {
        return Ok(Some(Buffer::from(Vec::new())));
    }
    // SAFETY: V8 reports `length` readable bytes at `data`, alive while
    // `value` is (for this call).
    Ok(Some(Buffer::copy_from(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), length) })))
}

/// A typed array's kind, its buffer and where it sits in it.
fn typed_array(env: &Env, value: &JsUnknown) -> napi::Result<Option<(ViewKind, JsUnknown, usize, usize)>> {
    let mut is_typed = false;
    // SAFETY: `value` belongs to `env`.
    napi::check_status!(unsafe { sys::napi_is_typedarray(env.raw(), raw(&value), &mut is_typed) })?;
    if !is_typed {
        return Ok(None);
    }
    let (mut kind, mut length, mut data, mut buffer, mut offset) = (0, 0, ptr::null_mut(), ptr::null_mut(), 0);
    // SAFETY: checked to be a typed array.
    napi::check_status!(unsafe {
        sys::napi_get_typedarray_info(
            env.raw(),
            raw(&value),
            &mut kind,
            &mut length,
            &mut data,
            &mut buffer,
            &mut offset,
        )
    })?;
    use sys::TypedarrayType as T;
    let kind = match kind {
        T::int8_array => ViewKind::Int8,
        T::uint8_array => ViewKind::Uint8,
        T::uint8_clamped_array => ViewKind::Uint8Clamped,
        T::int16_array => ViewKind::Int16,
        T::uint16_array => ViewKind::Uint16,
        T::int32_array => ViewKind::Int32,
        T::uint32_array => ViewKind::Uint32,
        T::float32_array => ViewKind::Float32,
        T::float64_array => ViewKind::Float64,
        T::bigint64_array => ViewKind::BigInt64,
        T::biguint64_array => ViewKind::BigUint64,
        _ => return Ok(None),
    };
    // SAFETY: napi returned the view's live buffer.
    Ok(Some((kind, unsafe { JsUnknown::from_raw_unchecked(env.raw(), buffer) }, offset, length)))
}

/// A Node value as a copy, with ArrayBuffers and typed arrays read
/// directly.
fn copy_of(env: &Env, value: JsUnknown) -> napi::Result<(Serialized, Option<JsUnknown>)> {
    if let Some(bytes) = array_buffer_bytes(env, &value)? {
        let graph = Structured::new(Value::Object(ObjectId(0)), vec![Object::ArrayBuffer(bytes)]);
        return Ok((graph.map_err(|e| to_napi(env, e.into()))?.into(), Some(value)));
    }
    if let Some((kind, buffer, byte_offset, length)) = typed_array(env, &value)? {
        if let Some(bytes) = array_buffer_bytes(env, &buffer)? {
            let objects =
                vec![Object::View { kind, buffer: ObjectId(1), byte_offset, length }, Object::ArrayBuffer(bytes)];
            let graph = Structured::new(Value::Object(ObjectId(0)), objects);
            return Ok((graph.map_err(|e| to_napi(env, e.into()))?.into(), Some(buffer)));
        }
    }
    Ok((js_to_serialized(env, value)?, None))
}

fn detach(env: &Env, buffer: &JsUnknown) -> napi::Result<()> {
    // SAFETY: `buffer` is an ArrayBuffer of `env`; napi refuses buffers
    // that cannot be detached.
    napi::check_status!(unsafe { sys::napi_detach_arraybuffer(env.raw(), raw(&buffer)) })
}

fn flag(options: &Option<JsObject>, name: &str) -> napi::Result<bool> {
    match options {
        Some(options) if options.has_named_property(name)? => {
            options.get_named_property::<JsUnknown>(name)?.coerce_to_bool()?.get_value()
        }
        _ => Ok(false),
    }
}

/// `{ release, transferIn }` of `copy` and `copyInto`; anything but an
/// object (or nothing) is a TypeError.
fn copy_options(env: &Env, options: Option<JsUnknown>) -> napi::Result<CopyOptions> {
    let given = Options::of(env, options, "options")?;
    Ok(CopyOptions::new().release(given.truthy("release")?).transfer_in(given.truthy("transferIn")?))
}

#[napi]
impl ExternalCopy {
    /// `new ivm.ExternalCopy(value, { transferList, transferOut })`.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, value: JsUnknown, options: Option<JsObject>) -> napi::Result<Self> {
        let (graph, buffer) = copy_of(&env, value)?;
        if flag(&options, "transferOut")? {
            let Some(buffer) = buffer else {
                return Err(type_error(&env, "`transferOut` applies only to ArrayBuffers and typed arrays"));
            };
            detach(&env, &buffer)?;
        }
        if let Some(options) = &options {
            if options.has_named_property("transferList")? {
                let list: JsUnknown = options.get_named_property("transferList")?;
                if list.is_array()? {
                    // SAFETY: checked to be an array.
                    for buffer in array_items(&unsafe { list.cast::<JsObject>() })? {
                        if array_buffer_bytes(&env, &buffer)?.is_none() {
                            return Err(type_error(&env, "`transferList` may hold only ArrayBuffers"));
                        }
                        detach(&env, &buffer)?;
                    }
                }
            }
        }
        Ok(ExternalCopy { copy: ivm_core::ExternalCopy::from_serialized(graph) })
    }

    /// `externalCopy.copy({ release, transferIn })`: the value, in Node.
    #[napi(catch_unwind)]
    pub fn copy(&self, env: Env, options: Option<JsUnknown>) -> napi::Result<JsUnknown> {
        let copy = self.copy.copy_serialized(&copy_options(&env, options)?).map_err(|e| to_napi(&env, e))?;
        serialized_to_js(&env, &copy)
    }

    /// `externalCopy.copyInto({ release, transferIn })`: an object that,
    /// passed into an isolate, arrives there as the value.
    #[napi(catch_unwind)]
    pub fn copy_into(&self, env: Env, options: Option<JsUnknown>) -> napi::Result<ExternalCopyInto> {
        let into = self.copy.copy_into(&copy_options(&env, options)?).map_err(|e| to_napi(&env, e))?;
        Ok(ExternalCopyInto { into, used: Cell::new(false) })
    }

    #[napi(catch_unwind)]
    pub fn release(&self) {
        self.copy.release();
    }
}

/// What `externalCopy.copyInto()` returns.
#[derive(Debug)]
#[napi]
pub struct ExternalCopyInto {
    into: Transferable,
    /// It crosses once.
    used: Cell<bool>,
}

impl ExternalCopyInto {
    pub(crate) fn transferable(&self, env: &Env) -> napi::Result<Transferable> {
        if self.used.replace(true) {
            let once = "The return value of `copyInto()` should only be used once";
            return Err(to_napi(env, ivm_core::Error::InvalidArgument(once.into())));
        }
        Ok(self.into.clone())
    }
}

/// `ExternalCopy.totalExternalSize`: bytes held by every ExternalCopy.
#[napi(catch_unwind)]
#[allow(dead_code, reason = "called from JavaScript, through napi-rs' registration")]
pub fn total_external_size() -> f64 {
    ivm_core::total_external_size() as f64
}
