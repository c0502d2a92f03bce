//! Conversion between the value model and V8 values, in the caller's handle
//! scope: the structured clone algorithm's serialize (`from_v8`) and
//! deserialize (`to_v8`) halves.
//!
//! Both walk the value graph with an explicit work list instead of
//! recursion, so hostile nesting depth cannot overflow the host's stack.

use std::collections::HashMap;
use std::num::NonZeroI32;

use crate::value::SerializedRepr;
use crate::value::SharedStore;
use crate::{
    BigInt, Buffer, Error, ErrorKind, JsString, Object, ObjectId, Serialized, SharedBuffer, Structured, Value, ViewKind,
};

/// How [`from_v8`] copies a value.
#[derive(Debug, Default)]
pub struct CloneOptions<'s> {
    /// ArrayBuffers whose contents move instead of being copied; they are
    /// detached in the source. Anything else in the list is an error, as is
    /// a buffer listed twice or already detached.
    pub transfer_list: Vec<v8::Local<'s, v8::Value>>,
    /// The most bytes the copy may take outside the isolate, where its
    /// strings are materialised whole and one string referred to many
    /// times is copied each time: a few kilobytes inside can be gigabytes
    /// out. Past it, the copy fails with [`Error::OverLimit`] before it is
    /// made. `None`: no bound.
    pub max_bytes: Option<usize>,
}

unsafe extern "C" {
    // V8 API members the v8 crate does not bind, declared by their
    // Itanium-mangled names (the `v8` version is pinned exactly; the linker
    // fails loudly should one disappear). Under the Itanium C++ ABI a const
    // member function takes `this` as its first argument.
    #[link_name = "_ZNK2v813BooleanObject7ValueOfEv"]
    fn v8_boolean_object_value_of(this: *const v8::BooleanObject) -> bool;
    #[link_name = "_ZNK2v812NumberObject7ValueOfEv"]
    fn v8_number_object_value_of(this: *const v8::NumberObject) -> f64;
    #[link_name = "_ZNK2v86RegExp8GetFlagsEv"]
    fn v8_regexp_get_flags(this: *const v8::RegExp) -> i32;
}

/// The flags of a RegExp in the order of `RegExp.prototype.flags`, with
/// V8's bit for each.
const REGEXP_FLAGS: [(char, i32); 9] = [
    ('d', 1 << 7),
    ('g', 1 << 0),
    ('i', 1 << 1),
    ('l', 1 << 6),
    ('m', 1 << 2),
    ('s', 1 << 5),
    ('u', 1 << 4),
    ('v', 1 << 8),
    ('y', 1 << 3),
];

/// V8's flag bits for a RegExp's flags string.
pub(crate) fn regexp_flag_bits(flags: &str) -> Result<i32, Error> {
    let mut bits = 0;
    for c in flags.chars() {
        let (_, bit) = REGEXP_FLAGS
            .iter()
            .find(|(flag, _)| *flag == c)
            .ok_or_else(|| Error::Invalid(format!("unknown RegExp flag {c:?}")))?;
        bits |= bit;
    }
    Ok(bits)
}

/// The flags string for V8's flag bits, if every bit is known.
pub(crate) fn regexp_flags(bits: u32) -> Option<String> {
    let known = REGEXP_FLAGS.iter().fold(0u32, |all, (_, bit)| all | *bit as u32);
    (bits & !known == 0)
        .then(|| REGEXP_FLAGS.iter().filter(|(_, bit)| bits & *bit as u32 != 0).map(|(c, _)| *c).collect())
}

/// How a child was reached from its parent, for DataCloneError paths.
#[derive(Clone)]
enum Step {
    Key(JsString),
    Index(u32),
    MapKey(usize),
    MapValue(usize),
    SetValue(usize),
    Cause,
    Buffer,
}

/// The buffers of a transfer list with their backing stores.
type Transfers<'s> = Vec<(v8::Local<'s, v8::ArrayBuffer>, v8::SharedRef<v8::BackingStore>)>;

/// Property keys, with the numeric value of array indices.
type Keys<'s> = Vec<(v8::Local<'s, v8::String>, Option<u32>)>;

struct Serializer<'s, 'o> {
    objects: Vec<Object>,
    /// Objects seen so far, by identity hash: the first object with each
    /// hash; objects whose hash collides chain through `seen_next`.
    seen: HashMap<NonZeroI32, ObjectId>,
    /// Per object: its handle and the next object with the same hash.
    seen_objects: Vec<(v8::Local<'s, v8::Object>, Option<ObjectId>)>,
    /// Objects discovered but not yet read.
    pending: Vec<(ObjectId, v8::Local<'s, v8::Object>)>,
    /// How each object was first reached: its parent and the step from it.
    parents: Vec<Option<(ObjectId, Step)>>,
    transfer: &'o [(v8::Local<'s, v8::ArrayBuffer>, v8::SharedRef<v8::BackingStore>)],
    /// The constructor name of an object V8's serializer refused, if it
    /// refused one: objects the public API cannot tell apart from plain ones
    /// (a WeakRef, an Intl object, ...) are found by it.
    refused: Option<&'o str>,
    /// What the copy may still take ([`CloneOptions::max_bytes`]).
    budget: Budget,
}

/// Copies a V8 value out of its isolate, into the value model.
///
/// Getters run as the structured clone algorithm requires; if one throws,
/// the result is [`Error::Exception`] and the exception is left pending in
/// the caller's TryCatch. Values with no copy (functions, symbols, proxies,
/// weak collections, promises, host objects) give [`Error::DataClone`] with
/// the path where they were found. See [`serialize`] for how the copy is
/// made.
pub fn from_v8<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    value: v8::Local<'s, v8::Value>,
    options: CloneOptions<'s>,
) -> Result<Structured, Error> {
    // Most values that cross are primitives: read them directly.
    if let Ok(string) = v8::Local::<v8::String>::try_from(value) {
        let mut budget = Budget::new(options.max_bytes);
        return Ok(Structured::from(Value::String(read_string(scope, string, &mut budget)?)));
    }
    if let Some(primitive) = primitive_from_v8(value) {
        return Ok(Structured::from(primitive));
    }
    serialize(scope, value, options)?.into_structured()
}

/// The value of a primitive other than a string; `None` for strings,
/// objects and symbols.
fn primitive_from_v8(value: v8::Local<'_, v8::Value>) -> Option<Value> {
    if value.is_undefined() {
        Some(Value::Undefined)
    } else if value.is_null() {
        Some(Value::Null)
    } else if value.is_boolean() {
        Some(Value::Bool(value.is_true()))
    } else if let Ok(number) = v8::Local::<v8::Number>::try_from(value) {
        Some(Value::Number(number.value()))
    } else if let Ok(bigint) = v8::Local::<v8::BigInt>::try_from(value) {
        Some(Value::BigInt(read_bigint(bigint)))
    } else {
        None
    }
}

