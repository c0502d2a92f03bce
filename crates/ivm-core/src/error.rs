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
    #[error("Isolate is already disposed")]
    Disposed,
    /// The handle (context, script, reference) had been released.
    #[error("{0} has been released")]
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

impl Error {
    /// The name of the error class each binding raises for this error, the
    /// same in every language: `JsError` for JavaScript's own exceptions,
    /// else one class per kind of failure (`TimeoutError`,
    /// `MemoryLimitError`, …). A binding raises `IvmError`, the classes'
    /// common base, for a name it does not know.
    pub fn class_name(&self) -> &'static str {
        match self {
            Error::Js(_) => "JsError",
            Error::Timeout => "TimeoutError",
            Error::CpuLimit => "CpuLimitError",
            Error::MemoryLimit => "MemoryLimitError",
            Error::DisposedDuringExecution | Error::Disposed => "DisposedError",
            Error::Released(_) => "ReleasedError",
            Error::WrongIsolate(_) | Error::NestedCall | Error::InvalidArgument(_) => "UsageError",
            Error::Marshal(_) | Error::Wire(_) => "TransferError",
            Error::Canceled => "CanceledError",
            Error::Io(_) => "IoError",
            Error::Unsupported(_) => "UnsupportedError",
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
