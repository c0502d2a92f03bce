//! Python values to and from ivm's value model (ivm-marshal's structured
//! clone). Data is copied: `None` ↔ `null` (`undefined` also arrives as
//! `None`), `bool`, `int` (a JavaScript BigInt beyond ±2^53), `float`,
//! `str` (lone surrogates kept), `bytes`/`bytearray` ↔ `ArrayBuffer`,
//! `memoryview` and other buffer-protocol objects ↔ typed arrays (by format),
//! `list`/`tuple` → `Array` → `list`, `dict` ↔ `Object` (a `Map` when a key is
//! not a `str`), `set`/`frozenset` ↔ `Set`, `datetime` ↔ `Date`, exceptions
//! ↔ `Error`. Shared memory is not copied: a `SharedArrayBuffer` is a
//! writable `memoryview` of the same memory in Python, and back.
//!
//! At the top level of a call (an argument, a result, a property value),
//! handles cross as themselves: `Reference`, `ExternalCopy`, `Callback`, and
//! Python callables (which become callbacks).

use std::collections::HashMap;

use ivm_core::{
    BigInt, Buffer, ErrorKind, JsString, Object, ObjectId, OwnedBytes, SharedBuffer, Structured, Transferable, Value,
    ViewKind,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMemoryView, PySet, PyString, PyTuple,
    PyType,
};

use crate::callback::Callback;
use crate::errors::{OrRaise, transfer_error};
use crate::external_copy::{CopyInto, ExternalCopy, SharedMemory};
use crate::reference::Reference;

/// How deep a value may nest. Python's own recursion limit is about this
/// deep; a deeper value (hostile JavaScript can build one cheaply) is an
/// error instead of a stack overflow.
const MAX_DEPTH: usize = 1000;

/// Stack each level of a nested value may need; below it the conversion
/// goes on in a new segment of `STACK_SEGMENT` bytes.
const STACK_RED_ZONE: usize = 64 * 1024;
const STACK_SEGMENT: usize = 1024 * 1024;

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A Python value leaving for an isolate: handles as themselves, anything
/// else copied.
pub(crate) fn to_transferable(value: &Bound<'_, PyAny>) -> PyResult<Transferable> {
    if let Ok(reference) = value.cast::<Reference>() {
        return reference.get().transferable();
    }
    if let Ok(copy) = value.cast::<ExternalCopy>() {
        return copy.get().transferable().or_raise(value.py());
    }
    if let Ok(copy) = value.cast::<CopyInto>() {
        return Ok(copy.get().transferable());
    }
    if let Ok(callback) = value.cast::<Callback>() {
        return Ok(Transferable::Callback(callback.get().callback()));
    }
    if value.cast::<crate::library::Library>().is_ok() {
        return Ok(Transferable::Remote(std::sync::Arc::new(ivm_core::Library)));
    }
    if value.is_callable() && !value.is_instance_of::<PyType>() {
        return Ok(Transferable::Callback(Callback::wrap(value)?.callback()));
    }
    Ok(Transferable::Copy(to_structured(value)?))
}

/// The arguments of a call, each as [`to_transferable`] makes it.
pub(crate) fn to_transferables(values: &Bound<'_, PyAny>) -> PyResult<Vec<Transferable>> {
    values.try_iter()?.map(|value| to_transferable(&value?)).collect()
}

/// A copy of a Python value.
pub(crate) fn to_structured(value: &Bound<'_, PyAny>) -> PyResult<Structured> {
    let mut writer = Writer { objects: Vec::new(), seen: HashMap::new(), depth: 0 };
    let root = writer.value(value)?;
    Structured::new(root, writer.objects).map_err(|error| transfer_error(value.py(), error.to_string()))
}

