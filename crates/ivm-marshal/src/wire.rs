//! The versioned binary encoding of a [`Structured`] graph, for values that
//! leave the process or are stored: `encode` writes a graph, `decode` reads
//! one back from bytes that may come from anyone.
//!
//! # Layout
//!
//! Everything is little-endian; lengths, counts and indices are unsigned
//! LEB128 varints in their shortest form.
//!
//! ```text
//! encoding := "IVMW" version:u8 object_count:varint object* root:value
//! value    := 0x00 undefined | 0x01 null | 0x02 false | 0x03 true
//!           | 0x04 f64-bits:u64           (every NaN and -0 kept bit for bit)
//!           | 0x05 len:varint utf8-bytes  (a string of valid Unicode)
//!           | 0x06 len:varint u16*len     (UTF-16 code units, lone surrogates kept)
//!           | 0x07 bigint                 (bigint := sign:u8 words:varint u64*words)
//!           | 0x08 index:varint           (an object of the arena)
//! object   := 0x20 count (string value)*count                       Plain
//!           | 0x21 length count (gap:varint value)*count props     Array
//!           | 0x22 f64 | 0x23 string flags-len flags-utf8          Date, RegExp
//!           | 0x24 | 0x25 | 0x26 f64 | 0x27 string | 0x28 bigint    Boolean(false/true), Number, String, BigInt objects
//!           | 0x29 count (value value)*count | 0x2a count value*count   Map, Set
//!           | 0x2b len bytes | 0x2c shared-index                       ArrayBuffer, SharedArrayBuffer
//!           | 0x2d kind:u8 buffer:varint byte-offset:varint length:varint   View
//!           | 0x2e kind:u8 present:u8 [message] [stack] [cause]      Error
//! ```
//!
//! Objects refer to each other only through indices, so the format is flat:
//! decoding is a loop over the arena and never recurses, however deep or
//! cyclic the graph. An array's element indices are written as gaps from the
//! previous one (0 for a dense array), which keeps dense arrays at one byte
//! per index and makes indices ascending by construction.
//!
//! Every graph has exactly one encoding: the decoder refuses overlong
//! varints, non-normalised BigInts and unknown flag bits, so bytes that
//! decode re-encode to the same bytes (the fuzz target checks this).
//!
//! SharedArrayBuffers cannot be written into bytes; they travel beside them in
//! [`Encoded::shared`], and the bytes hold their index in that list. The
//! indices count up in arena order and the list must be used up exactly, so
//! that a list that does not belong to the bytes is noticed.

use bytes::{BufMut, Bytes, BytesMut};

use crate::{BigInt, ErrorKind, JsString, Object, SharedBuffer, Structured, Value, ViewKind};

/// The format version written into every encoding's header. A decoder reads
/// only the version it was built for: a change to the layout changes this.
pub const FORMAT_VERSION: u8 = 1;

/// The first bytes of every encoding, so that bytes of some other kind are
/// refused at once instead of being misread.
const MAGIC: [u8; 4] = *b"IVMW";

/// An encoded value: the bytes, plus the SharedArrayBuffers it refers to (by
/// index), which cannot be written into bytes.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The header, the object arena and the root, as described in the
    /// [module documentation](self).
    pub bytes: Bytes,
    /// The shared memory of the graph's SharedArrayBuffer objects, in arena
    /// order; the bytes refer to them by their index here.
    pub shared: Vec<SharedBuffer>,
}

/// Why bytes could not be decoded. Every offset counts bytes from the start
/// of [`Encoded::bytes`], so that a bad encoding can be inspected by hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes end in the middle of a field.
    #[error("the encoding is truncated: a field at offset {offset} runs past its end")]
    Truncated {
        /// Where the unfinished field starts.
        offset: usize,
    },
    /// The bytes do not start with the format's magic number: they are not
    /// an ivm encoding at all.
    #[error("not an ivm value encoding (bad magic number)")]
    BadMagic,
    /// The bytes were written by another version of the format.
    #[error("unsupported encoding version {0} (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u8),
    /// A tag byte that means nothing where it stands.
    #[error("unknown {what} tag {tag:#04x} at offset {offset}")]
    UnknownTag {
        /// What the tag should have introduced, e.g. `"value"`.
        what: &'static str,
        /// The byte read.
        tag: u8,
        /// Where it was read.
        offset: usize,
    },
    /// A varint longer than 64 bits or not in its shortest form.
    #[error("malformed varint at offset {offset}")]
    BadVarint {
        /// Where the varint starts.
        offset: usize,
    },
    /// A length or count that the rest of the input cannot hold, or that
    /// does not fit its field: never allocated for, refused at once.
    #[error("{what} of {length} at offset {offset} is out of range")]
    LengthOutOfRange {
        /// What the number counts, e.g. `"object count"`.
        what: &'static str,
        /// The number read.
        length: u64,
        /// Where it was read.
        offset: usize,
    },
    /// A reference to an object or shared buffer that does not exist.
    #[error("{what} {index} at offset {offset} is out of range (there are {limit})")]
    IndexOutOfRange {
        /// What the index refers to, e.g. `"object"`.
        what: &'static str,
        /// The index read.
        index: u64,
        /// How many there are.
        limit: u64,
        /// Where it was read.
        offset: usize,
    },
    /// A string marked as UTF-8 that is not.
    #[error("invalid UTF-8 in the string at offset {offset}")]
    InvalidUtf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// A field whose value no encoder writes (a sign byte that is not 0 or 1,
    /// unknown flag bits, a BigInt that is not normalised): refused so that
    /// every graph has exactly one encoding.
    #[error("malformed {what} at offset {offset}")]
    Malformed {
        /// What was wrong.
        what: &'static str,
        /// Where the field starts.
        offset: usize,
    },
    /// The encoding refers to fewer shared buffers than it came with: the
    /// list does not belong to these bytes.
    #[error("the encoding uses {used} shared buffers, but {given} came with it")]
    SharedBufferCount {
        /// How many the encoding refers to.
        used: u64,
        /// How many [`Encoded::shared`] holds.
        given: usize,
    },
    /// The bytes decode, but to a graph that is not valid (a reference to an
    /// object that does not exist, a view outside its buffer, ...).
    #[error("invalid value graph: {0}")]
    Invalid(String),
    /// Bytes are left over after the root value: the encoding is corrupt or
    /// was concatenated with something else.
    #[error("{count} trailing bytes after the value at offset {offset}")]
    TrailingBytes {
        /// Where the leftover bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
}

