//! References: handles to values that stay inside their isolate.

use std::fmt;
use std::sync::Arc;

use ivm_marshal::{Structured, Value};

use crate::exception::caught;
use crate::held::Held;
use crate::run::Limits;
use crate::transfer::{JsScope, copy_out, marshal_error, transfer_in, transfer_out};
use crate::{Error, Isolate, Result, RunOptions, TransferMode, Transferable};

/// A handle to a value inside an isolate, usable from any thread.
///
/// Clones share one underlying handle: [`Reference::release`] on any of them
/// releases it for all, and [`Isolate::reference_count`] counts it once.
#[derive(Clone)]
pub struct Reference {
    inner: Arc<ReferenceInner>,
}

struct ReferenceInner {
    value: Held<v8::Value>,
    /// The context the value was obtained in; operations on the value run
    /// there.
    context: Arc<v8::Global<v8::Context>>,
    type_of: &'static str,
    /// The name and `length` of a function that left its isolate as a
    /// function (see [`Reference::callable`]).
    callable: Option<(String, u32)>,
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reference")
            .field("typeof", &self.inner.type_of)
            .field("released", &self.inner.value.is_released())
            .finish()
    }
}

impl Reference {
    pub(crate) fn new(
        scope: &v8::PinScope<'_, '_>,
        isolate: &Isolate,
        context: &Arc<v8::Global<v8::Context>>,
        value: v8::Local<'_, v8::Value>,
    ) -> Reference {
        Reference::with_callable(scope, isolate, context, value, None)
    }

    fn with_callable(
        scope: &v8::PinScope<'_, '_>,
        isolate: &Isolate,
        context: &Arc<v8::Global<v8::Context>>,
        value: v8::Local<'_, v8::Value>,
        callable: Option<(String, u32)>,
    ) -> Reference {
        let type_of = type_of(value);
        let global = v8::Global::new(scope, value);
        Reference {
            inner: Arc::new(ReferenceInner {
                value: Held::new(isolate.clone(), "Reference has been released", global),
                context: Arc::clone(context),
                type_of,
                callable,
            }),
        }
    }

