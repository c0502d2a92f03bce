//! Values crossing the isolate boundary: by copy (through ivm-marshal) or by
//! reference.

use std::fmt;
use std::sync::Arc;

use ivm_marshal::Value;

use crate::{Error, Isolate, Reference, Result, TransferMode};

/// A value on its way into or out of an isolate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Transferable {
    /// A copy, independent of any isolate.
    Value(Value),
    /// A handle to a value that stays in its isolate.
    Reference(Reference),
}

impl Transferable {
    /// The copied value, if this is one.
    pub fn as_value(&self) -> Option<&Value> {
        match self {
            Transferable::Value(v) => Some(v),
            Transferable::Reference(_) => None,
        }
    }

    pub fn into_value(self) -> Option<Value> {
        match self {
            Transferable::Value(v) => Some(v),
            Transferable::Reference(_) => None,
        }
    }

    pub fn as_reference(&self) -> Option<&Reference> {
        match self {
            Transferable::Reference(r) => Some(r),
            Transferable::Value(_) => None,
        }
    }

    pub fn into_reference(self) -> Option<Reference> {
        match self {
            Transferable::Reference(r) => Some(r),
            Transferable::Value(_) => None,
        }
    }
}

impl<T: Into<Value>> From<T> for Transferable {
    fn from(v: T) -> Transferable {
        Transferable::Value(v.into())
    }
}

impl From<Reference> for Transferable {
    fn from(r: Reference) -> Transferable {
        Transferable::Reference(r)
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
            Transferable::Value(v) => v.fmt(f),
            Transferable::Reference(r) => write!(f, "[Reference {}]", r.type_of().unwrap_or("released")),
        }
    }
}

/// Moves a value out of the isolate as `mode` asks.
pub(crate) fn transfer_out(
    scope: &v8::PinScope<'_, '_>,
    isolate: &Isolate,
    context: &Arc<v8::Global<v8::Context>>,
    value: v8::Local<'_, v8::Value>,
    mode: TransferMode,
) -> Result<Transferable> {
    let by_reference = match mode {
        TransferMode::Auto => !is_primitive(value),
        TransferMode::Copy => false,
        TransferMode::Reference => true,
    };
    if by_reference {
        Ok(Transferable::Reference(Reference::new(scope, isolate, context, value)))
    } else {
        Ok(Transferable::Value(ivm_marshal::from_v8(scope, value)?))
    }
}

/// Materialises `value` inside the isolate that `scope` belongs to.
pub(crate) fn transfer_in<'s>(
    scope: &v8::PinScope<'s, '_>,
    isolate: &Isolate,
    value: &Transferable,
) -> Result<v8::Local<'s, v8::Value>> {
    match value {
        Transferable::Value(v) => Ok(ivm_marshal::to_v8(scope, v)?),
        Transferable::Reference(r) if r.isolate() == isolate => r.deref(scope),
        Transferable::Reference(_) => Err(Error::WrongIsolate(
            "A Reference can only be passed into the isolate that owns it; copy its value instead",
        )),
    }
}

fn is_primitive(value: v8::Local<'_, v8::Value>) -> bool {
    value.is_null_or_undefined() || value.is_boolean() || value.is_number() || value.is_string() || value.is_big_int()
}