/// A primitive, or an error for anything else (a property key, say).
pub(crate) fn to_primitive(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    // Checked by type first: an object is refused without being copied.
    let primitive = value.is_none()
        || value.is_instance_of::<PyBool>()
        || value.is_instance_of::<PyInt>()
        || value.is_instance_of::<PyFloat>()
        || value.is_instance_of::<PyString>();
    if !primitive {
        return Err(PyTypeError::new_err("expected a str, int, float, bool or None"));
    }
    let mut writer = Writer { objects: Vec::new(), seen: HashMap::new(), depth: 0 };
    writer.value(value)
}

struct Writer {
    objects: Vec<Object>,
    /// Objects already written, by address: shared and cyclic structure
    /// stays shared and cyclic.
    seen: HashMap<usize, ObjectId>,
    depth: usize,
}

impl Writer {
    fn value(&mut self, value: &Bound<'_, PyAny>) -> PyResult<Value> {
        let py = value.py();
        if value.is_none() {
            return Ok(Value::Null);
        }
        if let Ok(flag) = value.cast::<PyBool>() {
            return Ok(Value::Bool(flag.is_true()));
        }
        if let Ok(int) = value.cast::<PyInt>() {
            return int_value(int);
        }
        if let Ok(float) = value.cast::<PyFloat>() {
            return Ok(Value::Number(float.value()));
        }
        if let Ok(string) = value.cast::<PyString>() {
            return Ok(Value::String(js_string(string)?));
        }
        let address = value.as_ptr() as usize;
        if let Some(id) = self.seen.get(&address) {
            return Ok(Value::Object(*id));
        }
        if self.depth >= MAX_DEPTH {
            return Err(transfer_error(py, format!("the value nests more than {MAX_DEPTH} levels deep")));
        }
        self.depth += 1;
        let result = stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.object(value, address));
        self.depth -= 1;
        result.map(Value::Object)
    }

    /// Reserves the object's slot (so that cycles find it), then fills it.
    fn object(&mut self, value: &Bound<'_, PyAny>, address: usize) -> PyResult<ObjectId> {
        let py = value.py();
        let id = ObjectId(u32::try_from(self.objects.len()).map_err(|_| transfer_error(py, "too many objects"))?);
        self.seen.insert(address, id);
        self.objects.push(Object::Plain(Vec::new()));
        let object = if let Ok(bytes) = value.cast::<PyBytes>() {
            Object::ArrayBuffer(Buffer::copy_from(bytes.as_bytes()))
        } else if let Ok(bytes) = value.cast::<PyByteArray>() {
            Object::ArrayBuffer(Buffer::from(bytes.to_vec()))
        } else if let Ok(list) = value.cast::<PyList>() {
            self.array(list.iter())?
        } else if let Ok(tuple) = value.cast::<PyTuple>() {
            self.array(tuple.iter())?
        } else if let Ok(dict) = value.cast::<PyDict>() {
            self.dict(dict)?
        } else if let Ok(set) = value.cast::<PySet>() {
            Object::Set(set.iter().map(|item| self.value(&item)).collect::<PyResult<_>>()?)
        } else if let Ok(set) = value.cast::<PyFrozenSet>() {
            Object::Set(set.iter().map(|item| self.value(&item)).collect::<PyResult<_>>()?)
        } else if let Ok(shared) = value.cast::<SharedMemory>() {
            Object::SharedArrayBuffer(shared.get().buffer().clone())
        } else if value.is_instance(datetime_class(py)?)? {
            let seconds: f64 = value.call_method0("timestamp")?.extract()?;
            Object::Date((seconds * 1000.0).round())
        } else if let Ok(exception) = value.cast::<pyo3::exceptions::PyBaseException>() {
            let kind = ErrorKind::from_name(&exception.get_type().name()?.to_string());
            Object::Error { kind, message: Some(JsString::from(exception.str()?.to_str()?)), stack: None, cause: None }
        } else if let Ok(view) = value.cast::<PyMemoryView>() {
            return self.view(view, id);
        } else if let Ok(view) = PyMemoryView::from(value) {
            // Anything else with the buffer protocol (array.array, NumPy).
            return self.view(&view, id);
        } else {
            let type_name = value.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(transfer_error(
                py,
                format!(
                    "a {type_name} cannot be copied into an isolate; pass ivm.Reference(value) to share it instead"
                ),
            ));
        };
        self.objects[id.index()] = object;
        Ok(id)
    }

    fn array<'py>(&mut self, items: impl Iterator<Item = Bound<'py, PyAny>>) -> PyResult<Object> {
        let mut elements = Vec::new();
        for (index, item) in items.enumerate() {
            let index = u32::try_from(index).map_err(|_| PyTypeError::new_err("a list too long for JavaScript"))?;
            elements.push((index, self.value(&item)?));
        }
        let length = u32::try_from(elements.len()).unwrap_or(u32::MAX);
        Ok(Object::Array { length, elements, properties: Vec::new() })
    }

    fn dict(&mut self, dict: &Bound<'_, PyDict>) -> PyResult<Object> {
        if dict.iter().all(|(key, _)| key.is_instance_of::<PyString>()) {
            let mut properties = Vec::with_capacity(dict.len());
            for (key, value) in dict.iter() {
                properties.push((js_string(key.cast::<PyString>()?)?, self.value(&value)?));
            }
            return Ok(Object::Plain(properties));
        }
        let mut entries = Vec::with_capacity(dict.len());
        for (key, value) in dict.iter() {
            entries.push((self.value(&key)?, self.value(&value)?));
        }
        Ok(Object::Map(entries))
    }

    /// A typed array over a copy of the buffer's bytes, or over the same
    /// memory when the buffer is shared memory of ivm's.
    fn view(&mut self, view: &Bound<'_, PyMemoryView>, id: ObjectId) -> PyResult<ObjectId> {
        let py = view.py();
        let format: String = view.getattr("format")?.extract()?;
        let kind = view_kind(&format)
            .ok_or_else(|| transfer_error(py, format!("a memoryview of format {format:?} has no typed array")))?;
        let byte_length: usize = view.getattr("nbytes")?.extract()?;
        let owner = view.getattr("obj")?;
        let (buffer, byte_offset) = match owner.cast::<SharedMemory>() {
            Ok(shared) if view.getattr("contiguous")?.extract::<bool>()? => {
                let shared = shared.get().buffer().clone();
                let start = view_address(view)?;
                let offset = start.saturating_sub(shared.as_ptr() as usize);
                (Object::SharedArrayBuffer(shared), offset)
            }
            _ => (Object::ArrayBuffer(copy_view(view)?), 0),
        };
        let buffer_id = ObjectId(id.0 + 1);
        self.objects.push(buffer);
        let length = byte_length / kind.element_size();
        self.objects[id.index()] = Object::View { kind, buffer: buffer_id, byte_offset, length };
        Ok(id)
    }
}