/// Copies a V8 value out of its isolate in the form that is cheapest to make
/// and to materialise in another isolate ([`deserialize`]); the value model
/// is read from it only when asked for ([`Serialized::to_structured`]).
/// Errors are those of [`from_v8`].
///
/// V8's own serializer does the work when it can (it walks the heap from
/// the inside, about ten times faster than the public API allows). When it
/// fails (an uncloneable value, a throwing getter, nesting deeper than its
/// recursion allows) the copy is made again by a walk through the public
/// API, which finds the path of an uncloneable value and handles any depth;
/// getters then run a second time. An ArrayBuffer or view at the root is
/// copied by the walk directly, whose copy of large contents is faster.
pub fn serialize<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    value: v8::Local<'s, v8::Value>,
    options: CloneOptions<'s>,
) -> Result<Serialized, Error> {
    let transfer = take_transfer_list(scope, &options.transfer_list)?;
    // The walk converts a primitive at once, and copies large buffer
    // contents faster than V8's serializer does.
    let native = if !value.is_object() || value.is_array_buffer() || value.is_array_buffer_view() {
        Native::Failed { refused: None }
    } else {
        serialize_natively(scope, value, &transfer, options.max_bytes)?
    };
    let copy = match native {
        Native::Copied(copy) => copy,
        Native::Failed { refused } => {
            let walked = walk(scope, value, &transfer, refused.as_deref(), options.max_bytes)?;
            if let Some(message) = refused {
                // V8 refused something the walk could not find: still an
                // error, never a silent `{}`.
                let described = message.strip_suffix(" could not be cloned.").unwrap_or(&message).to_owned();
                return Err(Error::DataClone { what: message, path: "value".into(), described });
            }
            Serialized::from(walked)
        }
    };
    // Detach only once the whole value was read: a failed clone leaves the
    // source untouched.
    for (buffer, _) in &transfer {
        buffer.detach(None);
    }
    Ok(copy)
}

/// The copy made by walking the value through the public API. `refused` is
/// what V8's serializer refused (its DataCloneError message), if anything.
fn walk<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    value: v8::Local<'s, v8::Value>,
    transfer: &Transfers<'s>,
    refused: Option<&str>,
    max_bytes: Option<usize>,
) -> Result<Structured, Error> {
    // V8 describes an object it refuses as `#<Constructor>` or
    // `[object Tag]`, followed by ` could not be cloned.` A `#<Object>` is
    // never refused for itself (it is a Proxy, say, which the walk finds by
    // its own checks).
    let refused = refused
        .and_then(|message| message.strip_suffix(" could not be cloned."))
        .filter(|what| (what.starts_with("#<") || what.starts_with("[object ")) && *what != "#<Object>");
    let mut serializer = Serializer {
        refused,
        objects: Vec::new(),
        seen: HashMap::new(),
        seen_objects: Vec::new(),
        pending: Vec::new(),
        parents: Vec::new(),
        transfer,
        budget: Budget::new(max_bytes),
    };
    let root = serializer.value(scope, value, None)?;
    while let Some((id, object)) = serializer.pending.pop() {
        let read = serializer.read(scope, id, object)?;
        serializer.objects[id.index()] = read;
    }
    Structured::new(root, serializer.objects)
}

/// What V8's serializer made of a value.
enum Native {
    Copied(Serialized),
    /// It failed (its exception is dropped: the walk finds the failure again
    /// and reports it), having refused a value with this message if that was
    /// why.
    Failed {
        refused: Option<String>,
    },
}

/// The copy made by V8's ValueSerializer. Termination is the one failure
/// passed on as it is.
fn serialize_natively<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    value: v8::Local<'s, v8::Value>,
    transfer: &Transfers<'s>,
    max_bytes: Option<usize>,
) -> Result<Native, Error> {
    let shared = std::cell::RefCell::new(Vec::new());
    let refused = std::cell::RefCell::new(None);
    let bytes = {
        v8::tc_scope!(let tc, scope);
        let delegate = SerializerDelegate { shared: &shared, refused: &refused };
        let serializer = v8::ValueSerializer::new(tc, Box::new(delegate));
        v8::ValueSerializerHelper::write_header(&serializer);
        for (id, (buffer, _)) in transfer.iter().enumerate() {
            v8::ValueSerializerHelper::transfer_array_buffer(&serializer, id as u32, *buffer);
        }
        let context = tc.get_current_context();
        let capped = crate::allocator::Capped::set(max_bytes.unwrap_or(usize::MAX));
        let written = serializer.write_value(context, value);
        let over_limit = capped.refused();
        drop(capped);
        if written != Some(true) {
            if tc.has_terminated() {
                tc.rethrow();
                return Err(Error::Exception);
            }
            // The walk would make the same copy without V8's compactness.
            if over_limit {
                return Err(Error::OverLimit { limit: max_bytes.unwrap_or(usize::MAX) });
            }
            return Ok(Native::Failed { refused: refused.borrow_mut().take() });
        }
        let bytes = serializer.release();
        if let Some(limit) = max_bytes.filter(|max| bytes.len() > *max) {
            return Err(Error::OverLimit { limit });
        }
        bytes
    };
    let shared: Vec<SharedBuffer> = shared
        .into_inner()
        .into_iter()
        .map(|store| SharedBuffer { store: std::sync::Arc::new(SharedStore(store, None)) })
        .collect();
    let transferred = transfer.iter().map(|(_, store)| Buffer::moved(store.clone())).collect();
    Ok(Native::Copied(Serialized::v8(bytes::Bytes::from(bytes), shared, transferred)))
}

/// Hands V8's serializer the memory of SharedArrayBuffers, by id, and turns
/// its refusals into exceptions.
struct SerializerDelegate<'a> {
    shared: &'a std::cell::RefCell<Vec<v8::SharedRef<v8::BackingStore>>>,
    /// The message of the first value V8 refused to clone.
    refused: &'a std::cell::RefCell<Option<String>>,
}

impl v8::ValueSerializerImpl for SerializerDelegate<'_> {
    fn throw_data_clone_error<'s>(&self, scope: &mut v8::PinScope<'s, '_>, message: v8::Local<'s, v8::String>) {
        let text = message.to_rust_string_lossy(scope);
        // Only refusals of a value: running out of memory for the bytes is
        // not the value's fault, and the walk may well succeed.
        if text.ends_with("could not be cloned.") {
            self.refused.borrow_mut().get_or_insert(text);
        }
        let error = v8::Exception::error(scope, message);
        scope.throw_exception(error);
    }

    fn get_shared_array_buffer_id<'s>(
        &self,
        _scope: &mut v8::PinScope<'s, '_>,
        shared_array_buffer: v8::Local<'s, v8::SharedArrayBuffer>,
    ) -> Option<u32> {
        let mut shared = self.shared.borrow_mut();
        let store = shared_array_buffer.get_backing_store();
        let id = match shared.iter().position(|known| known.data() == store.data()) {
            Some(id) => id,
            None => {
                shared.push(store);
                shared.len() - 1
            }
        };
        u32::try_from(id).ok()
    }
}

/// Hands V8's deserializer the SharedArrayBuffers of a copy, by id.
struct DeserializerDelegate<'a> {
    shared: Vec<&'a SharedBuffer>,
}

impl v8::ValueDeserializerImpl for DeserializerDelegate<'_> {
    fn get_shared_array_buffer_from_id<'s>(
        &self,
        scope: &mut v8::PinScope<'s, '_>,
        transfer_id: u32,
    ) -> Option<v8::Local<'s, v8::SharedArrayBuffer>> {
        let shared = self.shared.get(transfer_id as usize)?;
        Some(v8::SharedArrayBuffer::with_backing_store(scope, &shared.store.0))
    }
}

