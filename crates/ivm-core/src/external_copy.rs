//! ExternalCopy: a value copied out of every isolate, to be copied (or moved)
//! into any number of them later.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ivm_marshal::Structured;

use crate::transfer::{JsScope, copy_out, marshal_error};
use crate::{Context, Error, Reference, Result, RunOptions, Transferable};

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
    value: Mutex<Option<Structured>>,
    size: usize,
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

/// How to make an [`ExternalCopy`] of a referenced value.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExternalCopyOptions {
    /// ArrayBuffers (references to them, in the same isolate) whose memory
    /// moves into the copy instead of being copied; they are detached.
    pub transfer_list: Vec<Reference>,
}

impl ExternalCopyOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn transfer(mut self, buffer: Reference) -> Self {
        self.transfer_list.push(buffer);
        self
    }
}

/// How [`ExternalCopy::copy_into`] materialises the copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyIntoOptions {
    /// Release the external copy once it has been materialised.
    pub release: bool,
    /// Move transferred ArrayBuffer memory into the isolate instead of
    /// copying it; the external copy is released.
    pub transfer_in: bool,
}

impl CopyIntoOptions {
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
        // What the copy costs: its buffers, plus a rough figure per object.
        let size = value.buffer_bytes() + std::mem::size_of_val(value.objects());
        TOTAL_EXTERNAL_SIZE.fetch_add(size, Ordering::Relaxed);
        ExternalCopy { inner: Arc::new(Inner { value: Mutex::new(Some(value)), size }) }
    }

    /// An external copy of a referenced value, made in its isolate.
    pub fn from_reference(reference: &Reference, options: &ExternalCopyOptions) -> Result<ExternalCopy> {
        let isolate = reference.isolate();
        if options.transfer_list.iter().any(|r| r.isolate() != isolate) {
            return Err(Error::WrongIsolate("A transfer list can only name buffers of the value's own isolate"));
        }
        reference.run(&RunOptions::new(), |scope, value| {
            let transfer_list =
                options.transfer_list.iter().map(|buffer| buffer.deref(scope)).collect::<Result<Vec<_>>>()?;
            let copy = copy_out(scope, value, ivm_marshal::CloneOptions { transfer_list })?;
            Ok(ExternalCopy::new(copy))
        })
    }

    /// The size this copy is accounted at, in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    pub fn is_released(&self) -> bool {
        self.inner.value.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    /// The copied value, for the host.
    pub fn copy(&self) -> Result<Structured> {
        self.inner.value.lock().unwrap_or_else(PoisonError::into_inner).clone().ok_or(Error::Released("ExternalCopy"))
    }

    /// Materialises the copy in `context` and returns a reference to it.
    pub fn copy_into(&self, context: &Context, options: &CopyIntoOptions) -> Result<Reference> {
        let handle = context.global_handle()?;
        let isolate = context.isolate();
        let moving = options.transfer_in.then(|| self.take()).transpose()?;
        let result = isolate.run_in(&handle, None, |scope| {
            let value = match moving {
                Some(value) => ivm_marshal::to_v8_moving(scope, value).map_err(|e| marshal_error(scope, e))?,
                None => self.materialise(scope)?,
            };
            Ok(Reference::new(scope, isolate, &handle, value))
        });
        if options.release {
            self.release();
        }
        result
    }

    /// Releases the copy; later uses fail. Releasing twice is harmless.
    pub fn release(&self) {
        drop(self.take());
    }

    fn take(&self) -> Result<Structured> {
        let taken = self.inner.value.lock().unwrap_or_else(PoisonError::into_inner).take();
        match taken {
            Some(value) => {
                TOTAL_EXTERNAL_SIZE.fetch_sub(self.inner.size, Ordering::Relaxed);
                Ok(value)
            }
            None => Err(Error::Released("ExternalCopy")),
        }
    }

    /// Copies the value into the isolate that `scope` belongs to.
    pub(crate) fn materialise<'s>(&self, scope: &mut JsScope<'_, '_, 's, '_>) -> Result<v8::Local<'s, v8::Value>> {
        let guard = self.inner.value.lock().unwrap_or_else(PoisonError::into_inner);
        let value = guard.as_ref().ok_or(Error::Released("ExternalCopy"))?;
        let result = ivm_marshal::to_v8(scope, value);
        drop(guard);
        result.map_err(|e| marshal_error(scope, e))
    }
}

impl TryFrom<Transferable> for ExternalCopy {
    type Error = Error;

    fn try_from(value: Transferable) -> Result<ExternalCopy> {
        value.into_external_copy().ok_or_else(|| Error::InvalidArgument("not an ExternalCopy".into()))
    }
}
