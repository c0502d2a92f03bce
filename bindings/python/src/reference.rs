//! `Reference`: a handle to a value that stays where it is. Either a value in
//! an isolate (ivm-core's [`ivm_core::Reference`]), or a Python object
//! handed to JavaScript by reference (`ivm.Reference(obj)`), which arrives in
//! the isolate as isolated-vm's `Reference` class: its `get`, `set`,
//! `delete`, `apply` and `copy` methods reach the object through
//! [`HostValue`], on whichever thread runs the isolate, holding the
//! interpreter meanwhile.

use std::sync::Arc;

use std::ptr;

use ivm_core::host::{self, Access, Grant, HostObjects, Key, Kind, Property};
use ivm_core::{CallbackResult, Remote, RemoteOp, Resolver, Structured, TransferMode, Transferable, Value};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyModule, PyString, PyTuple, PyType};

use crate::aio::{detached, future};
use crate::convert::{
    from_structured, from_transferable, to_primitive, to_structured, to_transferable, to_transferables,
};
use crate::errors::usage_error;
use crate::options::{self, GET, RUN};

/// A reference to a value that stays where it lives: in an isolate, or in
/// Python (``Reference(obj)``, to hand an object to JavaScript without
/// copying it).
#[pyclass(module = "ivm", frozen)]
pub(crate) struct Reference {
    target: Target,
}

enum Target {
    Isolate(ivm_core::Reference),
    Host(Arc<HostValue>),
}

impl Reference {
    pub(crate) fn isolate(reference: ivm_core::Reference) -> Reference {
        Reference { target: Target::Isolate(reference) }
    }

    /// A value that left an isolate as a remote: a Python object handed in
    /// by reference comes back as the same reference.
    pub(crate) fn from_remote(py: Python<'_>, remote: Arc<dyn Remote>) -> PyResult<Bound<'_, PyAny>> {
        let any: Arc<dyn std::any::Any + Send + Sync> = remote;
        match any.downcast::<HostValue>() {
            Ok(host) => Ok(Bound::new(py, Reference { target: Target::Host(host) })?.into_any()),
            Err(_) => {
                Err(crate::errors::transfer_error(py, "a reference of another ivm front-end cannot enter Python"))
            }
        }
    }

    pub(crate) fn transferable(&self) -> PyResult<Transferable> {
        Ok(match &self.target {
            Target::Isolate(reference) => Transferable::Reference(reference.clone()),
            Target::Host(host) => Transferable::Remote(Arc::clone(host) as Arc<dyn Remote>),
        })
    }

    pub(crate) fn in_isolate(&self) -> Option<&ivm_core::Reference> {
        match &self.target {
            Target::Isolate(reference) => Some(reference),
            Target::Host(_) => None,
        }
    }
}

#[pymethods]
impl Reference {
    /// A Reference to `value`, for JavaScript: it may call the value (if
    /// callable) and read and write its own data (a dict's items, a
    /// sequence's elements, an instance's public `__dict__` attributes).
    /// ``unsafe_inherit=True`` also lets it read class and module
    /// attributes, ``accessors=True`` run properties and descriptors (bound
    /// methods among them). Names beginning with ``_`` are never reachable.
    #[new]
    #[pyo3(signature = (value, *, unsafe_inherit = false, accessors = false))]
    fn new(value: Py<PyAny>, unsafe_inherit: bool, accessors: bool) -> Reference {
        let grant = Grant::new().unsafe_inherit(unsafe_inherit).accessors(accessors);
        Reference { target: Target::Host(Arc::new(HostValue { value, grant })) }
    }

    /// JavaScript's ``typeof`` of the value (``"null"`` for null).
    #[getter(r#typeof)]
    fn type_of(&self, py: Python<'_>) -> PyResult<String> {
        match &self.target {
            Target::Isolate(reference) => Ok(detached(py, || reference.type_of())?.to_owned()),
            Target::Host(host) => Ok(host.type_of()),
        }
    }

