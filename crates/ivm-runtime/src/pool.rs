//! The worker pool that runs strands: a fixed set of threads with a
//! work-stealing deque each (crossbeam-deque). A strand scheduled from a
//! worker goes on that worker's own deque, so an isolate's consecutive
//! tasks tend to stay on one thread; idle workers steal from the others and
//! from the shared injector, where strands scheduled from outside land.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Stealer, Worker};

use crate::strand::{Schedule, Strand};
use crate::sync::lock;

/// A pool of worker threads that run strands. Cheap to clone; clones are
/// the same pool. Its threads start when the first strand is scheduled on
/// it and live as long as the process.
#[derive(Clone)]
pub struct Executor {
    pool: Arc<Pool>,
}

struct Pool {
    id: usize,
    injector: Injector<Strand>,
    stealers: Vec<Stealer<Strand>>,
    /// The workers' own deques until their threads start and take them.
    deques: Mutex<Vec<Worker<Strand>>>,
    started: OnceLock<()>,
    /// Workers whose threads did start.
    running: AtomicUsize,
    sleep: Mutex<Sleep>,
    wake: Condvar,
}

#[derive(Default)]
struct Sleep {
    sleeping: usize,
    /// Wake-ups sent but not yet taken, so that none is lost between a
    /// worker's last look for work and its wait.
    notified: usize,
}

static NEXT_POOL_ID: AtomicUsize = AtomicUsize::new(1);

/// The pool a worker thread belongs to, and its deque (a stand-in has none:
/// see `block_in_place`).
type Membership = (Arc<Pool>, Option<Worker<Strand>>);

thread_local! {
    /// This thread's pool and deque, if it is a worker.
    static CURRENT: RefCell<Option<Membership>> = const { RefCell::new(None) };
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor").field("workers", &self.workers()).finish()
    }
}

impl Executor {
    /// A pool of `workers` threads (at least one).
    pub fn new(workers: usize) -> Executor {
        let deques: Vec<Worker<Strand>> = (0..workers.max(1)).map(|_| Worker::new_fifo()).collect();
        let stealers = deques.iter().map(Worker::stealer).collect();
        Executor {
            pool: Arc::new(Pool {
                id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
                injector: Injector::new(),
                stealers,
                deques: Mutex::new(deques),
                started: OnceLock::new(),
                running: AtomicUsize::new(0),
                sleep: Mutex::new(Sleep::default()),
                wake: Condvar::new(),
            }),
        }
    }