/// Checks a transfer list and takes each buffer's backing store.
fn take_transfer_list<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    list: &[v8::Local<'s, v8::Value>],
) -> Result<Transfers<'s>, Error> {
    let mut taken: Transfers<'s> = Vec::new();
    for item in list {
        let Ok(buffer) = v8::Local::<v8::ArrayBuffer>::try_from(*item) else {
            return Err(Error::Transfer(format!(
                "Only ArrayBuffers can be transferred, not {}",
                describe(scope, *item)
            )));
        };
        if buffer.was_detached() {
            return Err(Error::Transfer("An ArrayBuffer in the transfer list is already detached".into()));
        }
        if !buffer.is_detachable() {
            return Err(Error::Transfer("An ArrayBuffer in the transfer list cannot be detached".into()));
        }
        if taken.iter().any(|(seen, _)| seen.strict_equals(buffer.into())) {
            return Err(Error::Transfer("An ArrayBuffer is listed twice in the transfer list".into()));
        }
        taken.push((buffer, buffer.get_backing_store()));
    }
    let _ = scope;
    Ok(taken)
}

impl<'s> Serializer<'s, '_> {
    /// Converts one value: primitives directly, objects by identity.
    fn value(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        value: v8::Local<'s, v8::Value>,
        parent: Option<(ObjectId, Step)>,
    ) -> Result<Value, Error> {
        if value.is_undefined() {
            return Ok(Value::Undefined);
        }
        if value.is_null() {
            return Ok(Value::Null);
        }
        if value.is_boolean() {
            return Ok(Value::Bool(value.is_true()));
        }
        if let Ok(number) = v8::Local::<v8::Number>::try_from(value) {
            return Ok(Value::Number(number.value()));
        }
        if let Ok(string) = v8::Local::<v8::String>::try_from(value) {
            return Ok(Value::String(read_string(scope, string, &mut self.budget)?));
        }
        if let Ok(bigint) = v8::Local::<v8::BigInt>::try_from(value) {
            return Ok(Value::BigInt(read_bigint(bigint)));
        }
        let Ok(object) = v8::Local::<v8::Object>::try_from(value) else {
            return Err(self.clone_error(scope, describe(scope, value), value, parent));
        };
        let hash = object.get_identity_hash();
        let first = self.seen.get(&hash).copied();
        let mut candidate = first;
        while let Some(id) = candidate {
            let (seen, next) = self.seen_objects[id.index()];
            if seen == object {
                return Ok(Value::Object(id));
            }
            candidate = next;
        }
        if let Some(what) = uncloneable(object) {
            return Err(self.clone_error(scope, what.to_owned(), value, parent));
        }
        let id = ObjectId(
            u32::try_from(self.objects.len())
                .map_err(|_| Error::Invalid("more than 2^32 objects in one value".into()))?,
        );
        self.seen.insert(hash, id);
        self.seen_objects.push((object, first));
        // A placeholder until the object is read from the work list.
        self.objects.push(Object::Plain(Vec::new()));
        self.parents.push(parent);
        self.pending.push((id, object));
        Ok(Value::Object(id))
    }

    /// Reads an object's contents, discovering the objects it holds.
    fn read(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        id: ObjectId,
        object: v8::Local<'s, v8::Object>,
    ) -> Result<Object, Error> {
        let value: v8::Local<'s, v8::Value> = object.into();
        if let Ok(array) = v8::Local::<v8::Array>::try_from(value) {
            let length = array.length();
            let mut elements = Vec::new();
            let mut properties = Vec::new();
            for (key, key_value) in own_enumerable_keys(scope, object, v8::KeyConversionMode::KeepNumbers)? {
                let step = match key_value {
                    Some(index) => Step::Index(index),
                    None => Step::Key(read_string(scope, key, &mut self.budget)?),
                };
                let item = object.get(scope, key.into()).ok_or(Error::Exception)?;
                let item = self.value(scope, item, Some((id, step.clone())))?;
                match step {
                    Step::Index(index) if index < length => elements.push((index, item)),
                    Step::Index(index) => properties.push((JsString::from(index.to_string()), item)),
                    Step::Key(key) => properties.push((key, item)),
                    _ => {}
                }
            }
            return Ok(Object::Array { length, elements, properties });
        }
        if let Ok(date) = v8::Local::<v8::Date>::try_from(value) {
            return Ok(Object::Date(date.value_of()));
        }
        if let Ok(regexp) = v8::Local::<v8::RegExp>::try_from(value) {
            let source = read_string(scope, regexp.get_source(scope), &mut self.budget)?;
            // SAFETY: `regexp` is a live handle to a JSRegExp, and GetFlags
            // only reads the object.
            let bits = unsafe { v8_regexp_get_flags(&*regexp) };
            let flags =
                regexp_flags(bits as u32).ok_or_else(|| Error::Invalid(format!("unknown RegExp flags {bits:#x}")))?;
            return Ok(Object::RegExp { source, flags });
        }
        if value.is_boolean_object() {
            let boxed = value.cast::<v8::BooleanObject>();
            // SAFETY: `boxed` is a live handle to a Boolean wrapper object
            // (checked above); ValueOf reads its internal slot.
            return Ok(Object::BooleanObject(unsafe { v8_boolean_object_value_of(&*boxed) }));
        }
        if value.is_number_object() {
            let boxed = value.cast::<v8::NumberObject>();
            // SAFETY: as for Boolean: a live handle to a Number wrapper.
            return Ok(Object::NumberObject(unsafe { v8_number_object_value_of(&*boxed) }));
        }
        if value.is_string_object() {
            let string = value.to_string(scope).ok_or(Error::Exception)?;
            return Ok(Object::StringObject(read_string(scope, string, &mut self.budget)?));
        }
        if value.is_big_int_object() {
            let bigint = value.to_big_int(scope).ok_or(Error::Exception)?;
            return Ok(Object::BigIntObject(read_bigint(bigint)));
        }
        if let Ok(map) = v8::Local::<v8::Map>::try_from(value) {
            let flat = map.as_array(scope);
            let mut entries = Vec::with_capacity(flat.length() as usize / 2);
            for i in 0..flat.length() / 2 {
                let key = flat.get_index(scope, 2 * i).ok_or(Error::Exception)?;
                let item = flat.get_index(scope, 2 * i + 1).ok_or(Error::Exception)?;
                let n = i as usize;
                let key = self.value(scope, key, Some((id, Step::MapKey(n))))?;
                let item = self.value(scope, item, Some((id, Step::MapValue(n))))?;
                entries.push((key, item));
            }
            return Ok(Object::Map(entries));
        }
        if let Ok(set) = v8::Local::<v8::Set>::try_from(value) {
            let flat = set.as_array(scope);
            let mut values = Vec::with_capacity(flat.length() as usize);
            for i in 0..flat.length() {
                let item = flat.get_index(scope, i).ok_or(Error::Exception)?;
                values.push(self.value(scope, item, Some((id, Step::SetValue(i as usize))))?);
            }
            return Ok(Object::Set(values));
        }
        if let Ok(buffer) = v8::Local::<v8::ArrayBuffer>::try_from(value) {
            if let Some((_, store)) = self.transfer.iter().find(|(listed, _)| *listed == buffer) {
                return Ok(Object::ArrayBuffer(Buffer::moved(store.clone())));
            }
            if buffer.was_detached() {
                let parent = self.parents[id.index()].clone();
                return Err(self.clone_error(scope, "A detached ArrayBuffer".into(), value, parent));
            }
            let store = buffer.get_backing_store();
            let bytes = match store.data() {
                Some(data) => {
                    // SAFETY: the store holds `byte_length` initialised bytes
                    // and no JavaScript runs in this isolate while they are
                    // copied.
                    let contents =
                        unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), store.byte_length()) };
                    crate::large_copy::copy_to_bytes(contents)
                }
                None => bytes::Bytes::new(),
            };
            return Ok(Object::ArrayBuffer(Buffer::from(bytes)));
        }
        if let Ok(shared) = v8::Local::<v8::SharedArrayBuffer>::try_from(value) {
            let store = shared.get_backing_store();
            return Ok(Object::SharedArrayBuffer(SharedBuffer {
                store: std::sync::Arc::new(SharedStore(store, None)),
            }));
        }
        if let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(value) {
            let Some(kind) = view_kind(value) else {
                return Err(self.clone_error(scope, "an unknown view".into(), value, None));
            };
            let Some(buffer) = view.buffer(scope) else {
                let parent = self.parents[id.index()].clone();
                return Err(self.clone_error(scope, "a view without a buffer".into(), value, parent));
            };
            let buffer = self.value(scope, buffer.into(), Some((id, Step::Buffer)))?;
            let Value::Object(buffer) = buffer else {
                return Err(Error::Invalid("a view's buffer is not an object".into()));
            };
            let length = match v8::Local::<v8::TypedArray>::try_from(value) {
                Ok(typed) => typed.length(),
                Err(_) => view.byte_length(),
            };
            return Ok(Object::View { kind, buffer, byte_offset: view.byte_offset(), length });
        }
        if value.is_native_error() {
            let name =
                get_string(scope, object, "name", &mut self.budget)?.and_then(|s| s.as_str().map(ErrorKind::from_name));
            let message = own_string(scope, object, "message", &mut self.budget)?;
            let stack = get_string(scope, object, "stack", &mut self.budget)?;
            let cause_key = v8::String::new(scope, "cause").ok_or(Error::TooLarge { what: "string" })?;
            let cause = if object.has_own_property(scope, cause_key.into()).ok_or(Error::Exception)? {
                let cause = object.get(scope, cause_key.into()).ok_or(Error::Exception)?;
                Some(self.value(scope, cause, Some((id, Step::Cause)))?)
            } else {
                None
            };
            return Ok(Object::Error { kind: name.unwrap_or(ErrorKind::Error), message, stack, cause });
        }
        if let Some(refused) = self.refused
            && describes(scope, object, refused)
        {
            let parent = self.parents[id.index()].clone();
            return Err(self.clone_error(scope, refused.to_owned(), value, parent));
        }
        // Plain objects need no index numbers, and string keys let V8 use its
        // enum cache instead of collecting keys one by one.
        let keys = own_enumerable_keys(scope, object, v8::KeyConversionMode::ConvertToString)?;
        let mut properties = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            let name = read_string(scope, key, &mut self.budget)?;
            let item = object.get(scope, key.into()).ok_or(Error::Exception)?;
            let item = self.value(scope, item, Some((id, Step::Key(name.clone()))))?;
            properties.push((name, item));
        }
        Ok(Object::Plain(properties))
    }

    /// The error for `value`, which has no copy (`what` names it), reached
    /// from `parent`.
    fn clone_error(
        &self,
        scope: &mut v8::PinScope<'_, '_>,
        what: String,
        value: v8::Local<'_, v8::Value>,
        parent: Option<(ObjectId, Step)>,
    ) -> Error {
        // V8's own description, which runs none of the value's code.
        let described = value.to_detail_string(scope).map(|text| text.to_rust_string_lossy(scope));
        let mut steps = Vec::new();
        let mut at = parent;
        // Each object is reached from an earlier one, so this walk ends.
        while let Some((id, step)) = at {
            steps.push(step);
            at = self.parents.get(id.index()).cloned().flatten();
        }
        let mut path = String::from("value");
        for step in steps.iter().rev() {
            match step {
                Step::Key(key) => {
                    let key = key.to_string_lossy();
                    if !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                        path.push('.');
                        path.push_str(&key);
                    } else {
                        path.push_str(&format!("[{key:?}]"));
                    }
                }
                Step::Index(i) => path.push_str(&format!("[{i}]")),
                Step::MapKey(n) => path.push_str(&format!(".<map key {n}>")),
                Step::MapValue(n) => path.push_str(&format!(".<map value {n}>")),
                Step::SetValue(n) => path.push_str(&format!(".<set value {n}>")),
                Step::Cause => path.push_str(".cause"),
                Step::Buffer => path.push_str(".buffer"),
            }
        }
        let described = described.unwrap_or_else(|| what.clone());
        Error::DataClone { what, path, described }
    }
}