/// A copy of a memoryview's bytes, in one pass where it is contiguous.
fn copy_view(view: &Bound<'_, PyMemoryView>) -> PyResult<Buffer> {
    let buffer = pyo3::buffer::PyUntypedBuffer::get(view)?;
    if !buffer.is_c_contiguous() {
        return Ok(Buffer::from(view.call_method0("tobytes")?.cast::<PyBytes>()?.as_bytes().to_vec()));
    }
    // SAFETY: the buffer is C-contiguous and `len_bytes` long; the view
    // (and so its memory) stays alive, and the GIL is held, for as long as
    // the slice is borrowed: only for the copy.
    let bytes = unsafe { std::slice::from_raw_parts(buffer.buf_ptr().cast::<u8>(), buffer.len_bytes()) };
    Ok(Buffer::copy_from(bytes))
}

/// The address of a contiguous memoryview's first byte.
fn view_address(view: &Bound<'_, PyMemoryView>) -> PyResult<usize> {
    let buffer = pyo3::buffer::PyUntypedBuffer::get(view)?;
    Ok(buffer.buf_ptr() as usize)
}

fn int_value(int: &Bound<'_, PyInt>) -> PyResult<Value> {
    if let Ok(small) = int.extract::<i64>() {
        if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&small) {
            return Ok(Value::Number(small as f64));
        }
    }
    let negative = int.lt(0)?;
    let magnitude = if negative { int.neg()? } else { int.clone().into_any() };
    let bits: usize = magnitude.call_method0("bit_length")?.extract()?;
    let bytes = magnitude.call_method1("to_bytes", (bits.div_ceil(64) * 8, "little"))?;
    let words = bytes
        .cast::<PyBytes>()?
        .as_bytes()
        .chunks_exact(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("chunks of 8")))
        .collect();
    Ok(Value::BigInt(BigInt::from_words(negative, words)))
}