    /// The process-wide pool: one worker per core.
    pub fn global() -> &'static Executor {
        static GLOBAL: OnceLock<Executor> = OnceLock::new();
        GLOBAL.get_or_init(|| Executor::new(std::thread::available_parallelism().map_or(1, |n| n.get())))
    }

    /// How many worker threads the pool has (started or not).
    pub fn workers(&self) -> usize {
        self.pool.stealers.len()
    }

    /// A new strand whose work runs on this pool.
    pub fn strand(&self) -> Strand {
        Strand::new(Arc::new(self.clone()))
    }

    fn start(&self) {
        self.pool.started.get_or_init(|| {
            let deques = std::mem::take(&mut *lock(&self.pool.deques));
            for (index, deque) in deques.into_iter().enumerate() {
                let pool = Arc::clone(&self.pool);
                // A pool that cannot start a thread (the process is at its
                // limit) runs with the ones it has; with none, `schedule`
                // runs strands on the scheduling thread.
                let started =
                    std::thread::Builder::new().name(format!("ivm-worker-{index}")).spawn(move || pool.work(deque));
                if started.is_ok() {
                    self.pool.running.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
}

/// Whether this thread is a worker of an ivm pool. A worker must never
/// wait for queued work (the work may be queued behind it) except through
/// [`block_in_place`].
pub fn on_worker_thread() -> bool {
    CURRENT.with(|current| current.borrow().is_some())
}

/// Runs `wait`, which blocks until work queued on an ivm pool is done
/// (another isolate's call, say). On a pool worker, a stand-in worker runs
/// the pool's strands until `wait` returns, so the pool keeps its strength
/// and the work waited for is never stuck behind the blocked worker, however
/// many workers block at once. Elsewhere it only runs `wait`.
///
/// The stand-in has no deque of its own (what it schedules goes to the
/// injector, where every worker looks), and nobody waits for it to end: it
/// finishes the strand it is running, which may itself wait on this
/// worker's, and then stops.
pub fn block_in_place<R>(wait: impl FnOnce() -> R) -> R {
    let Some(pool) = CURRENT.with(|current| current.borrow().as_ref().map(|(pool, _)| Arc::clone(pool))) else {
        return wait();
    };
    let done = Arc::new(AtomicBool::new(false));
    let stand_in = {
        let (pool, done) = (Arc::clone(&pool), Arc::clone(&done));
        std::thread::Builder::new().name("ivm-stand-in".into()).spawn(move || pool.stand_in(&done))
    };
    let result = wait();
    done.store(true, Ordering::SeqCst);
    if stand_in.is_ok() {
        // Woken to see that it is done (the pool's condvar is shared, so
        // every sleeper is woken; the others go back to sleep). The lock is
        // taken first, so that the wake-up cannot fall between its look at
        // `done` and its wait.
        drop(lock(&pool.sleep));
        pool.wake.notify_all();
    }
    result
}

impl Schedule for Executor {
    fn schedule(&self, strand: Strand) {
        self.start();
        if self.pool.running.load(Ordering::SeqCst) == 0 {
            strand.run();
            return;
        }
        let local = CURRENT.with(|current| match &*current.borrow() {
            Some((pool, Some(deque))) if pool.id == self.pool.id => {
                deque.push(strand.clone());
                true
            }
            _ => false,
        });
        if !local {
            self.pool.injector.push(strand);
        }
        self.pool.notify();
    }

    fn reschedule(&self, strand: Strand) {
        // Behind everything waiting anywhere: a worker looks at its own
        // deque first, so a busy strand put back there would starve the
        // strands in the injector.
        self.pool.injector.push(strand);
        self.pool.notify();
    }
}

/// How long an idle worker keeps looking for work before it sleeps.
const LINGER: Duration = Duration::from_micros(50);

impl Pool {
    fn notify(&self) {
        let mut sleep = lock(&self.sleep);
        if sleep.sleeping > sleep.notified {
            sleep.notified += 1;
            self.wake.notify_one();
        }
    }

    fn work(self: Arc<Pool>, deque: Worker<Strand>) {
        CURRENT.with(|current| *current.borrow_mut() = Some((Arc::clone(&self), Some(deque))));
        loop {
            match self.find().or_else(|| self.linger()) {
                Some(strand) => strand.run(),
                None => self.sleep(),
            }
        }
    }

    /// A stand-in for a worker blocked in [`block_in_place`]: works like
    /// one until `done`, then passes on a wake-up it may have taken.
    fn stand_in(self: Arc<Pool>, done: &AtomicBool) {
        CURRENT.with(|current| *current.borrow_mut() = Some((Arc::clone(&self), None)));
        while !done.load(Ordering::SeqCst) {
            match self.find().or_else(|| self.linger()) {
                Some(strand) => strand.run(),
                None => self.sleep_unless(done),
            }
        }
        self.notify();
    }

    /// Keeps looking for work a little while before sleeping. A host that
    /// awaits one call before making the next (a request and its response)
    /// then finds a worker awake, and saves the wake-up of a sleeping
    /// thread, which costs tens of microseconds on a busy machine. The
    /// worker yields its core between looks.
    fn linger(&self) -> Option<Strand> {
        let started = Instant::now();
        while started.elapsed() < LINGER {
            std::thread::yield_now();
            if let Some(strand) = self.find() {
                return Some(strand);
            }
        }
        None
    }

    /// The next strand: this worker's own first, then the injector's, then
    /// one stolen from another worker.
    fn find(&self) -> Option<Strand> {
        CURRENT.with(|current| {
            let current = current.borrow();
            let (_, local) = current.as_ref()?;
            if let Some(strand) = local.as_ref().and_then(Worker::pop) {
                return Some(strand);
            }
            std::iter::repeat_with(|| {
                let from_injector = match local {
                    Some(local) => self.injector.steal_batch_and_pop(local),
                    None => self.injector.steal(),
                };
                from_injector.or_else(|| self.stealers.iter().map(Stealer::steal).collect())
            })
            .find(|steal| !steal.is_retry())
            .and_then(|steal| steal.success())
        })
    }

    fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|stealer| !stealer.is_empty())
    }

    fn sleep(&self) {
        self.sleep_unless(&AtomicBool::new(false));
    }

    /// Sleeps until notified of work, or until `done` is set (checked when
    /// the condvar wakes this thread).
    fn sleep_unless(&self, done: &AtomicBool) {
        let mut sleep = lock(&self.sleep);
        if self.has_work() || done.load(Ordering::SeqCst) {
            return;
        }
        sleep.sleeping += 1;
        while sleep.notified == 0 {
            if done.load(Ordering::SeqCst) {
                sleep.sleeping -= 1;
                return;
            }
            sleep = self.wake.wait(sleep).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        sleep.notified -= 1;
        sleep.sleeping -= 1;
    }
}
