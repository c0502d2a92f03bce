//! Values crossing to and from another V8 in the same process, such as
//! Node's own when ivm runs as a Node addon: the two engines share no
//! handles, so a value crosses as the bytes of V8's serialization format,
//! which the other engine's `ValueSerializer` wrote or its
//! `ValueDeserializer` reads (Node exposes both as `v8.Serializer` and
//! `v8.Deserializer`). The reader is the strict one of [`crate::from_v8`]'s
//! fast path, so the bytes are checked before anything is built from them.
//!
//! ArrayBuffers never pass through the bytes: they travel beside them as
//! transfers, so their memory can change hands without a copy.

use bytes::Bytes;

use crate::{Buffer, Error, Object, Structured};

/// The newest format version this crate reads and writes.
pub const LATEST_VERSION: u32 = crate::v8_format::VERSION;
/// The oldest format version this crate reads and writes (V8 10 to 13).
pub const OLDEST_VERSION: u32 = 15;

/// A value in V8's format: the bytes, and the ArrayBuffers they refer to by
/// transfer id (the index in `array_buffers`).
#[derive(Debug)]
pub struct ForeignBytes {
    pub bytes: Vec<u8>,
    pub array_buffers: Vec<Buffer>,
}

/// Writes `value` for a reader of format `version`. SharedArrayBuffers
/// cannot cross to another engine (their memory is managed by this one).
pub fn write(value: &Structured, version: u32) -> Result<ForeignBytes, Error> {
    let written = crate::v8_format::write_version(value.root(), value.objects(), version)?;
    if !written.shared.is_empty() {
        return Err(Error::DataClone { what: "SharedArrayBuffer".into(), path: "value".into() });
    }
    let array_buffers = written
        .array_buffers
        .iter()
        .map(|id| match value.object(*id) {
            Some(Object::ArrayBuffer(buffer)) => Ok(buffer.clone()),
            _ => Err(Error::Invalid(format!("object #{} is not an ArrayBuffer", id.0))),
        })
        .collect::<Result<_, _>>()?;
    Ok(ForeignBytes { bytes: written.bytes, array_buffers })
}

/// Reads bytes another engine's serializer wrote (format version 15 or
/// 16), with `array_buffers` standing for the ArrayBuffers it wrote as
/// transfers.
pub fn read(bytes: Bytes, array_buffers: Vec<Buffer>) -> Result<Structured, Error> {
    crate::v8_format::read(&bytes, &[], array_buffers.into_iter().map(Some).collect())
}
