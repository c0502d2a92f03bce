//! A warm pool of isolates: `size` isolates, each with a context, booted
//! ahead of time (from a snapshot, typically) and handed out one per
//! request, so that a request/response host pays for taking one from a
//! queue instead of for booting an isolate. A returned isolate is never
//! reused: what one request left in it must not reach the next, so it is
//! disposed and a fresh one is booted in its place, on the pool's own
//! thread, off the request's path. A checkout that finds none ready waits
//! (blocking, or as a [`Pending`] served in the order checkouts came).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};

use ivm_runtime::{Sender, oneshot};

use crate::{Context, ContextOptions, Error, Isolate, IsolateOptions, Pending, Result};

/// A pool of ready isolates. Cheap to clone; clones are the same pool. The
/// pool stops refilling when its last handle is dropped.
#[derive(Clone)]
pub struct IsolatePool {
    shared: Arc<Shared>,
}

struct Shared {
    options: IsolateOptions,
    size: usize,
    state: Mutex<State>,
    /// Tells the refill thread there is work: isolates to boot or dispose.
    work: Condvar,
    /// Tells waiting checkouts an isolate is ready.
    ready: Condvar,
}

#[derive(Default)]
struct State {
    ready: VecDeque<(Isolate, Context)>,
    /// Async checkouts waiting for a boot, in the order they came; served
    /// before isolates go to `ready` (so `ready` is empty while any wait).
    waiters: VecDeque<Sender<Result<PooledIsolate>>>,
    /// Isolates handed back, to dispose.
    returned: Vec<Isolate>,
    /// Why the last boot failed, if it did (reported to checkouts).
    failure: Option<Error>,
}

impl fmt::Debug for IsolatePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ready = self.shared.lock().ready.len();
        f.debug_struct("IsolatePool").field("size", &self.shared.size).field("ready", &ready).finish()
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hand_out(self: &Arc<Self>, (isolate, context): (Isolate, Context)) -> PooledIsolate {
        PooledIsolate { isolate, context, pool: Arc::downgrade(self) }
    }
}

impl IsolatePool {
    /// A pool that keeps `size` isolates made with `options` ready. The
    /// first ones are booted here, so that an error in the options (a bad
    /// snapshot, say) is reported at once.
    pub fn new(options: IsolateOptions, size: usize) -> Result<IsolatePool> {
        if size == 0 {
            return Err(Error::InvalidArgument("an isolate pool needs a size of at least 1".into()));
        }
        let mut state = State::default();
        for _ in 0..size {
            state.ready.push_back(boot(&options)?);
        }
        let shared =
            Arc::new(Shared { options, size, state: Mutex::new(state), work: Condvar::new(), ready: Condvar::new() });
        let weak = Arc::downgrade(&shared);
        crate::this_thread::spawn_own("ivm-pool", move || refill(&weak))
            .map_err(|e| Error::InvalidArgument(format!("cannot start the pool's thread: {e}")))?;
        Ok(IsolatePool { shared })
    }

    /// An isolate and its context, ready for one request, waiting for one
    /// to be booted if all are out. Dropping it hands it back to be
    /// disposed and replaced.
    pub fn checkout(&self) -> Result<PooledIsolate> {
        let mut state = self.shared.lock();
        loop {
            if let Some(ready) = state.ready.pop_front() {
                drop(state);
                self.shared.work.notify_one();
                return Ok(self.shared.hand_out(ready));
            }
            if let Some(error) = state.failure.clone() {
                return Err(error);
            }
            state = self.shared.ready.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// [`checkout`](IsolatePool::checkout) without blocking: at once when
    /// an isolate is ready, else when the pool's thread has booted one (the
    /// waiting checkouts served in the order they came).
    pub fn checkout_async(&self) -> Pending<PooledIsolate> {
        let (sender, receiver) = oneshot();
        let mut state = self.shared.lock();
        if let Some(ready) = state.ready.pop_front() {
            drop(state);
            self.shared.work.notify_one();
            sender.send(Ok(self.shared.hand_out(ready)));
        } else if let Some(error) = state.failure.clone() {
            sender.send(Err(error));
        } else {
            state.waiters.push_back(sender);
            drop(state);
            self.shared.work.notify_one();
        }
        Pending::unbound(receiver)
    }

    /// How many isolates are ready now.
    pub fn ready(&self) -> usize {
        self.shared.lock().ready.len()
    }

    /// How many isolates the pool keeps ready.
    pub fn size(&self) -> usize {
        self.shared.size
    }
}

fn boot(options: &IsolateOptions) -> Result<(Isolate, Context)> {
    let isolate = Isolate::new(options.clone())?;
    // An inspected pool's contexts show up in the inspector.
    let context = isolate.create_context_with(&ContextOptions::new().inspector(options.inspector_enabled()))?;
    Ok((isolate, context))
}

/// The pool's thread: disposes returned isolates and boots replacements
/// until the pool is dropped.
fn refill(pool: &Weak<Shared>) {
    loop {
        let Some(shared) = pool.upgrade() else { return };
        let mut state = shared.lock();
        while state.returned.is_empty() && state.ready.len() >= shared.size && state.waiters.is_empty() {
            // Wake now and then to notice a dropped pool.
            let (next, _) = shared
                .work
                .wait_timeout(state, std::time::Duration::from_millis(200))
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            if Arc::strong_count(&shared) == 1 {
                return;
            }
        }
        let returned = std::mem::take(&mut state.returned);
        let missing = shared.size.saturating_sub(state.ready.len());
        drop(state);
        for isolate in returned {
            let _ = isolate.dispose_here();
        }
        for _ in 0..missing {
            let booted = boot(&shared.options);
            let mut state = shared.lock();
            // Waiters are answered once the lock is let go: a waiter that
            // gave up drops its checkout, whose return takes the lock.
            let answers: Vec<_> = match booted {
                Ok(ready) => {
                    state.failure = None;
                    match state.waiters.pop_front() {
                        Some(waiter) => vec![(waiter, Ok(shared.hand_out(ready)))],
                        None => {
                            state.ready.push_back(ready);
                            Vec::new()
                        }
                    }
                }
                Err(error) => {
                    state.failure = Some(error.clone());
                    state.waiters.drain(..).map(|waiter| (waiter, Err(error.clone()))).collect()
                }
            };
            drop(state);
            for (waiter, answer) in answers {
                waiter.send(answer);
            }
            shared.ready.notify_all();
        }
    }
}

/// An isolate checked out of an [`IsolatePool`], with its context.
pub struct PooledIsolate {
    isolate: Isolate,
    context: Context,
    pool: Weak<Shared>,
}

impl fmt::Debug for PooledIsolate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledIsolate").field("isolate", &self.isolate).finish_non_exhaustive()
    }
}

impl PooledIsolate {
    pub fn isolate(&self) -> &Isolate {
        &self.isolate
    }

    pub fn context(&self) -> &Context {
        &self.context
    }
}

impl Drop for PooledIsolate {
    fn drop(&mut self) {
        match self.pool.upgrade() {
            Some(shared) => {
                // Disposed on the pool's thread, which cannot free this
                // thread's state in it.
                self.isolate.leave_residence();
                shared.lock().returned.push(self.isolate.clone());
                shared.work.notify_one();
            }
            None => drop(self.isolate.dispose()),
        }
    }
}
