/// Why a value could not be copied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The value has no copy (the structured clone algorithm's
    /// DataCloneError). `path` says where in the value it was, e.g.
    /// `value.handlers[2]`; `described` is the value as V8's own
    /// DataCloneError describes it (`function f() {}`, `#<Promise>`,
    /// `Symbol(x)`), for front-ends that repeat V8's message.
    #[error("{what} could not be cloned (at {path}).")]
    DataClone { what: String, path: String, described: String },
    /// V8 refused to create the value, e.g. a string over its maximum length.
    #[error("{what} is too large to be created in the isolate")]
    TooLarge { what: &'static str },
    /// A copy out of an isolate would take more than its bound
    /// ([`CloneOptions::max_bytes`](crate::CloneOptions::max_bytes)).
    #[error("the copy would take more than {} MiB outside the isolate, its memory limit", limit >> 20)]
    OverLimit { limit: usize },
    /// A value graph handed in from outside is malformed.
    #[error("invalid value: {0}")]
    Invalid(String),
    /// JavaScript threw while the value was read (a getter, say); the
    /// exception is pending in the caller's TryCatch.
    #[error("an exception was thrown while the value was copied")]
    Exception,
    /// An ArrayBuffer cannot be transferred.
    #[error("{0}")]
    Transfer(String),
}
