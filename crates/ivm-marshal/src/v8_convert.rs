//! Conversion between [`Value`] and V8 values, in the caller's handle scope.

use crate::{BigInt, Error, Value};

/// Creates the V8 value for `value` in the scope's isolate.
pub fn to_v8<'s>(scope: &v8::PinScope<'s, '_>, value: &Value) -> Result<v8::Local<'s, v8::Value>, Error> {
    Ok(match value {
        Value::Undefined => v8::undefined(scope).into(),
        Value::Null => v8::null(scope).into(),
        Value::Bool(b) => v8::Boolean::new(scope, *b).into(),
        Value::Number(n) => v8::Number::new(scope, *n).into(),
        Value::String(s) => v8::String::new(scope, s).ok_or(Error::TooLarge { what: "string" })?.into(),
        Value::BigInt(b) => v8::BigInt::new_from_words(scope, b.is_negative(), b.words())
            .ok_or(Error::TooLarge { what: "bigint" })?
            .into(),
    })
}

/// Copies a V8 value out of the isolate.
///
/// Fails with [`Error::DataClone`] for values that have no copy in the model.
pub fn from_v8(scope: &v8::PinScope<'_, '_>, value: v8::Local<'_, v8::Value>) -> Result<Value, Error> {
    if value.is_undefined() {
        Ok(Value::Undefined)
    } else if value.is_null() {
        Ok(Value::Null)
    } else if value.is_boolean() {
        Ok(Value::Bool(value.boolean_value(scope)))
    } else if let Ok(number) = v8::Local::<v8::Number>::try_from(value) {
        Ok(Value::Number(number.value()))
    } else if let Ok(string) = v8::Local::<v8::String>::try_from(value) {
        Ok(Value::String(string.to_rust_string_lossy(scope)))
    } else if let Ok(bigint) = v8::Local::<v8::BigInt>::try_from(value) {
        let mut words = vec![0u64; bigint.word_count()];
        let (negative, words) = bigint.to_words_array(&mut words);
        Ok(Value::BigInt(BigInt::from_words(negative, words.to_vec())))
    } else {
        Err(Error::DataClone { what: describe(scope, value) })
    }
}

/// A short description of an uncloneable value for error messages, in the
/// style of V8's own DataCloneError ("#<Object> could not be cloned.").
fn describe(scope: &v8::PinScope<'_, '_>, value: v8::Local<'_, v8::Value>) -> String {
    if value.is_function() {
        return "function".to_owned();
    }
    if value.is_symbol() {
        return "Symbol()".to_owned();
    }
    match value.to_object(scope) {
        Some(object) => format!("#<{}>", object.get_constructor_name().to_rust_string_lossy(scope)),
        None => value.type_of(scope).to_rust_string_lossy(scope),
    }
}
