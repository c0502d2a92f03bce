//! V8's own serialization format (`v8::ValueSerializer`, format version 15),
//! read into the value model and written from it in Rust.
//!
//! Copying a value out of an isolate through V8's public API costs one API
//! call (and its entry and exit checks) per property; V8's serializer walks
//! the same heap from the inside, about ten times faster (see
//! `benches/marshal.rs`). So values leave an isolate as the serializer's bytes
//! and `read` turns those into a [`Structured`]; values enter one as bytes
//! that `write` makes from a [`Structured`], which V8's deserializer reads.
//! V8's deserializer only ever sees bytes made here from a validated graph:
//! bytes from outside the process go through the `wire` decoder instead.
//!
//! Both directions are loops over an explicit stack, never recursion, and
//! the reader is as strict as the `wire` decoder: a malformed input is an
//! error, never a panic, and no count is trusted before its elements are
//! read.
//!
//! Object identity: V8 numbers every object (every receiver: plain objects,
//! arrays, dates, buffers, views, errors, ...) in the order it starts writing
//! them, and `^id` refers back to one. The reader gives each object the
//! arena slot of its number, so ids and [`ObjectId`]s coincide.

use bytes::Bytes;

use crate::{BigInt, Buffer, Error, ErrorKind, JsString, Object, ObjectId, SharedBuffer, Structured, Value, ViewKind};

/// The format version V8 152 writes. Version 16 differs from 15 only in
/// writing buffer and view sizes as 64-bit varints, so both are read.
pub(crate) const VERSION: u32 = 16;

// Serialization tags (V8's `SerializationTag`).
const T_VERSION: u8 = 0xFF;
const T_PADDING: u8 = 0;
const T_VERIFY_OBJECT_COUNT: u8 = b'?';
const T_HOLE: u8 = b'-';
const T_UNDEFINED: u8 = b'_';
const T_NULL: u8 = b'0';
const T_TRUE: u8 = b'T';
const T_FALSE: u8 = b'F';
const T_INT32: u8 = b'I';
const T_UINT32: u8 = b'U';
const T_DOUBLE: u8 = b'N';
const T_BIGINT: u8 = b'Z';
const T_UTF8_STRING: u8 = b'S';
const T_ONE_BYTE_STRING: u8 = b'"';
const T_TWO_BYTE_STRING: u8 = b'c';
const T_REFERENCE: u8 = b'^';
const T_BEGIN_OBJECT: u8 = b'o';
const T_END_OBJECT: u8 = b'{';
const T_BEGIN_SPARSE_ARRAY: u8 = b'a';
const T_END_SPARSE_ARRAY: u8 = b'@';
const T_BEGIN_DENSE_ARRAY: u8 = b'A';
const T_END_DENSE_ARRAY: u8 = b'$';
const T_DATE: u8 = b'D';
const T_TRUE_OBJECT: u8 = b'y';
const T_FALSE_OBJECT: u8 = b'x';
const T_NUMBER_OBJECT: u8 = b'n';
const T_BIGINT_OBJECT: u8 = b'z';
const T_STRING_OBJECT: u8 = b's';
const T_REGEXP: u8 = b'R';
const T_BEGIN_MAP: u8 = b';';
const T_END_MAP: u8 = b':';
const T_BEGIN_SET: u8 = b'\'';
const T_END_SET: u8 = b',';
const T_ARRAY_BUFFER: u8 = b'B';
const T_RESIZABLE_ARRAY_BUFFER: u8 = b'~';
const T_ARRAY_BUFFER_TRANSFER: u8 = b't';
const T_ARRAY_BUFFER_VIEW: u8 = b'V';
const T_SHARED_ARRAY_BUFFER: u8 = b'u';
const T_ERROR: u8 = b'r';

/// Whether `bytes`, V8's serialization of a value, are of an ArrayBuffer
/// (or a view, whose buffer V8 writes first): the first tag after the
/// header and any padding.
pub(crate) fn root_is_array_buffer(bytes: &[u8]) -> bool {
    let Some((&T_VERSION, rest)) = bytes.split_first() else { return false };
    // The version is a varint: bytes with the high bit set, then one without.
    let Some(end) = rest.iter().position(|byte| byte & 0x80 == 0) else { return false };
    let tag = rest[end + 1..].iter().find(|&&byte| byte != T_PADDING);
    matches!(tag, Some(&(T_ARRAY_BUFFER | T_RESIZABLE_ARRAY_BUFFER | T_ARRAY_BUFFER_TRANSFER)))
}

// Error sub-tags (V8's `ErrorTag`).
const E_EVAL: u8 = b'E';
const E_RANGE: u8 = b'R';
const E_REFERENCE: u8 = b'F';
const E_SYNTAX: u8 = b'S';
const E_TYPE: u8 = b'T';
const E_URI: u8 = b'U';
const E_MESSAGE: u8 = b'm';
const E_CAUSE: u8 = b'c';
const E_STACK: u8 = b's';
const E_END: u8 = b'.';

/// ArrayBuffer contents at least this large stay slices of the serializer's
/// output instead of being copied out of it.
const SLICE_AT: usize = 4096;

fn view_tag(kind: ViewKind) -> u8 {
    match kind {
        ViewKind::Int8 => b'b',
        ViewKind::Uint8 => b'B',
        ViewKind::Uint8Clamped => b'C',
        ViewKind::Int16 => b'w',
        ViewKind::Uint16 => b'W',
        ViewKind::Int32 => b'd',
        ViewKind::Uint32 => b'D',
        ViewKind::Float16 => b'h',
        ViewKind::Float32 => b'f',
        ViewKind::Float64 => b'F',
        ViewKind::BigInt64 => b'q',
        ViewKind::BigUint64 => b'Q',
        ViewKind::DataView => b'?',
    }
}