    /// The Python object of a reference made in Python; a value in an
    /// isolate cannot leave it except as a copy (`copy`).
    fn deref(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.target {
            Target::Host(host) => Ok(host.value.clone_ref(py)),
            Target::Isolate(_) => {
                Err(usage_error(py, "a value in an isolate can only be copied out (copy()), not dereferenced"))
            }
        }
    }

    /// A copy of the value.
    fn copy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.target {
            Target::Isolate(reference) => from_structured(py, detached(py, || reference.copy())?),
            Target::Host(host) => from_structured(py, to_structured(host.value.bind(py))?),
        }
    }

    /// `copy`, awaitable.
    fn copy_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let reference = self.isolate_only(py, "copy_async")?;
        future(py, reference.copy_async(), from_structured)
    }

    /// ``value[key]``: by default an own data property only (no getters, no
    /// prototype chain); ``accessors=True`` reads as JavaScript does. On a
    /// Python object, what the Reference grants (see ``Reference``).
    #[pyo3(signature = (key, **options), text_signature = "($self, key, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False, accessors=False)")]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("get", GET, options)?;
        match &self.target {
            Target::Isolate(reference) => {
                let key = to_primitive(key)?;
                from_transferable(py, detached(py, || reference.get(key, &options))?)
            }
            Target::Host(host) => host.get(key, &options),
        }
    }

    /// `get`, awaitable.
    #[pyo3(signature = (key, **options), text_signature = "($self, key, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False, accessors=False)")]
    fn get_async<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("get_async", GET, options)?;
        let reference = self.isolate_only(py, "get_async")?;
        future(py, reference.get_async(to_primitive(key)?, options), from_transferable)
    }

    /// ``value[key] = value``; whether it was set.
    #[pyo3(signature = (key, value, **options), text_signature = "($self, key, value, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<bool> {
        let options = options::run("set", RUN, options)?;
        match &self.target {
            Target::Isolate(reference) => {
                let (key, value) = (to_primitive(key)?, to_transferable(value)?);
                detached(py, || reference.set(key, value, &options))
            }
            Target::Host(host) => host.set(key, value).map(|()| true),
        }
    }

    /// `set`, awaitable.
    #[pyo3(signature = (key, value, **options), text_signature = "($self, key, value, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn set_async<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("set_async", RUN, options)?;
        let reference = self.isolate_only(py, "set_async")?;
        let pending = reference.set_async(to_primitive(key)?, to_transferable(value)?, options);
        future(py, pending, bool_to_py)
    }

    /// `set`, queued; its result and errors are dropped.
    #[pyo3(signature = (key, value, **options), text_signature = "($self, key, value, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn set_ignored(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let options = options::run("set_ignored", RUN, options)?;
        self.isolate_only(py, "set_ignored")?.set_ignored(to_primitive(key)?, to_transferable(value)?, options);
        Ok(())
    }

    /// ``delete value[key]``; whether the property is gone.
    #[pyo3(signature = (key, **options), text_signature = "($self, key, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, options: Option<&Bound<'_, PyDict>>) -> PyResult<bool> {
        let options = options::run("delete", RUN, options)?;
        match &self.target {
            Target::Isolate(reference) => {
                let key = to_primitive(key)?;
                detached(py, || reference.delete(key, &options))
            }
            Target::Host(host) => host.delete(key).map(|()| true),
        }
    }

    /// `delete`, awaitable.
    #[pyo3(signature = (key, **options), text_signature = "($self, key, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn delete_async<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("delete_async", RUN, options)?;
        let reference = self.isolate_only(py, "delete_async")?;
        future(py, reference.delete_async(to_primitive(key)?, options), bool_to_py)
    }

    /// `delete`, queued; its result and errors are dropped.
    #[pyo3(signature = (key, **options), text_signature = "($self, key, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn delete_ignored(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let options = options::run("delete_ignored", RUN, options)?;
        self.isolate_only(py, "delete_ignored")?.delete_ignored(to_primitive(key)?, options);
        Ok(())
    }

    /// Calls the function with `receiver` as ``this`` and `arguments`
    /// (copied in; handles and callables as themselves).
    #[pyo3(signature = (receiver = None, arguments = None, **options), text_signature = "($self, receiver=None, arguments=None, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn apply<'py>(
        &self,
        py: Python<'py>,
        receiver: Option<&Bound<'_, PyAny>>,
        arguments: Option<&Bound<'py, PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("apply", RUN, options)?;
        match &self.target {
            Target::Isolate(reference) => {
                let (receiver, arguments) = call_parts(receiver, arguments)?;
                from_transferable(py, detached(py, || reference.apply(receiver, &arguments, &options))?)
            }
            Target::Host(host) => {
                let arguments = match arguments {
                    Some(arguments) => arguments.try_iter()?.collect::<PyResult<Vec<_>>>()?,
                    None => Vec::new(),
                };
                host.apply(py, arguments, options.result)
            }
        }
    }

    /// Calls the function with `arguments` and no ``this``: ``ref(2, 3)`` is
    /// ``ref.apply(None, [2, 3])``.
    #[pyo3(signature = (*arguments))]
    fn __call__<'py>(&self, py: Python<'py>, arguments: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyAny>> {
        self.apply(py, None, Some(arguments.as_any()), None)
    }

    /// `apply`, awaitable.
    #[pyo3(signature = (receiver = None, arguments = None, **options), text_signature = "($self, receiver=None, arguments=None, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn apply_async<'py>(
        &self,
        py: Python<'py>,
        receiver: Option<&Bound<'_, PyAny>>,
        arguments: Option<&Bound<'_, PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("apply_async", RUN, options)?;
        let reference = self.isolate_only(py, "apply_async")?;
        let (receiver, arguments) = call_parts(receiver, arguments)?;
        future(py, reference.apply_async(receiver, arguments, options), from_transferable)
    }

    /// `apply`, queued; its result and errors are dropped.
    #[pyo3(signature = (receiver = None, arguments = None, **options), text_signature = "($self, receiver=None, arguments=None, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn apply_ignored(
        &self,
        py: Python<'_>,
        receiver: Option<&Bound<'_, PyAny>>,
        arguments: Option<&Bound<'_, PyAny>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let options = options::run("apply_ignored", RUN, options)?;
        let reference = self.isolate_only(py, "apply_ignored")?;
        let (receiver, arguments) = call_parts(receiver, arguments)?;
        reference.apply_ignored(receiver, arguments, options);
        Ok(())
    }

    /// Releases the reference; later uses raise `ReleasedError`.
    fn release(&self) {
        if let Target::Isolate(reference) = &self.target {
            reference.release();
        }
    }

    fn __repr__(&self) -> String {
        match &self.target {
            Target::Isolate(_) => "<ivm.Reference into an isolate>".to_owned(),
            Target::Host(_) => "<ivm.Reference to a Python object>".to_owned(),
        }
    }
}

