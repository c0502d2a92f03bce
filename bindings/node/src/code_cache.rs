//! isolated-vm's `CachedDataOptions`: V8's code cache in and out of
//! `compileScript` and `compileModule`. The cache travels as an
//! `ExternalCopy` of an ArrayBuffer both ways; a compiled Script or Module
//! reports `cachedDataRejected` when it was given one, and `cachedData`
//! when one was made.

use std::sync::Arc;

use ivm_core::{Buffer, CompileOptions, CopyOptions, Object, ObjectId, Structured, Value};
use napi::{Env, JsObject, JsUnknown};

use crate::errors::{to_napi, type_error};
use crate::external_copy::ExternalCopy;
use crate::options::Options;
use crate::reference::unwrap;

const NOT_AN_ARRAY_BUFFER_COPY: &str = "`cachedData` must be an ExternalCopy to ArrayBuffer";

/// The bytes of `value`, which must be an `ExternalCopy` of an ArrayBuffer
/// (a TypeError otherwise, as in isolated-vm: not a typed array, nor a
/// Buffer itself).
pub(crate) fn cached_data_bytes(env: &Env, value: &JsUnknown) -> napi::Result<Arc<[u8]>> {
    array_buffer_copy_bytes(env, value, NOT_AN_ARRAY_BUFFER_COPY, |bytes| Arc::from(bytes))
}

/// `read` applied to the bytes of `value`, an `ExternalCopy` of an
/// ArrayBuffer (`cachedData`, a `snapshot`); a TypeError with `message` if
/// it is anything else.
pub(crate) fn array_buffer_copy_bytes<R>(
    env: &Env,
    value: &JsUnknown,
    message: &str,
    read: impl FnOnce(&[u8]) -> R,
) -> napi::Result<R> {
    if value.get_type()? != napi::ValueType::Object || !ExternalCopy::instance_of(*env, value)? {
        return Err(type_error(env, message));
    }
    // SAFETY: checked to be an instance of the class just above; an object
    // that only inherits its prototype fails to unwrap, cleanly.
    let copy = unsafe { unwrap::<ExternalCopy>(env, value) }.map_err(|_| type_error(env, message))?;
    let copied = copy.core().copy(&CopyOptions::new()).map_err(|e| to_napi(env, e))?;
    match copied.root() {
        Value::Object(id) => match copied.object(*id) {
            Some(Object::ArrayBuffer(bytes)) => Ok(read(bytes.as_slice())),
            _ => Err(type_error(env, message)),
        },
        _ => Err(type_error(env, message)),
    }
}

/// What a compilation was asked to do with the code cache, read from
/// `index.js`'s arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CacheRequest {
    supplied: bool,
    produce: bool,
}

impl CacheRequest {
    /// Adds `cached_data` and `produce` to `options`.
    pub(crate) fn apply(
        env: &Env,
        options: CompileOptions,
        given: &Options<'_>,
    ) -> napi::Result<(CompileOptions, CacheRequest)> {
        let mut options = options;
        let produce = given.boolean("produceCachedData")?;
        let supplied = match given.value("cachedData")? {
            Some(value) => {
                options = options.cached_data(cached_data_bytes(env, &value)?);
                true
            }
            None => false,
        };
        let produce = produce.unwrap_or(false);
        // With both, isolated-vm makes a new cache only if the one given is
        // rejected; that is known once compiled (see `write`).
        options = options.produce_cached_data(produce);
        Ok((options, CacheRequest { supplied, produce }))
    }

    /// Sets isolated-vm's result properties on a compiled Script or Module:
    /// `cachedDataRejected` when a cache was given, `cachedData` when one
    /// was made (with a cache given too, only if that one was rejected).
    pub(crate) fn write(
        self,
        env: &Env,
        object: JsUnknown,
        produced: Option<&[u8]>,
        rejected: Option<bool>,
    ) -> napi::Result<JsUnknown> {
        if !self.supplied && !self.produce {
            return Ok(object);
        }
        // SAFETY: the addon's instances are objects.
        let mut target: JsObject = unsafe { object.cast() };
        let rejected = rejected.unwrap_or(false);
        if self.supplied {
            target.set_named_property("cachedDataRejected", env.get_boolean(rejected)?)?;
        }
        if let Some(bytes) = produced.filter(|_| self.produce && (!self.supplied || rejected)) {
            target.set_named_property("cachedData", array_buffer_copy(env, bytes)?)?;
        }
        Ok(target.into_unknown())
    }
}

/// A new `ExternalCopy` of an ArrayBuffer holding `bytes`.
pub(crate) fn array_buffer_copy(env: &Env, bytes: &[u8]) -> napi::Result<JsUnknown> {
    let graph = Structured::new(Value::Object(ObjectId(0)), vec![Object::ArrayBuffer(Buffer::copy_from(bytes))])
        .map_err(|e| to_napi(env, e.into()))?;
    ExternalCopy::from_copy(ivm_core::ExternalCopy::new(graph)).into_js(env)
}

/// `index.js`'s check of `cachedData` given to `evalClosure`, which takes
/// it (as isolated-vm's does) but has no cache to use it with.
#[napi_derive::napi(js_name = "_checkCachedData", catch_unwind)]
#[allow(dead_code, reason = "called from JavaScript, through napi-rs' registration")]
pub fn check_cached_data(env: Env, value: JsUnknown) -> napi::Result<()> {
    cached_data_bytes(&env, &value).map(drop)
}
