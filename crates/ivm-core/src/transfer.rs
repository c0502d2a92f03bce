//! Values crossing the isolate boundary: by copy (ivm-marshal's structured
//! clone), by external copy, or by reference.

use std::fmt;
use std::sync::Arc;

use ivm_marshal::{CloneOptions, Structured, Value};

use crate::exception::{caught, thrown};
use crate::{Callback, CopyOptions, Error, ExternalCopy, Isolate, Reference, Remote, Result, RunOptions, TransferMode};

/// The scope JavaScript runs in: a handle scope with a context entered and
/// a TryCatch around it.
pub(crate) type JsScope<'a, 'b, 'c, 'i> = v8::PinnedRef<'a, v8::TryCatch<'b, 'c, v8::HandleScope<'i>>>;

/// A value on its way into or out of an isolate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Transferable {
    /// A structured clone, independent of any isolate.
    Copy(Structured),
    /// A handle to a value that stays in its isolate.
    Reference(Reference),
    /// A copy held outside any isolate, materialised in the isolate it is
    /// passed to as its [`CopyOptions`] say ([`ExternalCopy::copy_into`]).
    ExternalCopy(ExternalCopy, CopyOptions),
    /// A host function, which arrives as a JavaScript function.
    Callback(Callback),
    /// A value outside the isolate (in the host, or in another isolate),
    /// which arrives as a `Reference` object (see [`Remote`]).
    Remote(Arc<dyn Remote>),
    /// A value held by reference, handed over as itself: what `derefInto()`
    /// made inside an isolate becomes. It arrives as the value where the
    /// value lives (its isolate, or its host, which a binding checks); it
    /// cannot go anywhere else.
    Dereferenced(Arc<dyn Remote>),
}

impl Transferable {
    /// The value, if this is a copy of a primitive.
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            Transferable::Copy(copy) => copy.as_primitive(),
            _ => None,
        }
    }

    pub fn into_value(self) -> Option<Value> {
        self.as_value().cloned()
    }

    /// The structured clone, if this is a copy.
    pub fn as_copy(&self) -> Option<&Structured> {
        match self {
            Transferable::Copy(copy) => Some(copy),
            _ => None,
        }
    }

    pub fn into_copy(self) -> Option<Structured> {
        match self {
            Transferable::Copy(copy) => Some(copy),
            _ => None,
        }
    }

    pub fn as_reference(&self) -> Option<&Reference> {
        match self {
            Transferable::Reference(r) => Some(r),
            _ => None,
        }
    }

    pub fn into_reference(self) -> Option<Reference> {
        match self {
            Transferable::Reference(r) => Some(r),
            _ => None,
        }
    }

    pub fn into_external_copy(self) -> Option<ExternalCopy> {
        match self {
            Transferable::ExternalCopy(copy, _) => Some(copy),
            _ => None,
        }
    }
}

macro_rules! transferable_from_primitive {
    ($($ty:ty),*) => {
        $(impl From<$ty> for Transferable {
            fn from(v: $ty) -> Transferable {
                Transferable::Copy(Structured::from(Value::from(v)))
            }
        })*
    };
}

transferable_from_primitive!(Value, bool, f64, i32, u32, String, &str, ivm_marshal::JsString, ivm_marshal::BigInt, ());

impl From<Structured> for Transferable {
    fn from(copy: Structured) -> Transferable {
        Transferable::Copy(copy)
    }
}

impl From<Reference> for Transferable {
    fn from(r: Reference) -> Transferable {
        Transferable::Reference(r)
    }
}

impl From<Callback> for Transferable {
    fn from(callback: Callback) -> Transferable {
        Transferable::Callback(callback)
    }
}

impl From<ExternalCopy> for Transferable {
    fn from(copy: ExternalCopy) -> Transferable {
        Transferable::ExternalCopy(copy, CopyOptions::default())
    }
}

impl PartialEq<Value> for Transferable {
    fn eq(&self, other: &Value) -> bool {
        self.as_value() == Some(other)
    }
}

impl fmt::Display for Transferable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transferable::Copy(copy) => match copy.as_primitive() {
                Some(value) => value.fmt(f),
                None => write!(f, "[copy of {} objects]", copy.objects().len()),
            },
            Transferable::Reference(r) => write!(f, "[Reference {}]", r.type_of().unwrap_or("released")),
            Transferable::ExternalCopy(..) => f.write_str("[ExternalCopy]"),
            Transferable::Callback(_) => f.write_str("[Callback]"),
            Transferable::Remote(remote) => write!(f, "[Reference {}]", remote.type_of()),
            Transferable::Dereferenced(remote) => write!(f, "[dereferenced {}]", remote.type_of()),
        }
    }
}