/// Whether `description`, as V8 words a value it refuses to clone, fits
/// this object.
fn describes(scope: &mut v8::PinScope<'_, '_>, object: v8::Local<'_, v8::Object>, description: &str) -> bool {
    match description.strip_prefix("#<").and_then(|rest| rest.strip_suffix('>')) {
        Some(constructor) => object.get_constructor_name().to_rust_string_lossy(scope) == constructor,
        None => object_tag(scope, object).is_some_and(|tag| tag == description),
    }
}

/// `Object.prototype.toString` of an object (`[object Array Iterator]`),
/// through the context's own function: this serves error messages only.
fn object_tag(scope: &mut v8::PinScope<'_, '_>, object: v8::Local<'_, v8::Object>) -> Option<String> {
    let prototype = v8::Object::new(scope).get_prototype(scope)?.try_cast::<v8::Object>().ok()?;
    let name = v8::String::new(scope, "toString")?;
    let to_string = prototype.get(scope, name.into())?.try_cast::<v8::Function>().ok()?;
    let tag = to_string.call(scope, object.into(), &[])?;
    Some(tag.to_rust_string_lossy(scope))
}

/// Why an object has no structured clone, if it has none.
fn uncloneable(object: v8::Local<'_, v8::Object>) -> Option<&'static str> {
    let value: v8::Local<'_, v8::Value> = object.into();
    let reason = if value.is_function() {
        "function"
    } else if value.is_proxy() {
        "Proxy"
    } else if value.is_symbol_object() {
        "Symbol object"
    } else if value.is_weak_map() || value.is_weak_set() {
        "weak collection"
    } else if value.is_promise() {
        "Promise"
    } else if value.is_generator_object() || value.is_map_iterator() || value.is_set_iterator() {
        "iterator"
    } else if value.is_module_namespace_object() {
        "module namespace"
    } else if value.is_wasm_module_object() || value.is_wasm_memory_object() {
        "WebAssembly object"
    } else if value.is_external() {
        "host object"
    } else if object.internal_field_count() > 0
        && !(value.is_array_buffer() || value.is_shared_array_buffer() || value.is_array_buffer_view())
    {
        // Buffers and views carry embedder fields of V8's own; any other
        // object with them holds private host state.
        "host object"
    } else {
        return None;
    };
    Some(reason)
}

fn view_kind(value: v8::Local<'_, v8::Value>) -> Option<ViewKind> {
    Some(if value.is_data_view() {
        ViewKind::DataView
    } else if value.is_int8_array() {
        ViewKind::Int8
    } else if value.is_uint8_array() {
        ViewKind::Uint8
    } else if value.is_uint8_clamped_array() {
        ViewKind::Uint8Clamped
    } else if value.is_int16_array() {
        ViewKind::Int16
    } else if value.is_uint16_array() {
        ViewKind::Uint16
    } else if value.is_int32_array() {
        ViewKind::Int32
    } else if value.is_uint32_array() {
        ViewKind::Uint32
    } else if value.is_float16_array() {
        ViewKind::Float16
    } else if value.is_float32_array() {
        ViewKind::Float32
    } else if value.is_float64_array() {
        ViewKind::Float64
    } else if value.is_big_int64_array() {
        ViewKind::BigInt64
    } else if value.is_big_uint64_array() {
        ViewKind::BigUint64
    } else {
        return None;
    })
}

/// Own enumerable string keys in property order; with `KeepNumbers`, array
/// indices come back with their numeric value.
fn own_enumerable_keys<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    object: v8::Local<'s, v8::Object>,
    key_conversion: v8::KeyConversionMode,
) -> Result<Keys<'s>, Error> {
    let args = v8::GetPropertyNamesArgs {
        mode: v8::KeyCollectionMode::OwnOnly,
        property_filter: v8::PropertyFilter::ONLY_ENUMERABLE | v8::PropertyFilter::SKIP_SYMBOLS,
        index_filter: v8::IndexFilter::IncludeIndices,
        key_conversion,
    };
    let names = object.get_own_property_names(scope, args).ok_or(Error::Exception)?;
    let mut keys = Vec::with_capacity(names.length() as usize);
    for i in 0..names.length() {
        let name = names.get_index(scope, i).ok_or(Error::Exception)?;
        let (key, index) = match v8::Local::<v8::String>::try_from(name) {
            Ok(key) => (key, None),
            // An array index, kept as a number by `KeepNumbers`.
            Err(_) => (name.to_string(scope).ok_or(Error::Exception)?, name.uint32_value(scope)),
        };
        keys.push((key, index));
    }
    Ok(keys)
}