    /// A function leaving its isolate as a function: a Reference that
    /// knows the function's name and `length`, for the host's function
    /// that stands for it ([`callable`](Self::callable)). The length is
    /// read only as an own data property holding a number, so no code of
    /// the isolate runs (`length` is configurable: it may hold an object).
    pub(crate) fn function<'s>(
        scope: &mut JsScope<'_, '_, 's, '_>,
        isolate: &Isolate,
        context: &Arc<v8::Global<v8::Context>>,
        function: v8::Local<'s, v8::Function>,
    ) -> Reference {
        let name = function.get_name(scope).to_rust_string_lossy(scope);
        let length_key = v8::String::new(scope, "length").map(Into::into);
        let length = length_key
            .and_then(|key| own_data_property(scope, function.into(), key).ok())
            .and_then(|length| v8::Local::<v8::Number>::try_from(length).ok())
            .map(|length| length.value())
            .filter(|length| length.is_finite() && *length >= 0.0)
            .map_or(0, |length| length.min(f64::from(u32::MAX)) as u32);
        if scope.has_caught() {
            scope.reset();
        }
        Reference::with_callable(scope, isolate, context, function.into(), Some((name, length)))
    }

    /// A context's global object, held from the context's creation.
    pub(crate) fn from_global(
        isolate: &Isolate,
        context: &Arc<v8::Global<v8::Context>>,
        global: v8::Global<v8::Value>,
    ) -> Reference {
        Reference {
            inner: Arc::new(ReferenceInner {
                value: Held::part(isolate.clone(), "Reference has been released", global),
                context: Arc::clone(context),
                type_of: "object",
                callable: None,
            }),
        }
    }

    /// A second handle to the same value, released independently of this
    /// one (isolated-vm's `derefInto({ release: true })` hands one over and
    /// lets go of the other).
    pub fn duplicate(&self) -> Result<Reference> {
        let global = self.inner.value.get()?;
        Ok(Reference {
            inner: Arc::new(ReferenceInner {
                value: Held::new(self.isolate().clone(), "Reference has been released", global),
                context: Arc::clone(&self.inner.context),
                type_of: self.inner.type_of,
                callable: self.inner.callable.clone(),
            }),
        })
    }

    pub fn isolate(&self) -> &Isolate {
        self.inner.value.isolate()
    }

    /// The `typeof` of the value, except that `null` is `"null"` and symbols
    /// are `"object"` (isolated-vm's rules). Known without entering the
    /// isolate.
    pub fn type_of(&self) -> Result<&'static str> {
        self.inner.value.get()?;
        Ok(self.inner.type_of)
    }

    /// `reference[key]`, transferred out as `options.result` asks. Only an
    /// own data property is read (a missing one is `undefined`), and a
    /// getter or a Proxy is an error, unless `options.accessors` allows
    /// them (isolated-vm's rules: reading a value runs none of the
    /// isolate's code unless asked to).
    pub fn get(&self, key: impl Into<Value>, options: &RunOptions) -> Result<Transferable> {
        let key = key.into();
        self.with_object(options, |scope, isolate, context, object| {
            let key = key_in(scope, key)?;
            let value = if options.accessors {
                object.get(scope, key).ok_or_else(|| caught(scope))?
            } else {
                own_data_property(scope, object, key)?
            };
            transfer_out(scope, isolate, context, value, options)
        })
    }

    /// `reference[key] = value`; returns whether V8 reported success.
    pub fn set(&self, key: impl Into<Value>, value: impl Into<Transferable>, options: &RunOptions) -> Result<bool> {
        let (key, value) = (key.into(), value.into());
        self.with_object(options, |scope, isolate, _, object| {
            let key = key_in(scope, key)?;
            let value = transfer_in(scope, isolate, &value)?;
            object.set(scope, key, value).ok_or_else(|| caught(scope))
        })
    }

    /// `delete reference[key]`; returns the operator's result.
    pub fn delete(&self, key: impl Into<Value>, options: &RunOptions) -> Result<bool> {
        let key = key.into();
        self.with_object(options, |scope, _, _, object| {
            let key = key_in(scope, key)?;
            object.delete(scope, key).ok_or_else(|| caught(scope))
        })
    }

    /// Calls the referenced function with `receiver` as `this`.
    pub fn apply(
        &self,
        receiver: impl Into<Transferable>,
        arguments: &[Transferable],
        options: &RunOptions,
    ) -> Result<Transferable> {
        let receiver = receiver.into();
        let value = self.inner.value.get()?;
        let context = &self.inner.context;
        let isolate = self.isolate();
        isolate.run_in(context, Limits::from(options), |scope| {
            let function = v8::Local::new(scope, &*value)
                .try_cast::<v8::Function>()
                .map_err(|_| Error::InvalidArgument("Reference is not a function".to_owned()))?;
            let receiver = transfer_in(scope, isolate, &receiver)?;
            let arguments =
                arguments.iter().map(|argument| transfer_in(scope, isolate, argument)).collect::<Result<Vec<_>>>()?;
            let result = function.call(scope, receiver, &arguments).ok_or_else(|| caught(scope))?;
            transfer_out(scope, isolate, context, result, options)
        })
    }

    /// The name and `length` of the function, if this is a function that
    /// left its isolate as one ([`TransferMode::Auto`] and
    /// [`TransferMode::CopyExceptFunctions`] results): the host gives it to
    /// its code as a function of its own, with that name and length, that
    /// calls [`call`](Self::call) (isolated-vm 4 and later).
    pub fn callable(&self) -> Option<(&str, u32)> {
        self.inner.callable.as_ref().map(|(name, length)| (name.as_str(), *length))
    }

    /// Calls the function as isolated-vm calls a function that left its
    /// isolate: `this` is `undefined`, and the result is copied out, a
    /// function coming out as a function again
    /// ([`TransferMode::CopyExceptFunctions`]). Called inside another
    /// isolate's call on this thread (a host function of that isolate
    /// calling it), it runs as this isolate's queued call while this thread
    /// waits.
    pub fn call(&self, arguments: &[Transferable]) -> Result<Transferable> {
        let options = RunOptions::new().result(TransferMode::CopyExceptFunctions);
        if self.isolate().locked_by_another_here() {
            let pending = self.apply_async(Value::Undefined, arguments.to_vec(), options);
            return ivm_runtime::block_in_place(|| crate::remote::wait_for(pending));
        }
        self.apply(Value::Undefined, arguments, &options)
    }

    /// A structured clone of the referenced value.
    pub fn copy(&self) -> Result<Structured> {
        self.run(&RunOptions::new(), |scope, value| copy_out(scope, value, Default::default()))
    }

    /// Runs `f` on the referenced value inside its isolate and context.
    pub(crate) fn run<R>(
        &self,
        options: &RunOptions,
        f: impl for<'s> FnOnce(&mut JsScope<'_, '_, 's, '_>, v8::Local<'s, v8::Value>) -> Result<R>,
    ) -> Result<R> {
        let value = self.inner.value.get()?;
        self.isolate().run_in(&self.inner.context, Limits::from(options), |scope| {
            let value = v8::Local::new(scope, &*value);
            f(scope, value)
        })
    }

    /// The referenced value itself, in a scope of the isolate that owns it.
    pub fn deref<'s>(&self, scope: &v8::PinScope<'s, '_>) -> Result<v8::Local<'s, v8::Value>> {
        if !self.isolate().owns(scope) {
            return Err(Error::WrongIsolate("A Reference can only be dereferenced in the isolate that owns it"));
        }
        let value = self.inner.value.get()?;
        Ok(v8::Local::new(scope, &*value))
    }

    /// Releases the handle; later operations on this reference fail.
    pub fn release(&self) {
        self.inner.value.release();
    }

    fn with_object<R>(
        &self,
        options: &RunOptions,
        f: impl for<'s> FnOnce(
            &mut JsScope<'_, '_, 's, '_>,
            &Isolate,
            &Arc<v8::Global<v8::Context>>,
            v8::Local<'s, v8::Object>,
        ) -> Result<R>,
    ) -> Result<R> {
        let value = self.inner.value.get()?;
        let context = &self.inner.context;
        let isolate = self.isolate();
        isolate.run_in(context, Limits::from(options), |scope| {
            let object = v8::Local::new(scope, &*value)
                .try_cast::<v8::Object>()
                .map_err(|_| Error::InvalidArgument("Reference is not an object".to_owned()))?;
            f(scope, isolate, context, object)
        })
    }
}