fn view_kind(tag: u8) -> Option<ViewKind> {
    ViewKind::ALL.into_iter().find(|kind| view_tag(*kind) == tag)
}

fn error_tag(kind: ErrorKind) -> Option<u8> {
    match kind {
        ErrorKind::Error => None,
        ErrorKind::EvalError => Some(E_EVAL),
        ErrorKind::RangeError => Some(E_RANGE),
        ErrorKind::ReferenceError => Some(E_REFERENCE),
        ErrorKind::SyntaxError => Some(E_SYNTAX),
        ErrorKind::TypeError => Some(E_TYPE),
        ErrorKind::UriError => Some(E_URI),
    }
}

/// Bytes in V8's format made from a graph, and what travels beside them:
/// the graph's ArrayBuffers and SharedArrayBuffers, by the transfer id the
/// bytes use for them (the index in these lists).
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) bytes: Vec<u8>,
    pub(crate) array_buffers: Vec<ObjectId>,
    pub(crate) shared: Vec<ObjectId>,
}

/// What the writer still has to do, innermost first.
enum Task<'v> {
    Value(&'v Value),
    Key(&'v JsString),
    Index(u32),
    /// A closing tag followed by its counts.
    End(u8, u32, Option<u32>),
    /// The rest of an error after its cause: the stack and the end tag.
    ErrorTail(Option<&'v JsString>),
}

/// Writes a graph (its root and its checked arena) in V8's format. Every ArrayBuffer is written as a transfer
/// (`t` and its id) and every SharedArrayBuffer by id (`u`), so that their
/// memory never passes through the bytes: the caller hands V8 the buffers.
/// Fails only for what V8's format cannot hold (a BigInt of more than 2^30
/// bytes, a count over 2^32), which the caller then builds another way.
pub(crate) fn write(root: &Value, objects: &[Object]) -> Result<Written, Error> {
    write_version(root, objects, VERSION)
}

/// [`write`] for a reader of an older format `version` (15 or 16): version 15
/// differs only in holding view offsets and lengths as 32-bit numbers.
pub(crate) fn write_version(root: &Value, objects: &[Object], version: u32) -> Result<Written, Error> {
    if !(15..=VERSION).contains(&version) {
        return Err(Error::Invalid(format!("V8 serialization format version {version} is not supported")));
    }
    let mut w = Writer {
        version,
        out: Vec::with_capacity(64 + objects.len() * 16),
        ids: vec![None; objects.len()],
        next_id: 0,
        written: Written { bytes: Vec::new(), array_buffers: Vec::new(), shared: Vec::new() },
    };
    w.out.push(T_VERSION);
    w.varint(u64::from(version));
    let mut tasks = vec![Task::Value(root)];
    while let Some(task) = tasks.pop() {
        match task {
            Task::Value(value) => w.value(objects, value, &mut tasks)?,
            Task::Key(key) => w.string(key),
            Task::Index(index) => {
                w.out.push(T_UINT32);
                w.varint(u64::from(index));
            }
            Task::End(tag, first, second) => {
                w.out.push(tag);
                w.varint(u64::from(first));
                if let Some(second) = second {
                    w.varint(u64::from(second));
                }
            }
            Task::ErrorTail(stack) => w.error_tail(stack),
        }
    }
    let mut written = w.written;
    written.bytes = w.out;
    Ok(written)
}

struct Writer {
    version: u32,
    out: Vec<u8>,
    /// The V8 id each object was written under, once it has been.
    ids: Vec<Option<u32>>,
    next_id: u32,
    written: Written,
}

fn count(n: usize) -> Result<u32, Error> {
    u32::try_from(n).map_err(|_| Error::TooLarge { what: "collection" })
}

impl Writer {
    fn varint(&mut self, mut n: u64) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.out.push(byte);
                return;
            }
            self.out.push(byte | 0x80);
        }
    }

    fn f64(&mut self, n: f64) {
        self.out.extend_from_slice(&n.to_le_bytes());
    }

    fn number(&mut self, n: f64) {
        // Small integers as V8 writes them (they become Smis on reading).
        if n.fract() == 0.0
            && n >= f64::from(i32::MIN)
            && n <= f64::from(i32::MAX)
            && !(n == 0.0 && n.is_sign_negative())
        {
            let n = n as i32;
            self.out.push(T_INT32);
            self.varint(u64::from(((n << 1) ^ (n >> 31)) as u32));
        } else {
            self.out.push(T_DOUBLE);
            self.f64(n);
        }
    }

    fn string(&mut self, s: &JsString) {
        match s {
            JsString::Utf8(s) => {
                self.out.push(if s.is_ascii() { T_ONE_BYTE_STRING } else { T_UTF8_STRING });
                self.varint(s.len() as u64);
                self.out.extend_from_slice(s.as_bytes());
            }
            JsString::Utf16(units) => {
                self.out.push(T_TWO_BYTE_STRING);
                self.varint(units.len() as u64 * 2);
                for unit in units {
                    self.out.extend_from_slice(&unit.to_le_bytes());
                }
            }
        }
    }

    fn bigint(&mut self, b: &BigInt) -> Result<(), Error> {
        let byte_length = b.words().len().checked_mul(8).filter(|&n| n < 1 << 30);
        let byte_length = byte_length.ok_or(Error::TooLarge { what: "bigint" })?;
        self.varint(u64::from(b.is_negative()) | (byte_length as u64) << 1);
        for word in b.words() {
            self.out.extend_from_slice(&word.to_le_bytes());
        }
        Ok(())
    }

    /// Gives the object its V8 id, in the order V8's reader will count.
    fn start(&mut self, id: ObjectId) {
        self.ids[id.index()] = Some(self.next_id);
        self.next_id += 1;
    }

    fn value<'v>(&mut self, objects: &'v [Object], value: &'v Value, tasks: &mut Vec<Task<'v>>) -> Result<(), Error> {
        match value {
            Value::Undefined => self.out.push(T_UNDEFINED),
            Value::Null => self.out.push(T_NULL),
            Value::Bool(true) => self.out.push(T_TRUE),
            Value::Bool(false) => self.out.push(T_FALSE),
            Value::Number(n) => self.number(*n),
            Value::String(s) => self.string(s),
            Value::BigInt(b) => {
                self.out.push(T_BIGINT);
                self.bigint(b)?;
            }
            Value::Object(id) => self.object(objects, *id, tasks)?,
        }
        Ok(())
    }

    fn reference(&mut self, id: ObjectId) -> bool {
        match self.ids[id.index()] {
            Some(written) => {
                self.out.push(T_REFERENCE);
                self.varint(u64::from(written));
                true
            }
            None => false,
        }
    }

    fn object<'v>(&mut self, objects: &'v [Object], id: ObjectId, tasks: &mut Vec<Task<'v>>) -> Result<(), Error> {
        if self.reference(id) {
            return Ok(());
        }
        // `Structured::new` checked every reference, so the index is valid.
        let object = &objects[id.index()];
        if let Object::View { .. } = object {
            // A view's buffer comes first and takes the earlier id.
        } else {
            self.start(id);
        }
        match object {
            Object::Plain(properties) => {
                self.out.push(T_BEGIN_OBJECT);
                tasks.push(Task::End(T_END_OBJECT, count(properties.len())?, None));
                push_properties(tasks, properties);
            }
            Object::Array { length, elements, properties } => {
                let dense = elements.len() == *length as usize
                    && elements.iter().enumerate().all(|(i, (index, _))| *index as usize == i);
                if dense {
                    self.out.push(T_BEGIN_DENSE_ARRAY);
                    self.varint(u64::from(*length));
                    tasks.push(Task::End(T_END_DENSE_ARRAY, count(properties.len())?, Some(*length)));
                    push_properties(tasks, properties);
                    tasks.extend(elements.iter().rev().map(|(_, v)| Task::Value(v)));
                } else {
                    self.out.push(T_BEGIN_SPARSE_ARRAY);
                    self.varint(u64::from(*length));
                    let pairs = count(elements.len() + properties.len())?;
                    tasks.push(Task::End(T_END_SPARSE_ARRAY, pairs, Some(*length)));
                    push_properties(tasks, properties);
                    for (index, v) in elements.iter().rev() {
                        tasks.push(Task::Value(v));
                        tasks.push(Task::Index(*index));
                    }
                }
            }
            Object::Date(time) => {
                self.out.push(T_DATE);
                self.f64(*time);
            }
            Object::RegExp { source, flags } => {
                self.out.push(T_REGEXP);
                self.string(source);
                let bits = crate::v8_convert::regexp_flag_bits(flags)?;
                self.varint(bits as u64);
            }
            Object::BooleanObject(b) => self.out.push(if *b { T_TRUE_OBJECT } else { T_FALSE_OBJECT }),
            Object::NumberObject(n) => {
                self.out.push(T_NUMBER_OBJECT);
                self.f64(*n);
            }
            Object::StringObject(s) => {
                self.out.push(T_STRING_OBJECT);
                self.string(s);
            }
            Object::BigIntObject(b) => {
                self.out.push(T_BIGINT_OBJECT);
                self.bigint(b)?;
            }
            Object::Map(entries) => {
                self.out.push(T_BEGIN_MAP);
                tasks.push(Task::End(T_END_MAP, count(entries.len().saturating_mul(2))?, None));
                for (k, v) in entries.iter().rev() {
                    tasks.push(Task::Value(v));
                    tasks.push(Task::Value(k));
                }
            }
            Object::Set(values) => {
                self.out.push(T_BEGIN_SET);
                tasks.push(Task::End(T_END_SET, count(values.len())?, None));
                tasks.extend(values.iter().rev().map(Task::Value));
            }
            Object::ArrayBuffer(_) => {
                self.out.push(T_ARRAY_BUFFER_TRANSFER);
                self.varint(self.written.array_buffers.len() as u64);
                self.written.array_buffers.push(id);
            }
            Object::SharedArrayBuffer(_) => {
                self.out.push(T_SHARED_ARRAY_BUFFER);
                self.varint(self.written.shared.len() as u64);
                self.written.shared.push(id);
            }
            Object::View { kind, buffer, byte_offset, length } => {
                // The buffer, then the view, which V8 reads as a suffix of it.
                self.object(objects, *buffer, tasks)?;
                self.start(id);
                // `Structured::new` checked that the view fits its buffer.
                let byte_length = length.saturating_mul(kind.element_size());
                if self.version < 16 && u32::try_from(byte_offset.saturating_add(byte_length)).is_err() {
                    return Err(Error::TooLarge { what: "typed array (over 4 GiB for this reader)" });
                }
                self.out.push(T_ARRAY_BUFFER_VIEW);
                self.out.push(view_tag(*kind));
                self.varint(*byte_offset as u64);
                self.varint(byte_length as u64);
                self.varint(0);
            }
            Object::Error { kind, message, stack, cause } => {
                self.out.push(T_ERROR);
                if let Some(tag) = error_tag(*kind) {
                    self.out.push(tag);
                }
                if let Some(message) = message {
                    self.out.push(E_MESSAGE);
                    self.string(message);
                }
                match cause {
                    Some(cause) => {
                        self.out.push(E_CAUSE);
                        tasks.push(Task::ErrorTail(stack.as_ref()));
                        tasks.push(Task::Value(cause));
                    }
                    None => self.error_tail(stack.as_ref()),
                }
            }
        }
        Ok(())
    }

    fn error_tail(&mut self, stack: Option<&JsString>) {
        if let Some(stack) = stack {
            self.out.push(E_STACK);
            self.string(stack);
        }
        self.out.push(E_END);
    }
}

