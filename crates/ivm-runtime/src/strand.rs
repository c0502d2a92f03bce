//! Strands: per-isolate serial queues. Everything done to one isolate goes
//! through its strand, so that work runs one piece at a time and in the
//! order it was queued, whichever thread runs it.
//!
//! A strand is *owned* while something runs its work: a pool thread draining
//! its queue, or a thread making a synchronous call. Queued work is either a
//! task (run by the pool) or a turn: a synchronous caller waiting on its own
//! thread, to whom ownership passes when its turn comes. An idle strand is a
//! queue and a flag; it holds no thread.
//!
//! **Invariant:** a strand that is not owned has an empty queue. Whoever
//! queues work on an unowned strand takes ownership and hands it to the
//! scheduler (or, for a synchronous call, keeps it); whoever ends a turn or a
//! drain passes ownership on to the next queued work, or clears it.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::sync::{Arc, Condvar, Mutex, lock};

/// Work queued on a strand.
pub type Task = Box<dyn FnOnce() + Send + 'static>;

/// Runs strands: calls [`Strand::run`] for each strand handed to it, on some
/// thread, soon. The worker pool ([`crate::Executor`]) is the one real
/// scheduler; tests use simpler ones.
pub trait Schedule: Send + Sync + 'static {
    fn schedule(&self, strand: Strand);

    /// Takes back a strand that ran its budget and still has work: it should
    /// go behind the strands already waiting.
    fn reschedule(&self, strand: Strand) {
        self.schedule(strand);
    }
}

/// How many tasks one drain runs before the strand goes back to the
/// scheduler, so that a busy isolate cannot starve the others.
const BUDGET: usize = 64;

/// A serial queue of work for one isolate. Cheap to clone; clones are the
/// same strand.
#[derive(Clone)]
pub struct Strand {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    scheduler: std::sync::Arc<dyn Schedule>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    owned: bool,
}

enum Job {
    Task(Task),
    Turn(Arc<Turn>),
}

/// A synchronous caller's place in the queue.
struct Turn {
    granted: Mutex<bool>,
    wake: Condvar,
}

/// A synchronous call was refused: the calling thread is already running
/// work of another strand, and waiting here could deadlock (the other
/// strand's work may be what this strand is waiting for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a synchronous call cannot wait for one isolate while running another's work on the same thread")]
pub struct Busy;

impl fmt::Debug for Strand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("Strand").field("queued", &state.queue.len()).field("owned", &state.owned).finish()
    }
}

impl Strand {
    pub fn new(scheduler: std::sync::Arc<dyn Schedule>) -> Strand {
        Strand { inner: Arc::new(Inner { state: Mutex::new(State::default()), scheduler }) }
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// Queues `task` to run after everything queued before it.
    pub fn spawn(&self, task: impl FnOnce() + Send + 'static) {
        let schedule = {
            let mut state = lock(&self.inner.state);
            state.queue.push_back(Job::Task(Box::new(task)));
            !std::mem::replace(&mut state.owned, true)
        };
        if schedule {
            self.inner.scheduler.schedule(self.clone());
        }
    }

    /// Whether nothing is queued or running.
    pub fn is_idle(&self) -> bool {
        let state = lock(&self.inner.state);
        !state.owned && state.queue.is_empty()
    }

    /// Runs queued tasks, in order, on this thread: what a scheduler does
    /// with a strand it was handed. A task that panics is dropped (its
    /// result channel reports it canceled) and the next one runs. After
    /// [`BUDGET`] tasks the strand goes back to the scheduler; a waiting
    /// synchronous caller gets the strand at once.
    pub fn run(self) {
        for _ in 0..BUDGET {
            let job = {
                let mut state = lock(&self.inner.state);
                match state.queue.pop_front() {
                    Some(job) => job,
                    None => {
                        state.owned = false;
                        return;
                    }
                }
            };
            match job {
                Job::Task(task) => {
                    let _held = Held::enter(self.id());
                    let _ = catch_unwind(AssertUnwindSafe(task));
                }
                Job::Turn(turn) => {
                    // Ownership passes to the waiting thread.
                    turn.grant();
                    return;
                }
            }
        }
        let scheduler = std::sync::Arc::clone(&self.inner.scheduler);
        scheduler.reschedule(self);
    }

    /// Runs `f` on this thread as the strand's next piece of work: after
    /// everything queued before this call, and before anything queued
    /// during it. Called again from inside `f` (or from a task of this
    /// strand), it runs at once: the strand is already held here.
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> Result<R, Busy> {
        if Held::contains(self.id()) {
            return Ok(f());
        }
        if Held::any() {
            return Err(Busy);
        }
        let turn = {
            let mut state = lock(&self.inner.state);
            if state.owned {
                let turn = Arc::new(Turn { granted: Mutex::new(false), wake: Condvar::new() });
                state.queue.push_back(Job::Turn(Arc::clone(&turn)));
                Some(turn)
            } else {
                // Not owned, so nothing is queued: this call is next.
                state.owned = true;
                None
            }
        };
        if let Some(turn) = turn {
            turn.wait();
        }
        let _release = Release(self);
        let _held = Held::enter(self.id());
        Ok(f())
    }

    /// Passes the strand on to the next queued work, from the thread that
    /// owns it and will never release it: one about to park forever because
    /// the isolate it runs was lost. Without this, every call queued behind
    /// the lost one would wait forever too.
    pub fn give_up(&self) {
        self.release();
    }

    /// Ends a synchronous caller's turn: the next queued work gets the
    /// strand.
    fn release(&self) {
        let next = {
            let mut state = lock(&self.inner.state);
            match state.queue.front() {
                None => {
                    state.owned = false;
                    return;
                }
                Some(Job::Turn(_)) => state.queue.pop_front(),
                Some(Job::Task(_)) => None,
            }
        };
        match next {
            Some(Job::Turn(turn)) => turn.grant(),
            _ => self.inner.scheduler.schedule(self.clone()),
        }
    }
}

/// Releases a synchronous caller's turn when it ends, even by a panic.
struct Release<'a>(&'a Strand);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Turn {
    fn grant(&self) {
        *lock(&self.granted) = true;
        self.wake.notify_one();
    }