fn get_string(
    scope: &mut v8::PinScope<'_, '_>,
    object: v8::Local<'_, v8::Object>,
    key: &str,
    budget: &mut Budget,
) -> Result<Option<JsString>, Error> {
    let key = v8::String::new(scope, key).ok_or(Error::TooLarge { what: "string" })?;
    let value = object.get(scope, key.into()).ok_or(Error::Exception)?;
    v8::Local::<v8::String>::try_from(value).ok().map(|s| read_string(scope, s, budget)).transpose()
}

fn own_string(
    scope: &mut v8::PinScope<'_, '_>,
    object: v8::Local<'_, v8::Object>,
    key: &str,
    budget: &mut Budget,
) -> Result<Option<JsString>, Error> {
    let name = v8::String::new(scope, key).ok_or(Error::TooLarge { what: "string" })?;
    if !object.has_own_property(scope, name.into()).ok_or(Error::Exception)? {
        return Ok(None);
    }
    get_string(scope, object, key, budget)
}

/// What a copy may still take outside its isolate
/// ([`CloneOptions::max_bytes`]).
struct Budget {
    left: usize,
    max: usize,
}

impl Budget {
    fn new(max_bytes: Option<usize>) -> Budget {
        let max = max_bytes.unwrap_or(usize::MAX);
        Budget { left: max, max }
    }

    fn charge(&mut self, bytes: usize) -> Result<(), Error> {
        self.left = self.left.checked_sub(bytes).ok_or(Error::OverLimit { limit: self.max })?;
        Ok(())
    }
}

/// The most bytes `string` takes copied out of its isolate, as the bound on
/// copies ([`CloneOptions::max_bytes`]) counts it: one a character when all
/// are one-byte, else up to three (UTF-8) a UTF-16 unit. Read without
/// flattening it: a rope of 2^29 characters takes a few bytes inside.
pub fn copied_string_bytes(string: v8::Local<'_, v8::String>) -> usize {
    if string.contains_only_onebyte() { string.length() } else { string.length().saturating_mul(3) }
}

/// A string, charged to `budget`: it fails with [`Error::OverLimit`]
/// before a string that does not fit is read (a rope of 2^29 characters
/// takes a few bytes of its heap).
fn read_string(
    scope: &v8::PinScope<'_, '_>,
    string: v8::Local<'_, v8::String>,
    budget: &mut Budget,
) -> Result<JsString, Error> {
    budget.charge(copied_string_bytes(string))?;
    if string.contains_only_onebyte() {
        return Ok(JsString::Utf8(string.to_rust_string_lossy(scope)));
    }
    let mut units = vec![0u16; string.length()];
    string.write_v2(scope, 0, &mut units, v8::WriteFlags::empty());
    Ok(JsString::from_utf16(units))
}

fn read_bigint(bigint: v8::Local<'_, v8::BigInt>) -> BigInt {
    let mut words = vec![0u64; bigint.word_count()];
    let (negative, words) = bigint.to_words_array(&mut words);
    BigInt::from_words(negative, words.to_vec())
}

/// A short description of a value for error messages.
fn describe(scope: &v8::PinScope<'_, '_>, value: v8::Local<'_, v8::Value>) -> String {
    if value.is_function() {
        return "function".to_owned();
    }
    if value.is_symbol() {
        return "Symbol".to_owned();
    }
    match v8::Local::<v8::Object>::try_from(value) {
        Ok(object) => format!("#<{}>", object.get_constructor_name().to_rust_string_lossy(scope)),
        Err(_) => value.type_of(scope).to_rust_string_lossy(scope),
    }
}

/// Materialises a copy in the scope's isolate: V8's deserializer reads the
/// bytes V8's serializer wrote, without the value model in between. Buffer
/// contents are copied; see [`deserialize_moving`] for handing moved
/// buffers over.
pub fn deserialize<'s>(scope: &mut v8::PinScope<'s, '_>, copy: &Serialized) -> Result<v8::Local<'s, v8::Value>, Error> {
    match copy.repr() {
        SerializedRepr::Graph(graph) => to_v8(scope, graph),
        SerializedRepr::V8 { bytes, shared, transferred } => {
            let buffers = transferred.iter().map(|buffer| array_buffer(scope, buffer.clone())).collect();
            match deserialize_bytes(scope, bytes, shared, buffers)? {
                Some(value) => Ok(value),
                None => to_v8(scope, &copy.to_structured()?),
            }
        }
    }
}