/// Copies a value out of the isolate, within the bound on what leaves it
/// ([`bounded`]); a getter that throws becomes the call's JavaScript error.
pub(crate) fn copy_out<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    value: v8::Local<'s, v8::Value>,
    options: CloneOptions<'s>,
) -> Result<Structured> {
    ivm_marshal::from_v8(scope, value, bounded(options)).map_err(|e| marshal_error(scope, e))
}

/// `options` with the bound on what a copy out of an isolate may take
/// outside it, unless they name one: the memory limit of the isolate this
/// thread holds. Strings referred to many times are copied each time, so a
/// copy can be far larger outside than in.
pub(crate) fn bounded(options: CloneOptions<'_>) -> CloneOptions<'_> {
    let max_bytes = options.max_bytes.or_else(crate::memory::locked_limit);
    CloneOptions { max_bytes, ..options }
}

/// Copies a value out of the isolate in V8's own format, for materialising
/// elsewhere; errors as for [`copy_out`].
pub(crate) fn serialize_out<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    value: v8::Local<'s, v8::Value>,
    options: CloneOptions<'s>,
) -> Result<ivm_marshal::Serialized> {
    ivm_marshal::serialize(scope, value, bounded(options)).map_err(|e| marshal_error(scope, e))
}

/// Maps a marshalling error, turning a pending exception into the error it is.
pub(crate) fn marshal_error(scope: &mut JsScope<'_, '_, '_, '_>, error: ivm_marshal::Error) -> Error {
    match error {
        ivm_marshal::Error::Exception => caught(scope),
        other => Error::Marshal(other),
    }
}

/// Moves a call's result out of the isolate as `options` ask.
pub(crate) fn transfer_out<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    isolate: &Isolate,
    context: &Arc<v8::Global<v8::Context>>,
    value: v8::Local<'s, v8::Value>,
    options: &RunOptions,
) -> Result<Transferable> {
    let value = if options.promise {
        match settle(scope, value)? {
            Settled::NotAPromise(value) | Settled::Fulfilled(value) => value,
            Settled::Rejected(reason) => return Err(thrown(scope, reason, None)),
            Settled::Pending(promise) => {
                if crate::follow::follow(scope, isolate, context, promise, options)? {
                    // The result goes out when the promise settles.
                    return Ok(Transferable::Copy(Structured::from(Value::Undefined)));
                }
                return Err(Error::InvalidArgument(
                    "The returned promise did not settle: nothing in a synchronous call can resolve it".into(),
                ));
            }
        }
    } else {
        value
    };
    if matches!(options.result, TransferMode::Auto | TransferMode::Reference | TransferMode::CopyExceptFunctions) {
        if let Some(remote) = crate::remote::remote_of(scope, isolate, value)? {
            return crate::remote::leaving(remote);
        }
    }
    match options.result {
        TransferMode::Auto | TransferMode::CopyExceptFunctions if is_primitive(value) => {
            Ok(Transferable::Copy(copy_out(scope, value, Default::default())?))
        }
        TransferMode::Auto | TransferMode::CopyExceptFunctions if value.is_function() => {
            let function = value.cast::<v8::Function>();
            Ok(Transferable::Reference(Reference::function(scope, isolate, context, function)))
        }
        TransferMode::Auto | TransferMode::Reference => {
            Ok(Transferable::Reference(Reference::new(scope, isolate, context, value)))
        }
        TransferMode::Copy | TransferMode::CopyExceptFunctions => {
            Ok(Transferable::Copy(copy_out(scope, value, Default::default())?))
        }
        TransferMode::ExternalCopy => Ok(ExternalCopy::held(serialize_out(scope, value, Default::default())?).into()),
    }
}