fn js_string(string: &Bound<'_, PyString>) -> PyResult<JsString> {
    match string.to_str() {
        Ok(text) => Ok(JsString::from(text)),
        // Lone surrogates: keep them, as JavaScript strings can hold them.
        Err(_) => {
            let encoded = string.call_method1("encode", ("utf-16-le", "surrogatepass"))?;
            let units = encoded
                .cast::<PyBytes>()?
                .as_bytes()
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            Ok(JsString::from_utf16(units))
        }
    }
}

fn view_kind(format: &str) -> Option<ViewKind> {
    // Native byte order and size, as struct's formats without a prefix.
    Some(match format.trim_start_matches('@') {
        "b" => ViewKind::Int8,
        "B" | "c" => ViewKind::Uint8,
        "h" => ViewKind::Int16,
        "H" => ViewKind::Uint16,
        "i" => ViewKind::Int32,
        "I" => ViewKind::Uint32,
        "l" | "q" => ViewKind::BigInt64,
        "L" | "Q" => ViewKind::BigUint64,
        "e" => ViewKind::Float16,
        "f" => ViewKind::Float32,
        "d" => ViewKind::Float64,
        _ => return None,
    })
}

fn view_format(kind: ViewKind) -> &'static str {
    match kind {
        ViewKind::Int8 => "b",
        ViewKind::Int16 => "h",
        ViewKind::Uint16 => "H",
        ViewKind::Int32 => "i",
        ViewKind::Uint32 => "I",
        ViewKind::BigInt64 => "q",
        ViewKind::BigUint64 => "Q",
        ViewKind::Float16 => "e",
        ViewKind::Float32 => "f",
        ViewKind::Float64 => "d",
        _ => "B",
    }
}

/// A value arriving from an isolate.
pub(crate) fn from_transferable(py: Python<'_>, value: Transferable) -> PyResult<Bound<'_, PyAny>> {
    match value {
        Transferable::Copy(copy) => from_structured(py, copy),
        Transferable::Reference(reference) => Ok(Bound::new(py, Reference::isolate(reference))?.into_any()),
        Transferable::ExternalCopy(copy, _) => Ok(Bound::new(py, ExternalCopy::from(copy))?.into_any()),
        Transferable::Callback(callback) => Ok(Bound::new(py, Callback::from(callback))?.into_any()),
        Transferable::Remote(remote) => Reference::from_remote(py, remote),
        Transferable::Dereferenced(remote) => crate::reference::dereferenced(py, remote),
        _ => Err(transfer_error(py, "a value of a kind this version of ivm cannot hand to Python")),
    }
}

/// A copy arriving from an isolate, as new Python objects. Typed arrays
/// become memoryviews of the copy's own memory where nothing else holds it
/// (a buffer transferred out of an isolate), without copying it again.
pub(crate) fn from_structured(py: Python<'_>, value: Structured) -> PyResult<Bound<'_, PyAny>> {
    if let Some(primitive) = value.as_primitive() {
        return primitive_to_py(py, primitive);
    }
    let (root, objects) = value.into_parts();
    let made = std::iter::repeat_with(|| None).take(objects.len()).collect();
    let mut reader = Reader { objects, made, memory: HashMap::new(), depth: 0 };
    reader.value(py, &root)
}

/// A primitive as its Python value.
pub(crate) fn primitive_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Undefined | Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Number(number) => number_to_py(py, *number)?,
        Value::String(string) => string_to_py(py, string)?,
        Value::BigInt(bigint) => bigint_to_py(py, bigint)?,
        _ => return Err(transfer_error(py, "expected a primitive")),
    })
}

