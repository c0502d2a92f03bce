//! The memory limit's last line: the process's growth while one isolate
//! runs alone.
//!
//! The budget in `memory.rs` counts what passes through a place ivm can
//! see: V8's heap, ArrayBuffers, ICU. Some memory passes through none of
//! them: the pages of a growable SharedArrayBuffer (committed by V8 as it
//! grows, and not counted as the isolate's external memory because other
//! isolates may share them), and V8's own C++ allocations (the objects
//! behind `Intl.NumberFormat` and `Temporal`, RegExp compilation). So while
//! runs are in progress a watchdog check reads the process's resident size
//! every [`TICK`]. When exactly one run is in progress, growth past
//! [`allowance`] (the heap's limit and overshoot, past what the budget
//! counts off the heap) since the run began is a breach of that isolate's
//! limit, if the run's thread made at least [`OWN_SHARE`] of the process's
//! page faults meanwhile: memory becomes resident where a page is first
//! written, by a fault of the thread that writes it, so growth that host
//! threads caused while the run went on is not blamed on the isolate (the
//! judging starts again from there). When several runs are in progress the growth cannot
//! be told apart and is not judged: the documented worst case (README,
//! "What the memory limit counts").
//!
//! **Invariant:** a run in progress is seen by a check: a run marks itself
//! running before it looks whether the checks are on ([`watch`]), and the
//! check that turns them off looks for runs after it has ([`tick`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use ivm_runtime::{Deadline, Watchdog};

use crate::memory::MemoryBudget;

/// How often the resident size is read while a run is in progress.
const TICK: Duration = Duration::from_millis(5);

/// The least share of the process's page faults since a run began that its
/// thread must have made for the process's growth to be blamed on it.
const OWN_SHARE: f64 = 0.5;

/// How many checks in a row must find no run before the checks stop.
const IDLE_TICKS: u32 = 20;

/// The growth of the process one run may cause, past the off-heap memory
/// its budget counts: its heap up to the limit and the overshoot it may
/// take while termination comes, plus what V8 allocates around it (compiled
/// code's metadata, zones) and a check's worth of growth before it is seen.
fn allowance(budget: &MemoryBudget) -> usize {
    let limit = budget.limit_bytes();
    budget.off_heap_bytes().saturating_add(limit + limit / 2).saturating_add(32 << 20)
}

struct Checks {
    /// The budgets of the isolates that exist, for the checks to find the
    /// running ones.
    budgets: Vec<Weak<MemoryBudget>>,
    /// How many budgets there were after the last pruning of dead ones.
    pruned_len: usize,
    deadline: Option<Deadline>,
    /// The run found alone: its budget's address and start, and where it
    /// is judged from.
    alone: Option<((usize, u64), Since)>,
    /// The resident size at the previous check, which came before a run
    /// first found at this one began (or, at the first check, the size when
    /// the checks were turned on).
    previous: usize,
    idle: u32,
}

/// Where a run alone is judged from: the process's resident size, and the
/// page faults of the process and of the run's thread.
#[derive(Clone, Copy)]
struct Since {
    resident: usize,
    process_faults: u64,
    thread_faults: u64,
}

impl Since {
    fn now(resident: usize, thread: i32) -> Since {
        Since {
            resident,
            process_faults: faults("/proc/self/stat"),
            thread_faults: faults(&format!("/proc/self/task/{thread}/stat")),
        }
    }

    /// Whether the run's thread made at least [`OWN_SHARE`] of the
    /// process's page faults since.
    fn thread_did_most(&self, now: &Since) -> bool {
        let process = now.process_faults.saturating_sub(self.process_faults) as f64;
        let thread = now.thread_faults.saturating_sub(self.thread_faults) as f64;
        thread >= OWN_SHARE * process
    }
}

