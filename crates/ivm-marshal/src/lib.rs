//! ivm-marshal owns how values leave and enter an isolate by copy: the
//! engine-neutral value model ([`Structured`]: a graph of [`Value`]s and
//! [`Object`]s) that every front-end converts to and from, transfer lists,
//! SharedArrayBuffer lifetimes, and the conversion between the model and V8
//! values ([`from_v8`], [`to_v8`]), and the versioned byte encoding of the
//! model ([`wire`]) for values stored outside the process's memory.
//!
//! It must not know isolates' lifecycles, scheduling, references or any
//! binding: like serde_v8 it depends only on `v8`, and it works in whatever
//! handle scope its caller hands it.

mod allocator;
mod error;
pub mod foreign;
mod large_copy;
mod v8_convert;
mod v8_format;
mod value;
pub mod wire;

pub use allocator::{BoundedAllocator, Capped as AllocationCap};
pub use error::Error;
pub use v8_convert::{
    CloneOptions, copied_string_bytes, deserialize, deserialize_moving, from_v8, serialize, to_v8, to_v8_moving,
};
pub use value::{
    BigInt, Buffer, ErrorKind, JsString, Object, ObjectId, Origin, OwnedBytes, Serialized, SharedBuffer, Structured,
    Value, ViewKind,
};