/// Integral numbers in the safe range become `int` (JavaScript does not
/// tell `3` from `3.0`; Python code expects `1 + 2` to be `3`), the rest
/// `float`.
fn number_to_py(py: Python<'_>, number: f64) -> PyResult<Bound<'_, PyAny>> {
    let integral = number.fract() == 0.0 && number.abs() <= MAX_SAFE_INTEGER as f64;
    if integral && !(number == 0.0 && number.is_sign_negative()) {
        Ok((number as i64).into_pyobject(py)?.into_any())
    } else {
        Ok(PyFloat::new(py, number).into_any())
    }
}

fn string_to_py<'py>(py: Python<'py>, string: &JsString) -> PyResult<Bound<'py, PyAny>> {
    match string.as_str() {
        Some(text) => Ok(PyString::new(py, text).into_any()),
        None => {
            let bytes: Vec<u8> = string.to_utf16().iter().flat_map(|unit| unit.to_le_bytes()).collect();
            PyBytes::new(py, &bytes).call_method1("decode", ("utf-16-le", "surrogatepass"))
        }
    }
}

fn bigint_to_py<'py>(py: Python<'py>, bigint: &BigInt) -> PyResult<Bound<'py, PyAny>> {
    let bytes: Vec<u8> = bigint.words().iter().flat_map(|word| word.to_le_bytes()).collect();
    let int_type = py.get_type::<PyInt>();
    let magnitude = int_type.call_method1("from_bytes", (PyBytes::new(py, &bytes), "little"))?;
    if bigint.is_negative() { magnitude.neg() } else { Ok(magnitude) }
}

struct Reader {
    objects: Vec<Object>,
    made: Vec<Option<Py<PyAny>>>,
    /// The memory of the ArrayBuffers typed arrays are over, by buffer.
    memory: HashMap<ObjectId, Py<PyAny>>,
    depth: usize,
}