/// The minor page faults (`minflt`) in a `stat` file of procfs, 0 where
/// there is none: a thread that ended has none, and is not blamed.
fn faults(path: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(path) else { return 0 };
    // After the command's name, which may hold spaces, in parentheses:
    // state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt.
    stat.rsplit_once(')').and_then(|(_, fields)| fields.split_whitespace().nth(7)?.parse().ok()).unwrap_or(0)
}

static CHECKS: Mutex<Checks> =
    Mutex::new(Checks { budgets: Vec::new(), pruned_len: 0, deadline: None, alone: None, previous: 0, idle: 0 });
static ON: AtomicBool = AtomicBool::new(false);

fn checks() -> MutexGuard<'static, Checks> {
    CHECKS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes an isolate's runs visible to the checks.
pub(crate) fn register(budget: &Arc<MemoryBudget>) {
    let mut checks = checks();
    if checks.budgets.len() >= 2 * checks.pruned_len.max(16) {
        checks.budgets.retain(|budget| budget.strong_count() > 0);
        checks.pruned_len = checks.budgets.len();
    }
    checks.budgets.push(Arc::downgrade(budget));
}

/// Turns the checks on if they are off; called by a run once its budget
/// says it is running.
pub(crate) fn watch() {
    if ON.load(Ordering::SeqCst) || ON.swap(true, Ordering::SeqCst) {
        return;
    }
    let resident = resident_bytes();
    {
        let mut checks = checks();
        checks.previous = resident;
        checks.alone = None;
        checks.idle = 0;
    }
    // Scheduled without the lock held: the watchdog's thread takes it in
    // `tick` while holding its own.
    let deadline = Watchdog::global().schedule_every(Instant::now() + TICK, TICK, tick);
    // A deadline replaced here belongs to checks that have stopped.
    checks().deadline = Some(deadline);
}

/// One check; `false` stops the checks.
fn tick() -> bool {
    let resident = resident_bytes();
    let mut checks = checks();
    let mut runs = running(&checks.budgets);
    let one = runs.next();
    let several = one.is_some() && runs.next().is_some();
    drop(runs);
    let any = one.is_some();
    match one.filter(|_| !several) {
        Some((budget, since)) => {
            checks.idle = 0;
            let id = (Arc::as_ptr(&budget) as usize, since);
            // The page faults (two reads of procfs) are read only where a
            // judging starts and where the growth is past the allowance.
            match checks.alone {
                Some((judged, from)) if judged == id => {
                    if resident.saturating_sub(from.resident) > allowance(&budget) {
                        let now = Since::now(resident, budget.running_thread());
                        if from.thread_did_most(&now) {
                            budget.breach();
                        } else {
                            checks.alone = Some((id, now));
                        }
                    }
                }
                _ => {
                    let from = resident.min(checks.previous);
                    checks.alone = Some((id, Since::now(from, budget.running_thread())));
                }
            }
        }
        None => {
            checks.alone = None;
            checks.idle = if any { 0 } else { checks.idle + 1 };
        }
    }
    checks.previous = resident;
    if checks.idle < IDLE_TICKS {
        return true;
    }
    ON.store(false, Ordering::SeqCst);
    // A run that began just before the store saw the checks on: go on for
    // it, unless a run after the store turned new checks on already.
    if running(&checks.budgets).next().is_some()
        && ON.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    {
        checks.idle = 0;
        return true;
    }
    false
}

/// The budgets of the runs in progress, with when each began.
fn running(budgets: &[Weak<MemoryBudget>]) -> impl Iterator<Item = (Arc<MemoryBudget>, u64)> + '_ {
    budgets.iter().filter_map(Weak::upgrade).filter_map(|budget| {
        let since = budget.running_since();
        (since != 0).then_some((budget, since))
    })
}

/// The process's resident size, from `/proc/self/statm`; 0 where there is
/// none (the checks then judge nothing).
fn resident_bytes() -> usize {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages: usize = statm.split_whitespace().nth(1).and_then(|pages| pages.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    pages.saturating_mul(page)
}
