//! The engine-neutral value model: what a structured clone of a JavaScript
//! value looks like outside any isolate.
//!
//! A [`Structured`] is a graph: its objects live in one arena and refer to
//! each other by [`ObjectId`], so shared references and cycles survive a
//! copy exactly as the HTML structured clone algorithm specifies.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::Error;

/// A JavaScript value: a primitive, or a reference to an object in the
/// [`Structured`] graph it belongs to.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    /// Every JavaScript number, including `-0`, `NaN` and the infinities.
    Number(f64),
    String(JsString),
    BigInt(BigInt),
    /// An object of the enclosing [`Structured`] graph.
    Object(ObjectId),
}

/// The index of an object in its [`Structured`] graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub u32);

impl ObjectId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl Value {
    /// The result of JavaScript's `typeof`, except that `null` is `"null"`
    /// (isolated-vm's convention, which callers rely on to tell it apart).
    pub fn type_of(&self) -> &'static str {
        match self {
            Value::Undefined => "undefined",
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::BigInt(_) => "bigint",
            Value::Object(_) => "object",
        }
    }

    pub fn is_primitive(&self) -> bool {
        !matches!(self, Value::Object(_))
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The string's text, if it is a string of valid Unicode.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => s.as_str(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<ObjectId> {
        match self {
            Value::Object(id) => Some(*id),
            _ => None,
        }
    }
}

/// Renders primitives the way JavaScript's `String()` would, except that
/// strings are quoted so that `"1"` and `1` stay distinguishable.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Undefined => f.write_str("undefined"),
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => fmt_number(*n, f),
            Value::String(s) => write!(f, "{:?}", s.to_string_lossy()),
            Value::BigInt(b) => write!(f, "{b}n"),
            Value::Object(id) => write!(f, "[object #{}]", id.0),
        }
    }
}

fn fmt_number(n: f64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if n.is_nan() {
        f.write_str("NaN")
    } else if n.is_infinite() {
        f.write_str(if n > 0.0 { "Infinity" } else { "-Infinity" })
    } else if n == 0.0 {
        // JavaScript prints -0 as "0" too.
        f.write_str("0")
    } else {
        write!(f, "{n}")
    }
}

macro_rules! value_from {
    ($($ty:ty => $variant:ident($conv:expr)),* $(,)?) => {
        $(impl From<$ty> for Value {
            fn from(v: $ty) -> Value {
                Value::$variant($conv(v))
            }
        })*
    };
}

value_from! {
    bool => Bool(|v| v),
    f64 => Number(|v| v),
    i32 => Number(f64::from),
    u32 => Number(f64::from),
    String => String(JsString::from),
    &str => String(JsString::from),
    JsString => String(|v| v),
    BigInt => BigInt(|v| v),
}

