//! A single background thread that fires callbacks at deadlines.
//!
//! Timeouts must be enforced from outside the thread that runs the guest code,
//! because that thread is busy running it. One shared thread serves every
//! deadline in the process, so a call with a timeout costs a heap push and a
//! condvar notify, not a thread spawn.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// What runs when a deadline comes: once, or again every interval for as
/// long as it returns `true`.
enum Callback {
    Once(Box<dyn FnOnce() + Send>),
    Every(Duration, Box<dyn FnMut() -> bool + Send>),
}

/// Fires scheduled callbacks at their deadlines on a dedicated thread.
#[derive(Clone)]
pub struct Watchdog {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    pending: HashMap<u64, Callback>,
    next_id: u64,
    thread_started: bool,
}

impl fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Watchdog").field("pending", &state.pending.len()).finish()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A callback that panicked leaves the state consistent (it was already
        // removed from `pending`), so poisoning carries no information here.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Watchdog {
    /// The process-wide watchdog. Its thread starts on the first `schedule`.
    pub fn global() -> &'static Watchdog {
        static GLOBAL: OnceLock<Watchdog> = OnceLock::new();
        GLOBAL.get_or_init(Watchdog::new)
    }

    /// A watchdog with its own thread; most callers want [`Watchdog::global`].
    pub fn new() -> Watchdog {
        Watchdog { shared: Arc::new(Shared { state: Mutex::new(State::default()), wake: Condvar::new() }) }
    }

    /// Runs `callback` on the watchdog thread at `at`, unless the returned
    /// [`Deadline`] is cancelled or dropped first.
    ///
    /// Callbacks run while the watchdog's lock is held, so they must be short
    /// and must not schedule or cancel deadlines themselves. Holding the lock
    /// is what makes [`Deadline::cancel`] exact: once it returns, the callback
    /// has either run to completion or will never run.
    pub fn schedule(&self, at: Instant, callback: impl FnOnce() + Send + 'static) -> Deadline {
        self.insert(at, Callback::Once(Box::new(callback)))
    }

    /// Runs `check` on the watchdog thread at `first` and then every
    /// `interval`, for as long as it returns `true` and the returned
    /// [`Deadline`] is not cancelled or dropped. The same rules as for
    /// [`Watchdog::schedule`] apply to `check`.
    pub fn schedule_every(
        &self,
        first: Instant,
        interval: Duration,
        check: impl FnMut() -> bool + Send + 'static,
    ) -> Deadline {
        self.insert(first, Callback::Every(interval, Box::new(check)))
    }

    fn insert(&self, at: Instant, callback: Callback) -> Deadline {
        let mut state = self.shared.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.pending.insert(id, callback);
        let is_earliest = state.queue.peek().is_none_or(|Reverse((first, _))| at < *first);
        state.queue.push(Reverse((at, id)));
        if !state.thread_started {
            state.thread_started = true;
            let shared = Arc::clone(&self.shared);
            std::thread::Builder::new()
                .name("ivm-watchdog".into())
                .spawn(move || shared.run())
                .expect("the OS refused to start the ivm watchdog thread");
        } else if is_earliest {
            self.shared.wake.notify_one();
        }
        Deadline { shared: Arc::clone(&self.shared), id: Some(id) }
    }
}

impl Default for Watchdog {
    fn default() -> Self {
        Watchdog::new()
    }
}

impl Shared {
    fn run(&self) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            match state.queue.peek().copied() {
                None => {
                    state = self.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
                }
                Some(Reverse((at, id))) if at <= now => {
                    state.queue.pop();
                    // A panicking callback must not take the watchdog (and
                    // with it every other timeout in the process) down.
                    match state.pending.remove(&id) {
                        Some(Callback::Once(callback)) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback));
                        }
                        Some(Callback::Every(interval, mut check)) => {
                            let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut check));
                            if again.unwrap_or(false) {
                                state.pending.insert(id, Callback::Every(interval, check));
                                state.queue.push(Reverse((now + interval, id)));
                            }
                        }
                        None => {}
                    }
                }
                Some(Reverse((at, _))) => {
                    state = self.wake.wait_timeout(state, at - now).unwrap_or_else(PoisonError::into_inner).0;
                }
            }
        }
    }
}

