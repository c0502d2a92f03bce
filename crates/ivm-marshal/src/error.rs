/// Why a value could not be copied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The value has no copyable representation (the structured clone
    /// algorithm's DataCloneError). `what` describes the value, e.g.
    /// `function` or `#<Object>`.
    #[error("{what} could not be cloned.")]
    DataClone { what: String },
    /// V8 refused to create the value, e.g. a string over its maximum length.
    #[error("{what} is too large to be created in the isolate")]
    TooLarge { what: &'static str },
}
