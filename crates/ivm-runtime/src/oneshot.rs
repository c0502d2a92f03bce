//! A one-shot channel whose receiving end is a `Future`: how the result of a
//! task run on the pool reaches whoever awaits it, on any executor (tokio,
//! async-std, `futures::executor::block_on`) or none.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::sync::{Arc, Mutex, lock};

/// Creates a channel for one value.
pub fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(Slot { value: None, waker: None, closed: false }));
    (Sender { shared: Some(Arc::clone(&shared)) }, Receiver { shared })
}

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The sender is gone: no value will come unless one is already here.
    closed: bool,
}

/// Sends the one value. Dropping it unsent resolves the receiver to
/// [`Canceled`].
pub struct Sender<T> {
    shared: Option<Arc<Mutex<Slot<T>>>>,
}

/// Resolves to the value sent, or to [`Canceled`] if the sender was dropped
/// without sending (the task it belonged to never ran to completion).
pub struct Receiver<T> {
    shared: Arc<Mutex<Slot<T>>>,
}

/// The task that was to produce a value was dropped without running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the task was dropped before it produced a result")]
pub struct Canceled;

impl<T> Sender<T> {
    pub fn send(mut self, value: T) {
        if let Some(shared) = self.shared.take() {
            let waker = {
                let mut slot = lock(&shared);
                slot.value = Some(value);
                slot.closed = true;
                slot.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let waker = {
                let mut slot = lock(&shared);
                slot.closed = true;
                slot.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = lock(&self.shared);
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Ok(value));
        }
        if slot.closed {
            return Poll::Ready(Err(Canceled));
        }
        match &slot.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receiver")
    }
}