/// Queues properties so that they are written in order.
fn push_properties<'v>(tasks: &mut Vec<Task<'v>>, properties: &'v [(JsString, Value)]) {
    for (key, value) in properties.iter().rev() {
        tasks.push(Task::Value(value));
        tasks.push(Task::Key(key));
    }
}

/// Reads bytes written by V8's ValueSerializer. `shared` holds the memory
/// of the SharedArrayBuffers the bytes refer to by id, and `transferred` the
/// ArrayBuffers written as transfers, each usable once.
pub(crate) fn read(
    input: &Bytes,
    shared: &[SharedBuffer],
    transferred: Vec<Option<Buffer>>,
) -> Result<Structured, Error> {
    reader::read(input, shared, transferred)
}

/// The reader sees bytes that V8 wrote, but is held to the standard of one
/// that reads anyone's: no indexing, no unchecked arithmetic, no unwrapping.
mod reader {
    #![deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )]

    use super::*;

    /// At most this many elements are reserved for a count before they have
    /// been read.
    const MAX_RESERVE: usize = 4096;

    fn invalid(what: &str, offset: usize) -> Error {
        Error::Invalid(format!("V8 serialization: {what} at offset {offset}"))
    }

    /// A key of an object or array: V8 writes array indices as numbers.
    enum Key {
        Name(JsString),
        Index(u32),
    }

