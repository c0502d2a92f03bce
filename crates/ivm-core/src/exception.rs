//! Turning a caught JavaScript exception into [`Error::Js`].

use crate::{Error, ErrorClass, JsError};

/// The exception `scope` caught, copied out as an [`Error`].
///
/// Reading `name`, `message` and `stack` may run guest getters; they run
/// under the same deadline as the call that threw. Once that deadline (or
/// anything else) has terminated the call, nothing more is read: V8 runs a
/// getter called after termination without stopping it again, and
/// formatting `stack` calls `name`'s.
pub(crate) fn caught(scope: &mut v8::PinnedRef<'_, v8::TryCatch<'_, '_, v8::HandleScope<'_>>>) -> Error {
    let (Some(exception), message) = (scope.exception(), scope.message()) else {
        return terminated();
    };
    if scope.has_terminated() {
        return terminated();
    }
    thrown(scope, exception, message)
}

/// `exception` (thrown, or a promise's rejection reason) as an [`Error`];
/// `message` is V8's report of where it was thrown, when there is one.
pub(crate) fn thrown<'s>(
    scope: &mut v8::PinnedRef<'_, v8::TryCatch<'_, 's, v8::HandleScope<'_>>>,
    exception: v8::Local<'s, v8::Value>,
    message: Option<v8::Local<'_, v8::Message>>,
) -> Error {
    let location = message.map(|message| {
        let resource =
            message.get_script_resource_name(scope).map(|name| name.to_rust_string_lossy(scope)).unwrap_or_default();
        let line = message.get_line_number(scope).unwrap_or(0);
        let column = message.get_start_column().saturating_add(1);
        format!("{resource}:{line}:{column}")
    });
    let error = if exception.is_native_error() {
        let object = exception.cast::<v8::Object>();
        let read = |scope: &mut v8::PinnedRef<'_, v8::TryCatch<'_, '_, v8::HandleScope<'_>>>, key: &str| {
            if scope.has_terminated() {
                return None;
            }
            let key = v8::String::new(scope, key)?;
            let value = object.get(scope, key.into())?;
            if value.is_undefined() {
                return None;
            }
            let text = value.to_string(scope)?;
            Some(bounded_text(scope, text))
        };
        let name = read(scope, "name").unwrap_or_else(|| "Error".to_owned());
        let mut message = read(scope, "message").unwrap_or_default();
        // An error without a stack (V8 records none in an isolate making a
        // snapshot) still says where it was thrown.
        let mut stack = read(scope, "stack").or_else(|| {
            location.as_ref().map(|_| if message.is_empty() { name.clone() } else { format!("{name}: {message}") })
        });
        // Compile errors carry no frames; say where the bad code is, in the
        // stack and (as isolated-vm does) at the end of the message.
        if let (Some(stack), Some(location)) = (&mut stack, &location)
            && !stack.contains("\n    at ")
        {
            stack.push_str("\n    at ");
            stack.push_str(location);
            if name == "SyntaxError" {
                message = format!("{message} [{location}]");
            }
        }
        let ivm_class = marked_class(scope, object);
        JsError { name, message, stack, thrown: None, ivm_class }
    } else if let Some(error) = exception.try_cast::<v8::Object>().ok().and_then(|object| error_like(scope, object)) {
        error
    } else {
        // Only primitives are kept: copying a thrown object could take any
        // amount of memory.
        let thrown = if exception.is_object() {
            None
        } else {
            match ivm_marshal::from_v8(scope, exception, crate::transfer::bounded(Default::default())) {
                Ok(copy) => copy.as_primitive().cloned(),
                Err(error @ ivm_marshal::Error::OverLimit { .. }) => {
                    return Error::Js(JsError::new("RangeError", format!("The thrown value is too large: {error}")));
                }
                Err(_) => None,
            }
        };
        match thrown {
            Some(thrown) => {
                let message = match &thrown {
                    ivm_marshal::Value::String(s) => s.to_string_lossy().into_owned(),
                    _ => exception
                        .to_string(scope)
                        .map(|s| s.to_rust_string_lossy(scope))
                        .unwrap_or_else(|| "[object]".to_owned()),
                };
                JsError { name: String::new(), message, stack: None, thrown: Some(thrown), ivm_class: None }
            }
            // An object that does not look like an error, or a symbol.
            None => JsError::new("Error", JsError::NOT_AN_ERROR),
        }
    };
    Error::Js(error)
}

/// `text` as a Rust string, unless it takes more than the memory limit of
/// the isolate this thread holds allows to copy out (the bound on copies,
/// `transfer::bounded`): then a note of how long it was.
fn bounded_text(scope: &v8::PinScope<'_, '_>, text: v8::Local<'_, v8::String>) -> String {
    match crate::memory::locked_limit() {
        Some(limit) if ivm_marshal::copied_string_bytes(text) > limit => format!(
            "[{} characters, more than the isolate's memory limit of {} MiB allows to copy out]",
            text.length(),
            limit >> 20
        ),
        _ => text.to_rust_string_lossy(scope),
    }
}