impl Reader {
    /// A writable memoryview of the whole of ArrayBuffer `id`'s memory,
    /// made once per buffer: its views share it, as in JavaScript.
    fn buffer_memory<'py>(&mut self, py: Python<'py>, id: ObjectId) -> PyResult<Bound<'py, PyAny>> {
        if let Some(memory) = self.memory.get(&id) {
            return Ok(memory.bind(py).clone());
        }
        let Some(Object::ArrayBuffer(buffer)) = self.objects.get_mut(id.index()) else {
            return Err(transfer_error(py, "a typed array without its buffer"));
        };
        let buffer = std::mem::replace(buffer, Buffer::from(Vec::new()));
        let holder = Bound::new(py, Memory::from(buffer.into_owned()))?;
        let view = PyMemoryView::from(holder.as_any())?.into_any();
        self.memory.insert(id, view.clone().unbind());
        Ok(view)
    }

    fn value<'py>(&mut self, py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
        let Value::Object(id) = value else { return primitive_to_py(py, value) };
        if let Some(made) = &self.made[id.index()] {
            return Ok(made.bind(py).clone());
        }
        if self.depth >= MAX_DEPTH {
            return Err(transfer_error(py, format!("the value nests more than {MAX_DEPTH} levels deep")));
        }
        self.depth += 1;
        let result = stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || self.object(py, *id));
        self.depth -= 1;
        result
    }

    /// Registers containers before filling them, so cycles close on the
    /// same Python object.
    fn object<'py>(&mut self, py: Python<'py>, id: ObjectId) -> PyResult<Bound<'py, PyAny>> {
        let object =
            self.objects.get(id.index()).ok_or_else(|| transfer_error(py, "a copy refers to a missing object"))?;
        // Children are converted through `self`: take what is needed of the
        // object out of the arena first.
        let object = match object {
            Object::View { .. } | Object::ArrayBuffer(_) | Object::SharedArrayBuffer(_) => object.clone(),
            _ => std::mem::replace(&mut self.objects[id.index()], Object::Plain(Vec::new())),
        };
        let made = match &object {
            Object::Plain(properties) => {
                let dict = PyDict::new(py);
                self.made[id.index()] = Some(dict.clone().into_any().unbind());
                for (key, value) in properties {
                    dict.set_item(string_to_py(py, key)?, self.value(py, value)?)?;
                }
                dict.into_any()
            }
            Object::Array { length, elements, .. } => {
                let list = PyList::empty(py);
                self.made[id.index()] = Some(list.clone().into_any().unbind());
                let mut next = 0;
                for (index, value) in elements {
                    // Holes read as None, as `undefined` does.
                    while next < *index {
                        list.append(py.None())?;
                        next += 1;
                    }
                    list.append(self.value(py, value)?)?;
                    next += 1;
                }
                while next < *length {
                    list.append(py.None())?;
                    next += 1;
                }
                list.into_any()
            }
            Object::Map(entries) => {
                let dict = PyDict::new(py);
                self.made[id.index()] = Some(dict.clone().into_any().unbind());
                for (key, value) in entries {
                    let key = self.value(py, key)?;
                    if key.hash().is_err() {
                        let kind = key.get_type().name().map(|name| name.to_string()).unwrap_or_default();
                        return Err(transfer_error(
                            py,
                            format!("a Map with a {kind} key has no dict: {kind} is not hashable"),
                        ));
                    }
                    dict.set_item(key, self.value(py, value)?)?;
                }
                dict.into_any()
            }
            Object::Set(items) => {
                let set = PySet::empty(py)?;
                self.made[id.index()] = Some(set.clone().into_any().unbind());
                for item in items {
                    set.add(self.value(py, item)?)?;
                }
                set.into_any()
            }
            Object::Date(millis) => {
                if !millis.is_finite() {
                    return Err(transfer_error(py, "an invalid Date has no datetime"));
                }
                let utc = py.import("datetime")?.getattr("timezone")?.getattr("utc")?;
                datetime_class(py)?.call_method1("fromtimestamp", (millis / 1000.0, utc))?
            }
            Object::RegExp { source, flags } => {
                let re = py.import("re")?;
                let mut python_flags = 0i64;
                for (flag, name) in [('i', "IGNORECASE"), ('m', "MULTILINE"), ('s', "DOTALL")] {
                    if flags.contains(flag) {
                        python_flags |= re.getattr(name)?.extract::<i64>()?;
                    }
                }
                re.call_method1("compile", (string_to_py(py, source)?, python_flags))?
            }
            Object::BooleanObject(flag) => PyBool::new(py, *flag).to_owned().into_any(),
            Object::NumberObject(number) => number_to_py(py, *number)?,
            Object::StringObject(string) => string_to_py(py, string)?,
            Object::BigIntObject(bigint) => bigint_to_py(py, bigint)?,
            Object::ArrayBuffer(buffer) => match self.memory.get(&id) {
                // Its memory went to a typed array already.
                Some(memory) => {
                    PyBytes::new(py, memory.bind(py).call_method0("tobytes")?.cast::<PyBytes>()?.as_bytes())
                }
                None => PyBytes::new(py, buffer.as_slice()),
            }
            .into_any(),
            Object::SharedArrayBuffer(shared) => shared_view(py, shared)?,
            Object::View { kind, buffer, byte_offset, length } => {
                let whole = match self.objects.get(buffer.index()) {
                    Some(Object::SharedArrayBuffer(shared)) => shared_view(py, shared)?,
                    _ => self.buffer_memory(py, *buffer)?,
                };
                let end = byte_offset + length * kind.element_size();
                let window = whole.get_item(pyo3::types::PySlice::new(py, *byte_offset as isize, end as isize, 1))?;
                cast_view(&window, view_format(*kind))?
            }
            Object::Error { kind, message, stack, .. } => {
                let message = message.as_ref().map(JsString::to_string_lossy).unwrap_or_default();
                let stack = stack.as_ref().map(|stack| stack.to_string_lossy().into_owned());
                let class = py.import("ivm.errors")?.getattr("JSError")?;
                class.call1((message.into_owned(), kind.name(), stack))?
            }
            _ => return Err(transfer_error(py, format!("a {} cannot be copied to Python", object.kind_name()))),
        };
        self.made[id.index()] = Some(made.clone().unbind());
        Ok(made)
    }
}