/// An object's own data property, without running any of its code.
fn own_data_property<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    object: v8::Local<'s, v8::Object>,
    key: v8::Local<'s, v8::Value>,
) -> Result<v8::Local<'s, v8::Value>> {
    if object.is_proxy() {
        return Err(Error::InvalidArgument("The object is a Proxy: pass `accessors: true` to read through it".into()));
    }
    let name: v8::Local<'s, v8::Name> = match v8::Local::<v8::Name>::try_from(key) {
        Ok(name) => name,
        Err(_) => key.to_string(scope).ok_or_else(|| caught(scope))?.into(),
    };
    match own_property(scope, object, name).ok_or_else(|| caught(scope))? {
        OwnProperty::Missing => Ok(v8::undefined(scope).into()),
        OwnProperty::Data(value) => Ok(value),
        OwnProperty::Accessor => {
            Err(Error::InvalidArgument("The property is an accessor: pass `accessors: true` to run its getter".into()))
        }
    }
}

/// An object's own property, as its descriptor tells it.
pub(crate) enum OwnProperty<'s> {
    Missing,
    Data(v8::Local<'s, v8::Value>),
    /// A getter or setter, which is not run.
    Accessor,
}

/// An object's own property `name`, read without running any of the
/// object's code (its getters, a Proxy's traps aside: the caller keeps
/// Proxies away where that matters); `None` if V8 threw.
pub(crate) fn own_property<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    object: v8::Local<'s, v8::Object>,
    name: v8::Local<'s, v8::Name>,
) -> Option<OwnProperty<'s>> {
    let descriptor = object.get_own_property_descriptor(scope, name)?;
    let Ok(descriptor) = v8::Local::<v8::Object>::try_from(descriptor) else { return Some(OwnProperty::Missing) };
    // Internalized: the keys a descriptor's own properties already are.
    let get = v8::String::new_from_one_byte(scope, b"get", v8::NewStringType::Internalized)?;
    if descriptor.has_own_property(scope, get.into())? {
        return Some(OwnProperty::Accessor);
    }
    let value = v8::String::new_from_one_byte(scope, b"value", v8::NewStringType::Internalized)?;
    descriptor.get(scope, value.into()).map(OwnProperty::Data)
}

/// A property key (a primitive) in the isolate.
fn key_in<'s>(scope: &mut JsScope<'_, '_, 's, '_>, key: Value) -> Result<v8::Local<'s, v8::Value>> {
    if !key.is_primitive() {
        return Err(Error::InvalidArgument("a property key must be a primitive".into()));
    }
    ivm_marshal::to_v8(scope, &Structured::from(key)).map_err(|e| marshal_error(scope, e))
}

fn type_of(value: v8::Local<'_, v8::Value>) -> &'static str {
    if value.is_null() {
        "null"
    } else if value.is_undefined() {
        "undefined"
    } else if value.is_boolean() {
        "boolean"
    } else if value.is_number() {
        "number"
    } else if value.is_string() {
        "string"
    } else if value.is_big_int() {
        "bigint"
    } else if value.is_function() {
        "function"
    } else {
        "object"
    }
}