/// Like [`deserialize`], but the memory of ArrayBuffers that were
/// transferred out of an isolate (and are held by nothing else) moves into
/// this isolate without a copy.
pub fn deserialize_moving<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    copy: Serialized,
) -> Result<v8::Local<'s, v8::Value>, Error> {
    let graph = match copy.into_repr() {
        SerializedRepr::Graph(graph) => graph,
        SerializedRepr::V8 { bytes, shared, transferred } => {
            let buffers: Vec<_> = transferred.into_iter().map(|buffer| array_buffer(scope, buffer)).collect();
            if let Some(value) = deserialize_bytes(scope, &bytes, &shared, buffers.clone())? {
                return Ok(value);
            }
            // The buffers' memory moved into the ArrayBuffers made above,
            // which nothing else refers to: the build moves it on from them.
            let transferred = buffers.iter().map(|buffer| Buffer::moved(buffer.get_backing_store())).collect();
            Serialized::v8(bytes, shared, transferred).into_structured()?
        }
    };
    to_v8_moving(scope, graph)
}

/// Runs V8's deserializer over bytes its serializer wrote (or that
/// `v8_format::write` made), handing it `buffers` by transfer id; `None`
/// where it fails for any reason but termination.
fn deserialize_bytes<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    bytes: &[u8],
    shared: &[SharedBuffer],
    buffers: Vec<v8::Local<'s, v8::ArrayBuffer>>,
) -> Result<Option<v8::Local<'s, v8::Value>>, Error> {
    v8::tc_scope!(let tc, scope);
    let delegate = DeserializerDelegate { shared: shared.iter().collect() };
    let deserializer = v8::ValueDeserializer::new(tc, Box::new(delegate), bytes);
    for (transfer_id, buffer) in buffers.into_iter().enumerate() {
        v8::ValueDeserializerHelper::transfer_array_buffer(&deserializer, transfer_id as u32, buffer);
    }
    let context = tc.get_current_context();
    if v8::ValueDeserializerHelper::read_header(&deserializer, context) != Some(true) {
        return Ok(None);
    }
    match deserializer.read_value(context) {
        Some(value) => Ok(Some(value)),
        None if tc.has_terminated() => {
            tc.rethrow();
            Err(Error::Exception)
        }
        None => Ok(None),
    }
}

/// Creates the V8 value for a copy in the scope's isolate. Buffer contents
/// are copied; see [`to_v8_moving`] for handing moved buffers over.
pub fn to_v8<'s>(scope: &mut v8::PinScope<'s, '_>, value: &Structured) -> Result<v8::Local<'s, v8::Value>, Error> {
    let buffers = value
        .objects()
        .iter()
        .map(|o| match o {
            Object::ArrayBuffer(buffer) => Some(array_buffer(scope, buffer.clone())),
            _ => None,
        })
        .collect();
    materialise(scope, value.root(), value.objects(), buffers)
}

/// Like [`to_v8`], but the memory of ArrayBuffers that were transferred out
/// of an isolate (and are held by nothing else) moves into this isolate
/// without a copy.
pub fn to_v8_moving<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    value: Structured,
) -> Result<v8::Local<'s, v8::Value>, Error> {
    let (root, mut objects) = value.into_parts();
    let buffers = objects
        .iter_mut()
        .map(|o| match o {
            Object::ArrayBuffer(buffer) => {
                Some(array_buffer(scope, std::mem::replace(buffer, Buffer::from(Vec::new()))))
            }
            _ => None,
        })
        .collect();
    materialise(scope, &root, &objects, buffers)
}

/// Makes the value with V8's deserializer, from bytes written for it, or by
/// building it object by object where that fails (nesting deeper than the
/// deserializer's recursion allows, an error whose cause refers back to it).
/// The ArrayBuffers (`buffers`, by object) are made already; both ways use
/// them.
fn materialise<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    root: &Value,
    objects: &[Object],
    buffers: Vec<Option<v8::Local<'s, v8::ArrayBuffer>>>,
) -> Result<v8::Local<'s, v8::Value>, Error> {
    if root.is_primitive() {
        return primitive_value(scope, root);
    }
    if let Some(value) = deserialize_natively(scope, root, objects, &buffers)? {
        return Ok(value);
    }
    build(scope, root, objects, buffers)
}

fn deserialize_natively<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    root: &Value,
    objects: &[Object],
    buffers: &[Option<v8::Local<'s, v8::ArrayBuffer>>],
) -> Result<Option<v8::Local<'s, v8::Value>>, Error> {
    let Ok(written) = crate::v8_format::write(root, objects) else { return Ok(None) };
    let shared = written
        .shared
        .iter()
        .filter_map(|id| match objects.get(id.index()) {
            Some(Object::SharedArrayBuffer(shared)) => Some(shared.clone()),
            _ => None,
        })
        .collect::<Vec<_>>();
    let transferred = written.array_buffers.iter().map(|id| buffers.get(id.index()).copied().flatten());
    let Some(transferred) = transferred.collect::<Option<Vec<_>>>() else { return Ok(None) };
    deserialize_bytes(scope, &written.bytes, &shared, transferred)
}

/// Builds the graph without recursion. Buffers and views come first. The
/// other objects are built in reverse discovery order, so that in the usual
/// tree-shaped value an object's children exist before it does and it can be
/// created whole in one V8 call; objects that refer back to one not yet built
/// (cycles, shared references) start as empty shells filled in at the end.
fn build<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    root: &Value,
    objects: &[Object],
    buffers: Vec<Option<v8::Local<'s, v8::ArrayBuffer>>>,
) -> Result<v8::Local<'s, v8::Value>, Error> {
    let mut created: Vec<Option<v8::Local<'s, v8::Value>>> = vec![None; objects.len()];
    for ((slot, object), buffer) in created.iter_mut().zip(objects).zip(buffers) {
        match (object, buffer) {
            (Object::ArrayBuffer(_), Some(buffer)) => *slot = Some(buffer.into()),
            (Object::SharedArrayBuffer(shared), _) => {
                *slot = Some(v8::SharedArrayBuffer::with_backing_store(scope, &shared.store.0).into());
            }
            _ => {}
        }
    }
    for (index, object) in objects.iter().enumerate() {
        if let Object::View { kind, buffer, byte_offset, length } = object {
            let buffer = created
                .get(buffer.index())
                .copied()
                .flatten()
                .ok_or_else(|| Error::Invalid("view over a missing buffer".into()))?;
            created[index] = Some(view(scope, *kind, buffer, *byte_offset, *length)?);
        }
    }
    let mut keys = KeyCache::default();
    let object_prototype = v8::Object::new(scope).get_prototype(scope).ok_or(Error::Exception)?;
    let mut shells = Vec::new();
    for index in (0..objects.len()).rev() {
        if created[index].is_some() {
            continue;
        }
        let object = &objects[index];
        let whole = match object {
            Object::Plain(properties) if properties.len() <= FAST_PROPERTIES => {
                let values = ready(scope, &created, properties.iter().map(|(_, v)| v))?;
                match values {
                    Some(values) => {
                        let names = properties
                            .iter()
                            .map(|(name, _)| keys.get(scope, name).map(Into::into))
                            .collect::<Result<Vec<v8::Local<'s, v8::Name>>, Error>>()?;
                        let unique = names.iter().enumerate().all(|(i, a)| names[..i].iter().all(|b| a != b));
                        unique.then(|| {
                            v8::Object::with_prototype_and_properties(scope, object_prototype, &names, &values).into()
                        })
                    }
                    None => None,
                }
            }
            Object::Array { length, elements, properties }
                if properties.is_empty()
                    && elements.len() == *length as usize
                    && elements.iter().enumerate().all(|(i, (at, _))| *at as usize == i) =>
            {
                ready(scope, &created, elements.iter().map(|(_, v)| v))?
                    .map(|values| v8::Array::new_with_elements(scope, &values).into())
            }
            _ => None,
        };
        created[index] = Some(match whole {
            Some(whole) => whole,
            None => {
                shells.push(index);
                shell(scope, object)?
            }
        });
    }
    let created: Vec<v8::Local<'s, v8::Value>> =
        created.into_iter().map(|c| c.unwrap_or_else(|| v8::undefined(scope).into())).collect();
    for index in shells {
        fill(scope, &mut keys, &created, created[index], &objects[index])?;
    }
    value(scope, &created, root)
}

