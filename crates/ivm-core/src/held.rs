//! A V8 handle owned from outside the isolate, counted in the isolate's
//! `reference_count` and released explicitly or on drop.

use std::sync::{Arc, Mutex, PoisonError};

use crate::{Error, Isolate, Result};

pub(crate) struct Held<T> {
    isolate: Isolate,
    /// What using it once released says ("Reference has been released").
    released: &'static str,
    /// `None` once released. The `Arc` lets a running call keep the handle
    /// alive while another thread releases it.
    global: Mutex<Option<Arc<v8::Global<T>>>>,
    /// Whether the handle counts in `reference_count` (a context's global
    /// object belongs to the context's count).
    counted: bool,
}

impl<T> Held<T> {
    pub(crate) fn new(isolate: Isolate, released: &'static str, global: impl Into<Arc<v8::Global<T>>>) -> Held<T> {
        isolate.handle_opened();
        Held { isolate, released, global: Mutex::new(Some(global.into())), counted: true }
    }

    /// A handle that is part of another one and not counted on its own.
    pub(crate) fn part(isolate: Isolate, released: &'static str, global: impl Into<Arc<v8::Global<T>>>) -> Held<T> {
        Held { isolate, released, global: Mutex::new(Some(global.into())), counted: false }
    }

    /// A handle to nothing, as if released already: one of an isolate that
    /// was disposed before the handle was made.
    pub(crate) fn never(isolate: Isolate, released: &'static str) -> Held<T> {
        Held { isolate, released, global: Mutex::new(None), counted: false }
    }

    pub(crate) fn isolate(&self) -> &Isolate {
        &self.isolate
    }

    /// The handle, if neither it nor its isolate is gone.
    pub(crate) fn get(&self) -> Result<Arc<v8::Global<T>>> {
        if self.isolate.is_disposed() {
            return Err(Error::Disposed);
        }
        self.global.lock().unwrap_or_else(PoisonError::into_inner).clone().ok_or(Error::Released(self.released))
    }

    /// Releases the handle; later operations on it fail. Releasing twice is
    /// harmless.
    pub(crate) fn release(&self) {
        let released = self.global.lock().unwrap_or_else(PoisonError::into_inner).take();
        if released.is_some() && self.counted {
            self.isolate.handle_closed();
        }
    }

    pub(crate) fn is_released(&self) -> bool {
        self.global.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }
}

impl<T> Drop for Held<T> {
    fn drop(&mut self) {
        self.release();
    }
}
