//! ivm-core's errors as Python exceptions. Each kind raises its own class of
//! `ivm.errors` (written in Python, so that each can also subclass the
//! builtin exception callers already catch: `TimeoutError`, `MemoryError`,
//! …); a JavaScript exception raises `JSError` with its name, message, stack
//! and, for a thrown primitive, the value itself.

use ivm_core::{Error, ErrorClass, HostError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::convert::primitive_to_py;

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    ERRORS.get_or_try_init(py, || Ok(py.import("ivm.errors")?.unbind())).map(|module| module.bind(py))
}

/// The Python exception for `error`.
pub(crate) fn to_py(py: Python<'_>, error: Error) -> PyErr {
    exception(py, &error).unwrap_or_else(|failed| failed)
}

fn exception(py: Python<'_>, error: &Error) -> PyResult<PyErr> {
    let module = errors_module(py)?;
    if let Error::Js(js) = error
        && js.ivm_class.is_none()
    {
        let value = js.thrown.as_ref().map(|thrown| primitive_to_py(py, thrown)).transpose()?;
        let instance =
            module.getattr("JSError")?.call1((js.message.as_str(), js.name.as_str(), js.stack.as_deref(), value))?;
        // The JavaScript error a Python callback's exception became, come
        // back out: chain the original, as `raise … from` would.
        let raised = RAISED_IN_CALLBACK.with(|raised| raised.borrow_mut().take());
        if let Some((message, original)) = raised {
            if js.name == "Error" && js.message == message {
                instance.setattr("__cause__", original)?;
            }
        }
        return Ok(PyErr::from_value(instance));
    }
    // One of ivm's errors, possibly raised in a child isolate or a host
    // function and passed through JavaScript: its own class again.
    let class = module.getattr(error.class_name()).or_else(|_| module.getattr("IvmError"))?;
    Ok(PyErr::from_value(class.call1((error.message(),))?))
}

/// A value that could not cross into or out of an isolate.
pub(crate) fn transfer_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    error_of_class(py, "TransferError", message.into())
}

/// A run that its timeout ended, with `message` (node:vm's, for `ivm.vm`).
pub(crate) fn timeout_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    error_of_class(py, "TimeoutError", message.into())
}

/// A handle used after release, or an argument out of range.
pub(crate) fn usage_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    error_of_class(py, "UsageError", message.into())
}

fn error_of_class(py: Python<'_>, class: &str, message: String) -> PyErr {
    let made = errors_module(py).and_then(|module| module.getattr(class)?.call1((message,)));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(failed) => failed,
    }
}

/// ivm-core results in Python: errors raised as their classes.
pub(crate) trait OrRaise<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for ivm_core::Result<T> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|error| to_py(py, error))
    }
}

thread_local! {
    /// The last exception a Python callback raised into JavaScript on this
    /// thread, with the message JavaScript got.
    static RAISED_IN_CALLBACK: std::cell::RefCell<Option<(String, Py<PyAny>)>> = const { std::cell::RefCell::new(None) };
}

/// What JavaScript is told of an exception a Python callback raised: its
/// message, and if it is one of ivm's errors (a child call's
/// `ivm.TimeoutError` the callback let through) its class, which it has
/// again when it comes back out. The exception is kept, to be the
/// `__cause__` of the `JSError` it turns into if JavaScript lets it
/// propagate back out.
pub(crate) fn raise_into_javascript(py: Python<'_>, error: &PyErr) -> HostError {
    let failure = host_error(py, error);
    // One of ivm's errors comes back out as its class again, not as a
    // `JSError` to chain it to.
    if let HostError::Message(message) = &failure {
        let original = error.value(py).clone().into_any().unbind();
        RAISED_IN_CALLBACK.with(|raised| *raised.borrow_mut() = Some((message.clone(), original)));
    }
    failure
}

/// What JavaScript is told of a Python exception: its message, with its
/// class if it is one of ivm's errors.
pub(crate) fn host_error(py: Python<'_>, error: &PyErr) -> HostError {
    let message = message_of(py, error);
    match ivm_class_of(py, error) {
        Some(class) => HostError::Class { class, message },
        None => HostError::Message(message),
    }
}

/// The class of `ivm.errors` that `error` is an instance of, unless it is
/// a `JSError` (JavaScript's own errors cross as themselves).
fn ivm_class_of(py: Python<'_>, error: &PyErr) -> Option<ErrorClass> {
    let module = errors_module(py).ok()?;
    let mut classes = ErrorClass::ALL.into_iter().filter(|class| *class != ErrorClass::Js);
    classes.find(|class| module.getattr(class.name()).is_ok_and(|class| error.is_instance(py, &class)))
}

/// Forgets the exception a callback raised in an earlier call (which
/// JavaScript caught), so that it cannot become the cause of a later,
/// unrelated error with the same message.
pub(crate) fn forget_callback_exception() {
    RAISED_IN_CALLBACK.with(|raised| raised.borrow_mut().take());
}

/// What JavaScript sees of a Python exception: its message, or its class's
/// name when it has none.
pub(crate) fn message_of(py: Python<'_>, error: &PyErr) -> String {
    let value = error.value(py);
    match value.str() {
        Ok(message) if !message.is_empty().unwrap_or(true) => message.to_string(),
        _ => value.get_type().name().map(|name| name.to_string()).unwrap_or_else(|_| "Python exception".to_owned()),
    }
}