/// Objects with more properties than this are filled one property at a time
/// (checking a whole object's keys for duplicates is quadratic).
const FAST_PROPERTIES: usize = 16;

/// The values, if every object among them has been built already.
fn ready<'s, 'v>(
    scope: &v8::PinScope<'s, '_>,
    created: &[Option<v8::Local<'s, v8::Value>>],
    values: impl Iterator<Item = &'v Value>,
) -> Result<Option<Vec<v8::Local<'s, v8::Value>>>, Error> {
    let mut out = Vec::new();
    for item in values {
        let local = match item {
            Value::Object(id) => match created.get(id.index()) {
                Some(Some(local)) => *local,
                Some(None) => return Ok(None),
                None => return Err(Error::Invalid(format!("object #{} does not exist", id.0))),
            },
            primitive => primitive_value(scope, primitive)?,
        };
        out.push(local);
    }
    Ok(Some(out))
}

/// Property names as internalized V8 strings, made once per distinct name.
#[derive(Default)]
struct KeyCache<'s, 'v> {
    names: HashMap<&'v JsString, v8::Local<'s, v8::String>>,
}

impl<'s, 'v> KeyCache<'s, 'v> {
    fn get(&mut self, scope: &v8::PinScope<'s, '_>, name: &'v JsString) -> Result<v8::Local<'s, v8::String>, Error> {
        if let Some(local) = self.names.get(name) {
            return Ok(*local);
        }
        let local = match name {
            JsString::Utf8(s) => v8::String::new_from_utf8(scope, s.as_bytes(), v8::NewStringType::Internalized),
            JsString::Utf16(units) => v8::String::new_from_two_byte(scope, units, v8::NewStringType::Internalized),
        }
        .ok_or(Error::TooLarge { what: "string" })?;
        self.names.insert(name, local);
        Ok(local)
    }
}

fn primitive_value<'s>(scope: &v8::PinScope<'s, '_>, value: &Value) -> Result<v8::Local<'s, v8::Value>, Error> {
    Ok(match value {
        Value::Undefined => v8::undefined(scope).into(),
        Value::Null => v8::null(scope).into(),
        Value::Bool(b) => v8::Boolean::new(scope, *b).into(),
        Value::Number(n) => v8::Number::new(scope, *n).into(),
        Value::String(s) => new_string(scope, s)?.into(),
        Value::BigInt(b) => new_bigint(scope, b)?.into(),
        Value::Object(id) => return Err(Error::Invalid(format!("object #{} where a primitive was expected", id.0))),
    })
}

fn value<'s>(
    scope: &v8::PinScope<'s, '_>,
    created: &[v8::Local<'s, v8::Value>],
    value: &Value,
) -> Result<v8::Local<'s, v8::Value>, Error> {
    match value {
        Value::Object(id) => {
            created.get(id.index()).copied().ok_or_else(|| Error::Invalid(format!("object #{} does not exist", id.0)))
        }
        primitive => primitive_value(scope, primitive),
    }
}

fn key<'s>(scope: &v8::PinScope<'s, '_>, name: &str) -> Result<v8::Local<'s, v8::Value>, Error> {
    Ok(v8::String::new(scope, name).ok_or(Error::TooLarge { what: "string" })?.into())
}

fn shell<'s>(scope: &mut v8::PinScope<'s, '_>, object: &Object) -> Result<v8::Local<'s, v8::Value>, Error> {
    Ok(match object {
        Object::Plain(_) => v8::Object::new(scope).into(),
        Object::Array { length, .. } => {
            let array = v8::Array::new(scope, 0);
            let length = v8::Number::new(scope, f64::from(*length));
            let length_key = key(scope, "length")?;
            array.set(scope, length_key, length.into()).ok_or(Error::Exception)?;
            array.into()
        }
        Object::Date(time) => v8::Date::new(scope, *time).ok_or(Error::Exception)?.into(),
        Object::RegExp { source, flags } => {
            let bits = regexp_flag_bits(flags)?;
            let source = new_string(scope, source)?;
            v8::RegExp::new(scope, source, v8::RegExpCreationFlags::from_bits_truncate(bits))
                .ok_or(Error::Exception)?
                .into()
        }
        // ToObject on a primitive makes its wrapper (with this context's
        // prototypes), which is what structured clone creates.
        Object::BooleanObject(b) => wrap(scope, v8::Boolean::new(scope, *b).into())?,
        Object::NumberObject(n) => wrap(scope, v8::Number::new(scope, *n).into())?,
        Object::StringObject(s) => wrap(scope, new_string(scope, s)?.into())?,
        Object::BigIntObject(b) => wrap(scope, new_bigint(scope, b)?.into())?,
        Object::Map(_) => v8::Map::new(scope).into(),
        Object::Set(_) => v8::Set::new(scope).into(),
        // Buffers are built by the caller; views once their buffer exists.
        Object::ArrayBuffer(_) | Object::View { .. } => v8::undefined(scope).into(),
        Object::SharedArrayBuffer(shared) => v8::SharedArrayBuffer::with_backing_store(scope, &shared.store.0).into(),
        Object::Error { kind, message, stack, .. } => error(scope, *kind, message.as_ref(), stack.as_ref())?,
    })
}

fn wrap<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    primitive: v8::Local<'s, v8::Value>,
) -> Result<v8::Local<'s, v8::Value>, Error> {
    Ok(primitive.to_object(scope).ok_or(Error::Exception)?.into())
}

fn error<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    kind: ErrorKind,
    message: Option<&JsString>,
    stack: Option<&JsString>,
) -> Result<v8::Local<'s, v8::Value>, Error> {
    let text = new_string(scope, message.unwrap_or(&JsString::from("")))?;
    let error = match kind {
        ErrorKind::RangeError => v8::Exception::range_error(scope, text),
        ErrorKind::ReferenceError => v8::Exception::reference_error(scope, text),
        ErrorKind::SyntaxError => v8::Exception::syntax_error(scope, text),
        ErrorKind::TypeError => v8::Exception::type_error(scope, text),
        ErrorKind::EvalError | ErrorKind::UriError | ErrorKind::Error => v8::Exception::error(scope, text),
    };
    let object = error.to_object(scope).ok_or(Error::Exception)?;
    if matches!(kind, ErrorKind::EvalError | ErrorKind::UriError) {
        // V8's API has no constructor for these two: give a plain Error the
        // right prototype.
        let global = scope.get_current_context().global(scope);
        let name = key(scope, kind.name())?;
        let constructor = global.get(scope, name).ok_or(Error::Exception)?;
        if let Ok(constructor) = v8::Local::<v8::Object>::try_from(constructor) {
            let prototype_key = key(scope, "prototype")?;
            let prototype = constructor.get(scope, prototype_key).ok_or(Error::Exception)?;
            object.set_prototype(scope, prototype).ok_or(Error::Exception)?;
        }
    }
    if message.is_none() {
        let message_key = key(scope, "message")?;
        object.delete(scope, message_key).ok_or(Error::Exception)?;
    }
    if let Some(stack) = stack {
        let stack_key = key(scope, "stack")?;
        let stack = new_string(scope, stack)?;
        object.set(scope, stack_key, stack.into()).ok_or(Error::Exception)?;
    }
    Ok(object.into())
}

