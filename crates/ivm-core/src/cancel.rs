//! Cancelling an async call ([`Pending::canceler`]): a call not started yet
//! is skipped; a running one has its JavaScript terminated; a call waiting
//! for its promise (`promise: true`) stops waiting. Either way its result is
//! [`Error::Canceled`] and the isolate stays usable. Front-ends cancel when
//! their caller gives up (an asyncio task cancelled, say), so that an
//! abandoned call does not keep the isolate busy.
//!
//! [`Pending::canceler`]: crate::Pending::canceler

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::isolate::IsolateInner;
use crate::{Error, Result};

/// Cancels one async call. Cheap to clone; cancelling twice, or after the
/// call has finished, does nothing.
#[derive(Clone)]
pub struct Canceler(Arc<CallState>);

impl fmt::Debug for Canceler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canceler").field("canceled", &self.0.lock().canceled).finish()
    }
}

impl Canceler {
    /// Cancels the call, from any thread.
    pub fn cancel(&self) {
        let on_cancel = {
            let mut state = self.0.lock();
            if state.canceled {
                return;
            }
            state.canceled = true;
            if state.running {
                if let Some(isolate) = self.0.isolate.upgrade() {
                    isolate.interrupt();
                }
            }
            state.on_cancel.take()
        };
        if let Some(on_cancel) = on_cancel {
            on_cancel();
        }
    }
}

/// Where one queued call stands, shared by the call and its [`Canceler`].
pub(crate) struct CallState {
    state: Mutex<State>,
    isolate: Weak<IsolateInner>,
}

struct State {
    canceled: bool,
    running: bool,
    /// What else cancelling does (a followed call stops waiting).
    on_cancel: Option<Box<dyn FnOnce() + Send>>,
    /// Whether the call has run and now only waits for its promise.
    waiting: bool,
    on_waiting: Option<Box<dyn FnOnce() + Send>>,
}

impl CallState {
    pub(crate) fn new(isolate: &Arc<IsolateInner>) -> Arc<CallState> {
        CallState::with_isolate(Arc::downgrade(isolate))
    }

    /// The state of work that runs no isolate's JavaScript (a pool's
    /// checkout): cancelling it only drops its result.
    pub(crate) fn unbound() -> Arc<CallState> {
        CallState::with_isolate(Weak::new())
    }

    fn with_isolate(isolate: Weak<IsolateInner>) -> Arc<CallState> {
        let state = State { canceled: false, running: false, on_cancel: None, waiting: false, on_waiting: None };
        Arc::new(CallState { state: Mutex::new(state), isolate })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn canceler(self: &Arc<Self>) -> Canceler {
        Canceler(Arc::clone(self))
    }

    /// Has cancelling also run `f`.
    pub(crate) fn on_cancel(&self, f: impl FnOnce() + Send + 'static) {
        self.lock().on_cancel = Some(Box::new(f));
    }

    /// Calls `f` once the call has run and only waits for its promise to
    /// settle (at once if it does already); never if it does not wait.
    pub(crate) fn on_waiting(&self, f: impl FnOnce() + Send + 'static) {
        let mut state = self.lock();
        if state.waiting {
            drop(state);
            f();
        } else {
            state.on_waiting = Some(Box::new(f));
        }
    }

    /// Marks the call as waiting for its promise.
    pub(crate) fn waiting(&self) {
        let on_waiting = {
            let mut state = self.lock();
            state.waiting = true;
            state.on_waiting.take()
        };
        if let Some(on_waiting) = on_waiting {
            on_waiting();
        }
    }

    /// Runs `call` unless the call was cancelled already; a cancel that
    /// comes while it runs terminates its JavaScript.
    pub(crate) fn run<T>(&self, call: impl FnOnce() -> Result<T>) -> Result<T> {
        {
            let mut state = self.lock();
            if state.canceled {
                return Err(Error::Canceled);
            }
            state.running = true;
        }
        let result = call();
        let canceled = {
            let mut state = self.lock();
            state.running = false;
            state.canceled
        };
        if !canceled {
            return result;
        }
        // A cancel that came as the call was ending may have left a
        // termination pending, which must not hit the isolate's next call.
        if let Some(isolate) = self.isolate.upgrade() {
            isolate.clear_termination();
        }
        Err(Error::Canceled)
    }
}
