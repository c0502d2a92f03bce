//! ivm: V8 isolates for untrusted and parallel JavaScript.
//!
//! This crate is the public Rust API and holds no logic of its own: it
//! re-exports ivm-core, so that the internal crates can be split or merged
//! without breaking users. The Node and Python packages expose the same
//! concepts.
//!
//! ```
//! use ivm::{EvalOptions, Isolate, IsolateOptions, Value};
//!
//! let isolate = Isolate::new(IsolateOptions::new().memory_limit(32))?;
//! let context = isolate.create_context()?;
//! let sum = context.eval("[1, 2, 3].reduce((a, b) => a + b)", &EvalOptions::new())?;
//! assert_eq!(sum, Value::Number(6.0));
//! # Ok::<(), ivm::Error>(())
//! ```

pub use ivm_core::*;