// Value tags.
const V_UNDEFINED: u8 = 0x00;
const V_NULL: u8 = 0x01;
const V_FALSE: u8 = 0x02;
const V_TRUE: u8 = 0x03;
const V_NUMBER: u8 = 0x04;
const V_UTF8: u8 = 0x05;
const V_UTF16: u8 = 0x06;
const V_BIGINT: u8 = 0x07;
const V_OBJECT: u8 = 0x08;

// Object tags, in a range of their own so that a value tag where an object
// belongs (or the reverse) is reported as unknown instead of misread.
const O_PLAIN: u8 = 0x20;
const O_ARRAY: u8 = 0x21;
const O_DATE: u8 = 0x22;
const O_REGEXP: u8 = 0x23;
const O_FALSE_OBJECT: u8 = 0x24;
const O_TRUE_OBJECT: u8 = 0x25;
const O_NUMBER_OBJECT: u8 = 0x26;
const O_STRING_OBJECT: u8 = 0x27;
const O_BIGINT_OBJECT: u8 = 0x28;
const O_MAP: u8 = 0x29;
const O_SET: u8 = 0x2a;
const O_ARRAY_BUFFER: u8 = 0x2b;
const O_SHARED_ARRAY_BUFFER: u8 = 0x2c;
const O_VIEW: u8 = 0x2d;
const O_ERROR: u8 = 0x2e;

// The optional fields present in an Error object.
const ERROR_MESSAGE: u8 = 1;
const ERROR_STACK: u8 = 2;
const ERROR_CAUSE: u8 = 4;

/// Encodes a graph. The output is sized exactly in a first pass, so every
/// ArrayBuffer's contents are copied once, into a buffer allocated once.
pub fn encode(value: &Structured) -> Encoded {
    let mut sizer = Encoder { out: Counter(0), shared: Vec::new() };
    sizer.structured(value);
    let mut encoder = Encoder { out: BytesMut::with_capacity(sizer.out.0), shared: Vec::new() };
    encoder.structured(value);
    debug_assert_eq!(encoder.out.len(), sizer.out.0, "the sizing pass must match the encoding");
    Encoded { bytes: encoder.out.freeze(), shared: encoder.shared }
}

/// Decodes bytes from anyone: on malformed input it returns an error, never
/// panics, never recurses, and allocates no more than the input's size
/// justifies. ArrayBuffer contents are not copied: they are slices of
/// `encoded.bytes`, so that decoding a large buffer costs nothing.
pub fn decode(encoded: &Encoded) -> Result<Structured, WireError> {
    decoder::decode(encoded)
}

/// Where the encoder writes: the real output, or a counter that sizes it.
trait Sink {
    fn emit(&mut self, bytes: &[u8]);
}

/// Counts the bytes an encoding takes without writing them.
struct Counter(usize);

impl Sink for Counter {
    fn emit(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

impl Sink for BytesMut {
    fn emit(&mut self, bytes: &[u8]) {
        self.put_slice(bytes);
    }
}

struct Encoder<S> {
    out: S,
    shared: Vec<SharedBuffer>,
}

impl<S: Sink> Encoder<S> {
    fn structured(&mut self, value: &Structured) {
        self.out.emit(&MAGIC);
        self.out.emit(&[FORMAT_VERSION]);
        self.varint(value.objects().len() as u64);
        for object in value.objects() {
            self.object(object);
        }
        self.value(value.root());
    }

    fn varint(&mut self, mut n: u64) {
        let mut buf = [0u8; 10];
        let mut len = 0;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                buf[len] = byte;
                len += 1;
                break;
            }
            buf[len] = byte | 0x80;
            len += 1;
        }
        self.out.emit(&buf[..len]);
    }

