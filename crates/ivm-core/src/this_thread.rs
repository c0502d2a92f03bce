//! Everything ivm-core keeps per thread, in one place. Each is set for the
//! span of something this thread is doing (holding an isolate's lock,
//! running a callback, linking a module) by a guard in the module that owns
//! the doing, and read only on this thread; none outlives the span that set
//! it, but for what a thread is (its number, its kernel id, whether it is
//! one of ivm's own).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Isolate;
use crate::fatal::Catastrophe;
use crate::follow::Following;
use crate::isolate::IsolateTag;
use crate::memory::MemoryBudget;
use crate::module::LinkHandles;

/// The budget of the isolate whose lock this thread holds, if any. Only
/// a thread-local read, so signal handlers and allocators may call it.
pub(crate) fn locked_budget() -> Option<&'static MemoryBudget> {
    let (_, budget) = LOCKED_HERE.get()?;
    // SAFETY: `LOCKED_HERE` holds the budget of the isolate whose lock this
    // thread holds (`isolate.rs`, `LockedHere`), which keeps it alive for as
    // long as it is set; callers use the reference only within the code
    // running under that lock, never past it.
    Some(unsafe { &*budget })
}

/// The lowest address of this thread's stack.
pub(crate) fn stack_bottom() -> usize {
    let mut attributes = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut start = std::ptr::null_mut();
    let mut size = 0;
    // SAFETY: `pthread_getattr_np` initialises `attributes` for the calling
    // thread when it returns 0, and `pthread_attr_getstack` reads them; they
    // are destroyed once read.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attributes.as_mut_ptr()) != 0 {
            return usize::MAX;
        }
        libc::pthread_attr_getstack(attributes.as_ptr(), &mut start, &mut size);
        libc::pthread_attr_destroy(attributes.as_mut_ptr());
    }
    start as usize
}

static NEXT_THREAD_NUMBER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The isolate whose lock this thread holds, if any, with its memory
    /// budget, which ICU's allocations on this thread are charged to
    /// (`isolate.rs`, `LockedHere`; `memory.rs`, `icu`).
    pub(crate) static LOCKED_HERE: Cell<Option<(IsolateTag, *const MemoryBudget)>> = const { Cell::new(None) };

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

    /// Set by `stuck.rs`'s signal handler as it makes this thread leave a
    /// run stuck past its deadline, for the entry it lands in to end with
    /// the timeout error (`isolate.rs`, `with_locker_now`).
    pub(crate) static ESCAPED_STUCK: Cell<bool> = const { Cell::new(false) };

    /// Above zero while ivm's own code that takes a lock runs inside an
    /// isolate's run (a guard's tally, the deadline's interrupt), where
    /// `stuck.rs`'s handler must not make the thread leave (`NoEscape`).
    pub(crate) static NO_ESCAPE: Cell<u32> = const { Cell::new(0) };

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

    /// This thread's id in the kernel once asked for, 0 before: the
    /// process-growth checks read its page faults (`growth.rs`).
    static KERNEL_ID: Cell<i32> = const { Cell::new(0) };

    /// This thread's number, from 1 in the order threads first ask for
    /// theirs: the thread a CPU profile was taken on (`profiler.rs`).
    pub(crate) static THREAD_NUMBER: u64 = NEXT_THREAD_NUMBER.fetch_add(1, Ordering::Relaxed);

    /// Where the JavaScript of the last call on this thread that timed out
    /// was when its deadline came, as stack lines (`run.rs`), for the
    /// timeout's error.
    pub(crate) static TIMED_OUT_AT: RefCell<Option<String>> = const { RefCell::new(None) };

    /// Set for good on the threads ivm starts for work of its own
    /// ([`spawn_own`]), where no isolate's V8 state stays between calls
    /// (`resident.rs`).
    pub(crate) static OWN_THREAD: Cell<bool> = const { Cell::new(false) };

    /// The answers V8's resolve callback reads during a link on this thread:
    /// (referrer, specifier, module) (`module.rs`).
    pub(crate) static LINKS: RefCell<Vec<LinkHandles>> = const { RefCell::new(Vec::new()) };
}

/// Starts a thread for ivm's own work (the warm pool's refill, an inspector
/// session, a child isolate's boot), marked as one ([`OWN_THREAD`]): the
/// isolates it calls are not its own to stay resident in.
pub(crate) fn spawn_own(name: &str, work: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            OWN_THREAD.set(true);
            work();
        })
        .map(drop)
}

/// This thread's id in the kernel.
pub(crate) fn kernel_id() -> i32 {
    let id = KERNEL_ID.get();
    if id != 0 {
        return id;
    }
    // SAFETY: gettid has no preconditions.
    let id = unsafe { libc::gettid() };
    KERNEL_ID.set(id);
    id
}

/// This thread's state at a landing pad (`fatal.rs`), and after a fatal
/// error escaped to it. A pad is only set by an entry that takes an
/// isolate's lock, and a thread holds one lock at a time, so at every pad
/// no run is in progress, no callback runs and no link is being made. A
/// fatal error escapes only when no host callback was running either
/// (`fatal.rs`), so the skipped frames can have changed nothing but the
/// run depth, the pausable timeouts (`run.rs`), the link table and the
/// allocation cap of a copy out (`ivm_marshal::AllocationCap`); `CALLING`, `SERVING` and `REENTRY` change
/// only around host code. The times in `HOST_WAITS` and `REENTRANT_RUNS`
/// are only ever read as differences, and `FOLLOWING` belongs to the
/// caller of the pad (`follow::run_following`).
pub(crate) struct ThreadState;

impl ThreadState {
    pub(crate) fn at_pad() -> ThreadState {
        debug_assert!(RUN_DEPTH.get() == 0 && REENTRY.get().is_none(), "a landing pad inside a run");
        ThreadState
    }

    /// Puts back what skipped frames may have left changed. A link table
    /// they left is forgotten, not dropped: it holds handles into the
    /// isolate they were running.
    pub(crate) fn restore(self) {
        RUN_DEPTH.set(0);
        ivm_marshal::AllocationCap::forget_skipped();
        crate::run::forget_pausable_timeouts();
        // No frame holds the table borrowed across V8's calls (`module.rs`).
        LINKS.with(|links| std::mem::take(&mut *links.borrow_mut()).into_iter().for_each(std::mem::forget));
    }
}
