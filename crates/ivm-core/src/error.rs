use std::fmt;

use ivm_marshal::Value;

/// Everything an ivm-core operation can fail with. Each variant maps to its
/// own error class in the bindings, so callers can tell them apart without
/// matching on messages.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// JavaScript threw (or failed to compile).
    #[error("{0}")]
    Js(JsError),
    /// The call ran past its `timeout`; the isolate stays usable.
    #[error("Script execution timed out.")]
    Timeout,
    /// The call spent its CPU-time budget (`cpu_limit`); the isolate stays
    /// usable.
    #[error("Script exceeded its CPU time limit.")]
    CpuLimit,
    /// The isolate exceeded its memory limit and has been disposed.
    #[error("Isolate was disposed during execution due to memory limit")]
    MemoryLimit,
    /// The isolate was disposed while this call was running.
    #[error("Isolate was disposed during execution")]
    DisposedDuringExecution,
    /// The isolate had already been disposed.
    #[error("Isolate is disposed")]
    Disposed,
    /// The handle (context, script, reference) had been released: the
    /// message says which, in isolated-vm's words ("Context is released",
    /// "Reference has been released", "Copy has been released").
    #[error("{0}")]
    Released(&'static str),
    /// A handle was used with an isolate it does not belong to.
    #[error("{0}")]
    WrongIsolate(&'static str),
    /// A synchronous call into an isolate was made from a thread that is
    /// already inside an isolate call (for example from `Context::enter`).
    #[error("A synchronous call into an isolate cannot be made from inside another isolate call on the same thread")]
    NestedCall,
    /// An argument was out of range or of the wrong kind.
    #[error("{0}")]
    InvalidArgument(String),
    /// A value could not be copied into or out of the isolate.
    #[error(transparent)]
    Marshal(#[from] ivm_marshal::Error),
    /// Bytes handed to [`ExternalCopy::decode`] are not a valid encoding.
    ///
    /// [`ExternalCopy::decode`]: crate::ExternalCopy::decode
    #[error(transparent)]
    Wire(#[from] ivm_marshal::wire::WireError),
    /// A queued call was dropped before it ran to completion (its worker
    /// was lost to a catastrophic error, say), or was stopped because its
    /// host thread had to stop ([`set_host_exit_check`](crate::set_host_exit_check)).
    #[error("The operation was canceled before it completed")]
    Canceled,
    /// The operating system refused something the call needed (a port for
    /// the inspector's server, say).
    #[error("{0}")]
    Io(String),
    /// The feature exists in the API but this build cannot provide it yet.
    #[error("{0} is not supported yet")]
    Unsupported(&'static str),
}

/// The error classes every front-end raises, one per kind of failure, with
/// the same names in every language (`TimeoutError`, `MemoryLimitError`,
/// …) and, in Node, isolated-vm-style codes. The bindings build their
/// tables of classes from [`ErrorClass::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// JavaScript's own exceptions.
    Js,
    Timeout,
    CpuLimit,
    MemoryLimit,
    Disposed,
    Released,
    Usage,
    Transfer,
    Canceled,
    Io,
    Unsupported,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 11] = [
        ErrorClass::Js,
        ErrorClass::Timeout,
        ErrorClass::CpuLimit,
        ErrorClass::MemoryLimit,
        ErrorClass::Disposed,
        ErrorClass::Released,
        ErrorClass::Usage,
        ErrorClass::Transfer,
        ErrorClass::Canceled,
        ErrorClass::Io,
        ErrorClass::Unsupported,
    ];

    /// The class's name in every front-end (`JsError` for JavaScript's
    /// own exceptions, which the bindings raise as their languages' own).
    pub const fn name(self) -> &'static str {
        match self {
            ErrorClass::Js => "JsError",
            ErrorClass::Timeout => "TimeoutError",
            ErrorClass::CpuLimit => "CpuLimitError",
            ErrorClass::MemoryLimit => "MemoryLimitError",
            ErrorClass::Disposed => "DisposedError",
            ErrorClass::Released => "ReleasedError",
            ErrorClass::Usage => "UsageError",
            ErrorClass::Transfer => "TransferError",
            ErrorClass::Canceled => "CanceledError",
            ErrorClass::Io => "IoError",
            ErrorClass::Unsupported => "UnsupportedError",
        }
    }

    /// The Node error's `code` (`ERR_IVM_TIMEOUT`, …).
    pub const fn code(self) -> &'static str {
        match self {
            ErrorClass::Js => "ERR_IVM_JS",
            ErrorClass::Timeout => "ERR_IVM_TIMEOUT",
            ErrorClass::CpuLimit => "ERR_IVM_CPU_LIMIT",
            ErrorClass::MemoryLimit => "ERR_IVM_MEMORY_LIMIT",
            ErrorClass::Disposed => "ERR_IVM_DISPOSED",
            ErrorClass::Released => "ERR_IVM_RELEASED",
            ErrorClass::Usage => "ERR_IVM_USAGE",
            ErrorClass::Transfer => "ERR_IVM_TRANSFER",
            ErrorClass::Canceled => "ERR_IVM_CANCELED",
            ErrorClass::Io => "ERR_IVM_IO",
            ErrorClass::Unsupported => "ERR_IVM_UNSUPPORTED",
        }
    }

    /// The class named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<ErrorClass> {
        ErrorClass::ALL.into_iter().find(|class| class.name() == name)
    }
}