impl Reference {
    /// The isolate's reference, for the forms that only values in an
    /// isolate have (a Python object is used from Python directly).
    fn isolate_only(&self, py: Python<'_>, method: &str) -> PyResult<&ivm_core::Reference> {
        self.in_isolate().ok_or_else(|| {
            usage_error(py, format!("{method}() is for values in an isolate; use the Python object directly"))
        })
    }
}

fn call_parts(
    receiver: Option<&Bound<'_, PyAny>>,
    arguments: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Transferable, Vec<Transferable>)> {
    let receiver = match receiver {
        Some(receiver) => to_transferable(receiver)?,
        None => Transferable::from(Value::Undefined),
    };
    let arguments = match arguments {
        Some(arguments) => to_transferables(arguments)?,
        None => Vec::new(),
    };
    Ok((receiver, arguments))
}

/// A Python object that JavaScript holds by reference, with what the
/// Reference grants (ivm-core's `host` rule).
pub(crate) struct HostValue {
    value: Py<PyAny>,
    grant: Grant,
}

/// What `derefInto()` made inside an isolate gives Python: the very Python
/// object of a Reference to one; anything else lives elsewhere.
pub(crate) fn dereferenced(py: Python<'_>, remote: Arc<dyn ivm_core::Remote>) -> PyResult<Bound<'_, PyAny>> {
    let any: Arc<dyn std::any::Any + Send + Sync> = remote;
    match any.downcast::<HostValue>() {
        Ok(host) => Ok(host.value.bind(py).clone()),
        Err(_) => Err(crate::errors::transfer_error(py, "Cannot dereference this into target isolate")),
    }
}

impl std::fmt::Debug for HostValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostValue").field("grant", &self.grant).finish()
    }
}

