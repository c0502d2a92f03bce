//! ivm-marshal owns how values leave and enter an isolate by copy: the
//! engine-neutral [`Value`] model that every front-end converts to and from,
//! and the conversion between that model and V8 values.
//!
//! It must not know isolates' lifecycles, scheduling, references or any
//! binding: like serde_v8 it depends only on `v8`, and it works on whatever
//! handle scope its caller hands it. Today the model holds JavaScript's
//! primitives; structured clone (objects, arrays, buffers, the wire format)
//! extends [`Value`] and [`from_v8`] without changing their callers.

mod error;
mod v8_convert;
mod value;

pub use error::Error;
pub use v8_convert::{from_v8, to_v8};
pub use value::{BigInt, Value};