    /// An object being read, whose members are still arriving.
    enum Frame {
        Object {
            id: ObjectId,
            properties: Vec<(JsString, Value)>,
            key: Option<Key>,
        },
        Array {
            id: ObjectId,
            length: u32,
            /// Dense arrays: how many element slots are still to come.
            dense_left: u32,
            /// The number of key/value pairs read.
            pairs: u32,
            elements: Vec<(u32, Value)>,
            properties: Vec<(JsString, Value)>,
            key: Option<Key>,
            dense: bool,
        },
        Map {
            id: ObjectId,
            entries: Vec<(Value, Value)>,
            key: Option<Value>,
        },
        Set {
            id: ObjectId,
            values: Vec<Value>,
        },
        Error {
            id: ObjectId,
            kind: ErrorKind,
            message: Option<JsString>,
            stack: Option<JsString>,
            cause: Option<Value>,
            in_cause: bool,
        },
    }

    struct Reader<'a> {
        input: &'a Bytes,
        pos: usize,
        objects: Vec<Object>,
        shared: &'a [SharedBuffer],
        transferred: Vec<Option<Buffer>>,
    }

    pub(super) fn read(
        input: &Bytes,
        shared: &[SharedBuffer],
        transferred: Vec<Option<Buffer>>,
    ) -> Result<Structured, Error> {
        let mut r = Reader { input, pos: 0, objects: Vec::new(), shared, transferred };
        if r.byte()? != T_VERSION {
            return Err(invalid("missing version header", 0));
        }
        let at = r.pos;
        let version = r.varint()?;
        if !(15..=u64::from(VERSION)).contains(&version) {
            return Err(invalid(&format!("unsupported format version {version}"), at));
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut done: Option<Value> = None;
        let root = loop {
            if let Some(value) = done.take() {
                match stack.last_mut() {
                    None => break value,
                    Some(frame) => r.accept(frame, value)?,
                }
            }
            if let Some(finished) = r.step(&mut stack)? {
                done = Some(finished);
                continue;
            }
            done = r.value(&mut stack)?;
        };
        if r.pos != input.len() {
            return Err(invalid("trailing bytes", r.pos));
        }
        Structured::new(root, r.objects)
    }

    impl Reader<'_> {
        fn remaining(&self) -> usize {
            self.input.len().saturating_sub(self.pos)
        }

        fn take(&mut self, len: usize) -> Result<std::ops::Range<usize>, Error> {
            let end = self.pos.checked_add(len).filter(|&end| end <= self.input.len());
            let end = end.ok_or_else(|| invalid("truncated field", self.pos))?;
            let range = self.pos..end;
            self.pos = end;
            Ok(range)
        }

        fn bytes(&mut self, len: usize) -> Result<&[u8], Error> {
            let range = self.take(len)?;
            let input: &[u8] = self.input;
            input.get(range).ok_or_else(|| invalid("truncated field", self.pos))
        }

        fn byte(&mut self) -> Result<u8, Error> {
            match self.bytes(1)? {
                [byte] => Ok(*byte),
                _ => Err(invalid("truncated field", self.pos)),
            }
        }

        /// The next tag, padding skipped, without consuming it.
        fn peek_tag(&self) -> Result<(u8, usize), Error> {
            let input: &[u8] = self.input;
            let rest = input.get(self.pos..).unwrap_or(&[]);
            let skip = rest.iter().position(|&b| b != T_PADDING).ok_or_else(|| invalid("truncated value", self.pos))?;
            let tag = rest.get(skip).copied().ok_or_else(|| invalid("truncated value", self.pos))?;
            Ok((tag, self.pos.saturating_add(skip).saturating_add(1)))
        }

        fn tag(&mut self) -> Result<u8, Error> {
            let (tag, after) = self.peek_tag()?;
            self.pos = after;
            Ok(tag)
        }

        fn varint(&mut self) -> Result<u64, Error> {
            let at = self.pos;
            let mut n: u64 = 0;
            let mut shift: u32 = 0;
            loop {
                let byte = self.byte()?;
                let bits = u64::from(byte & 0x7f);
                n |= bits
                    .checked_shl(shift)
                    .filter(|_| shift < 64 && (shift < 63 || bits <= 1))
                    .ok_or_else(|| invalid("overlong varint", at))?;
                if byte & 0x80 == 0 {
                    return Ok(n);
                }
                shift = shift.saturating_add(7);
            }
        }

        /// A size: V8 writes buffer and view sizes as 64-bit varints.
        fn size(&mut self) -> Result<usize, Error> {
            let at = self.pos;
            usize::try_from(self.varint()?).map_err(|_| invalid("size out of range", at))
        }

        fn u32(&mut self) -> Result<u32, Error> {
            let at = self.pos;
            u32::try_from(self.varint()?).map_err(|_| invalid("number out of range", at))
        }

        fn f64(&mut self) -> Result<f64, Error> {
            let bytes: [u8; 8] = self.bytes(8)?.try_into().map_err(|_| invalid("truncated number", self.pos))?;
            Ok(f64::from_le_bytes(bytes))
        }

        fn bigint(&mut self) -> Result<BigInt, Error> {
            let bitfield = self.u32()?;
            let negative = bitfield & 1 == 1;
            let byte_length = (bitfield >> 1) as usize;
            let digits = self.bytes(byte_length)?;
            let words = digits
                .chunks(8)
                .map(|chunk| {
                    let mut word = [0u8; 8];
                    word.iter_mut().zip(chunk).for_each(|(to, from)| *to = *from);
                    u64::from_le_bytes(word)
                })
                .collect();
            Ok(BigInt::from_words(negative, words))
        }

        /// A string's body after its tag.
        fn string_body(&mut self, tag: u8) -> Result<JsString, Error> {
            let at = self.pos;
            let len = usize::try_from(self.varint()?).map_err(|_| invalid("string length", at))?;
            let bytes = self.bytes(len)?;
            match tag {
                T_ONE_BYTE_STRING if bytes.is_ascii() => {
                    Ok(JsString::Utf8(std::str::from_utf8(bytes).map_err(|_| invalid("string", at))?.to_owned()))
                }
                T_ONE_BYTE_STRING => Ok(JsString::Utf8(bytes.iter().map(|&b| char::from(b)).collect())),
                T_UTF8_STRING => {
                    Ok(JsString::Utf8(std::str::from_utf8(bytes).map_err(|_| invalid("invalid UTF-8", at))?.to_owned()))
                }
                _ if bytes.len() % 2 == 0 => Ok(JsString::from_utf16(crate::value::utf16_from_le_bytes(bytes))),
                _ => Err(invalid("odd two-byte string length", at)),
            }
        }

        /// A tagged string, where only a string may stand.
        fn string(&mut self) -> Result<JsString, Error> {
            let at = self.pos;
            match self.tag()? {
                tag @ (T_ONE_BYTE_STRING | T_TWO_BYTE_STRING | T_UTF8_STRING) => self.string_body(tag),
                _ => Err(invalid("expected a string", at)),
            }
        }

        /// Reserves the next object slot for an object being read.
        fn begin(&mut self) -> Result<ObjectId, Error> {
            let id = u32::try_from(self.objects.len()).map_err(|_| invalid("too many objects", self.pos))?;
            self.objects.push(Object::Plain(Vec::new()));
            Ok(ObjectId(id))
        }

        fn finish(&mut self, id: ObjectId, object: Object) -> Value {
            if let Some(slot) = self.objects.get_mut(id.index()) {
                *slot = object;
            }
            Value::Object(id)
        }

        fn complete(&mut self, object: Object) -> Result<Value, Error> {
            let id = self.begin()?;
            Ok(self.finish(id, object))
        }

        /// What the innermost open object does next, before a value: end
        /// (giving its value), skip a hole, or read subtags of an error.
        fn step(&mut self, stack: &mut Vec<Frame>) -> Result<Option<Value>, Error> {
            let Some(frame) = stack.last_mut() else { return Ok(None) };
            let at = self.pos;
            let finished = match frame {
                Frame::Object { key: None, .. } => {
                    if self.peek_tag()?.0 != T_END_OBJECT {
                        return Ok(None);
                    }
                    self.tag()?;
                    let expected = self.u32()?;
                    let Some(Frame::Object { id, properties, .. }) = stack.pop() else { return Ok(None) };
                    if count_of(properties.len()) != Some(expected) {
                        return Err(invalid("property count mismatch", at));
                    }
                    self.finish(id, Object::Plain(properties))
                }
                Frame::Array { dense_left, .. } if *dense_left > 0 => {
                    if self.peek_tag()?.0 == T_HOLE {
                        self.tag()?;
                        *dense_left = dense_left.saturating_sub(1);
                    }
                    return Ok(None);
                }
                Frame::Array { key: None, dense, .. } => {
                    let end = if *dense { T_END_DENSE_ARRAY } else { T_END_SPARSE_ARRAY };
                    if self.peek_tag()?.0 != end {
                        return Ok(None);
                    }
                    self.tag()?;
                    let expected_pairs = self.u32()?;
                    let expected_length = self.u32()?;
                    let Some(Frame::Array { id, length, pairs, mut elements, properties, .. }) = stack.pop() else {
                        return Ok(None);
                    };
                    if pairs != expected_pairs || length != expected_length {
                        return Err(invalid("array count mismatch", at));
                    }
                    elements.sort_by_key(|(index, _)| *index);
                    if elements.windows(2).any(|pair| matches!(pair, [a, b] if a.0 == b.0)) {
                        return Err(invalid("array index written twice", at));
                    }
                    self.finish(id, Object::Array { length, elements, properties })
                }
                Frame::Map { key: None, .. } => {
                    if self.peek_tag()?.0 != T_END_MAP {
                        return Ok(None);
                    }
                    self.tag()?;
                    let expected = self.u32()?;
                    let Some(Frame::Map { id, entries, .. }) = stack.pop() else { return Ok(None) };
                    if count_of(entries.len().saturating_mul(2)) != Some(expected) {
                        return Err(invalid("Map size mismatch", at));
                    }
                    self.finish(id, Object::Map(entries))
                }
                Frame::Set { .. } => {
                    if self.peek_tag()?.0 != T_END_SET {
                        return Ok(None);
                    }
                    self.tag()?;
                    let expected = self.u32()?;
                    let Some(Frame::Set { id, values }) = stack.pop() else { return Ok(None) };
                    if count_of(values.len()) != Some(expected) {
                        return Err(invalid("Set size mismatch", at));
                    }
                    self.finish(id, Object::Set(values))
                }
                Frame::Error { in_cause: false, .. } => loop {
                    let at = self.pos;
                    let subtag = self.varint()?;
                    let Some(Frame::Error { kind, message, stack: trace, in_cause, .. }) = stack.last_mut() else {
                        return Ok(None);
                    };
                    match u8::try_from(subtag).unwrap_or(0) {
                        E_EVAL => *kind = ErrorKind::EvalError,
                        E_RANGE => *kind = ErrorKind::RangeError,
                        E_REFERENCE => *kind = ErrorKind::ReferenceError,
                        E_SYNTAX => *kind = ErrorKind::SyntaxError,
                        E_TYPE => *kind = ErrorKind::TypeError,
                        E_URI => *kind = ErrorKind::UriError,
                        E_MESSAGE => *message = Some(self.string()?),
                        E_STACK => *trace = Some(self.string()?),
                        E_CAUSE => {
                            *in_cause = true;
                            return Ok(None);
                        }
                        E_END => {
                            let Some(Frame::Error { id, kind, message, stack: trace, cause, .. }) = stack.pop() else {
                                return Ok(None);
                            };
                            break self.finish(id, Object::Error { kind, message, stack: trace, cause });
                        }
                        _ => return Err(invalid("unknown error sub-tag", at)),
                    }
                },
                _ => return Ok(None),
            };
            Ok(Some(finished))
        }

        /// Hands a finished value to the innermost open object.
        fn accept(&mut self, frame: &mut Frame, value: Value) -> Result<(), Error> {
            let at = self.pos;
            match frame {
                Frame::Object { properties, key, .. } => match key.take() {
                    None => *key = Some(as_key(value, at)?),
                    Some(Key::Name(name)) => properties.push((name, value)),
                    Some(Key::Index(index)) => properties.push((JsString::from(index.to_string()), value)),
                },
                Frame::Array { dense_left, length, pairs, elements, properties, key, .. } => {
                    if *dense_left > 0 {
                        let index = length.saturating_sub(*dense_left);
                        *dense_left = dense_left.saturating_sub(1);
                        elements.push((index, value));
                        return Ok(());
                    }
                    match key.take() {
                        None => *key = Some(as_key(value, at)?),
                        Some(key) => {
                            *pairs = pairs.saturating_add(1);
                            match key {
                                Key::Index(index) if index < *length => elements.push((index, value)),
                                Key::Index(index) => properties.push((JsString::from(index.to_string()), value)),
                                Key::Name(name) => match array_index(&name).filter(|index| index < length) {
                                    Some(index) => elements.push((index, value)),
                                    None => properties.push((name, value)),
                                },
                            }
                        }
                    }
                }
                Frame::Map { entries, key, .. } => match key.take() {
                    None => *key = Some(value),
                    Some(k) => entries.push((k, value)),
                },
                Frame::Set { values, .. } => values.push(value),
                Frame::Error { cause, in_cause, .. } => {
                    *cause = Some(value);
                    *in_cause = false;
                }
            }
            Ok(())
        }

        /// Reads one value: a finished one, or `None` when it opens an object
        /// whose members follow (pushed onto `stack`).
        fn value(&mut self, stack: &mut Vec<Frame>) -> Result<Option<Value>, Error> {
            let at = self.pos;
            let value = match self.tag()? {
                T_VERIFY_OBJECT_COUNT => {
                    self.varint()?;
                    return Ok(None);
                }
                T_UNDEFINED => Value::Undefined,
                T_NULL => Value::Null,
                T_TRUE => Value::Bool(true),
                T_FALSE => Value::Bool(false),
                T_INT32 => {
                    let zigzag = u32::try_from(self.varint()?).map_err(|_| invalid("int32 out of range", at))?;
                    Value::Number(f64::from((zigzag >> 1) as i32 ^ ((zigzag & 1) as i32).wrapping_neg()))
                }
                T_UINT32 => Value::Number(f64::from(self.u32()?)),
                T_DOUBLE => Value::Number(self.f64()?),
                T_BIGINT => Value::BigInt(self.bigint()?),
                tag @ (T_ONE_BYTE_STRING | T_TWO_BYTE_STRING | T_UTF8_STRING) => Value::String(self.string_body(tag)?),
                T_REFERENCE => {
                    let id = self.u32()?;
                    if id as usize >= self.objects.len() {
                        return Err(invalid("reference to an object not yet read", at));
                    }
                    Value::Object(ObjectId(id))
                }
                T_BEGIN_OBJECT => {
                    let id = self.begin()?;
                    stack.push(Frame::Object { id, properties: Vec::new(), key: None });
                    return Ok(None);
                }
                tag @ (T_BEGIN_DENSE_ARRAY | T_BEGIN_SPARSE_ARRAY) => {
                    let length = self.u32()?;
                    let dense = tag == T_BEGIN_DENSE_ARRAY;
                    // Each dense element takes at least a byte.
                    if dense && length as usize > self.remaining() {
                        return Err(invalid("dense array longer than its input", at));
                    }
                    let id = self.begin()?;
                    let reserve = if dense { (length as usize).min(MAX_RESERVE) } else { 0 };
                    stack.push(Frame::Array {
                        id,
                        length,
                        dense_left: if dense { length } else { 0 },
                        pairs: 0,
                        elements: Vec::with_capacity(reserve),
                        properties: Vec::new(),
                        key: None,
                        dense,
                    });
                    return Ok(None);
                }
                T_BEGIN_MAP => {
                    let id = self.begin()?;
                    stack.push(Frame::Map { id, entries: Vec::new(), key: None });
                    return Ok(None);
                }
                T_BEGIN_SET => {
                    let id = self.begin()?;
                    stack.push(Frame::Set { id, values: Vec::new() });
                    return Ok(None);
                }
                T_ERROR => {
                    let id = self.begin()?;
                    stack.push(Frame::Error {
                        id,
                        kind: ErrorKind::Error,
                        message: None,
                        stack: None,
                        cause: None,
                        in_cause: false,
                    });
                    return Ok(None);
                }
                T_DATE => {
                    let time = self.f64()?;
                    self.complete(Object::Date(time))?
                }
                T_TRUE_OBJECT => self.complete(Object::BooleanObject(true))?,
                T_FALSE_OBJECT => self.complete(Object::BooleanObject(false))?,
                T_NUMBER_OBJECT => {
                    let n = self.f64()?;
                    self.complete(Object::NumberObject(n))?
                }
                T_BIGINT_OBJECT => {
                    let b = self.bigint()?;
                    self.complete(Object::BigIntObject(b))?
                }
                T_STRING_OBJECT => {
                    let s = self.string()?;
                    self.complete(Object::StringObject(s))?
                }
                T_REGEXP => {
                    let source = self.string()?;
                    let bits = self.u32()?;
                    let flags =
                        crate::v8_convert::regexp_flags(bits).ok_or_else(|| invalid("unknown RegExp flags", at))?;
                    self.complete(Object::RegExp { source, flags })?
                }
                tag @ (T_ARRAY_BUFFER | T_RESIZABLE_ARRAY_BUFFER) => {
                    let len = self.size()?;
                    if tag == T_RESIZABLE_ARRAY_BUFFER && self.size()? < len {
                        return Err(invalid("resizable buffer over its maximum", at));
                    }
                    let range = self.take(len)?;
                    let contents = if len >= SLICE_AT {
                        self.input.slice(range)
                    } else {
                        let input: &[u8] = self.input;
                        Bytes::copy_from_slice(input.get(range).unwrap_or(&[]))
                    };
                    self.complete(Object::ArrayBuffer(Buffer::from(contents)))?
                }
                T_ARRAY_BUFFER_TRANSFER => {
                    let index = self.u32()? as usize;
                    let buffer = self.transferred.get_mut(index).and_then(Option::take);
                    let buffer = buffer.ok_or_else(|| invalid("unknown or reused transfer id", at))?;
                    self.complete(Object::ArrayBuffer(buffer))?
                }
                T_SHARED_ARRAY_BUFFER => {
                    let index = self.u32()? as usize;
                    let shared =
                        self.shared.get(index).cloned().ok_or_else(|| invalid("unknown shared buffer id", at))?;
                    self.complete(Object::SharedArrayBuffer(shared))?
                }
                _ => return Err(invalid("unknown tag", at)),
            };
            // A view follows the buffer it looks into.
            if let Value::Object(buffer) = value
                && matches!(
                    self.objects.get(buffer.index()),
                    Some(Object::ArrayBuffer(_) | Object::SharedArrayBuffer(_))
                )
                && self.remaining() > 0
                && self.peek_tag()?.0 == T_ARRAY_BUFFER_VIEW
            {
                self.tag()?;
                return self.view(buffer).map(Some);
            }
            Ok(Some(value))
        }

        fn view(&mut self, buffer: ObjectId) -> Result<Value, Error> {
            let at = self.pos;
            let tag = self.byte()?;
            let kind = view_kind(tag).ok_or_else(|| invalid("unknown view kind", at))?;
            let byte_offset = self.size()?;
            let byte_length = self.size()?;
            self.varint()?; // Length-tracking flags: views of resizable buffers are copied as fixed views.
            let size = kind.element_size();
            let length = byte_length.checked_div(size).filter(|&n| n.checked_mul(size) == Some(byte_length));
            let length = length.ok_or_else(|| invalid("view length not a multiple of its element size", at))?;
            self.complete(Object::View { kind, buffer, byte_offset, length })
        }
    }

    fn count_of(n: usize) -> Option<u32> {
        u32::try_from(n).ok()
    }

    fn as_key(value: Value, at: usize) -> Result<Key, Error> {
        match value {
            Value::String(name) => Ok(Key::Name(name)),
            Value::Number(n) if (0.0..4_294_967_295.0).contains(&n) && n.fract() == 0.0 => Ok(Key::Index(n as u32)),
            _ => Err(invalid("a property key that is neither a string nor an index", at)),
        }
    }

    /// The array index a canonical numeric string names, if any.
    fn array_index(name: &JsString) -> Option<u32> {
        let s = name.as_str()?;
        let index: u32 = s.parse().ok()?;
        (index != u32::MAX && index.to_string() == s).then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(i: u32) -> Value {
        Value::Object(ObjectId(i))
    }

    /// Writes a graph and reads it back, handing the buffers over as a V8
    /// deserializer would receive them.
    fn round_trip(graph: &Structured) -> Structured {
        let written = write(graph.root(), graph.objects()).expect("writable");
        let transferred = written
            .array_buffers
            .iter()
            .map(|id| match graph.object(*id) {
                Some(Object::ArrayBuffer(buffer)) => Some(buffer.clone()),
                _ => None,
            })
            .collect();
        read(&Bytes::from(written.bytes), &[], transferred).expect("readable")
    }

    /// Objects numbered in the order the writer meets them, so that the
    /// graph read back is the very same.
    fn sample() -> Structured {
        let lone = JsString::from_utf16(vec![0x61, 0xD800]);
        Structured::new(
            obj(0),
            vec![
                Object::Plain(vec![
                    ("n".into(), Value::Number(-0.0)),
                    ("i".into(), Value::Number(-7.0)),
                    ("f".into(), Value::Number(0.25)),
                    ("big".into(), Value::BigInt(BigInt::from(-(1i128 << 80)))),
                    ("é".into(), "snow ☃".into()),
                    (lone.clone(), Value::String(lone.clone())),
                    ("self".into(), obj(0)),
                    ("list".into(), obj(1)),
                    ("holes".into(), obj(2)),
                    ("map".into(), obj(3)),
                    ("view".into(), obj(7)),
                    ("error".into(), obj(8)),
                    ("re".into(), obj(9)),
                    ("boxed".into(), obj(10)),
                    ("7".into(), Value::Null),
                ]),
                Object::Array {
                    length: 2,
                    elements: vec![(0, Value::Null), (1, obj(0))],
                    properties: vec![("p".into(), Value::Bool(true))],
                },
                Object::Array { length: 1 << 30, elements: vec![(5, Value::Undefined)], properties: vec![] },
                Object::Map(vec![(obj(4), Value::from("date")), (Value::from("set"), obj(5))]),
                Object::Date(1.5e12),
                Object::Set(vec![obj(1), Value::from(1.5)]),
                Object::ArrayBuffer(Buffer::from(vec![1, 2, 3, 4, 5, 6, 7, 8])),
                Object::View { kind: ViewKind::Uint16, buffer: ObjectId(6), byte_offset: 2, length: 3 },
                Object::Error {
                    kind: ErrorKind::RangeError,
                    message: Some("m".into()),
                    stack: Some("s".into()),
                    cause: Some(obj(1)),
                },
                Object::RegExp { source: "a+".into(), flags: "gu".into() },
                Object::StringObject("boxed".into()),
            ],
        )
        .expect("valid")
    }

    #[test]
    fn graphs_in_writing_order_round_trip_unchanged() {
        let graph = sample();
        assert_eq!(round_trip(&graph), graph);
        for value in [Value::Undefined, Value::from("x"), Value::Number(f64::MAX), Value::BigInt(BigInt::from(0i64))] {
            assert_eq!(round_trip(&Structured::from(value.clone())), value);
        }
    }

    #[test]
    fn objects_are_renumbered_in_writing_order() {
        // The root last in the arena: reading numbers it first.
        let graph = Structured::new(obj(1), vec![Object::Date(0.0), Object::Set(vec![obj(0), obj(0)])]).unwrap();
        let read = round_trip(&graph);
        assert_eq!(read.objects(), &[Object::Set(vec![obj(1), obj(1)]), Object::Date(0.0)]);
        assert_eq!(round_trip(&read), read);
    }

    #[test]
    fn every_truncation_and_hostile_count_is_an_error() {
        let bytes = Bytes::from({
            let graph = sample();
            write(graph.root(), graph.objects()).unwrap().bytes
        });
        let transferred = || vec![Some(Buffer::from(vec![0u8; 8]))];
        for len in 0..bytes.len() {
            assert!(read(&bytes.slice(..len), &[], transferred()).is_err(), "a truncation to {len} bytes was read");
        }
        // A dense array claiming 2^31 elements in a few bytes.
        let hostile = Bytes::from_static(&[0xFF, 16, b'A', 0x80, 0x80, 0x80, 0x80, 0x08, b'_']);
        assert!(read(&hostile, &[], vec![]).is_err());
        // A reference to an object that does not exist, and a reused transfer.
        assert!(read(&Bytes::from_static(&[0xFF, 16, b'^', 0]), &[], vec![]).is_err());
        let twice = Bytes::from_static(&[0xFF, 16, b'A', 2, b't', 0, b't', 0, b'$', 0, 2]);
        assert!(read(&twice, &[], transferred()).is_err());
    }

    #[test]
    fn arbitrary_mutations_never_panic() {
        let bytes = {
            let graph = sample();
            write(graph.root(), graph.objects()).unwrap().bytes
        };
        for at in 0..bytes.len() {
            for byte in [0u8, 1, 0x7f, 0x80, 0xff, b'o', b'^', b'V', b'c'] {
                let mut mutated = bytes.clone();
                mutated[at] = byte;
                let _ = read(&Bytes::from(mutated), &[], vec![Some(Buffer::from(vec![0u8; 8]))]);
            }
        }
    }
}