impl Error {
    /// The class each binding raises for this error, the same in every
    /// language. A JavaScript exception that started as one of ivm's errors
    /// (thrown into JavaScript by a host function) has that error's class.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Js(js) => js.ivm_class.unwrap_or(ErrorClass::Js),
            Error::Timeout => ErrorClass::Timeout,
            Error::CpuLimit => ErrorClass::CpuLimit,
            Error::MemoryLimit => ErrorClass::MemoryLimit,
            Error::DisposedDuringExecution | Error::Disposed => ErrorClass::Disposed,
            Error::Released(_) => ErrorClass::Released,
            Error::WrongIsolate(_) | Error::NestedCall | Error::InvalidArgument(_) => ErrorClass::Usage,
            Error::Marshal(_) | Error::Wire(_) => ErrorClass::Transfer,
            Error::Canceled => ErrorClass::Canceled,
            Error::Io(_) => ErrorClass::Io,
            Error::Unsupported(_) => ErrorClass::Unsupported,
        }
    }

    /// The name of [`class`](Error::class) (`TimeoutError`, …; `JsError`
    /// for JavaScript's own exceptions).
    pub fn class_name(&self) -> &'static str {
        self.class().name()
    }

    /// The message the error's class is raised with in a front-end: a
    /// JavaScript error's own message (its name and stack go apart), else
    /// the error's text.
    pub fn message(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Error::Js(js) => std::borrow::Cow::Borrowed(&js.message),
            other => std::borrow::Cow::Owned(other.to_string()),
        }
    }
}

/// Shorthand for results of ivm-core operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A JavaScript exception, copied out of the isolate that threw it.
#[derive(Debug, Clone, PartialEq)]
pub struct JsError {
    /// The error's `name` (`"TypeError"`, `"SyntaxError"`, …); empty when a
    /// non-Error value was thrown.
    pub name: String,
    /// The error's `message`, or the thrown value converted to a string.
    pub message: String,
    /// The JavaScript stack trace, with the script's origin in its frames.
    pub stack: Option<String>,
    /// The thrown value itself when it was a primitive and not an Error
    /// (`throw 42`, `throw "no"`).
    pub thrown: Option<Value>,
    /// When the exception is one of ivm's errors thrown into JavaScript by
    /// a host function (a child isolate's timeout, say), its class
    /// ([`Error::class_name`]): the class it is raised as again, wherever
    /// it is caught.
    pub ivm_class: Option<ErrorClass>,
}

impl JsError {
    /// What an object thrown that is not an error (nor has a `message` or
    /// a `stack`) becomes outside the isolate it was thrown in, in
    /// isolated-vm's words.
    pub const NOT_AN_ERROR: &str =
        "An object was thrown from supplied code within isolated-vm, but that object was not an instance of `Error`.";

    /// A JavaScript error with `name` and `message` (no stack, no class).
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> JsError {
        JsError { name: name.into(), message: message.into(), stack: None, thrown: None, ivm_class: None }
    }
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.stack, self.name.is_empty()) {
            (Some(stack), _) => f.write_str(stack),
            (None, true) => write!(f, "Uncaught {}", self.message),
            (None, false) if self.message.is_empty() => f.write_str(&self.name),
            (None, false) => write!(f, "{}: {}", self.name, self.message),
        }
    }
}

impl std::error::Error for JsError {}
