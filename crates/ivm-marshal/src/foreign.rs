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

use crate::value::SerializedRepr;
use crate::{Buffer, Error, Object, Serialized, SharedBuffer, Structured};

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
        return Err(Error::DataClone {
            what: "SharedArrayBuffer".into(),
            path: "value".into(),
            described: "#<SharedArrayBuffer>".into(),
        });
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

/// Bytes another engine's serializer wrote in this process (Node's
/// `v8.Serializer`), kept as they are: ivm's V8 deserializer reads them when
/// they enter an isolate, and the value model is read from them (strictly)
/// only if asked for. Only the header is checked here.
pub fn serialized(bytes: Bytes) -> Result<Serialized, Error> {
    serialized_sharing(bytes, Vec::new())
}

/// [`serialized`], for bytes that refer to SharedArrayBuffers by id (the
/// index in `shared`): memory the other engine lends
/// ([`SharedBuffer::lent`](crate::SharedBuffer::lent)).
pub fn serialized_sharing(bytes: Bytes, shared: Vec<SharedBuffer>) -> Result<Serialized, Error> {
    match bytes.get(..2) {
        Some([0xFF, version]) if (OLDEST_VERSION..=LATEST_VERSION).contains(&u32::from(*version)) => {
            Ok(Serialized::v8(bytes, shared, Vec::new()))
        }
        _ => Err(Error::Invalid("not V8 serialization bytes of a supported version".into())),
    }
}

/// The SharedArrayBuffer a copy is, if it is one and nothing else: the one
/// shared value another engine can get back (as the object it lent).
pub fn lone_shared_buffer(value: &Serialized) -> Option<&SharedBuffer> {
    match value.repr() {
        // A header, the SharedArrayBuffer tag and its id, 0.
        SerializedRepr::V8 { bytes, shared, .. }
            if shared.len() == 1 && bytes.len() == 4 && bytes[2..] == [b'u', 0] =>
        {
            shared.first()
        }
        _ => None,
    }
}

/// A copy for a reader of format `version`: the bytes themselves when the
/// copy is V8's bytes already (their header rewritten for an older reader;
/// the formats differ only for sizes over 4 GiB, which such a reader's
/// engine cannot hold anyway), else written from the value model.
pub fn write_serialized(value: &Serialized, version: u32) -> Result<ForeignBytes, Error> {
    match value.repr() {
        SerializedRepr::V8 { bytes, shared, transferred } if shared.is_empty() => {
            let mut bytes = bytes.to_vec();
            if let Some(header) = bytes.get_mut(1) {
                if u32::from(*header) > version {
                    *header = u8::try_from(version).map_err(|_| Error::Invalid("format version".into()))?;
                }
            }
            Ok(ForeignBytes { bytes, array_buffers: transferred.clone() })
        }
        _ => write(&value.to_structured()?, version),
    }
}