/// Memory handed over to Python whole (an ArrayBuffer's contents, for its
/// typed arrays' memoryviews), writable as in JavaScript.
#[pyclass(module = "ivm", frozen)]
pub(crate) struct Memory {
    /// Owns the memory at `start`, which nothing else reaches.
    _owner: std::sync::Mutex<OwnedBytes>,
    start: usize,
    length: usize,
}

impl From<OwnedBytes> for Memory {
    fn from(mut owned: OwnedBytes) -> Memory {
        let (start, length) = (owned.as_mut_ptr() as usize, owned.len());
        Memory { _owner: std::sync::Mutex::new(owned), start, length }
    }
}

#[pymethods]
impl Memory {
    /// The buffer protocol: the memory itself, writable.
    ///
    /// # Safety
    ///
    /// Called by CPython with a `Py_buffer` to fill in.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: std::ffi::c_int,
    ) -> PyResult<()> {
        let (start, length) = (slf.get().start, slf.get().length);
        // SAFETY: `length` bytes at `start` belong to `_owner` alone and live
        // as long as this object, which the view holds (FillInfo takes a
        // reference to `slf` as the view's `obj`).
        unsafe { fill_buffer(&slf, view, start as *mut u8, length, flags) }
    }
}

/// Fills in `view` for `length` writable bytes at `start`, exported by `owner`.
///
/// # Safety
///
/// `view` must be CPython's `Py_buffer` to fill, and the memory must stay
/// valid for as long as `owner` lives.
pub(crate) unsafe fn fill_buffer(
    owner: &Bound<'_, PyAny>,
    view: *mut pyo3::ffi::Py_buffer,
    start: *mut u8,
    length: usize,
    flags: std::ffi::c_int,
) -> PyResult<()> {
    let length = isize::try_from(length).map_err(|_| pyo3::exceptions::PyOverflowError::new_err("too large"))?;
    // An empty buffer has no memory; CPython still wants an address.
    let start = if length == 0 { std::ptr::NonNull::<u8>::dangling().as_ptr() } else { start };
    // SAFETY: as the caller promises; FillInfo takes a reference to `owner`
    // as the view's `obj`, keeping the memory alive while the view lives.
    let status = unsafe { pyo3::ffi::PyBuffer_FillInfo(view, owner.as_ptr(), start.cast(), length, 0, flags) };
    if status == -1 { Err(PyErr::fetch(owner.py())) } else { Ok(()) }
}

/// A writable memoryview of shared memory (a SharedArrayBuffer's).
fn shared_view<'py>(py: Python<'py>, shared: &SharedBuffer) -> PyResult<Bound<'py, PyAny>> {
    let holder = Bound::new(py, SharedMemory::from(shared.clone()))?;
    Ok(PyMemoryView::from(holder.as_any())?.into_any())
}

/// `view` seen as elements of `format`, where Python's memoryview can (it
/// cannot cast to every format: bytes it stays then).
fn cast_view<'py>(view: &Bound<'py, PyAny>, format: &str) -> PyResult<Bound<'py, PyAny>> {
    if format == "B" {
        return Ok(view.clone());
    }
    Ok(view.call_method1("cast", (format,)).unwrap_or_else(|_| view.clone()))
}

fn datetime_class(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static DATETIME: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    DATETIME
        .get_or_try_init(py, || Ok(py.import("datetime")?.getattr("datetime")?.unbind()))
        .map(|class| class.bind(py))
}