    fn wait(&self) {
        #[cfg(not(loom))]
        if let Some(hook) = wait_hook::current() {
            return self.wait_serving(&hook);
        }
        let mut granted = lock(&self.granted);
        while !*granted {
            granted = self.wake.wait(granted).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Waits, running the thread's wait hook between short waits.
    #[cfg(not(loom))]
    fn wait_serving(&self, hook: &wait_hook::Hook) {
        loop {
            hook.run();
            let granted = lock(&self.granted);
            if *granted {
                return;
            }
            let (granted, _) = self
                .wake
                .wait_timeout(granted, std::time::Duration::from_millis(1))
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if *granted {
                return;
            }
        }
    }
}

/// What a thread does while a synchronous call of its waits for a strand.
#[cfg(not(loom))]
pub(crate) mod wait_hook {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    thread_local! {
        static HOOK: RefCell<Option<Rc<dyn Fn()>>> = const { RefCell::new(None) };
        static RUNNING: Cell<bool> = const { Cell::new(false) };
    }

    pub(crate) struct Hook(Rc<dyn Fn()>);

    impl Hook {
        /// Runs the hook, unless it is already running further up this
        /// thread's stack (a wait inside the hook just waits).
        pub(crate) fn run(&self) {
            if RUNNING.with(|running| running.replace(true)) {
                return;
            }
            struct Done;
            impl Drop for Done {
                fn drop(&mut self) {
                    RUNNING.with(|running| running.set(false));
                }
            }
            let _done = Done;
            (self.0)();
        }
    }

    pub(crate) fn current() -> Option<Hook> {
        HOOK.with(|hook| hook.borrow().clone()).map(Hook)
    }

    pub(crate) fn set(hook: Option<Rc<dyn Fn()>>) {
        HOOK.with(|slot| *slot.borrow_mut() = hook);
    }
}

/// Makes this thread run `hook` (about every millisecond, and once at
/// once) while a synchronous call it makes waits for its turn on a strand;
/// `None` removes it. A host's event-loop thread uses it to go on serving
/// what the work queued ahead may be waiting for: the Node addon runs the
/// Node functions that isolates call, so a synchronous call queued behind
/// an async call that calls back into Node does not deadlock.
#[cfg(not(loom))]
pub fn set_wait_hook(hook: Option<std::rc::Rc<dyn Fn()>>) {
    wait_hook::set(hook);
}

/// Runs this thread's wait hook, if it has one, for a wait of the caller's
/// own (one that must not stop the thread's host from serving isolates).
#[cfg(not(loom))]
pub fn run_wait_hook() {
    if let Some(hook) = wait_hook::current() {
        hook.run();
    }
}

#[cfg(loom)]
loom::thread_local! {
    static HELD: std::cell::RefCell<Vec<usize>> = std::cell::RefCell::new(Vec::new());
}
#[cfg(not(loom))]
thread_local! {
    static HELD: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The strands whose work this thread is running, innermost last.
struct Held;

impl Held {
    fn enter(id: usize) -> HeldGuard {
        HELD.with(|held| held.borrow_mut().push(id));
        HeldGuard
    }

    fn contains(id: usize) -> bool {
        HELD.with(|held| held.borrow().contains(&id))
    }

    fn any() -> bool {
        HELD.with(|held| !held.borrow().is_empty())
    }
}

struct HeldGuard;

impl Drop for HeldGuard {
    fn drop(&mut self) {
        HELD.with(|held| held.borrow_mut().pop());
    }
}
