//! ExternalCopy: a value copied out of every isolate, to be copied (or moved)
//! into any number of them later.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ivm_marshal::wire::{self, Encoded};
use ivm_marshal::{Serialized, Structured};

use crate::transfer::{JsScope, marshal_error, serialize_out};
use crate::{Error, Reference, Result, RunOptions, Transferable};

/// Bytes held by all live external copies in the process.
static TOTAL_EXTERNAL_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The total size of every external copy alive in this process, in bytes
/// (isolated-vm's `ExternalCopy.totalExternalSize`).
pub fn total_external_size() -> usize {
    TOTAL_EXTERNAL_SIZE.load(Ordering::Relaxed)
}

/// A structured clone held outside any isolate. Cheap to clone; clones share
/// the copy, and [`ExternalCopy::release`] releases it for all of them.
#[derive(Clone)]
pub struct ExternalCopy {
    inner: Arc<Inner>,
}

struct Inner {
    value: Mutex<Option<Serialized>>,
    size: usize,
    /// What the value takes on a heap, at least (`Serialized::heap_bytes`).
    heap_bytes: usize,
    /// The value's ArrayBuffer memory was handed over (`transfer_in`):
    /// later uses say so, as isolated-vm's "Array buffer is invalid".
    handed_over: AtomicBool,
}

/// What `transfer_in` takes from a copy.
enum TransferIn {
    /// The value, whose buffers move; the copy is left without it.
    Moved(Serialized),
    /// A copy of the value, which has no buffers to move; the copy keeps it.
    Copied(Serialized),
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.value.get_mut().unwrap_or_else(PoisonError::into_inner).is_some() {
            TOTAL_EXTERNAL_SIZE.fetch_sub(self.size, Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for ExternalCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalCopy").field("size", &self.inner.size).field("released", &self.is_released()).finish()
    }
}

/// How to make an [`ExternalCopy`] of a referenced value (isolated-vm's
/// `ExternalCopy` constructor options).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExternalCopyOptions {
    /// ArrayBuffers (references to them, in the same isolate) whose memory
    /// moves into the copy instead of being copied; they are detached.
    pub transfer_list: Vec<Reference>,
    /// Move the value itself out of its isolate: an ArrayBuffer, or the
    /// buffer under a typed array or DataView, is detached and its memory
    /// moves into the copy in constant time. Any other value is an error.
    pub transfer_out: bool,
}

impl ExternalCopyOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn transfer(mut self, buffer: Reference) -> Self {
        self.transfer_list.push(buffer);
        self
    }

    pub fn transfer_out(mut self, transfer_out: bool) -> Self {
        self.transfer_out = transfer_out;
        self
    }
}

/// How [`ExternalCopy::copy`] and [`ExternalCopy::copy_into`] hand the value
/// over (isolated-vm's `release` and `transferIn`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyOptions {
    /// Release the external copy once the value has been handed over.
    pub release: bool,
    /// Hand ArrayBuffer memory over without copying it, as isolated-vm's
    /// `transferIn`: a copy of an ArrayBuffer or a view (or one holding
    /// buffers moved into it) gives its memory and is left without a value
    /// ("Array buffer is invalid"); any other copy is copied and stays.
    pub transfer_in: bool,
}

impl CopyOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn release(mut self, release: bool) -> Self {
        self.release = release;
        self
    }

    pub fn transfer_in(mut self, transfer_in: bool) -> Self {
        self.transfer_in = transfer_in;
        self
    }
}

impl ExternalCopy {
    /// An external copy of a value built outside any isolate.
    pub fn new(value: Structured) -> ExternalCopy {
        ExternalCopy::held(Serialized::from(value))
    }

    /// An external copy of a value serialized elsewhere (by a host engine's
    /// serializer, see [`foreign::serialized`](crate::foreign::serialized)).
    pub fn from_serialized(value: Serialized) -> ExternalCopy {
        ExternalCopy::held(value)
    }