    fn f64(&mut self, n: f64) {
        self.out.emit(&n.to_bits().to_le_bytes());
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Undefined => self.out.emit(&[V_UNDEFINED]),
            Value::Null => self.out.emit(&[V_NULL]),
            Value::Bool(false) => self.out.emit(&[V_FALSE]),
            Value::Bool(true) => self.out.emit(&[V_TRUE]),
            Value::Number(n) => {
                self.out.emit(&[V_NUMBER]);
                self.f64(*n);
            }
            Value::String(s) => self.string(s),
            Value::BigInt(b) => {
                self.out.emit(&[V_BIGINT]);
                self.bigint(b);
            }
            Value::Object(id) => {
                self.out.emit(&[V_OBJECT]);
                self.varint(u64::from(id.0));
            }
        }
    }

    fn string(&mut self, s: &JsString) {
        match s {
            JsString::Utf8(s) => {
                self.out.emit(&[V_UTF8]);
                self.utf8(s);
            }
            JsString::Utf16(units) => {
                self.out.emit(&[V_UTF16]);
                self.varint(units.len() as u64);
                for unit in units {
                    self.out.emit(&unit.to_le_bytes());
                }
            }
        }
    }

    /// A UTF-8 string without a tag (where nothing else can stand).
    fn utf8(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.out.emit(s.as_bytes());
    }

    fn bigint(&mut self, b: &BigInt) {
        self.out.emit(&[u8::from(b.is_negative())]);
        self.varint(b.words().len() as u64);
        for word in b.words() {
            self.out.emit(&word.to_le_bytes());
        }
    }

    fn properties(&mut self, properties: &[(JsString, Value)]) {
        self.varint(properties.len() as u64);
        for (key, value) in properties {
            self.string(key);
            self.value(value);
        }
    }

    fn object(&mut self, object: &Object) {
        match object {
            Object::Plain(properties) => {
                self.out.emit(&[O_PLAIN]);
                self.properties(properties);
            }
            Object::Array { length, elements, properties } => {
                self.out.emit(&[O_ARRAY]);
                self.varint(u64::from(*length));
                self.varint(elements.len() as u64);
                let mut next = 0u64;
                for (index, value) in elements {
                    // A valid graph's indices ascend; were they not, the gap
                    // saturates and the decoder's graph check reports it.
                    self.varint(u64::from(*index).saturating_sub(next));
                    next = u64::from(*index) + 1;
                    self.value(value);
                }
                self.properties(properties);
            }
            Object::Date(time) => {
                self.out.emit(&[O_DATE]);
                self.f64(*time);
            }
            Object::RegExp { source, flags } => {
                self.out.emit(&[O_REGEXP]);
                self.string(source);
                self.utf8(flags);
            }
            Object::BooleanObject(false) => self.out.emit(&[O_FALSE_OBJECT]),
            Object::BooleanObject(true) => self.out.emit(&[O_TRUE_OBJECT]),
            Object::NumberObject(n) => {
                self.out.emit(&[O_NUMBER_OBJECT]);
                self.f64(*n);
            }
            Object::StringObject(s) => {
                self.out.emit(&[O_STRING_OBJECT]);
                self.string(s);
            }
            Object::BigIntObject(b) => {
                self.out.emit(&[O_BIGINT_OBJECT]);
                self.bigint(b);
            }
            Object::Map(entries) => {
                self.out.emit(&[O_MAP]);
                self.varint(entries.len() as u64);
                for (key, value) in entries {
                    self.value(key);
                    self.value(value);
                }
            }
            Object::Set(values) => {
                self.out.emit(&[O_SET]);
                self.varint(values.len() as u64);
                for value in values {
                    self.value(value);
                }
            }
            Object::ArrayBuffer(buffer) => {
                let contents = buffer.as_slice();
                self.out.emit(&[O_ARRAY_BUFFER]);
                self.varint(contents.len() as u64);
                self.out.emit(contents);
            }
            Object::SharedArrayBuffer(shared) => {
                self.out.emit(&[O_SHARED_ARRAY_BUFFER]);
                self.varint(self.shared.len() as u64);
                self.shared.push(shared.clone());
            }
            Object::View { kind, buffer, byte_offset, length } => {
                self.out.emit(&[O_VIEW, view_kind_tag(*kind)]);
                self.varint(u64::from(buffer.0));
                self.varint(*byte_offset as u64);
                self.varint(*length as u64);
            }
            Object::Error { kind, message, stack, cause } => {
                let present = if message.is_some() { ERROR_MESSAGE } else { 0 }
                    | if stack.is_some() { ERROR_STACK } else { 0 }
                    | if cause.is_some() { ERROR_CAUSE } else { 0 };
                self.out.emit(&[O_ERROR, error_kind_tag(*kind), present]);
                if let Some(message) = message {
                    self.string(message);
                }
                if let Some(stack) = stack {
                    self.string(stack);
                }
                if let Some(cause) = cause {
                    self.value(cause);
                }
            }
        }
    }
}

// Kinds are numbered explicitly, not by their position in `ViewKind::ALL` or
// `ErrorKind::ALL`, so that reordering those lists cannot change the format.

fn view_kind_tag(kind: ViewKind) -> u8 {
    match kind {
        ViewKind::Int8 => 0,
        ViewKind::Uint8 => 1,
        ViewKind::Uint8Clamped => 2,
        ViewKind::Int16 => 3,
        ViewKind::Uint16 => 4,
        ViewKind::Int32 => 5,
        ViewKind::Uint32 => 6,
        ViewKind::Float16 => 7,
        ViewKind::Float32 => 8,
        ViewKind::Float64 => 9,
        ViewKind::BigInt64 => 10,
        ViewKind::BigUint64 => 11,
        ViewKind::DataView => 12,
    }
}

fn view_kind_from_tag(tag: u8) -> Option<ViewKind> {
    Some(match tag {
        0 => ViewKind::Int8,
        1 => ViewKind::Uint8,
        2 => ViewKind::Uint8Clamped,
        3 => ViewKind::Int16,
        4 => ViewKind::Uint16,
        5 => ViewKind::Int32,
        6 => ViewKind::Uint32,
        7 => ViewKind::Float16,
        8 => ViewKind::Float32,
        9 => ViewKind::Float64,
        10 => ViewKind::BigInt64,
        11 => ViewKind::BigUint64,
        12 => ViewKind::DataView,
        _ => return None,
    })
}

fn error_kind_tag(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Error => 0,
        ErrorKind::EvalError => 1,
        ErrorKind::RangeError => 2,
        ErrorKind::ReferenceError => 3,
        ErrorKind::SyntaxError => 4,
        ErrorKind::TypeError => 5,
        ErrorKind::UriError => 6,
    }
}

fn error_kind_from_tag(tag: u8) -> Option<ErrorKind> {
    Some(match tag {
        0 => ErrorKind::Error,
        1 => ErrorKind::EvalError,
        2 => ErrorKind::RangeError,
        3 => ErrorKind::ReferenceError,
        4 => ErrorKind::SyntaxError,
        5 => ErrorKind::TypeError,
        6 => ErrorKind::UriError,
        _ => return None,
    })
}

/// The decoder reads untrusted bytes, so clippy holds it to code that cannot
/// panic on them: no indexing, no unchecked arithmetic, no unwrapping.
mod decoder {
    #![deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )]

    use bytes::Bytes;

    use super::*;
    use crate::{Buffer, ObjectId};