impl From<()> for Value {
    fn from(_: ()) -> Value {
        Value::Undefined
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` becomes `null`, as in JSON.
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// A JavaScript string. Almost every string is valid Unicode and is held as
/// UTF-8; a string with lone surrogates (which JavaScript allows) is held as
/// its UTF-16 code units, so that it survives a copy unchanged.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum JsString {
    Utf8(String),
    /// UTF-16 code units containing at least one lone surrogate.
    Utf16(Vec<u16>),
}

impl JsString {
    /// From UTF-16 code units, keeping lone surrogates.
    pub fn from_utf16(units: Vec<u16>) -> JsString {
        match String::from_utf16(&units) {
            Ok(s) => JsString::Utf8(s),
            Err(_) => JsString::Utf16(units),
        }
    }

    /// The text, unless the string holds lone surrogates.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsString::Utf8(s) => Some(s),
            JsString::Utf16(_) => None,
        }
    }

    /// The text, with lone surrogates replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        match self {
            JsString::Utf8(s) => s.into(),
            JsString::Utf16(units) => String::from_utf16_lossy(units).into(),
        }
    }

    /// The UTF-16 code units, as JavaScript sees the string.
    pub fn to_utf16(&self) -> Vec<u16> {
        match self {
            JsString::Utf8(s) => s.encode_utf16().collect(),
            JsString::Utf16(units) => units.clone(),
        }
    }
}

/// UTF-16 code units from their little-endian bytes (an odd last byte is
/// ignored: callers check the length).
pub(crate) fn utf16_from_le_bytes(bytes: &[u8]) -> Vec<u16> {
    bytes.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect()
}

impl fmt::Debug for JsString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsString::Utf8(s) => s.fmt(f),
            JsString::Utf16(units) => write!(f, "utf16{units:?}"),
        }
    }
}

impl From<String> for JsString {
    fn from(s: String) -> JsString {
        JsString::Utf8(s)
    }
}

impl From<&str> for JsString {
    fn from(s: &str) -> JsString {
        JsString::Utf8(s.to_owned())
    }
}

/// An arbitrary-precision integer: a sign and a little-endian magnitude in
/// 64-bit words, the representation V8 itself exposes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BigInt {
    negative: bool,
    words: Vec<u64>,
}

impl BigInt {
    /// Builds a BigInt from a sign and little-endian words. Zero is never
    /// negative, and high zero words are dropped, so equal numbers compare
    /// equal.
    pub fn from_words(negative: bool, mut words: Vec<u64>) -> BigInt {
        while words.last() == Some(&0) {
            words.pop();
        }
        BigInt { negative: negative && !words.is_empty(), words }
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The magnitude, little-endian; empty for zero.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The value as an `i128` if it fits.
    pub fn to_i128(&self) -> Option<i128> {
        let magnitude: u128 = match self.words.as_slice() {
            [] => 0,
            [lo] => u128::from(*lo),
            [lo, hi] => u128::from(*lo) | (u128::from(*hi) << 64),
            _ => return None,
        };
        if self.negative { 0i128.checked_sub_unsigned(magnitude) } else { i128::try_from(magnitude).ok() }
    }
}

impl From<i128> for BigInt {
    fn from(v: i128) -> BigInt {
        let magnitude = v.unsigned_abs();
        BigInt::from_words(v < 0, vec![magnitude as u64, (magnitude >> 64) as u64])
    }
}

impl From<i64> for BigInt {
    fn from(v: i64) -> BigInt {
        BigInt::from(i128::from(v))
    }
}

impl From<u64> for BigInt {
    fn from(v: u64) -> BigInt {
        BigInt::from_words(false, vec![v])
    }
}

impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = self.to_i128() {
            return write!(f, "{v}");
        }
        // Decimal by repeated division of the magnitude by 10^19.
        const CHUNK: u64 = 10_000_000_000_000_000_000;
        let mut words = self.words.clone();
        let mut chunks = Vec::new();
        while !words.is_empty() {
            let mut rem: u128 = 0;
            for word in words.iter_mut().rev() {
                let cur = (rem << 64) | u128::from(*word);
                *word = (cur / u128::from(CHUNK)) as u64;
                rem = cur % u128::from(CHUNK);
            }
            chunks.push(rem as u64);
            while words.last() == Some(&0) {
                words.pop();
            }
        }
        if self.negative {
            f.write_str("-")?;
        }
        let mut iter = chunks.iter().rev();
        if let Some(first) = iter.next() {
            write!(f, "{first}")?;
        }
        for chunk in iter {
            write!(f, "{chunk:019}")?;
        }
        Ok(())
    }
}

/// The kinds of ArrayBuffer views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ViewKind {
    Int8,
    Uint8,
    Uint8Clamped,
    Int16,
    Uint16,
    Int32,
    Uint32,
    Float16,
    Float32,
    Float64,
    BigInt64,
    BigUint64,
    DataView,
}

impl ViewKind {
    /// Bytes per element (1 for a DataView, whose length is in bytes).
    pub fn element_size(self) -> usize {
        match self {
            ViewKind::Int8 | ViewKind::Uint8 | ViewKind::Uint8Clamped | ViewKind::DataView => 1,
            ViewKind::Int16 | ViewKind::Uint16 | ViewKind::Float16 => 2,
            ViewKind::Int32 | ViewKind::Uint32 | ViewKind::Float32 => 4,
            ViewKind::Float64 | ViewKind::BigInt64 | ViewKind::BigUint64 => 8,
        }
    }

    pub const ALL: [ViewKind; 13] = [
        ViewKind::Int8,
        ViewKind::Uint8,
        ViewKind::Uint8Clamped,
        ViewKind::Int16,
        ViewKind::Uint16,
        ViewKind::Int32,
        ViewKind::Uint32,
        ViewKind::Float16,
        ViewKind::Float32,
        ViewKind::Float64,
        ViewKind::BigInt64,
        ViewKind::BigUint64,
        ViewKind::DataView,
    ];
}

/// The built-in Error constructors that structured clone preserves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    Error,
    EvalError,
    RangeError,
    ReferenceError,
    SyntaxError,
    TypeError,
    UriError,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::Error,
        ErrorKind::EvalError,
        ErrorKind::RangeError,
        ErrorKind::ReferenceError,
        ErrorKind::SyntaxError,
        ErrorKind::TypeError,
        ErrorKind::UriError,
    ];

    /// The constructor's name, e.g. `"TypeError"`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Error => "Error",
            ErrorKind::EvalError => "EvalError",
            ErrorKind::RangeError => "RangeError",
            ErrorKind::ReferenceError => "ReferenceError",
            ErrorKind::SyntaxError => "SyntaxError",
            ErrorKind::TypeError => "TypeError",
            ErrorKind::UriError => "URIError",
        }
    }

    /// The kind for an error's `name`; anything else clones as `Error`, as
    /// the structured clone algorithm specifies.
    pub fn from_name(name: &str) -> ErrorKind {
        ErrorKind::ALL.into_iter().find(|kind| kind.name() == name).unwrap_or(ErrorKind::Error)
    }
}

/// Memory shared between isolates (a SharedArrayBuffer's contents). Clones
/// share the memory; it lives as long as any clone, isolate or copy holds it.
#[derive(Clone)]
pub struct SharedBuffer {
    pub(crate) store: Arc<SharedStore>,
}

pub(crate) struct SharedStore(pub(crate) v8::SharedRef<v8::BackingStore>, pub(crate) Option<Origin>);

/// What a host keeps alive for shared memory it lent (`SharedBuffer::lent`),
/// and how it knows its own object again.
pub type Origin = Arc<dyn std::any::Any + Send + Sync>;

// SAFETY: a V8 backing store is reference counted with an atomic shared_ptr
// and owns memory that is designed to be used from many threads at once
// (that is what a SharedArrayBuffer is); nothing here hands out `&mut` to it.
unsafe impl Send for SharedStore {}
// SAFETY: as above; all access to the memory is through raw pointers, with
// JavaScript's own memory model (Atomics) governing concurrent use.
unsafe impl Sync for SharedStore {}

impl SharedBuffer {
    /// New shared memory of `byte_length` zero bytes, made outside any
    /// isolate (a host creating a SharedArrayBuffer to share with isolates).
    /// Memory the system will not give is an error, not an abort.
    pub fn new(byte_length: usize) -> Result<SharedBuffer, Error> {
        let too_large = Error::TooLarge { what: "SharedArrayBuffer" };
        let bytes = if byte_length == 0 {
            Vec::new()
        } else {
            let layout = std::alloc::Layout::array::<u8>(byte_length).map_err(|_| too_large.clone())?;
            // SAFETY: the layout has a non-zero size (checked above).
            let start = unsafe { std::alloc::alloc_zeroed(layout) };
            if start.is_null() {
                return Err(too_large);
            }
            // SAFETY: `start` was just allocated by the global allocator with
            // this layout (a `u8` array of `byte_length`, so capacity and
            // length are both `byte_length`), and every byte is initialised
            // (zeroed).
            unsafe { Vec::from_raw_parts(start, byte_length, byte_length) }
        };
        let store = v8::SharedArrayBuffer::new_backing_store_from_vec(bytes).make_shared();
        Ok(SharedBuffer { store: Arc::new(SharedStore(store, None)) })
    }

    /// Shared memory that a host lends: `byte_length` bytes at `data`,
    /// which stay valid for as long as `origin` lives. `origin` is dropped
    /// (on any thread) once neither a copy nor an isolate uses the memory,
    /// and [`origin`](SharedBuffer::origin) gives it back meanwhile (a Node
    /// SharedArrayBuffer's handle, which Node gets back as itself).
    ///
    /// # Safety
    /// `data` must be valid for reads and writes of `byte_length` bytes,
    /// from any thread, until `origin` is dropped.
    pub unsafe fn lent(data: *mut u8, byte_length: usize, origin: Origin) -> SharedBuffer {
        unsafe extern "C" fn release(_data: *mut std::ffi::c_void, _len: usize, origin: *mut std::ffi::c_void) {
            // SAFETY: `origin` is the box `lent` leaked for this store, and
            // V8 calls a store's deleter once.
            drop(unsafe { Box::from_raw(origin.cast::<Origin>()) });
        }
        let kept = Box::into_raw(Box::new(Arc::clone(&origin)));
        // SAFETY: the memory stays valid until the deleter drops the last
        // handle on `origin` (the caller's contract), and the deleter gets
        // the box it expects.
        let store = unsafe {
            v8::SharedArrayBuffer::new_backing_store_from_ptr(data.cast(), byte_length, release, kept.cast())
        }
        .make_shared();
        SharedBuffer { store: Arc::new(SharedStore(store, Some(origin))) }
    }

    /// What the host that lent this memory keeps for it, if a host did.
    pub fn origin(&self) -> Option<&Origin> {
        self.store.1.as_ref()
    }

    pub fn byte_length(&self) -> usize {
        self.store.0.byte_length()
    }

    /// The start of the shared memory (null when it is empty). Other threads
    /// may write to it at any time.
    pub fn as_ptr(&self) -> *mut u8 {
        self.store.0.data().map_or(std::ptr::null_mut(), |p| p.as_ptr().cast())
    }

    /// Whether two handles share the same memory.
    pub fn same_memory(&self, other: &SharedBuffer) -> bool {
        Arc::ptr_eq(&self.store, &other.store) || self.as_ptr() == other.as_ptr()
    }
}

impl fmt::Debug for SharedBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBuffer").field("byte_length", &self.byte_length()).finish()
    }
}

impl PartialEq for SharedBuffer {
    fn eq(&self, other: &SharedBuffer) -> bool {
        self.same_memory(other)
    }
}

/// An ArrayBuffer's contents outside any isolate: bytes, or the memory of a
/// buffer transferred out of an isolate (moved, not copied), which moves on
/// into the next isolate without a copy when nothing else holds it.
#[derive(Clone)]
pub struct Buffer {
    repr: BufferRepr,
}

#[derive(Clone)]
enum BufferRepr {
    Bytes(Bytes),
    Moved(Arc<MovedStore>),
}

/// The backing store of a transferred (detached) ArrayBuffer, owned by
/// nothing but this value.
pub(crate) struct MovedStore(v8::SharedRef<v8::BackingStore>);

// SAFETY: the store was detached from its isolate when it was moved here,
// so no isolate reaches it; V8 backing stores are atomically reference
// counted and may be released on any thread.
unsafe impl Send for MovedStore {}
// SAFETY: as above; the memory is only ever read through `&self`.
unsafe impl Sync for MovedStore {}

impl Buffer {
    /// Whether this is a moved ArrayBuffer's memory (not a copy of bytes).
    pub fn is_moved(&self) -> bool {
        matches!(self.repr, BufferRepr::Moved(_))
    }

    pub(crate) fn moved(store: v8::SharedRef<v8::BackingStore>) -> Buffer {
        Buffer { repr: BufferRepr::Moved(Arc::new(MovedStore(store))) }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.repr {
            BufferRepr::Bytes(bytes) => bytes,
            BufferRepr::Moved(moved) => match moved.0.data() {
                // SAFETY: the store is detached and owned by this value alone
                // (see `MovedStore`), so its `byte_length` bytes stay valid
                // and unchanged for as long as `moved` is borrowed.
                Some(data) => unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), moved.0.byte_length()) },
                None => &[],
            },
        }
    }

    /// The contents as `Bytes` (a copy for moved memory).
    pub fn to_bytes(&self) -> Bytes {
        match &self.repr {
            BufferRepr::Bytes(bytes) => bytes.clone(),
            BufferRepr::Moved(_) => Bytes::copy_from_slice(self.as_slice()),
        }
    }

    /// A copy of `data`, made at close to memcpy speed however large it is
    /// (large copies go to huge-page memory).
    pub fn copy_from(data: &[u8]) -> Buffer {
        Buffer::from(crate::large_copy::copy_to_bytes(data))
    }

    /// The contents as memory that nothing else holds, for handing to
    /// another engine (which may write to it): this buffer's own memory when
    /// it is the only handle to it, else a fresh copy.
    pub fn into_owned(self) -> OwnedBytes {
        match self.repr {
            BufferRepr::Bytes(bytes) => match bytes.try_into_mut() {
                Ok(mut unique) => OwnedBytes { ptr: unique.as_mut_ptr(), len: unique.len(), _owner: Box::new(unique) },
                Err(shared) => OwnedBytes::fresh(&shared),
            },
            BufferRepr::Moved(moved) => match Arc::try_unwrap(moved) {
                Ok(store) => {
                    let (ptr, len) = match store.0.data() {
                        Some(data) => (data.as_ptr().cast::<u8>(), store.0.byte_length()),
                        None => (std::ptr::NonNull::<u8>::dangling().as_ptr(), 0),
                    };
                    OwnedBytes { ptr, len, _owner: Box::new(store) }
                }
                Err(shared) => OwnedBytes::fresh(Buffer { repr: BufferRepr::Moved(shared) }.as_slice()),
            },
        }
    }

    /// The moved backing store, if this is the only handle to it; handing it
    /// to a new isolate is then a move, not a copy.
    pub(crate) fn into_store(self) -> Result<v8::SharedRef<v8::BackingStore>, Buffer> {
        match self.repr {
            BufferRepr::Moved(moved) => match Arc::try_unwrap(moved) {
                Ok(store) => Ok(store.0),
                Err(shared) => Err(Buffer { repr: BufferRepr::Moved(shared) }),
            },
            repr => Err(Buffer { repr }),
        }
    }
}

/// Memory that belongs to this value alone (see [`Buffer::into_owned`]):
/// its holder may read and write `len` bytes at `ptr` until it drops it.
pub struct OwnedBytes {
    ptr: *mut u8,
    len: usize,
    _owner: Box<dyn Send>,
}

// SAFETY: the memory is owned by `_owner` (which is `Send`) and reachable
// through nothing but this value.
unsafe impl Send for OwnedBytes {}

impl OwnedBytes {
    fn fresh(data: &[u8]) -> OwnedBytes {
        let copy = crate::large_copy::copy_to_owned(data);
        let ptr = copy.as_ptr().cast_mut();
        // The copy is fresh memory that no other handle reaches.
        OwnedBytes { ptr, len: copy.len(), _owner: Box::new(copy) }
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for OwnedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedBytes").field("len", &self.len).finish()
    }
}

impl From<Bytes> for Buffer {
    fn from(bytes: Bytes) -> Buffer {
        Buffer { repr: BufferRepr::Bytes(bytes) }
    }
}

impl From<Vec<u8>> for Buffer {
    fn from(bytes: Vec<u8>) -> Buffer {
        Buffer::from(Bytes::from(bytes))
    }
}

impl fmt::Debug for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if matches!(self.repr, BufferRepr::Moved(_)) { "moved" } else { "bytes" };
        f.debug_struct("Buffer").field("len", &self.len()).field("kind", &kind).finish()
    }
}

impl PartialEq for Buffer {
    fn eq(&self, other: &Buffer) -> bool {
        self.as_slice() == other.as_slice()
    }
}

/// An object in a [`Structured`] graph.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Object {
    /// A plain object: its own enumerable string-keyed properties, in order.
    Plain(Vec<(JsString, Value)>),
    /// An array of `length`: its present elements by index, ascending (any
    /// index below `length` that is missing is a hole; sparse arrays stay
    /// small), then its other own enumerable properties.
    Array {
        length: u32,
        elements: Vec<(u32, Value)>,
        properties: Vec<(JsString, Value)>,
    },
    /// A `Date`, as its time value in milliseconds since the epoch.
    Date(f64),
    RegExp {
        source: JsString,
        flags: String,
    },
    BooleanObject(bool),
    NumberObject(f64),
    StringObject(JsString),
    BigIntObject(BigInt),
    /// A `Map`'s entries in insertion order.
    Map(Vec<(Value, Value)>),
    /// A `Set`'s values in insertion order.
    Set(Vec<Value>),
    /// An ArrayBuffer's contents.
    ArrayBuffer(Buffer),
    SharedArrayBuffer(SharedBuffer),
    /// A TypedArray or DataView over `buffer` (an `ArrayBuffer` or
    /// `SharedArrayBuffer` object of the same graph). `length` counts
    /// elements, or bytes for a DataView.
    View {
        kind: ViewKind,
        buffer: ObjectId,
        byte_offset: usize,
        length: usize,
    },
    Error {
        kind: ErrorKind,
        message: Option<JsString>,
        stack: Option<JsString>,
        cause: Option<Value>,
    },
}

impl Object {
    /// What the object is, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Object::Plain(_) => "Object",
            Object::Array { .. } => "Array",
            Object::Date(_) => "Date",
            Object::RegExp { .. } => "RegExp",
            Object::BooleanObject(_) => "Boolean",
            Object::NumberObject(_) => "Number",
            Object::StringObject(_) => "String",
            Object::BigIntObject(_) => "BigInt",
            Object::Map(_) => "Map",
            Object::Set(_) => "Set",
            Object::ArrayBuffer(_) => "ArrayBuffer",
            Object::SharedArrayBuffer(_) => "SharedArrayBuffer",
            Object::View { .. } => "ArrayBufferView",
            Object::Error { .. } => "Error",
        }
    }

    /// Every value this object holds directly.
    pub fn children(&self) -> Vec<&Value> {
        let mut children = Vec::new();
        self.for_each_child(|child| children.push(child));
        children
    }

    /// Calls `f` with every value this object holds directly.
    pub fn for_each_child<'a>(&'a self, mut f: impl FnMut(&'a Value)) {
        match self {
            Object::Plain(properties) => properties.iter().for_each(|(_, v)| f(v)),
            Object::Array { elements, properties, .. } => {
                elements.iter().for_each(|(_, v)| f(v));
                properties.iter().for_each(|(_, v)| f(v));
            }
            Object::Map(entries) => entries.iter().for_each(|(k, v)| {
                f(k);
                f(v);
            }),
            Object::Set(values) => values.iter().for_each(f),
            Object::Error { cause: Some(cause), .. } => f(cause),
            _ => {}
        }
    }
}

/// A structured clone of one JavaScript value: its root and the arena of
/// objects that the root (transitively) refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Structured {
    root: Value,
    objects: Vec<Object>,
}

impl Structured {
    /// A graph, checked: every reference points into `objects`, and every
    /// view into a buffer of the graph, within its bounds. Hosts build graphs
    /// from untrusted data, so nothing downstream trusts one unchecked.
    pub fn new(root: Value, objects: Vec<Object>) -> Result<Structured, Error> {
        let graph = Structured { root, objects };
        graph.validate()?;
        Ok(graph)
    }

    pub fn root(&self) -> &Value {
        &self.root
    }

    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    pub fn object(&self, id: ObjectId) -> Option<&Object> {
        self.objects.get(id.index())
    }

    /// The root, if the value is a primitive.
    pub fn as_primitive(&self) -> Option<&Value> {
        self.root.is_primitive().then_some(&self.root)
    }

    pub fn into_parts(self) -> (Value, Vec<Object>) {
        (self.root, self.objects)
    }

    /// Bytes of buffer contents this graph holds (ArrayBuffers; shared memory
    /// is not counted, it belongs to no one copy).
    pub fn buffer_bytes(&self) -> usize {
        self.objects
            .iter()
            .map(|o| match o {
                Object::ArrayBuffer(buffer) => buffer.len(),
                _ => 0,
            })
            .sum()
    }

    /// At least the bytes V8's heap will hold for this graph once
    /// materialised, ArrayBuffer contents aside (those live off the heap,
    /// see [`buffer_bytes`](Structured::buffer_bytes)): each string at V8's
    /// width (one byte per character while all are Latin-1, else two per
    /// UTF-16 unit), and a small lower bound per object and property. For
    /// refusing a value that cannot fit before any of it is made, so it
    /// errs low, never high.
    pub fn heap_bytes(&self) -> usize {
        const OBJECT: usize = 16;
        const SLOT: usize = 8;
        fn value(value: &Value) -> usize {
            match value {
                Value::String(text) => string(text),
                _ => 0,
            }
        }
        fn string(text: &JsString) -> usize {
            match text {
                JsString::Utf8(text) if text.is_ascii() => text.len(),
                JsString::Utf8(text) if text.chars().all(|c| c <= '\u{ff}') => text.chars().count(),
                JsString::Utf8(text) => 2 * text.encode_utf16().count(),
                JsString::Utf16(units) => 2 * units.len(),
            }
        }
        fn entries<'a>(entries: impl Iterator<Item = (usize, &'a Value)>) -> usize {
            entries.map(|(key, item)| SLOT + key + value(item)).sum()
        }
        let objects: usize = self
            .objects
            .iter()
            .map(|object| {
                OBJECT
                    + match object {
                        Object::Plain(properties) => entries(properties.iter().map(|(k, v)| (string(k), v))),
                        Object::Array { elements, properties, .. } => {
                            entries(elements.iter().map(|(_, v)| (0, v)))
                                + entries(properties.iter().map(|(k, v)| (string(k), v)))
                        }
                        Object::RegExp { source, flags } => string(source) + flags.len(),
                        Object::StringObject(text) => string(text),
                        Object::Map(entries) => entries.iter().map(|(k, v)| 2 * SLOT + value(k) + value(v)).sum(),
                        Object::Set(items) => items.iter().map(|item| SLOT + value(item)).sum(),
                        Object::Error { message, stack, cause, .. } => {
                            message.as_ref().map_or(0, string)
                                + stack.as_ref().map_or(0, string)
                                + cause.as_ref().map_or(0, value)
                        }
                        _ => 0,
                    }
            })
            .sum();
        value(&self.root) + objects
    }

    fn validate(&self) -> Result<(), Error> {
        let count = self.objects.len();
        let check = |v: &Value| match v {
            Value::Object(id) if id.index() >= count => {
                Err(Error::Invalid(format!("object #{} does not exist in a graph of {count}", id.0)))
            }
            _ => Ok(()),
        };
        check(&self.root)?;
        for object in &self.objects {
            let mut dangling = Ok(());
            object.for_each_child(|child| {
                if dangling.is_ok() {
                    dangling = check(child);
                }
            });
            dangling?;
            if let Object::Array { length, elements, .. } = object {
                let ascending = elements.windows(2).all(|pair| pair[0].0 < pair[1].0);
                if !ascending || elements.last().is_some_and(|(index, _)| index >= length) {
                    return Err(Error::Invalid("array elements must be ascending and below the length".into()));
                }
            }
            if let Object::View { kind, buffer, byte_offset, length } = object {
                let buffer_len = match self.objects.get(buffer.index()) {
                    Some(Object::ArrayBuffer(buffer)) => buffer.len(),
                    Some(Object::SharedArrayBuffer(shared)) => shared.byte_length(),
                    _ => return Err(Error::Invalid(format!("view over #{}, which is not a buffer", buffer.0))),
                };
                let end = length.checked_mul(kind.element_size()).and_then(|n| n.checked_add(*byte_offset));
                if end.is_none_or(|end| end > buffer_len) || byte_offset % kind.element_size() != 0 {
                    return Err(Error::Invalid(format!(
                        "{kind:?} view at {byte_offset} of length {length} does not fit a buffer of {buffer_len} bytes"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A copy held outside every isolate in the form that is cheapest to make
/// and to materialise again: the bytes V8's own serializer wrote (with the
/// shared and moved buffers they refer to by id), or a value graph where the
/// copy was made some other way. The value model is read from the bytes only
/// when it is asked for.
#[derive(Debug, Clone)]
pub struct Serialized {
    repr: SerializedRepr,
}

#[derive(Debug, Clone)]
pub(crate) enum SerializedRepr {
    Graph(Structured),
    V8 {
        /// Written by V8's ValueSerializer in this process: trusted to be
        /// V8's format, though still read strictly.
        bytes: Bytes,
        shared: Vec<SharedBuffer>,
        /// ArrayBuffers moved out of their isolate, by transfer id.
        transferred: Vec<Buffer>,
    },
}

impl Serialized {
    pub(crate) fn v8(bytes: Bytes, shared: Vec<SharedBuffer>, transferred: Vec<Buffer>) -> Serialized {
        Serialized { repr: SerializedRepr::V8 { bytes, shared, transferred } }
    }

    pub(crate) fn repr(&self) -> &SerializedRepr {
        &self.repr
    }

    pub(crate) fn into_repr(self) -> SerializedRepr {
        self.repr
    }

    /// Bytes this copy holds: its encoding and its buffers' contents, or a
    /// string's (shared memory belongs to no one copy and is not counted).
    pub fn size(&self) -> usize {
        match &self.repr {
            SerializedRepr::Graph(graph) => {
                let string = match graph.root() {
                    Value::String(JsString::Utf8(text)) => text.len(),
                    Value::String(JsString::Utf16(units)) => 2 * units.len(),
                    _ => 0,
                };
                graph.buffer_bytes() + std::mem::size_of_val(graph.objects()) + string
            }
            SerializedRepr::V8 { bytes, transferred, .. } => {
                bytes.len() + transferred.iter().map(Buffer::len).sum::<usize>()
            }
        }
    }

    /// At least the bytes V8's heap will hold for this copy once
    /// materialised, its buffers' contents aside (see
    /// [`Structured::heap_bytes`]); V8's wire format takes no more room than
    /// the heap objects it encodes.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            SerializedRepr::Graph(graph) => graph.heap_bytes(),
            SerializedRepr::V8 { bytes, .. } => bytes.len(),
        }
    }

    /// Whether handing this copy over moves ArrayBuffer memory, as
    /// isolated-vm's `transferIn` does: when the copy is of an ArrayBuffer
    /// (or a view of one) itself, or holds buffers moved into it from
    /// their isolate (a transfer list). Other buffers inside a copy are
    /// copied whenever it is.
    pub fn moves_buffers(&self) -> bool {
        match &self.repr {
            SerializedRepr::Graph(graph) => {
                let root = match graph.root() {
                    Value::Object(id) => graph.object(*id),
                    _ => None,
                };
                let root_buffer = match root {
                    Some(Object::View { buffer, .. }) => graph.object(*buffer),
                    other => other,
                };
                matches!(root_buffer, Some(Object::ArrayBuffer(_)))
                    || graph
                        .objects()
                        .iter()
                        .any(|object| matches!(object, Object::ArrayBuffer(buffer) if buffer.is_moved()))
            }
            SerializedRepr::V8 { bytes, transferred, .. } => {
                !transferred.is_empty() || crate::v8_format::root_is_array_buffer(bytes)
            }
        }
    }

    /// The value model of the copy.
    pub fn to_structured(&self) -> Result<Structured, Error> {
        self.clone().into_structured()
    }

    /// The value model of the copy; moved buffers stay moved.
    pub fn into_structured(self) -> Result<Structured, Error> {
        match self.repr {
            SerializedRepr::Graph(graph) => Ok(graph),
            SerializedRepr::V8 { bytes, shared, transferred } => {
                crate::v8_format::read(&bytes, &shared, transferred.into_iter().map(Some).collect())
            }
        }
    }
}

impl From<Structured> for Serialized {
    fn from(graph: Structured) -> Serialized {
        Serialized { repr: SerializedRepr::Graph(graph) }
    }
}

impl From<Value> for Structured {
    /// A graph of one primitive. An object reference without its graph is
    /// kept, and fails when the graph is used.
    fn from(root: Value) -> Structured {
        Structured { root, objects: Vec::new() }
    }
}

impl PartialEq<Value> for Structured {
    fn eq(&self, other: &Value) -> bool {
        self.root.is_primitive() && &self.root == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigint_normalises_zero_and_high_words() {
        assert_eq!(BigInt::from_words(true, vec![0, 0]), BigInt::from(0i64));
        assert_eq!(BigInt::from_words(false, vec![5, 0]), BigInt::from(5u64));
        assert!(!BigInt::from(0i64).is_negative());
    }

    #[test]
    fn bigint_i128_round_trip_and_bounds() {
        for v in [0i128, 1, -1, i64::MAX as i128 + 1, i128::MAX, i128::MIN, -(1 << 100)] {
            assert_eq!(BigInt::from(v).to_i128(), Some(v), "{v}");
        }
        assert_eq!(BigInt::from_words(false, vec![0, 0, 1]).to_i128(), None);
        assert_eq!(BigInt::from_words(false, vec![0, 1 << 63]).to_i128(), None);
    }

    #[test]
    fn bigint_displays_in_decimal_beyond_i128() {
        let two_128 = BigInt::from_words(true, vec![0, 0, 1]);
        assert_eq!(two_128.to_string(), "-340282366920938463463374607431768211456");
        assert_eq!(BigInt::from(-42i64).to_string(), "-42");
    }

    #[test]
    fn value_type_of_and_display() {
        assert_eq!(Value::Null.type_of(), "null");
        assert_eq!(Value::from(1.5).to_string(), "1.5");
        assert_eq!(Value::from(-0.0).to_string(), "0");
        assert_eq!(Value::from(f64::NAN).to_string(), "NaN");
        assert_eq!(Value::from("a\"b").to_string(), "\"a\\\"b\"");
        assert_eq!(Value::from(None::<bool>), Value::Null);
    }

    #[test]
    fn lone_surrogates_are_kept() {
        let lone = JsString::from_utf16(vec![0x61, 0xD800, 0x62]);
        assert_eq!(lone.as_str(), None);
        assert_eq!(lone.to_utf16(), vec![0x61, 0xD800, 0x62]);
        assert_eq!(JsString::from_utf16("ok ☃".encode_utf16().collect()), JsString::from("ok ☃"));
    }

    #[test]
    fn graphs_are_validated() {
        let dangling = Structured::new(Value::Object(ObjectId(0)), vec![]);
        assert!(matches!(dangling, Err(Error::Invalid(_))));
        let buffer = Object::ArrayBuffer(Buffer::from(Bytes::from_static(&[0; 8])));
        let fits = Object::View { kind: ViewKind::Float64, buffer: ObjectId(0), byte_offset: 0, length: 1 };
        assert!(Structured::new(Value::Object(ObjectId(1)), vec![buffer.clone(), fits]).is_ok());
        let overflows = Object::View { kind: ViewKind::Uint32, buffer: ObjectId(0), byte_offset: 4, length: 2 };
        assert!(Structured::new(Value::Object(ObjectId(1)), vec![buffer.clone(), overflows]).is_err());
        let huge = Object::View { kind: ViewKind::Float64, buffer: ObjectId(0), byte_offset: 0, length: usize::MAX };
        assert!(Structured::new(Value::Object(ObjectId(1)), vec![buffer.clone(), huge]).is_err());
        let not_a_buffer = Object::View { kind: ViewKind::Uint8, buffer: ObjectId(0), byte_offset: 0, length: 0 };
        assert!(Structured::new(Value::Null, vec![Object::Plain(vec![]), not_a_buffer]).is_err());
        let cycle = Object::Plain(vec![("self".into(), Value::Object(ObjectId(0)))]);
        assert!(Structured::new(Value::Object(ObjectId(0)), vec![cycle]).is_ok());
    }

    #[test]
    fn heap_bytes_count_strings_at_v8s_width_and_never_buffers() {
        let string = |text: &str| Structured::from(Value::String(text.into())).heap_bytes();
        assert_eq!(string("abcd"), 4, "ASCII is one byte a character");
        assert_eq!(string("\u{e9}\u{e9}"), 2, "Latin-1 is one byte a character, not UTF-8's two");
        assert_eq!(string("a\u{3b1}"), 4, "any wider character makes the string two bytes a unit");
        assert_eq!(string("\u{1f600}"), 4, "a surrogate pair is two units");
        let text = "x".repeat(1000);
        let nested = Structured::new(
            Value::Object(ObjectId(0)),
            vec![
                Object::Plain(vec![
                    ("key".into(), Value::String(text.as_str().into())),
                    ("b".into(), Value::Object(ObjectId(1))),
                ]),
                Object::Array {
                    length: 2,
                    elements: vec![(0, Value::String(text.as_str().into()))],
                    properties: vec![],
                },
                Object::ArrayBuffer(Buffer::from(Bytes::from(vec![0; 1 << 20]))),
            ],
        )
        .unwrap();
        let bytes = nested.heap_bytes();
        assert!((2003..2200).contains(&bytes), "both strings and the keys, and a little per object: {bytes}");
        assert_eq!(nested.buffer_bytes(), 1 << 20, "buffer contents are counted apart");
    }
}