/// A scheduled callback. Dropping it cancels the callback if it has not run.
pub struct Deadline {
    shared: Arc<Shared>,
    id: Option<u64>,
}

impl fmt::Debug for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deadline").field("id", &self.id).finish()
    }
}

impl Deadline {
    /// Cancels the callback. Returns `true` if it had already run (it ran to
    /// completion before this returned), `false` if it never will.
    pub fn cancel(mut self) -> bool {
        self.cancel_inner()
    }

    fn cancel_inner(&mut self) -> bool {
        let Some(id) = self.id.take() else { return false };
        let mut state = self.shared.lock();
        // The heap entry stays behind and is skipped when it comes due.
        state.pending.remove(&id).is_none()
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.cancel_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn repeating_checks_run_until_they_stop_or_are_cancelled() {
        let watchdog = Watchdog::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let (tx, rx) = mpsc::channel();
        let stopping = watchdog.schedule_every(Instant::now(), Duration::from_millis(1), move || {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            if n == 3 {
                tx.send(()).unwrap();
            }
            n < 3
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(runs.load(Ordering::SeqCst), 3, "it stopped when it returned false");
        drop(stopping);

        let ticks = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&ticks);
        let cancelled = watchdog.schedule_every(Instant::now(), Duration::from_millis(1), move || {
            counted.fetch_add(1, Ordering::SeqCst);
            true
        });
        std::thread::sleep(Duration::from_millis(20));
        cancelled.cancel();
        let at_cancel = ticks.load(Ordering::SeqCst);
        assert!(at_cancel >= 2);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(ticks.load(Ordering::SeqCst), at_cancel, "no run after cancel");
    }

    #[test]
    fn fires_after_the_deadline() {
        let watchdog = Watchdog::new();
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        let deadline = watchdog.schedule(start + Duration::from_millis(30), move || {
            tx.send(Instant::now()).unwrap();
        });
        let fired_at = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(fired_at >= start + Duration::from_millis(30));
        assert!(deadline.cancel(), "cancel after firing reports that it fired");
    }

    #[test]
    fn cancelled_deadlines_never_fire() {
        let watchdog = Watchdog::new();
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let count = Arc::clone(&count);
            let deadline = watchdog.schedule(Instant::now() + Duration::from_millis(20), move || {
                count.fetch_add(1, Ordering::SeqCst);
            });
            assert!(!deadline.cancel());
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(count.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn dropping_cancels() {
        let watchdog = Watchdog::new();
        let count = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&count);
        drop(watchdog.schedule(Instant::now() + Duration::from_millis(10), move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(count.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn fires_in_deadline_order_even_when_scheduled_out_of_order() {
        let watchdog = Watchdog::new();
        let (tx, rx) = mpsc::channel();
        let now = Instant::now();
        let mut deadlines = Vec::new();
        for (i, ms) in [(0, 60u64), (1, 20), (2, 40)] {
            let tx = tx.clone();
            deadlines.push(watchdog.schedule(now + Duration::from_millis(ms), move || {
                tx.send(i).unwrap();
            }));
        }
        let order: Vec<i32> = (0..3).map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
        assert_eq!(order, vec![1, 2, 0]);
    }

    #[test]
    fn a_panicking_callback_does_not_stop_later_ones() {
        let watchdog = Watchdog::new();
        let (tx, rx) = mpsc::channel();
        let now = Instant::now();
        let _first = watchdog.schedule(now, || panic!("callback failure"));
        let _second = watchdog.schedule(now + Duration::from_millis(5), move || tx.send(()).unwrap());
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}
