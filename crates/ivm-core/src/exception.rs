//! Turning a caught JavaScript exception into [`Error::Js`].

use crate::{Error, JsError};

/// The exception `scope` caught, copied out as an [`Error`].
///
/// Reading `name`, `message` and `stack` may run guest getters; they run
/// under the same deadline as the call that threw.
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
            let key = v8::String::new(scope, key)?;
            let value = object.get(scope, key.into())?;
            if value.is_undefined() {
                return None;
            }
            Some(value.to_string(scope)?.to_rust_string_lossy(scope))
        };
        let name = read(scope, "name").unwrap_or_else(|| "Error".to_owned());
        let message = read(scope, "message").unwrap_or_default();
        // An error without a stack (V8 records none in an isolate making a
        // snapshot) still says where it was thrown.
        let mut stack = read(scope, "stack").or_else(|| {
            location.as_ref().map(|_| if message.is_empty() { name.clone() } else { format!("{name}: {message}") })
        });
        // Compile errors carry no frames; say where the bad code is.
        if let (Some(stack), Some(location)) = (&mut stack, &location)
            && !stack.contains("\n    at ")
        {
            stack.push_str("\n    at ");
            stack.push_str(location);
        }
        JsError { name, message, stack, thrown: None }
    } else {
        // Only primitives are kept: copying a thrown object could run guest
        // getters and take any amount of memory.
        let thrown = if exception.is_object() {
            None
        } else {
            ivm_marshal::from_v8(scope, exception, Default::default()).ok().and_then(|c| c.as_primitive().cloned())
        };
        let message = match &thrown {
            Some(ivm_marshal::Value::String(s)) => s.to_string_lossy().into_owned(),
            _ => exception
                .to_string(scope)
                .map(|s| s.to_rust_string_lossy(scope))
                .unwrap_or_else(|| "[object]".to_owned()),
        };
        JsError { name: String::new(), message, stack: None, thrown }
    };
    Error::Js(error)
}

/// Termination carries no exception worth reading; `Isolate::run_in`
/// replaces this with the termination's cause (timeout, memory, disposal).
fn terminated() -> Error {
    Error::Js(JsError {
        name: "Error".to_owned(),
        message: "Execution was terminated".to_owned(),
        stack: None,
        thrown: None,
    })
}