/// A thrown object that is not a native error but looks like one (it has a
/// `message` or a `stack`, as isolated-vm asks), as the error it stands
/// for, named by its `name`.
fn error_like<'s>(
    scope: &mut v8::PinnedRef<'_, v8::TryCatch<'_, 's, v8::HandleScope<'_>>>,
    object: v8::Local<'s, v8::Object>,
) -> Option<JsError> {
    let mut read = |key: &str| {
        if scope.has_terminated() {
            return None;
        }
        let key = v8::String::new(scope, key)?;
        let value = object.get(scope, key.into()).filter(|value| !value.is_undefined());
        let text = value.and_then(|value| value.to_string(scope)).map(|text| bounded_text(scope, text));
        if scope.has_caught() && !scope.has_terminated() {
            scope.reset();
        }
        text
    };
    let (message, stack) = (read("message"), read("stack"));
    if message.is_none() && stack.is_none() {
        return None;
    }
    let name = read("name").unwrap_or_else(|| "Error".to_owned());
    Some(JsError { name, message: message.unwrap_or_default(), stack, thrown: None, ivm_class: None })
}

/// Termination carries no exception worth reading; `Isolate::run_in`
/// replaces this with the termination's cause (timeout, memory, disposal).
fn terminated() -> Error {
    Error::Js(JsError::new("Error", "Execution was terminated"))
}

/// The private key under which an error thrown into JavaScript for one of
/// ivm's errors keeps that error's class.
fn class_key<'s>(scope: &v8::PinScope<'s, '_>) -> Option<v8::Local<'s, v8::Private>> {
    let name = v8::String::new(scope, "ivm.error.class")?;
    Some(v8::Private::for_api(scope, Some(name)))
}

/// Marks `error` (a JavaScript error made for one of ivm's errors) with
/// that error's class, which JavaScript cannot see or change.
pub(crate) fn mark_class(scope: &v8::PinScope<'_, '_>, error: v8::Local<'_, v8::Value>, class: ErrorClass) {
    let (Ok(object), Some(key), Some(class)) =
        (v8::Local::<v8::Object>::try_from(error), class_key(scope), v8::String::new(scope, class.name()))
    else {
        return;
    };
    object.set_private(scope, key, class.into());
}

/// The class `object` was marked with, if it is one of ivm's.
fn marked_class(scope: &v8::PinScope<'_, '_>, object: v8::Local<'_, v8::Object>) -> Option<ErrorClass> {
    let class = object.get_private(scope, class_key(scope)?)?;
    let class = class.is_string().then(|| class.to_rust_string_lossy(scope))?;
    ErrorClass::from_name(&class)
}

/// A JavaScript error standing for `js` (an exception of another isolate
/// on its way through this one): the same constructor where it is one of
/// JavaScript's own, `name` and `message`, and its ivm class, if any.
pub(crate) fn js_error_value<'s>(scope: &v8::PinScope<'s, '_>, js: &JsError) -> v8::Local<'s, v8::Value> {
    let message = v8::String::new(scope, &js.message).unwrap_or_else(|| v8::String::empty(scope));
    let error = match js.name.as_str() {
        "TypeError" => v8::Exception::type_error(scope, message),
        "RangeError" => v8::Exception::range_error(scope, message),
        "SyntaxError" => v8::Exception::syntax_error(scope, message),
        "ReferenceError" => v8::Exception::reference_error(scope, message),
        _ => v8::Exception::error(scope, message),
    };
    if let (Ok(object), Some(name)) = (v8::Local::<v8::Object>::try_from(error), v8::String::new(scope, &js.name)) {
        let standard = ["Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError"];
        if !js.name.is_empty() && !standard.contains(&js.name.as_str()) {
            let key = v8::String::new(scope, "name").map(Into::into);
            if let Some(key) = key {
                let _ = object.set(scope, key, name.into());
            }
        }
    }
    if let Some(class) = js.ivm_class {
        mark_class(scope, error, class);
    }
    if let (Some(host_stack), Ok(object)) = (&js.stack, v8::Local::<v8::Object>::try_from(error)) {
        continue_stack(scope, object, host_stack);
    }
    error
}

/// The line ivm puts in a stack where it crosses between a host and an
/// isolate, in isolated-vm's words (which tools reading stacks know).
pub const STACK_BOUNDARY: &str = "    at (<isolated-vm boundary>)";

/// The name of the script of ivm's library inside isolates, whose frames
/// stacks leave out.
pub(crate) const LIBRARY_SCRIPT: &str = "<ivm library>";

/// Makes the stack of `error`, an error from the host thrown into the
/// isolate, the host's stack (`host_stack`) continued by the isolate's
/// frames where it was thrown, as isolated-vm gives it: where it began,
/// and how the isolate got there.
fn continue_stack(scope: &v8::PinScope<'_, '_>, error: v8::Local<'_, v8::Object>, host_stack: &str) {
    let Some(key) = v8::String::new(scope, "stack") else { return };
    let own =
        error.get(scope, key.into()).filter(|stack| stack.is_string()).map(|stack| stack.to_rust_string_lossy(scope));
    let mut stack = host_stack.trim_end().to_owned();
    stack.push('\n');
    stack.push_str(STACK_BOUNDARY);
    let library_frame = format!("({LIBRARY_SCRIPT}:");
    for frame in own.iter().flat_map(|own| own.lines()).filter(|line| line.starts_with("    at ")) {
        if !frame.contains(&library_frame) {
            stack.push('\n');
            stack.push_str(frame);
        }
    }
    if let Some(stack) = v8::String::new(scope, &stack) {
        let _ = error.set(scope, key.into(), stack.into());
    }
}