    /// The copied value as it is held, for a host that reads V8's format
    /// itself; `options` as for [`ExternalCopy::copy`].
    pub fn copy_serialized(&self, options: &CopyOptions) -> Result<Serialized> {
        if options.transfer_in {
            return Ok(match self.transfer_in()? {
                TransferIn::Moved(value) | TransferIn::Copied(value) => value,
            });
        }
        let value = self.inner.value.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let value = value.ok_or_else(|| self.gone())?;
        if options.release {
            self.release();
        }
        Ok(value)
    }

    /// Holds a copy made in an isolate: V8's own serialization of it, which
    /// materialises in another isolate without passing through the value
    /// model.
    pub(crate) fn held(value: Serialized) -> ExternalCopy {
        let size = value.size();
        let heap_bytes = value.heap_bytes();
        TOTAL_EXTERNAL_SIZE.fetch_add(size, Ordering::Relaxed);
        ExternalCopy {
            inner: Arc::new(Inner {
                value: Mutex::new(Some(value)),
                size,
                heap_bytes,
                handed_over: AtomicBool::new(false),
            }),
        }
    }

    /// An external copy of a referenced value, made in its isolate.
    pub fn from_reference(reference: &Reference, options: &ExternalCopyOptions) -> Result<ExternalCopy> {
        let isolate = reference.isolate();
        if options.transfer_list.iter().any(|r| r.isolate() != isolate) {
            return Err(Error::WrongIsolate("A transfer list can only name buffers of the value's own isolate"));
        }
        reference.run(&RunOptions::new(), |scope, value| {
            let mut transfer_list =
                options.transfer_list.iter().map(|buffer| buffer.deref(scope)).collect::<Result<Vec<_>>>()?;
            if options.transfer_out {
                transfer_list.push(own_buffer(scope, value)?);
            }
            let copy = serialize_out(scope, value, ivm_marshal::CloneOptions { transfer_list, ..Default::default() })?;
            Ok(ExternalCopy::held(copy))
        })
    }

