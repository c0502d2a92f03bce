//! The synchronisation primitives the executor is built on: std's normally,
//! loom's when built with `--cfg loom`, so that the same code is
//! model-checked (tokio's `loom` module, in small).

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Locks a mutex whose data stays consistent even if a holder panicked
/// (every critical section here is a few field updates that cannot panic
/// half-way), so poisoning carries no information.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
