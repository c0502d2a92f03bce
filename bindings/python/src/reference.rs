//! `Reference`: a handle to a value that stays where it is. Either a value in
//! an isolate (ivm-core's [`ivm_core::Reference`]), or a Python object
//! handed to JavaScript by reference (`ivm.Reference(obj)`), which arrives in
//! the isolate as isolated-vm's `Reference` class: its `get`, `set`,
//! `delete`, `apply` and `copy` methods reach the object through
//! [`HostValue`], on whichever thread runs the isolate, holding the
//! interpreter meanwhile.

use std::sync::Arc;

use ivm_core::{CallbackResult, Remote, RemoteOp, Resolver, TransferMode, Transferable, Value};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::aio::{detached, future};
use crate::convert::{
    from_structured, from_transferable, primitive_to_py, to_primitive, to_structured, to_transferable, to_transferables,
};
use crate::errors::{message_of, usage_error};
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
    #[new]
    fn new(value: Py<PyAny>) -> Reference {
        Reference { target: Target::Host(Arc::new(HostValue { value })) }
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
    /// prototype chain); ``accessors=True`` reads as JavaScript does.
    #[pyo3(signature = (key, **options))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("get", GET, options)?;
        match &self.target {
            Target::Isolate(reference) => {
                let key = to_primitive(key)?;
                from_transferable(py, detached(py, || reference.get(key, &options))?)
            }
            Target::Host(host) => from_transferable(py, leave(host.get(key)?, options.result)?),
        }
    }

    /// `get`, awaitable.
    #[pyo3(signature = (key, **options))]
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
    #[pyo3(signature = (key, value, **options))]
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
    #[pyo3(signature = (key, value, **options))]
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
    #[pyo3(signature = (key, value, **options))]
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
    #[pyo3(signature = (key, **options))]
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
    #[pyo3(signature = (key, **options))]
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
    #[pyo3(signature = (key, **options))]
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
    #[pyo3(signature = (receiver = None, arguments = None, **options))]
    fn apply<'py>(
        &self,
        py: Python<'py>,
        receiver: Option<&Bound<'_, PyAny>>,
        arguments: Option<&Bound<'_, PyAny>>,
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
                    Some(arguments) => PyTuple::new(py, arguments.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
                    None => PyTuple::empty(py),
                };
                let result = host.value.bind(py).call1(arguments)?;
                from_transferable(py, leave(result, options.result)?)
            }
        }
    }

    /// `apply`, awaitable.
    #[pyo3(signature = (receiver = None, arguments = None, **options))]
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
    #[pyo3(signature = (receiver = None, arguments = None, **options))]
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

/// A Python object that JavaScript holds by reference.
pub(crate) struct HostValue {
    value: Py<PyAny>,
}

impl std::fmt::Debug for HostValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostValue")
    }
}

impl HostValue {
    /// ``value[key]`` for mappings and sequences (with an int key), else
    /// the attribute `key`; what is missing is `None` (JavaScript's
    /// `undefined`).
    fn get<'py>(&self, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = key.py();
        let value = self.value.bind(py);
        if by_item(value, key)? {
            return match value.get_item(key) {
                Ok(item) => Ok(item),
                Err(error)
                    if error.is_instance_of::<PyKeyError>(py)
                        || error.is_instance_of::<pyo3::exceptions::PyIndexError>(py) =>
                {
                    Ok(py.None().into_bound(py))
                }
                Err(error) => Err(error),
            };
        }
        let name = key.str()?;
        Ok(value.getattr(&name).unwrap_or_else(|_| py.None().into_bound(py)))
    }

    fn set(&self, key: &Bound<'_, PyAny>, new: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = self.value.bind(key.py());
        if by_item(value, key)? { value.set_item(key, new) } else { value.setattr(&key.str()?, new) }
    }

    fn delete(&self, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = self.value.bind(key.py());
        if by_item(value, key)? { value.del_item(key) } else { value.delattr(&key.str()?) }
    }

    fn perform(&self, py: Python<'_>, op: RemoteOp) -> PyResult<Transferable> {
        match op {
            RemoteOp::Copy => Ok(Transferable::Copy(to_structured(self.value.bind(py))?)),
            RemoteOp::Get { key, result, .. } => leave(self.get(&primitive_to_py(py, &key)?)?, result),
            RemoteOp::Set { key, value, .. } => {
                self.set(&primitive_to_py(py, &key)?, &from_structured(py, value)?)?;
                Ok(Transferable::from(Value::Bool(true)))
            }
            RemoteOp::Delete { key } => {
                self.delete(&primitive_to_py(py, &key)?)?;
                Ok(Transferable::from(Value::Bool(true)))
            }
            RemoteOp::Apply { arguments, result, .. } => {
                let arguments = arguments
                    .into_iter()
                    .map(|argument| from_structured(py, argument))
                    .collect::<PyResult<Vec<_>>>()?;
                let returned = self.value.bind(py).call1(PyTuple::new(py, arguments)?)?;
                leave(returned, result)
            }
            _ => Err(usage_error(py, "a Python object does not have this method")),
        }
    }
}

fn bool_to_py(py: Python<'_>, flag: bool) -> PyResult<Bound<'_, PyAny>> {
    Ok(pyo3::types::PyBool::new(py, flag).to_owned().into_any())
}

/// How a Python result leaves for an isolate: `mode` as a call's options
/// say, data copied and objects by reference by default.
fn leave(value: Bound<'_, PyAny>, mode: TransferMode) -> PyResult<Transferable> {
    Ok(match mode {
        TransferMode::Copy => Transferable::Copy(to_structured(&value)?),
        TransferMode::ExternalCopy => Transferable::from(ivm_core::ExternalCopy::new(to_structured(&value)?)),
        TransferMode::Reference => Transferable::Remote(Arc::new(HostValue { value: value.unbind() })),
        _ => match to_primitive(&value) {
            Ok(primitive) => Transferable::from(primitive),
            Err(_) => Transferable::Remote(Arc::new(HostValue { value: value.unbind() })),
        },
    })
}

/// Whether `key` names an item of `value` (a mapping's key, a sequence's
/// index) rather than an attribute.
fn by_item(value: &Bound<'_, PyAny>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(value.is_instance_of::<PyDict>()
        || (value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>())
            && key.is_instance_of::<pyo3::types::PyInt>()
        || value.hasattr("keys")? && value.hasattr("__getitem__")?)
}

impl Remote for HostValue {
    fn type_of(&self) -> String {
        let callable = crate::interpreter::attach(|py| self.value.bind(py).is_callable());
        if callable == Some(true) { "function" } else { "object" }.to_owned()
    }

    fn call(&self, op: RemoteOp) -> CallbackResult {
        crate::interpreter::attach(|py| self.perform(py, op).map_err(|error| message_of(py, &error)))
            .unwrap_or_else(|| Err(crate::interpreter::SHUT_DOWN.to_owned()))
    }

    fn call_async(&self, op: RemoteOp, resolver: Resolver) {
        match self.call(op) {
            Ok(value) => resolver.resolve(value),
            Err(message) => resolver.reject(message),
        }
    }
}