/// What a value that may be a promise came to once every queued reaction
/// ran (the isolate's microtasks).
pub(crate) enum Settled<'s> {
    NotAPromise(v8::Local<'s, v8::Value>),
    Fulfilled(v8::Local<'s, v8::Value>),
    /// Rejected, with this reason.
    Rejected(v8::Local<'s, v8::Value>),
    Pending(v8::Local<'s, v8::Promise>),
}

/// Runs the isolate's microtasks if `value` is a pending promise, and says
/// what it came to; an error only if they were terminated.
pub(crate) fn settle<'s>(scope: &mut JsScope<'_, '_, 's, '_>, value: v8::Local<'s, v8::Value>) -> Result<Settled<'s>> {
    let Ok(promise) = v8::Local::<v8::Promise>::try_from(value) else {
        return Ok(Settled::NotAPromise(value));
    };
    if promise.state() == v8::PromiseState::Pending {
        scope.perform_microtask_checkpoint();
        if scope.has_terminated() {
            return Err(caught(scope));
        }
    }
    Ok(match promise.state() {
        v8::PromiseState::Fulfilled => Settled::Fulfilled(promise.result(scope)),
        v8::PromiseState::Rejected => Settled::Rejected(promise.result(scope)),
        v8::PromiseState::Pending => Settled::Pending(promise),
    })
}

/// Materialises `value` inside the isolate that `scope` belongs to.
pub(crate) fn transfer_in<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    isolate: &Isolate,
    value: &Transferable,
) -> Result<v8::Local<'s, v8::Value>> {
    let result = match value {
        Transferable::Copy(copy) => {
            check_room(scope, isolate, copy.buffer_bytes(), copy.heap_bytes())?;
            ivm_marshal::to_v8(scope, copy)
        }
        Transferable::ExternalCopy(copy, options) => {
            check_room(scope, isolate, copy.size(), copy.heap_bytes())?;
            return copy.materialise(scope, options);
        }
        Transferable::Callback(callback) => return crate::callback::function(scope, isolate, callback),
        Transferable::Reference(r) if r.isolate() == isolate => return r.deref(scope),
        // A function of another isolate arrives as a function that calls it
        // (isolated-vm 4 and later).
        Transferable::Reference(r) if r.callable().is_some() => {
            let function = r.clone();
            let callback = crate::Callback::new(move |arguments| {
                let arguments: Vec<Transferable> = arguments.into_iter().map(Transferable::Copy).collect();
                function.call(&arguments).map_err(crate::HostError::from)
            });
            return crate::callback::function(scope, isolate, &callback);
        }
        // Pass `Transferable::Remote(Arc::new(reference))` for a Reference
        // object in another isolate.
        Transferable::Reference(_) => {
            return Err(Error::WrongIsolate("Cannot dereference this into target isolate"));
        }
        Transferable::Remote(remote) => return crate::remote::materialise(scope, isolate, remote),
        Transferable::Dereferenced(remote) => {
            let any: &dyn std::any::Any = remote.as_ref();
            return match any.downcast_ref::<Reference>() {
                Some(reference) if reference.isolate() == isolate => reference.deref(scope),
                _ => Err(Error::WrongIsolate("Cannot dereference this into target isolate")),
            };
        }
    };
    result.map_err(|e| marshal_error(scope, e))
}

/// Values smaller than this are not measured against the heap's room: V8's
/// own limit handles them, and reading the heap's statistics costs more
/// than a small call.
const HEAP_ROOM_CHECKED_FROM: usize = 256 << 10;

/// Refuses a value the host moves in that cannot fit in what is left of
/// the isolate's limit, before any of it is made: its ArrayBuffer contents
/// (`buffer_bytes`, at most) off the heap, the rest (`heap_bytes`, at
/// least, as `heap_bytes` estimates it) on it. A RangeError to the host,
/// and the isolate stays as it was: made anyway, the value would take the
/// isolate past its limit, which disposes it for what its host did.
/// Garbage is collected before a refusal for the heap, so that only live
/// memory refuses a value.
fn check_room(
    scope: &mut JsScope<'_, '_, '_, '_>,
    isolate: &Isolate,
    buffer_bytes: usize,
    heap_bytes: usize,
) -> Result<()> {
    let range_error = |message: String| Err(Error::Js(crate::JsError::new("RangeError", message)));
    let memory = &isolate.inner.memory;
    if buffer_bytes > 0 && !memory.fits(buffer_bytes) {
        // The error JavaScript gets when an ArrayBuffer cannot be allocated.
        return range_error(format!(
            "Array buffer allocation failed: {buffer_bytes} bytes do not fit in the isolate's memory limit"
        ));
    }
    if heap_bytes < HEAP_ROOM_CHECKED_FROM {
        return Ok(());
    }
    let limit = memory.limit_bytes();
    let room = |scope: &mut JsScope<'_, '_, '_, '_>| limit.saturating_sub(scope.get_heap_statistics().used_heap_size());
    if heap_bytes <= room(scope) {
        return Ok(());
    }
    scope.low_memory_notification();
    let left = room(scope);
    if heap_bytes <= left {
        return Ok(());
    }
    range_error(format!(
        "The value does not fit in the isolate's memory limit: it takes at least {} MiB, and {} MiB of the {} MiB limit are left",
        heap_bytes.div_ceil(1 << 20),
        left >> 20,
        limit >> 20
    ))
}

fn is_primitive(value: v8::Local<'_, v8::Value>) -> bool {
    value.is_null_or_undefined() || value.is_boolean() || value.is_number() || value.is_string() || value.is_big_int()
}
