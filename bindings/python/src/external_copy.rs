//! `ExternalCopy` (a copy held outside every isolate, made once and copied
//! into as many isolates as want it), `CopyInto` (one with the options of
//! how it enters) and `SharedArrayBuffer` (memory shared with isolates,
//! which Python sees through a writable `memoryview`).

use std::ffi::c_int;

use ivm_core::{CopyOptions, ExternalCopyOptions, SharedBuffer, Transferable};
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;

use crate::aio::detached;
use crate::convert::{fill_buffer, from_structured, to_structured};
use crate::errors::{OrRaise, usage_error};
use crate::options::{number, whole};
use crate::reference::Reference;

/// A copy of a value held outside any isolate: copied in once, then into
/// any number of isolates (as an argument or property value) without
/// touching Python again.
#[pyclass(module = "ivm", frozen)]
pub(crate) struct ExternalCopy {
    inner: ivm_core::ExternalCopy,
}

impl From<ivm_core::ExternalCopy> for ExternalCopy {
    fn from(inner: ivm_core::ExternalCopy) -> ExternalCopy {
        ExternalCopy { inner }
    }
}

impl ExternalCopy {
    /// The copy as it enters an isolate when passed itself.
    pub(crate) fn transferable(&self) -> ivm_core::Result<Transferable> {
        self.inner.copy_into(&CopyOptions::new())
    }
}

#[pymethods]
impl ExternalCopy {
    /// A copy of `value`: a Python value, or the value in an isolate that a
    /// `Reference` points to. With ``transfer_out=True`` an ArrayBuffer in an
    /// isolate (or a typed array's buffer) moves into the copy instead of
    /// being copied, and is detached there; ``copy(transfer_in=True)`` then
    /// hands that memory to Python, still without a copy.
    #[new]
    #[pyo3(signature = (value, *, transfer_out = false))]
    fn new(py: Python<'_>, value: &Bound<'_, PyAny>, transfer_out: bool) -> PyResult<ExternalCopy> {
        if let Some(reference) =
            value.cast::<Reference>().ok().and_then(|reference| reference.get().in_isolate().cloned())
        {
            let options = ExternalCopyOptions::new().transfer_out(transfer_out);
            let inner = detached(py, || ivm_core::ExternalCopy::from_reference(&reference, &options))?;
            return Ok(ExternalCopy { inner });
        }
        if transfer_out {
            return Err(usage_error(py, "transfer_out moves a value out of an isolate: pass a Reference to one"));
        }
        Ok(ExternalCopy { inner: ivm_core::ExternalCopy::new(to_structured(value)?) })
    }

    /// A new Python copy of the value. ``release=True`` releases the
    /// external copy afterwards; ``transfer_in=True`` hands an ArrayBuffer
    /// copy's memory over instead of copying it (the external copy is then
    /// without a value); any other copy is copied and stays.
    #[pyo3(signature = (*, release = false, transfer_in = false))]
    fn copy<'py>(&self, py: Python<'py>, release: bool, transfer_in: bool) -> PyResult<Bound<'py, PyAny>> {
        let options = CopyOptions::new().release(release).transfer_in(transfer_in);
        let copy = detached(py, || self.inner.copy(&options))?;
        from_structured(py, copy)
    }

    /// The copy with the options it enters an isolate with, to pass as an
    /// argument or property value (passing the ExternalCopy itself copies it
    /// in with the defaults).
    #[pyo3(signature = (*, release = false, transfer_in = false))]
    fn copy_into(&self, py: Python<'_>, release: bool, transfer_in: bool) -> PyResult<CopyInto> {
        let into = self.inner.copy_into(&CopyOptions::new().release(release).transfer_in(transfer_in));
        Ok(CopyInto { into: into.or_raise(py)? })
    }

    /// The bytes this copy is accounted at.
    #[getter]
    fn size(&self) -> usize {
        self.inner.size()
    }

    /// Whether the copy has been released.
    #[getter]
    fn is_released(&self) -> bool {
        self.inner.is_released()
    }

    /// Releases the copy; later uses raise `ReleasedError`.
    fn release(&self) {
        self.inner.release();
    }

    fn __repr__(&self) -> String {
        format!("<ivm.ExternalCopy of {} bytes>", self.inner.size())
    }
}

/// An ExternalCopy with how it enters an isolate (`ExternalCopy.copy_into`).
#[pyclass(module = "ivm", frozen)]
pub(crate) struct CopyInto {
    into: Transferable,
}

impl CopyInto {
    pub(crate) fn transferable(&self) -> Transferable {
        self.into.clone()
    }
}

/// Memory shared between Python and isolates: a JavaScript
/// ``SharedArrayBuffer`` of the same memory wherever it is passed, and a
/// writable buffer in Python (``memoryview(shared)``). Values copied out of
/// isolates hold their SharedArrayBuffers as memoryviews of these.
#[pyclass(module = "ivm", name = "SharedArrayBuffer", frozen)]
pub(crate) struct SharedMemory {
    buffer: SharedBuffer,
}

impl From<SharedBuffer> for SharedMemory {
    fn from(buffer: SharedBuffer) -> SharedMemory {
        SharedMemory { buffer }
    }
}

impl SharedMemory {
    pub(crate) fn buffer(&self) -> &SharedBuffer {
        &self.buffer
    }
}

#[pymethods]
impl SharedMemory {
    #[new]
    fn new(byte_length: &Bound<'_, PyAny>) -> PyResult<SharedMemory> {
        let byte_length = number("byte_length", byte_length)?;
        let byte_length = whole("byte_length", byte_length, 0, ivm_core::numeric::MAX_BYTE_LENGTH as i64)?;
        let buffer = SharedBuffer::new(byte_length as usize)
            .map_err(|error| PyMemoryError::new_err(format!("{error} ({byte_length} bytes)")))?;
        Ok(SharedMemory { buffer })
    }

    /// The size of the shared memory, in bytes.
    #[getter]
    fn byte_length(&self) -> usize {
        self.buffer.byte_length()
    }

    fn __len__(&self) -> usize {
        self.buffer.byte_length()
    }

    /// The buffer protocol: the shared memory itself, writable.
    ///
    /// # Safety
    ///
    /// Called by CPython with a `Py_buffer` to fill in.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut pyo3::ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let (start, length) = (slf.get().buffer.as_ptr(), slf.get().buffer.byte_length());
        // SAFETY: `view` is CPython's to fill; the memory is `length` bytes
        // that live as long as this object. It is writable by design: it is
        // shared memory, as in JavaScript.
        unsafe { fill_buffer(&slf, view, start, length, flags) }
    }

    fn __repr__(&self) -> String {
        format!("<ivm.SharedArrayBuffer of {} bytes>", self.buffer.byte_length())
    }
}