    // The fewest bytes each kind of element can take. A count is refused when
    // the rest of the input cannot hold that many elements of that size, so
    // that a hostile count fails before anything is allocated for it.
    /// An object: a tag (a Boolean object is nothing more).
    const MIN_OBJECT: usize = 1;
    /// A value: a tag (`undefined`).
    const MIN_VALUE: usize = 1;
    /// A property: a key (tag and length) and a value.
    const MIN_PROPERTY: usize = 3;
    /// An array element: its gap and a value.
    const MIN_ELEMENT: usize = 2;
    /// A Map entry: two values.
    const MIN_ENTRY: usize = 2;

    /// At most this many elements are reserved up front, however many a
    /// count promises and the input could hold: a Rust value is several
    /// times larger than its encoding, and a count is only a claim until its
    /// elements have been read. Vectors grow past this as elements arrive.
    const MAX_RESERVE: usize = 4096;

    /// The most objects an arena can hold: they are addressed by `u32`.
    const MAX_OBJECTS: u64 = 1 << 32;

    pub(super) fn decode(encoded: &Encoded) -> Result<Structured, WireError> {
        let mut r = Reader { input: &encoded.bytes, pos: 0 };
        let magic = r.take(MAGIC.len())?;
        if magic != MAGIC {
            return Err(WireError::BadMagic);
        }
        let version = r.u8()?;
        if version != FORMAT_VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        let at = r.pos;
        let count = r.count("object count", MIN_OBJECT)?;
        if count as u64 > MAX_OBJECTS {
            return Err(WireError::LengthOutOfRange { what: "object count", length: count as u64, offset: at });
        }
        let mut cx = Context { objects: count as u64, shared: &encoded.shared, shared_used: 0 };
        let mut objects = Vec::with_capacity(count.min(MAX_RESERVE));
        for _ in 0..count {
            objects.push(r.object(&mut cx)?);
        }
        let root = r.value(&cx)?;
        if r.remaining() != 0 {
            return Err(WireError::TrailingBytes { offset: r.pos, count: r.remaining() });
        }
        if cx.shared_used != encoded.shared.len() as u64 {
            return Err(WireError::SharedBufferCount { used: cx.shared_used, given: encoded.shared.len() });
        }
        Structured::new(root, objects).map_err(|e| match e {
            crate::Error::Invalid(message) => WireError::Invalid(message),
            other => WireError::Invalid(other.to_string()),
        })
    }