    /// The size this copy is accounted at, in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// At least the bytes the value takes on an isolate's heap once
    /// materialised, its buffers' contents aside.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.inner.heap_bytes
    }

    /// Whether the copy's ArrayBuffer memory was handed over by a
    /// `transfer_in` (it then has no value, as a released one).
    pub fn was_handed_over(&self) -> bool {
        self.inner.handed_over.load(Ordering::Relaxed)
    }

    pub fn is_released(&self) -> bool {
        self.inner.value.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    /// The copied value, for the host. With `transfer_in`, a copy of an
    /// ArrayBuffer (or one holding buffers moved into it) hands its memory
    /// over and is left without a value; any other copy is copied and
    /// stays, as isolated-vm's `transferIn` has it.
    pub fn copy(&self, options: &CopyOptions) -> Result<Structured> {
        Ok(self.copy_serialized(options)?.into_structured()?)
    }

    /// A transferable that materialises the value in whichever isolate it is
    /// passed into (as an argument, a property value or a closure's `$0`),
    /// as `options` say. Nothing is copied until then. With `release`, the
    /// value moves out of this copy now, which is released, into the
    /// transferable (isolated-vm's `copyInto({ release: true })`). A
    /// released copy is refused.
    pub fn copy_into(&self, options: &CopyOptions) -> Result<Transferable> {
        let copy = if options.release {
            self.moved()?
        } else if self.is_released() {
            return Err(self.gone());
        } else {
            self.clone()
        };
        Ok(Transferable::ExternalCopy(copy, *options))
    }

    /// The copy in ivm's versioned wire format, to be stored or sent to
    /// another process and turned back into a copy with
    /// [`ExternalCopy::decode`]. SharedArrayBuffers travel beside the bytes,
    /// as handles to the same memory.
    pub fn encode(&self) -> Result<Encoded> {
        let value = self.inner.value.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let value = value.ok_or_else(|| self.gone())?.into_structured()?;
        Ok(wire::encode(&value))
    }

    /// A copy from bytes of any origin: malformed or hostile input is an
    /// [`Error::Wire`], never a crash. ArrayBuffer contents stay slices of
    /// `encoded.bytes` until they are materialised.
    pub fn decode(encoded: &Encoded) -> Result<ExternalCopy> {
        Ok(ExternalCopy::new(wire::decode(encoded)?))
    }

    /// A new copy holding this one's value, which this one lets go of: the
    /// value moves, nothing is copied.
    fn moved(&self) -> Result<ExternalCopy> {
        Ok(ExternalCopy::held(self.take()?))
    }

    /// Releases the copy; later uses fail. Releasing twice is harmless.
    pub fn release(&self) {
        drop(self.take());
    }

    fn take(&self) -> Result<Serialized> {
        let taken = self.inner.value.lock().unwrap_or_else(PoisonError::into_inner).take();
        match taken {
            Some(value) => {
                TOTAL_EXTERNAL_SIZE.fetch_sub(self.inner.size, Ordering::Relaxed);
                Ok(value)
            }
            None => Err(self.gone()),
        }
    }

    /// The value for `transfer_in`: taken if it has buffers to move, else
    /// a copy of it.
    fn transfer_in(&self) -> Result<TransferIn> {
        let mut value = self.inner.value.lock().unwrap_or_else(PoisonError::into_inner);
        let moves = value.as_ref().ok_or_else(|| self.gone())?.moves_buffers();
        if !moves {
            return Ok(TransferIn::Copied(value.clone().ok_or_else(|| self.gone())?));
        }
        let taken = value.take().ok_or_else(|| self.gone())?;
        self.inner.handed_over.store(true, Ordering::Relaxed);
        TOTAL_EXTERNAL_SIZE.fetch_sub(self.inner.size, Ordering::Relaxed);
        Ok(TransferIn::Moved(taken))
    }

    /// Why the copy has no value: its buffers were handed over, or it was
    /// released.
    fn gone(&self) -> Error {
        if self.was_handed_over() {
            Error::Released("Array buffer is invalid")
        } else {
            Error::Released("Copy has been released")
        }
    }

    /// Materialises the value in the isolate that `scope` belongs to, as
    /// `options` say.
    pub(crate) fn materialise<'s>(
        &self,
        scope: &mut JsScope<'_, '_, 's, '_>,
        options: &CopyOptions,
    ) -> Result<v8::Local<'s, v8::Value>> {
        let result = if options.transfer_in {
            match self.transfer_in()? {
                TransferIn::Moved(value) => ivm_marshal::deserialize_moving(scope, value),
                TransferIn::Copied(value) => ivm_marshal::deserialize(scope, &value),
            }
        } else {
            let guard = self.inner.value.lock().unwrap_or_else(PoisonError::into_inner);
            let value = guard.as_ref().ok_or_else(|| self.gone())?;
            let result = ivm_marshal::deserialize(scope, value);
            drop(guard);
            if options.release {
                self.release();
            }
            result
        };
        result.map_err(|e| marshal_error(scope, e))
    }
}

/// The ArrayBuffer a `transfer_out` copy moves: the value itself, or the
/// buffer under a view.
fn own_buffer<'s>(
    scope: &mut JsScope<'_, '_, 's, '_>,
    value: v8::Local<'s, v8::Value>,
) -> Result<v8::Local<'s, v8::Value>> {
    if value.is_array_buffer() {
        return Ok(value);
    }
    let view = v8::Local::<v8::ArrayBufferView>::try_from(value).ok();
    match view.and_then(|view| view.buffer(scope)) {
        Some(buffer) => Ok(buffer.into()),
        None => Err(Error::Marshal(ivm_marshal::Error::Transfer(
            "transfer_out applies only to an ArrayBuffer or a view of one".into(),
        ))),
    }
}

impl TryFrom<Transferable> for ExternalCopy {
    type Error = Error;

    fn try_from(value: Transferable) -> Result<ExternalCopy> {
        value.into_external_copy().ok_or_else(|| Error::InvalidArgument("not an ExternalCopy".into()))
    }
}