/// An ArrayBuffer with `buffer`'s contents: moved if it can be, else copied.
/// An ArrayBuffer of `buffer`'s contents: its own memory if it moved out of
/// an isolate, else a copy in memory from the isolate's array buffer
/// allocator, so that it counts against whatever limit that allocator
/// keeps. (V8 gives up on the process when that allocator refuses, so a
/// caller with a limit checks first that the contents fit.)
fn array_buffer<'s>(scope: &mut v8::PinScope<'s, '_>, buffer: Buffer) -> v8::Local<'s, v8::ArrayBuffer> {
    let store = match buffer.into_store() {
        Ok(store) => store,
        Err(buffer) => {
            let contents = buffer.as_slice();
            let store = v8::ArrayBuffer::new_backing_store(scope, contents.len());
            if let Some(data) = store.data() {
                // SAFETY: the store is fresh, `contents.len()` bytes long and
                // reachable from nowhere else yet; the two cannot overlap.
                unsafe { std::ptr::copy_nonoverlapping(contents.as_ptr(), data.as_ptr().cast::<u8>(), contents.len()) };
            }
            store.make_shared()
        }
    };
    v8::ArrayBuffer::with_backing_store(scope, &store)
}

fn view<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    kind: ViewKind,
    buffer: v8::Local<'s, v8::Value>,
    byte_offset: usize,
    length: usize,
) -> Result<v8::Local<'s, v8::Value>, Error> {
    if let Ok(buffer) = v8::Local::<v8::ArrayBuffer>::try_from(buffer) {
        let view: Option<v8::Local<'s, v8::Value>> = match kind {
            ViewKind::Int8 => v8::Int8Array::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::Uint8 => v8::Uint8Array::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::Uint8Clamped => v8::Uint8ClampedArray::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::Int16 => v8::Int16Array::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::Uint16 => v8::Uint16Array::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::Int32 => v8::Int32Array::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::Uint32 => v8::Uint32Array::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::Float32 => v8::Float32Array::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::Float64 => v8::Float64Array::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::BigInt64 => v8::BigInt64Array::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::BigUint64 => v8::BigUint64Array::new(scope, buffer, byte_offset, length).map(Into::into),
            ViewKind::DataView => Some(v8::DataView::new(scope, buffer, byte_offset, length).into()),
            // Not convertible to a Value handle in the v8 crate; built below.
            ViewKind::Float16 => None,
        };
        if let Some(view) = view {
            return Ok(view);
        }
        if kind != ViewKind::Float16 {
            return Err(Error::Exception);
        }
    }
    // The v8 crate builds views over ArrayBuffers only (and cannot hand out
    // a Float16Array as a Value); these are made by the context's own
    // constructor. Guest code that replaced it only changes what it itself
    // receives.
    let global = scope.get_current_context().global(scope);
    let name = key(scope, view_constructor_name(kind))?;
    let constructor = global.get(scope, name).ok_or(Error::Exception)?;
    let constructor = constructor
        .try_cast::<v8::Function>()
        .map_err(|_| Error::Invalid(format!("{} is not a constructor here", view_constructor_name(kind))))?;
    let arguments =
        [buffer, v8::Number::new(scope, byte_offset as f64).into(), v8::Number::new(scope, length as f64).into()];
    Ok(constructor.new_instance(scope, &arguments).ok_or(Error::Exception)?.into())
}

fn view_constructor_name(kind: ViewKind) -> &'static str {
    match kind {
        ViewKind::Int8 => "Int8Array",
        ViewKind::Uint8 => "Uint8Array",
        ViewKind::Uint8Clamped => "Uint8ClampedArray",
        ViewKind::Int16 => "Int16Array",
        ViewKind::Uint16 => "Uint16Array",
        ViewKind::Int32 => "Int32Array",
        ViewKind::Uint32 => "Uint32Array",
        ViewKind::Float16 => "Float16Array",
        ViewKind::Float32 => "Float32Array",
        ViewKind::Float64 => "Float64Array",
        ViewKind::BigInt64 => "BigInt64Array",
        ViewKind::BigUint64 => "BigUint64Array",
        ViewKind::DataView => "DataView",
    }
}

/// Wires up the references an object holds.
fn fill<'s, 'v>(
    scope: &mut v8::PinScope<'s, '_>,
    keys: &mut KeyCache<'s, 'v>,
    created: &[v8::Local<'s, v8::Value>],
    target: v8::Local<'s, v8::Value>,
    object: &'v Object,
) -> Result<(), Error> {
    match object {
        Object::Plain(properties) | Object::Array { properties, .. } => {
            let target = target.cast::<v8::Object>();
            if let Object::Array { elements, .. } = object {
                for (index, item) in elements {
                    let item = value(scope, created, item)?;
                    target.set_index(scope, *index, item).ok_or(Error::Exception)?;
                }
            }
            for (name, item) in properties {
                let name = keys.get(scope, name)?;
                let item = value(scope, created, item)?;
                target.create_data_property(scope, name.into(), item).ok_or(Error::Exception)?;
            }
        }
        Object::Map(entries) => {
            let map = target.cast::<v8::Map>();
            for (k, v) in entries {
                let k = value(scope, created, k)?;
                let v = value(scope, created, v)?;
                map.set(scope, k, v).ok_or(Error::Exception)?;
            }
        }
        Object::Set(values) => {
            let set = target.cast::<v8::Set>();
            for item in values {
                let item = value(scope, created, item)?;
                set.add(scope, item).ok_or(Error::Exception)?;
            }
        }
        Object::Error { cause: Some(cause), .. } => {
            let target = target.cast::<v8::Object>();
            let cause_key = v8::String::new(scope, "cause").ok_or(Error::TooLarge { what: "string" })?;
            let cause = value(scope, created, cause)?;
            target.create_data_property(scope, cause_key.into(), cause).ok_or(Error::Exception)?;
        }
        _ => {}
    }
    Ok(())
}

fn new_string<'s>(scope: &v8::PinScope<'s, '_>, s: &JsString) -> Result<v8::Local<'s, v8::String>, Error> {
    match s {
        JsString::Utf8(s) => v8::String::new(scope, s),
        JsString::Utf16(units) => v8::String::new_from_two_byte(scope, units, v8::NewStringType::Normal),
    }
    .ok_or(Error::TooLarge { what: "string" })
}

fn new_bigint<'s>(scope: &v8::PinScope<'s, '_>, b: &BigInt) -> Result<v8::Local<'s, v8::BigInt>, Error> {
    v8::BigInt::new_from_words(scope, b.is_negative(), b.words()).ok_or(Error::TooLarge { what: "bigint" })
}