    /// What references are checked against.
    struct Context<'a> {
        objects: u64,
        shared: &'a [SharedBuffer],
        /// How many of `shared` the objects read so far refer to.
        shared_used: u64,
    }

    struct Reader<'a> {
        input: &'a Bytes,
        /// Never past the end of `input`: only `take` moves it.
        pos: usize,
    }

    impl<'a> Reader<'a> {
        fn remaining(&self) -> usize {
            self.input.len().saturating_sub(self.pos)
        }

        fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
            let truncated = WireError::Truncated { offset: self.pos };
            let end = self.pos.checked_add(len).ok_or_else(|| truncated.clone())?;
            let input: &'a [u8] = self.input;
            let bytes = input.get(self.pos..end).ok_or(truncated)?;
            self.pos = end;
            Ok(bytes)
        }

        fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
            let at = self.pos;
            self.take(N)?.try_into().map_err(|_| WireError::Truncated { offset: at })
        }

        fn u8(&mut self) -> Result<u8, WireError> {
            let [byte] = self.array()?;
            Ok(byte)
        }

        fn f64(&mut self) -> Result<f64, WireError> {
            Ok(f64::from_bits(u64::from_le_bytes(self.array()?)))
        }

        /// An unsigned LEB128 varint in its shortest form.
        fn varint(&mut self) -> Result<u64, WireError> {
            let at = self.pos;
            let bad = WireError::BadVarint { offset: at };
            let mut n: u64 = 0;
            let mut shift: u32 = 0;
            loop {
                let byte = self.u8()?;
                let bits = u64::from(byte & 0x7f);
                // The tenth byte may only hold the 64th bit.
                if shift == 63 && bits > 1 {
                    return Err(bad);
                }
                n |= bits.checked_shl(shift).ok_or_else(|| bad.clone())?;
                if byte & 0x80 == 0 {
                    // A final zero byte adds nothing: an overlong encoding.
                    if byte == 0 && shift > 0 {
                        return Err(bad);
                    }
                    return Ok(n);
                }
                shift = shift.checked_add(7).filter(|&s| s <= 63).ok_or_else(|| bad.clone())?;
            }
        }

        /// A count of elements that each take at least `min_len` bytes,
        /// refused if the rest of the input cannot hold them.
        fn count(&mut self, what: &'static str, min_len: usize) -> Result<usize, WireError> {
            let at = self.pos;
            let n = self.varint()?;
            let room = self.remaining().checked_div(min_len).unwrap_or(0);
            usize::try_from(n).ok().filter(|&n| n <= room).ok_or(WireError::LengthOutOfRange {
                what,
                length: n,
                offset: at,
            })
        }

        /// A number that must fit in a `usize` (a view's offset or length,
        /// checked against its buffer later).
        fn usize(&mut self, what: &'static str) -> Result<usize, WireError> {
            let at = self.pos;
            let n = self.varint()?;
            usize::try_from(n).map_err(|_| WireError::LengthOutOfRange { what, length: n, offset: at })
        }

        fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
            let at = self.pos;
            let n = self.varint()?;
            u32::try_from(n).map_err(|_| WireError::LengthOutOfRange { what, length: n, offset: at })
        }

        fn object_id(&mut self, cx: &Context<'_>) -> Result<ObjectId, WireError> {
            let at = self.pos;
            let index = self.varint()?;
            let out_of_range = WireError::IndexOutOfRange { what: "object", index, limit: cx.objects, offset: at };
            if index >= cx.objects {
                return Err(out_of_range);
            }
            u32::try_from(index).map(ObjectId).map_err(|_| out_of_range)
        }

        fn value(&mut self, cx: &Context<'_>) -> Result<Value, WireError> {
            let at = self.pos;
            Ok(match self.u8()? {
                V_UNDEFINED => Value::Undefined,
                V_NULL => Value::Null,
                V_FALSE => Value::Bool(false),
                V_TRUE => Value::Bool(true),
                V_NUMBER => Value::Number(self.f64()?),
                tag @ (V_UTF8 | V_UTF16) => Value::String(self.string_body(tag)?),
                V_BIGINT => Value::BigInt(self.bigint()?),
                V_OBJECT => Value::Object(self.object_id(cx)?),
                tag => return Err(WireError::UnknownTag { what: "value", tag, offset: at }),
            })
        }

        /// A string with its tag, where only a string may stand.
        fn string(&mut self) -> Result<JsString, WireError> {
            let at = self.pos;
            match self.u8()? {
                tag @ (V_UTF8 | V_UTF16) => self.string_body(tag),
                tag => Err(WireError::UnknownTag { what: "string", tag, offset: at }),
            }
        }

        fn string_body(&mut self, tag: u8) -> Result<JsString, WireError> {
            if tag == V_UTF8 {
                return Ok(JsString::Utf8(self.utf8()?));
            }
            let len = self.count("UTF-16 string length", 2)?;
            let at = self.pos;
            let bytes = self.take(len.checked_mul(2).ok_or(WireError::Truncated { offset: at })?)?;
            let units = crate::value::utf16_from_le_bytes(bytes);
            // Kept as UTF-16 even if it holds no lone surrogate, so that the
            // string re-encodes exactly as it was read.
            Ok(JsString::Utf16(units))
        }

        /// A UTF-8 string without a tag.
        fn utf8(&mut self) -> Result<String, WireError> {
            let len = self.count("string length", 1)?;
            let at = self.pos;
            let bytes = self.take(len)?;
            std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| WireError::InvalidUtf8 { offset: at })
        }

        fn bigint(&mut self) -> Result<BigInt, WireError> {
            let at = self.pos;
            let negative = match self.u8()? {
                0 => false,
                1 => true,
                _ => return Err(WireError::Malformed { what: "BigInt sign", offset: at }),
            };
            let len = self.count("BigInt word count", 8)?;
            let words_at = self.pos;
            let bytes = self.take(len.checked_mul(8).ok_or(WireError::Truncated { offset: words_at })?)?;
            let words: Vec<u64> =
                bytes.chunks_exact(8).map(|word| word.try_into().map(u64::from_le_bytes).unwrap_or(0)).collect();
            // `BigInt::from_words` would normalise these silently; refusing
            // them keeps one encoding per number.
            if words.last() == Some(&0) || (negative && words.is_empty()) {
                return Err(WireError::Malformed { what: "BigInt (not normalised)", offset: at });
            }
            Ok(BigInt::from_words(negative, words))
        }

        fn properties(&mut self, cx: &Context<'_>) -> Result<Vec<(JsString, Value)>, WireError> {
            let count = self.count("property count", MIN_PROPERTY)?;
            let mut properties = Vec::with_capacity(count.min(MAX_RESERVE));
            for _ in 0..count {
                let key = self.string()?;
                properties.push((key, self.value(cx)?));
            }
            Ok(properties)
        }

        fn object(&mut self, cx: &mut Context<'_>) -> Result<Object, WireError> {
            let at = self.pos;
            Ok(match self.u8()? {
                O_PLAIN => Object::Plain(self.properties(cx)?),
                O_ARRAY => {
                    let length = self.u32("array length")?;
                    let count = self.count("array element count", MIN_ELEMENT)?;
                    let mut elements = Vec::with_capacity(count.min(MAX_RESERVE));
                    let mut next: u64 = 0;
                    for _ in 0..count {
                        let gap_at = self.pos;
                        let gap = self.varint()?;
                        let index = next
                            .checked_add(gap)
                            .and_then(|index| u32::try_from(index).ok())
                            .filter(|&index| index < length)
                            .ok_or(WireError::IndexOutOfRange {
                                what: "array element",
                                index: next.saturating_add(gap),
                                limit: u64::from(length),
                                offset: gap_at,
                            })?;
                        next = u64::from(index).saturating_add(1);
                        elements.push((index, self.value(cx)?));
                    }
                    let properties = self.properties(cx)?;
                    Object::Array { length, elements, properties }
                }
                O_DATE => Object::Date(self.f64()?),
                O_REGEXP => {
                    let source = self.string()?;
                    Object::RegExp { source, flags: self.utf8()? }
                }
                O_FALSE_OBJECT => Object::BooleanObject(false),
                O_TRUE_OBJECT => Object::BooleanObject(true),
                O_NUMBER_OBJECT => Object::NumberObject(self.f64()?),
                O_STRING_OBJECT => Object::StringObject(self.string()?),
                O_BIGINT_OBJECT => Object::BigIntObject(self.bigint()?),
                O_MAP => {
                    let count = self.count("Map entry count", MIN_ENTRY)?;
                    let mut entries = Vec::with_capacity(count.min(MAX_RESERVE));
                    for _ in 0..count {
                        let key = self.value(cx)?;
                        entries.push((key, self.value(cx)?));
                    }
                    Object::Map(entries)
                }
                O_SET => {
                    let count = self.count("Set size", MIN_VALUE)?;
                    let mut values = Vec::with_capacity(count.min(MAX_RESERVE));
                    for _ in 0..count {
                        values.push(self.value(cx)?);
                    }
                    Object::Set(values)
                }
                O_ARRAY_BUFFER => {
                    let len = self.count("ArrayBuffer length", 1)?;
                    let start = self.pos;
                    self.take(len)?;
                    // A view of the input, not a copy: `take` checked the range.
                    Object::ArrayBuffer(Buffer::from(self.input.slice(start..self.pos)))
                }
                O_SHARED_ARRAY_BUFFER => {
                    let index_at = self.pos;
                    let index = self.varint()?;
                    let limit = cx.shared.len() as u64;
                    let shared = usize::try_from(index)
                        .ok()
                        .and_then(|i| cx.shared.get(i))
                        .ok_or(WireError::IndexOutOfRange { what: "shared buffer", index, limit, offset: index_at })?;
                    // The encoder numbers shared buffers in arena order;
                    // anything else would be a second encoding of a graph.
                    if index != cx.shared_used {
                        return Err(WireError::Malformed {
                            what: "shared buffer index (out of order)",
                            offset: index_at,
                        });
                    }
                    cx.shared_used = cx.shared_used.saturating_add(1);
                    Object::SharedArrayBuffer(shared.clone())
                }
                O_VIEW => {
                    let kind_at = self.pos;
                    let tag = self.u8()?;
                    let kind = view_kind_from_tag(tag).ok_or(WireError::UnknownTag {
                        what: "view kind",
                        tag,
                        offset: kind_at,
                    })?;
                    let buffer = self.object_id(cx)?;
                    let byte_offset = self.usize("view byte offset")?;
                    let length = self.usize("view length")?;
                    // Whether it fits its buffer is checked with the graph.
                    Object::View { kind, buffer, byte_offset, length }
                }
                O_ERROR => {
                    let kind_at = self.pos;
                    let tag = self.u8()?;
                    let kind = error_kind_from_tag(tag).ok_or(WireError::UnknownTag {
                        what: "error kind",
                        tag,
                        offset: kind_at,
                    })?;
                    let present_at = self.pos;
                    let present = self.u8()?;
                    if present & !(ERROR_MESSAGE | ERROR_STACK | ERROR_CAUSE) != 0 {
                        return Err(WireError::Malformed { what: "Error field flags", offset: present_at });
                    }
                    let message = if present & ERROR_MESSAGE != 0 { Some(self.string()?) } else { None };
                    let stack = if present & ERROR_STACK != 0 { Some(self.string()?) } else { None };
                    let cause = if present & ERROR_CAUSE != 0 { Some(self.value(cx)?) } else { None };
                    Object::Error { kind, message, stack, cause }
                }
                tag => return Err(WireError::UnknownTag { what: "object", tag, offset: at }),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::value::SharedStore;
    use crate::{Buffer, ObjectId};

    fn shared(bytes: Vec<u8>) -> SharedBuffer {
        let store = v8::SharedArrayBuffer::new_backing_store_from_vec(bytes).make_shared();
        SharedBuffer { store: Arc::new(SharedStore(store, None)) }
    }

    fn obj(i: u32) -> Value {
        Value::Object(ObjectId(i))
    }

    fn lone() -> JsString {
        JsString::Utf16(vec![0x61, 0xD800, 0x62])
    }

    /// A graph with every object kind, every value kind, a cycle and shared
    /// references.
    fn sample() -> Structured {
        let objects = vec![
            // 0: the root, referring to everything else.
            Object::Plain(vec![
                ("undefined".into(), Value::Undefined),
                ("null".into(), Value::Null),
                ("t".into(), Value::Bool(true)),
                ("f".into(), Value::Bool(false)),
                ("n".into(), Value::Number(1.5)),
                ("negzero".into(), Value::Number(-0.0)),
                ("inf".into(), Value::Number(f64::NEG_INFINITY)),
                ("s".into(), "snow ☃".into()),
                (lone(), Value::String(lone())),
                ("big".into(), Value::BigInt(BigInt::from_words(true, vec![1, 2, 3]))),
                ("zero".into(), Value::BigInt(BigInt::from(0i64))),
                ("self".into(), obj(0)),
                ("array".into(), obj(1)),
                ("array again".into(), obj(1)),
                ("".into(), obj(2)),
            ]),
            // 1: a sparse array with a property, referring back to the root.
            Object::Array {
                length: 1000,
                elements: vec![(0, obj(0)), (1, Value::Null), (999, obj(3))],
                properties: vec![("extra".into(), obj(4))],
            },
            // 2: a Map of everything else.
            Object::Map(vec![(obj(5), obj(6)), (obj(7), obj(8)), (Value::Null, obj(9)), (obj(10), obj(11))]),
            Object::Date(1.7e12),
            Object::RegExp { source: "a+b".into(), flags: "gu".into() },
            Object::BooleanObject(true),
            Object::BooleanObject(false),
            Object::NumberObject(-0.0),
            Object::StringObject(lone()),
            Object::BigIntObject(BigInt::from(-7i64)),
            Object::Set(vec![obj(12), obj(13), obj(14), obj(15), obj(16), obj(9)]),
            Object::Error {
                kind: ErrorKind::TypeError,
                message: Some("bad".into()),
                stack: Some("at x".into()),
                cause: Some(obj(11)),
            },
            // 12: buffers and views over them.
            Object::ArrayBuffer(Buffer::from((0u8..64).collect::<Vec<_>>())),
            Object::View { kind: ViewKind::Float64, buffer: ObjectId(12), byte_offset: 8, length: 4 },
            Object::View { kind: ViewKind::DataView, buffer: ObjectId(12), byte_offset: 3, length: 5 },
            Object::SharedArrayBuffer(shared(vec![7; 16])),
            Object::View { kind: ViewKind::Int32, buffer: ObjectId(15), byte_offset: 4, length: 3 },
            Object::Error { kind: ErrorKind::UriError, message: None, stack: None, cause: None },
        ];
        Structured::new(obj(0), objects).expect("the sample graph is valid")
    }

    fn round_trip(graph: &Structured) -> Structured {
        let encoded = encode(graph);
        let decoded = decode(&encoded).expect("a fresh encoding decodes");
        assert_eq!(encode(&decoded).bytes, encoded.bytes, "re-encoding changed the bytes");
        decoded
    }

    #[test]
    fn every_kind_round_trips() {
        let graph = sample();
        assert_eq!(round_trip(&graph), graph);
        for kind in ViewKind::ALL {
            let objects = vec![
                Object::ArrayBuffer(Buffer::from(vec![0; 16])),
                Object::View { kind, buffer: ObjectId(0), byte_offset: 8, length: 1 },
            ];
            let graph = Structured::new(obj(1), objects).unwrap();
            assert_eq!(round_trip(&graph), graph, "{kind:?}");
        }
        for kind in ErrorKind::ALL {
            let graph = Structured::new(
                obj(0),
                vec![Object::Error { kind, message: Some(lone()), stack: None, cause: Some(Value::Undefined) }],
            )
            .unwrap();
            assert_eq!(round_trip(&graph), graph, "{kind:?}");
        }
    }

    #[test]
    fn primitive_roots_round_trip() {
        let primitives = [
            Value::Undefined,
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Number(42.0),
            Value::String("".into()),
            Value::String(lone()),
            Value::BigInt(BigInt::from(i128::MIN)),
        ];
        for value in primitives {
            let graph = Structured::from(value.clone());
            assert_eq!(round_trip(&graph), value);
        }
    }

    #[test]
    fn negative_zero_and_nan_bits_survive() {
        let payload_nan = f64::from_bits(0x7ff8_dead_beef_0001);
        let negative_nan = f64::from_bits(0xfff0_0000_0000_0001);
        for n in [-0.0, payload_nan, negative_nan, f64::NAN] {
            let graph = Structured::new(Value::Number(n), vec![]).unwrap();
            let decoded = decode(&encode(&graph)).unwrap();
            assert_eq!(decoded.root().as_f64().map(f64::to_bits), Some(n.to_bits()));
            let graph = Structured::new(obj(0), vec![Object::Date(n)]).unwrap();
            match decode(&encode(&graph)).unwrap().objects() {
                [Object::Date(d)] => assert_eq!(d.to_bits(), n.to_bits()),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn cycles_and_shared_references_survive() {
        let graph = sample();
        let decoded = round_trip(&graph);
        let Some(Object::Plain(properties)) = decoded.object(ObjectId(0)) else { panic!() };
        let get = |name: &str| properties.iter().find(|(k, _)| k.as_str() == Some(name)).map(|(_, v)| v.clone());
        assert_eq!(get("self"), Some(obj(0)));
        assert_eq!(get("array"), get("array again"));
        let Some(Object::SharedArrayBuffer(buffer)) = decoded.object(ObjectId(15)) else { panic!() };
        let Some(Object::SharedArrayBuffer(original)) = graph.object(ObjectId(15)) else { panic!() };
        assert!(buffer.same_memory(original), "a shared buffer travels by handle");
    }

    #[test]
    fn shared_buffer_indices_are_checked() {
        let mut encoded = encode(&sample());
        assert_eq!(encoded.shared.len(), 1);
        let spare = encoded.shared.clone();
        encoded.shared.clear();
        assert!(matches!(decode(&encoded), Err(WireError::IndexOutOfRange { what: "shared buffer", .. })));
        encoded.shared = [spare.clone(), spare].concat();
        assert_eq!(decode(&encoded).unwrap_err(), WireError::SharedBufferCount { used: 1, given: 2 });
        // Indices that do not count up in arena order.
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[FORMAT_VERSION, 2, O_SHARED_ARRAY_BUFFER, 1, O_SHARED_ARRAY_BUFFER, 0, V_NULL]);
        let swapped = Encoded { bytes: bytes.into(), shared: encoded.shared.clone() };
        assert!(matches!(decode(&swapped), Err(WireError::Malformed { offset: 7, .. })));
    }

    #[test]
    fn moved_buffers_encode_as_bytes() {
        let store = v8::ArrayBuffer::new_backing_store_from_vec(vec![1, 2, 3]).make_shared();
        let graph = Structured::new(obj(0), vec![Object::ArrayBuffer(Buffer::moved(store))]).unwrap();
        let decoded = round_trip(&graph);
        let [Object::ArrayBuffer(buffer)] = decoded.objects() else { panic!() };
        assert_eq!(buffer.as_slice(), &[1, 2, 3]);
    }

    #[test]
    fn sizing_pass_is_exact() {
        let graph = sample();
        let mut counter = Encoder { out: Counter(0), shared: Vec::new() };
        counter.structured(&graph);
        assert_eq!(counter.out.0, encode(&graph).bytes.len());
    }

    #[test]
    fn every_truncation_fails() {
        let encoded = encode(&sample());
        for len in 0..encoded.bytes.len() {
            let cut = Encoded { bytes: encoded.bytes.slice(..len), shared: encoded.shared.clone() };
            assert!(decode(&cut).is_err(), "decoded a truncation to {len} bytes");
        }
    }

    #[test]
    fn every_single_byte_change_is_handled() {
        let encoded = encode(&sample());
        let mut decoded = 0;
        for at in 0..encoded.bytes.len() {
            for byte in 0..=255u8 {
                let mut bytes = encoded.bytes.to_vec();
                if bytes[at] == byte {
                    continue;
                }
                bytes[at] = byte;
                let changed = Encoded { bytes: bytes.into(), shared: encoded.shared.clone() };
                // Decoding must return, not panic; what does decode is a
                // valid graph (`Structured::new` checked it) with exactly the
                // encoding it was read from.
                if let Ok(graph) = decode(&changed) {
                    decoded += 1;
                    assert_eq!(encode(&graph).bytes, changed.bytes, "changed byte {at} to {byte:#04x}");
                }
            }
        }
        // Numbers and string contents may change freely.
        assert!(decoded > 0);
    }

    #[test]
    fn objects_of_a_single_byte_are_counted_right() {
        let graph = Structured::new(Value::Undefined, vec![Object::BooleanObject(false), Object::BooleanObject(true)])
            .expect("valid");
        assert_eq!(round_trip(&graph), graph);
    }

    #[test]
    fn trailing_bytes_bad_magic_and_versions_are_refused() {
        let encoded = encode(&Structured::from(Value::Null));
        let with = |bytes: Vec<u8>| decode(&Encoded { bytes: bytes.into(), shared: vec![] });
        let mut trailing = encoded.bytes.to_vec();
        trailing.push(0);
        assert!(matches!(with(trailing), Err(WireError::TrailingBytes { count: 1, .. })));
        let mut magic = encoded.bytes.to_vec();
        magic[0] = b'X';
        assert_eq!(with(magic), Err(WireError::BadMagic));
        let mut version = encoded.bytes.to_vec();
        version[4] = FORMAT_VERSION + 1;
        assert_eq!(with(version), Err(WireError::UnsupportedVersion(FORMAT_VERSION + 1)));
        assert!(matches!(with(vec![]), Err(WireError::Truncated { offset: 0 })));
    }

    #[test]
    fn non_canonical_encodings_are_refused() {
        let header = |rest: &[u8]| {
            let mut bytes = MAGIC.to_vec();
            bytes.push(FORMAT_VERSION);
            bytes.extend_from_slice(rest);
            decode(&Encoded { bytes: bytes.into(), shared: vec![] })
        };
        assert!(header(&[0, V_NULL]).is_ok());
        // An object count of 0 written in two bytes.
        assert!(matches!(header(&[0x80, 0x00, V_NULL]), Err(WireError::BadVarint { offset: 5 })));
        // A BigInt with a high zero word, and a negative zero.
        assert!(matches!(header(&[0, V_BIGINT, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), Err(WireError::Malformed { .. })));
        assert!(matches!(header(&[0, V_BIGINT, 1, 0]), Err(WireError::Malformed { .. })));
        assert!(matches!(header(&[0, V_BIGINT, 2, 0]), Err(WireError::Malformed { .. })));
        // Invalid UTF-8.
        assert!(matches!(header(&[0, V_UTF8, 2, 0xc3, 0x28]), Err(WireError::InvalidUtf8 { offset: 8 })));
        // A dangling reference, and an array element past the length.
        assert!(matches!(header(&[0, V_OBJECT, 0]), Err(WireError::IndexOutOfRange { what: "object", .. })));
        assert!(matches!(header(&[1, O_ARRAY, 1, 1, 1, V_NULL, 0, V_NULL]), Err(WireError::IndexOutOfRange { .. })));
        // A view that does not fit its buffer is found by the graph check.
        let view = [2, O_ARRAY_BUFFER, 2, 0, 0, O_VIEW, 9, 0, 0, 1, V_OBJECT, 1];
        assert!(matches!(header(&view), Err(WireError::Invalid(_))));
    }

    #[test]
    fn varint_limits() {
        let mut out = BytesMut::new();
        Encoder { out: &mut out, shared: vec![] }.varint(u64::MAX);
        let header = |varint: &[u8]| {
            let mut bytes = MAGIC.to_vec();
            bytes.push(FORMAT_VERSION);
            bytes.extend_from_slice(&[0, V_UTF8]);
            bytes.extend_from_slice(varint);
            decode(&Encoded { bytes: bytes.into(), shared: vec![] })
        };
        assert_eq!(out.len(), 10);
        assert!(matches!(header(&out), Err(WireError::LengthOutOfRange { length: u64::MAX, .. })));
        let mut too_long = out.to_vec();
        too_long[9] = 0x02;
        assert!(matches!(header(&too_long), Err(WireError::BadVarint { .. })));
        too_long[9] = 0x81;
        assert!(matches!(header(&too_long), Err(WireError::BadVarint { .. })));
    }

    impl Sink for &mut BytesMut {
        fn emit(&mut self, bytes: &[u8]) {
            self.put_slice(bytes);
        }
    }

    #[test]
    fn hostile_counts_fail_fast() {
        // 2^60 objects, then nothing: refused before anything is reserved
        // (a reservation that size would abort the test process).
        let mut out = BytesMut::new();
        let mut encoder = Encoder { out: &mut out, shared: vec![] };
        encoder.out.emit(&MAGIC);
        encoder.out.emit(&[FORMAT_VERSION]);
        encoder.varint(1 << 60);
        let err = decode(&Encoded { bytes: out.freeze(), shared: vec![] }).unwrap_err();
        assert_eq!(err, WireError::LengthOutOfRange { what: "object count", length: 1 << 60, offset: 5 });
        // Counts inside objects, too: a Set of 2^40 values in 100 bytes.
        let mut out = BytesMut::new();
        let mut encoder = Encoder { out: &mut out, shared: vec![] };
        encoder.out.emit(&MAGIC);
        encoder.out.emit(&[FORMAT_VERSION, 1, O_SET]);
        encoder.varint(1 << 40);
        encoder.out.emit(&[V_NULL; 100]);
        let err = decode(&Encoded { bytes: out.freeze(), shared: vec![] }).unwrap_err();
        assert!(matches!(err, WireError::LengthOutOfRange { what: "Set size", .. }), "{err}");
    }

    #[test]
    fn array_buffers_decode_without_a_copy() {
        const LEN: usize = 64 << 20;
        let graph = Structured::new(obj(0), vec![Object::ArrayBuffer(Buffer::from(vec![0xa5; LEN]))]).unwrap();
        let encoded = encode(&graph);
        assert!(encoded.bytes.len() < LEN + 32);
        let decoded = decode(&encoded).unwrap();
        let [Object::ArrayBuffer(buffer)] = decoded.objects() else { panic!() };
        assert_eq!(buffer.len(), LEN);
        let input = encoded.bytes.as_ptr_range();
        let contents = buffer.as_slice().as_ptr_range();
        assert!(input.start <= contents.start && contents.end <= input.end, "the contents were copied");
    }
}
