//! Everything ivm-core keeps per thread, in one place. Each is set for the
//! span of something this thread is doing (holding an isolate's lock,
//! running a callback, linking a module) by a guard in the module that owns
//! the doing, and read only on this thread; none outlives the span that set
//! it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Isolate;
use crate::fatal::Catastrophe;
use crate::follow::Following;
use crate::isolate::IsolateTag;
use crate::module::LinkHandles;

static NEXT_THREAD_NUMBER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The isolate whose lock this thread holds, if any (`isolate.rs`,
    /// `LockedHere`).
    pub(crate) static LOCKED_HERE: Cell<Option<IsolateTag>> = const { Cell::new(None) };

    /// While a host callback runs: the isolate that called it, which calls
    /// made from the callback may enter again (`isolate.rs`, `Reentry`).
    pub(crate) static REENTRY: Cell<Option<(IsolateTag, v8::UnsafeRawIsolatePtr)>> = const { Cell::new(None) };

    /// How many runs of JavaScript are in progress on this thread: more than
    /// one when a callback called back into its isolate, a reentrant run
    /// (`run.rs`, `RunDepth`).
    pub(crate) static RUN_DEPTH: Cell<u32> = const { Cell::new(0) };

    /// Time this thread has spent waiting on host code inside calls, which
    /// a call's CPU time must not count (`run.rs`, `note_host_wait`).
    pub(crate) static HOST_WAITS: Cell<Duration> = const { Cell::new(Duration::ZERO) };

    /// Time this thread has spent in reentrant runs, which happen inside
    /// host waits and which a call's CPU time counts all the same (`run.rs`).
    pub(crate) static REENTRANT_RUNS: Cell<Duration> = const { Cell::new(Duration::ZERO) };

    /// The catastrophe record of the isolate this thread is running; V8's
    /// fatal callbacks carry no isolate-specific data (`fatal.rs`).
    pub(crate) static RUNNING_CATASTROPHE: Cell<*const Catastrophe> = const { Cell::new(std::ptr::null()) };

    /// Set while an async call with `promise: true` runs on this thread: a
    /// promise still pending at its end is followed instead of refused
    /// (`follow.rs`).
    pub(crate) static FOLLOWING: RefCell<Option<Following>> = const { RefCell::new(None) };

    /// The isolates whose synchronous callbacks are running on this thread,
    /// innermost last (`callback.rs`, `Calling`).
    pub(crate) static CALLING: RefCell<Vec<Isolate>> = const { RefCell::new(Vec::new()) };

    /// The isolates whose waiting calls this thread is doing host work for
    /// (`callback.rs`, `ServingHostCall`).
    pub(crate) static SERVING: RefCell<Vec<Isolate>> = const { RefCell::new(Vec::new()) };

    /// How to tell that the host wants this thread back, set by the host
    /// (`host_exit.rs`).
    pub(crate) static HOST_EXIT_CHECK: RefCell<Option<Rc<dyn Fn() -> bool>>> = const { RefCell::new(None) };

    /// This thread's number, from 1 in the order threads first ask for
    /// theirs: the thread a CPU profile was taken on (`profiler.rs`).
    pub(crate) static THREAD_NUMBER: u64 = NEXT_THREAD_NUMBER.fetch_add(1, Ordering::Relaxed);

    /// The answers V8's resolve callback reads during a link on this thread:
    /// (referrer, specifier, module) (`module.rs`).
    pub(crate) static LINKS: RefCell<Vec<LinkHandles>> = const { RefCell::new(Vec::new()) };
}

/// This thread's state at a landing pad (`fatal.rs`): a fatal error that
/// escapes to the pad skips the guards that would have put it back, so it
/// is put back from here.
pub(crate) struct ThreadState {
    run_depth: u32,
    reentry: Option<(IsolateTag, v8::UnsafeRawIsolatePtr)>,
    host_waits: Duration,
    reentrant_runs: Duration,
    following: bool,
    calling: usize,
    serving: usize,
    links: usize,
}

impl ThreadState {
    pub(crate) fn save() -> ThreadState {
        ThreadState {
            run_depth: RUN_DEPTH.get(),
            reentry: REENTRY.get(),
            host_waits: HOST_WAITS.get(),
            reentrant_runs: REENTRANT_RUNS.get(),
            following: FOLLOWING.with(|following| following.borrow().is_some()),
            calling: CALLING.with(|calling| calling.borrow().len()),
            serving: SERVING.with(|serving| serving.borrow().len()),
            links: LINKS.with(|links| links.borrow().len()),
        }
    }

    /// Puts the state back. What skipped frames added is forgotten, not
    /// dropped: it may hold handles into the isolate they were running.
    pub(crate) fn restore(self) {
        RUN_DEPTH.set(self.run_depth);
        REENTRY.set(self.reentry);
        HOST_WAITS.set(self.host_waits);
        REENTRANT_RUNS.set(self.reentrant_runs);
        if !self.following {
            std::mem::forget(FOLLOWING.with(|following| following.borrow_mut().take()));
        }
        CALLING.with(|calling| forget_past(&mut calling.borrow_mut(), self.calling));
        SERVING.with(|serving| forget_past(&mut serving.borrow_mut(), self.serving));
        LINKS.with(|links| forget_past(&mut links.borrow_mut(), self.links));
    }
}

fn forget_past<T>(items: &mut Vec<T>, len: usize) {
    if items.len() > len {
        items.drain(len..).for_each(std::mem::forget);
    }
}