/// Python's objects as ivm-core's host rule sees them. An object's own data
/// is a dict's items, a list's or tuple's elements, and the attributes in an
/// instance's `__dict__`; a module's or class's attributes are what others
/// inherit. Names beginning with `_` are never data, so no dunder (and no
/// `__globals__`, `__class__`, `gi_frame`'s way back to them) is reachable.
/// Nothing here runs an object's own code: dicts are read through the C
/// API, instances through their `__dict__`, classes statically.
struct PyObjects<'py> {
    py: Python<'py>,
}

/// How Python names an attribute, if `key` may name one at all.
fn attribute(key: &Key) -> Option<String> {
    let name = key.to_name();
    (!name.starts_with('_')).then(|| name.into_owned())
}

/// What a list or tuple index `key` names, if it is one.
fn index(key: &Key) -> Option<usize> {
    match key {
        Key::Index(index) => Some(*index as usize),
        Key::Name(name) => name.as_str().and_then(|name| name.parse::<u32>().ok()).map(|index| index as usize),
    }
}

impl<'py> PyObjects<'py> {
    /// A dict's keys for `key`: an index is looked up as an int, then as a
    /// string (JavaScript does not tell `1` from `"1"`).
    fn dict_keys(&self, key: &Key) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let name = PyString::new(self.py, &key.to_name()).into_any();
        Ok(match key {
            Key::Index(index) => vec![index.into_pyobject(self.py)?.into_any(), name],
            Key::Name(_) => vec![name],
        })
    }

    /// The instance `__dict__` of `object`, if it has one, read without
    /// running its class's `__getattribute__`.
    fn instance_dict(&self, object: &Bound<'py, PyAny>) -> Option<Bound<'py, PyDict>> {
        // SAFETY: `object` is a live object and the GIL is held;
        // PyObject_GenericGetDict returns a new reference or NULL with an
        // exception set, which `from_owned_ptr_or_err` takes.
        let dict = unsafe {
            Bound::from_owned_ptr_or_err(self.py, pyo3::ffi::PyObject_GenericGetDict(object.as_ptr(), ptr::null_mut()))
        };
        dict.ok().and_then(|dict| dict.cast_into::<PyDict>().ok())
    }

    /// The class attribute `name` of `class`, found through its MRO without
    /// running any descriptor.
    fn class_attribute(&self, class: &Bound<'py, PyType>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        for base in class.mro().iter() {
            let namespace = base.getattr(intern!(self.py, "__dict__"))?;
            if let Ok(found) = namespace.get_item(name) {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn is_data_descriptor(&self, attribute: &Bound<'py, PyAny>) -> PyResult<bool> {
        let class = attribute.get_type();
        Ok(class.hasattr(intern!(self.py, "__set__"))? || class.hasattr(intern!(self.py, "__delete__"))?)
    }
}

impl<'py> HostObjects for PyObjects<'py> {
    type Value = Bound<'py, PyAny>;
    type Error = PyErr;

    fn kind(&mut self, value: &Bound<'py, PyAny>) -> PyResult<Kind> {
        Ok(match to_primitive(value) {
            Ok(primitive) => Kind::Primitive(primitive),
            Err(_) if value.is_callable() => Kind::Function,
            Err(_) => Kind::Object,
        })
    }

    fn is_proxy(&mut self, _object: &Bound<'py, PyAny>) -> PyResult<bool> {
        Ok(false)
    }

    fn is_namespace(&mut self, object: &Bound<'py, PyAny>) -> PyResult<bool> {
        Ok(object.is_instance_of::<PyModule>() || object.is_instance_of::<PyType>())
    }

    fn own_property(&mut self, object: &Bound<'py, PyAny>, key: &Key) -> PyResult<Property<Bound<'py, PyAny>>> {
        if let Ok(dict) = object.cast::<PyDict>() {
            for candidate in self.dict_keys(key)? {
                if let Some(item) = dict.get_item(candidate)? {
                    return Ok(Property::Data(item));
                }
            }
            return Ok(Property::Absent);
        }
        if let Ok(list) = object.cast::<PyList>() {
            return Ok(index(key).and_then(|i| list.get_item(i).ok()).map_or(Property::Absent, Property::Data));
        }
        if let Ok(tuple) = object.cast::<PyTuple>() {
            return Ok(index(key).and_then(|i| tuple.get_item(i).ok()).map_or(Property::Absent, Property::Data));
        }
        let Some(name) = attribute(key) else { return Ok(Property::Absent) };
        if let Ok(class) = object.cast::<PyType>() {
            return Ok(match self.class_attribute(class, &name)? {
                // Functions, properties, class and static methods: run only
                // with `accessors`, where `read` binds them.
                Some(found) if found.get_type().hasattr(intern!(self.py, "__get__"))? => Property::Accessor,
                Some(found) => Property::Data(found),
                None => Property::Absent,
            });
        }
        if object.is_instance_of::<PyModule>() {
            let namespace = self.instance_dict(object);
            let found = namespace.map(|namespace| namespace.get_item(&name)).transpose()?.flatten();
            return Ok(found.map_or(Property::Absent, Property::Data));
        }
        // An instance: its class's data descriptors (properties, slots) come
        // before its `__dict__`, as in Python's own lookup.
        if let Some(found) = self.class_attribute(&object.get_type(), &name)? {
            if self.is_data_descriptor(&found)? {
                return Ok(Property::Accessor);
            }
        }
        let found = self.instance_dict(object).map(|namespace| namespace.get_item(&name)).transpose()?.flatten();
        Ok(found.map_or(Property::Absent, Property::Data))
    }

    fn parent(&mut self, object: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(if self.is_namespace(object)? { None } else { Some(object.get_type().into_any()) })
    }

    fn read(&mut self, object: &Bound<'py, PyAny>, key: &Key) -> PyResult<Bound<'py, PyAny>> {
        match attribute(key) {
            Some(name) => object.getattr(name),
            None => Ok(self.py.None().into_bound(self.py)),
        }
    }

    fn define(&mut self, object: &Bound<'py, PyAny>, key: &Key, value: Bound<'py, PyAny>) -> PyResult<bool> {
        if let Ok(dict) = object.cast::<PyDict>() {
            let key = self.dict_keys(key)?.swap_remove(0);
            dict.set_item(key, value)?;
            return Ok(true);
        }
        if let Ok(list) = object.cast::<PyList>() {
            return Ok(match index(key).filter(|i| *i < list.len()) {
                Some(i) => list.set_item(i, value).map(|()| true)?,
                None => false,
            });
        }
        if object.is_instance_of::<PyTuple>() {
            return Ok(false);
        }
        let Some(name) = attribute(key) else { return Ok(false) };
        if self.is_namespace(object)? {
            object.setattr(name, value)?;
            return Ok(true);
        }
        if let Some(found) = self.class_attribute(&object.get_type(), &name)? {
            if self.is_data_descriptor(&found)? {
                return Ok(false);
            }
        }
        match self.instance_dict(object) {
            Some(namespace) => namespace.set_item(name, value).map(|()| true),
            None => Ok(false),
        }
    }

    fn remove(&mut self, object: &Bound<'py, PyAny>, key: &Key) -> PyResult<bool> {
        if let Ok(dict) = object.cast::<PyDict>() {
            for candidate in self.dict_keys(key)? {
                if dict.contains(&candidate)? {
                    dict.del_item(candidate)?;
                }
            }
            return Ok(true);
        }
        if object.is_instance_of::<PyList>() || object.is_instance_of::<PyTuple>() {
            return Ok(false);
        }
        let Some(name) = attribute(key) else { return Ok(false) };
        if self.is_namespace(object)? {
            if object.hasattr(&name)? {
                object.delattr(name)?;
            }
            return Ok(true);
        }
        if let Some(found) = self.class_attribute(&object.get_type(), &name)? {
            if self.is_data_descriptor(&found)? {
                return Ok(false);
            }
        }
        match self.instance_dict(object) {
            Some(namespace) => {
                if namespace.contains(&name)? {
                    namespace.del_item(name)?;
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn call(
        &mut self,
        function: &Bound<'py, PyAny>,
        _receiver: Bound<'py, PyAny>,
        arguments: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        function.call1(PyTuple::new(self.py, arguments)?)
    }

    fn copy(&mut self, value: &Bound<'py, PyAny>) -> PyResult<Structured> {
        to_structured(value)
    }

    fn materialise(&mut self, value: Transferable) -> PyResult<Bound<'py, PyAny>> {
        from_transferable(self.py, value)
    }

    fn reference(&mut self, value: Bound<'py, PyAny>, grant: Grant) -> PyResult<Arc<dyn Remote>> {
        Ok(Arc::new(HostValue { value: value.unbind(), grant }))
    }
}

/// A refused or failed operation on a Python object, raised in Python: a
/// refusal as `UsageError`, a Python exception as itself.
fn access_error(py: Python<'_>, access: Access<PyErr>) -> PyErr {
    match access {
        Access::Refused(refusal) => usage_error(py, refusal.to_string()),
        Access::Host(error) => error,
    }
}

impl HostValue {
    /// The operation, carried out under the Reference's grant (widened by
    /// `accessors` when Python itself asks).
    fn get<'py>(&self, key: &Bound<'py, PyAny>, options: &ivm_core::RunOptions) -> PyResult<Bound<'py, PyAny>> {
        let py = key.py();
        let grant = if options.accessors { self.grant.accessors(true) } else { self.grant };
        let objects = &mut PyObjects { py };
        let target = self.value.bind(py);
        let found =
            host::get(objects, target, &to_primitive(key)?, grant).map_err(|access| access_error(py, access))?;
        let Some(value) = found else { return Ok(py.None().into_bound(py)) };
        let left =
            host::leave(objects, value, options.result, self.grant).map_err(|access| access_error(py, access))?;
        from_transferable(py, left)
    }

    fn set(&self, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = key.py();
        let (objects, target) = (&mut PyObjects { py }, self.value.bind(py));
        host::set(objects, target, &to_primitive(key)?, value.clone(), self.grant)
            .map_err(|access| access_error(py, access))
    }

    fn delete(&self, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = key.py();
        let (objects, target) = (&mut PyObjects { py }, self.value.bind(py));
        host::delete(objects, target, &to_primitive(key)?, self.grant).map_err(|access| access_error(py, access))
    }

    fn apply<'py>(
        &self,
        py: Python<'py>,
        arguments: Vec<Bound<'py, PyAny>>,
        mode: TransferMode,
    ) -> PyResult<Bound<'py, PyAny>> {
        let objects = &mut PyObjects { py };
        let receiver = py.None().into_bound(py);
        let target = self.value.bind(py);
        let returned = host::apply(objects, target, receiver, arguments).map_err(|access| access_error(py, access))?;
        let left = host::leave(objects, returned, mode, self.grant).map_err(|access| access_error(py, access))?;
        from_transferable(py, left)
    }
}

fn bool_to_py(py: Python<'_>, flag: bool) -> PyResult<Bound<'_, PyAny>> {
    Ok(pyo3::types::PyBool::new(py, flag).to_owned().into_any())
}

impl Remote for HostValue {
    fn type_of(&self) -> String {
        let callable = crate::interpreter::attach(|py| self.value.bind(py).is_callable());
        if callable == Some(true) { "function" } else { "object" }.to_owned()
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        crate::interpreter::attach(|py| {
            let performed = host::perform(&mut PyObjects { py }, self.value.bind(py), self.grant, op);
            performed.map_err(|access| match access {
                Access::Refused(refusal) => refusal.into(),
                // A Python exception keeps its ivm class, as a callback's does.
                Access::Host(error) => crate::errors::host_error(py, &error),
            })
        })
        .unwrap_or_else(|| Err(crate::interpreter::SHUT_DOWN.into()))
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        match self.call(op) {
            Ok(value) => resolver.resolve(value),
            Err(message) => resolver.reject(message),
        }
    }
}
