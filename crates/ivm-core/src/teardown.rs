//! Disposed isolates' V8 heaps are torn down on a thread of their own.
//!
//! Unmapping an isolate's heap takes V8 about half a millisecond (on the
//! machine the benchmarks ran on: most of what `dispose` costs, and twice
//! what isolated-vm's V8 takes), and a host's event loop that disposes an
//! isolate should not wait for it. `dispose` marks the isolate disposed at
//! once and hands its heap here. A few teardowns may wait ([`BACKLOG`]); past
//! that the disposing thread does its own, so a loop that disposes isolates
//! faster than one thread can tear them down runs at that pace instead of
//! piling up heaps. At process exit the queued teardowns are waited for, so
//! that exit-time destructors never run beside a heap being unmapped.
//!
//! Memory an isolate's teardown frees goes back to the C allocator, which
//! keeps it for the process's own later allocations: a host would see its
//! resident size stay up after `dispose` (by about 30 MiB after 80 MiB of
//! small ArrayBuffers, in Node). So once a run of teardowns is over
//! ([`TRIM_AFTER`] without another), the thread asks the allocator to give
//! its free memory back to the system.

use std::sync::mpsc::{RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// How many teardowns may wait for the thread.
const BACKLOG: usize = 2;

/// How long the teardown thread waits for another teardown before it
/// gives freed memory back.
const TRIM_AFTER: Duration = Duration::from_millis(50);

/// How long process exit waits for queued teardowns.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// What a teardown drops: an isolate and whatever must outlive it.
type Remains = Box<dyn Send>;

struct Reaper {
    queue: SyncSender<Remains>,
    /// Teardowns handed over and not finished yet.
    pending: Mutex<usize>,
    finished: Condvar,
}

static REAPER: OnceLock<Option<Reaper>> = OnceLock::new();

/// Drops `remains` (an isolate's `SharedIsolate` and what must outlive it,
/// in the order they are to be dropped) on the teardown thread, or here if
/// the thread is busy or could not start.
///
/// Must be called only once V8 is initialized (an isolate exists): the
/// thread takes isolates' locks, and threads that do must be created after
/// V8's initialization.
pub(crate) fn hand_over(remains: Remains) {
    let Some(reaper) = REAPER.get_or_init(start) else {
        drop(remains);
        return;
    };
    *reaper.pending.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    if let Err(TrySendError::Full(remains) | TrySendError::Disconnected(remains)) = reaper.queue.try_send(remains) {
        reaper.finish_one();
        drop(remains);
    }
}

impl Reaper {
    fn finish_one(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        *pending -= 1;
        if *pending == 0 {
            self.finished.notify_all();
        }
    }
}

fn start() -> Option<Reaper> {
    let (queue, jobs) = sync_channel::<Remains>(BACKLOG);
    let spawned = std::thread::Builder::new().name("ivm-teardown".into()).spawn(move || {
        let mut freed = false;
        loop {
            let job = if freed { jobs.recv_timeout(TRIM_AFTER) } else { jobs.recv().map_err(RecvTimeoutError::from) };
            match job {
                Ok(remains) => {
                    drop(remains);
                    freed = true;
                    if let Some(Some(reaper)) = REAPER.get() {
                        reaper.finish_one();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    give_back_free_memory();
                    freed = false;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    spawned.ok()?;
    // SAFETY: registers a plain function with no captured state; it only
    // waits on this module's statics, which are never destroyed.
    unsafe { libc::atexit(wait_at_exit) };
    Some(Reaper { queue, pending: Mutex::new(0), finished: Condvar::new() })
}

/// Returns the C allocator's free memory to the system.
fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Waits (a bounded time) for the teardowns still queued at process exit.
extern "C" fn wait_at_exit() {
    let Some(Some(reaper)) = REAPER.get() else { return };
    let pending = reaper.pending.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = reaper.finished.wait_timeout_while(pending, EXIT_WAIT, |pending| *pending > 0);
}
