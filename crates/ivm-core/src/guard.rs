//! Guards on single allocations that V8 makes while it runs an isolate,
//! before they are made: the ones that hostile code can make far larger
//! than the isolate's limit in one step, inside a builtin that never checks
//! for termination, so that no later check of the limit comes in time.
//!
//! - **Pages** (`mmap64`, `mprotect`, `munmap`): a heap object larger than
//!   the heap's space gets pages of its own, and V8 always grants the first
//!   one of the young generation whatever its size; flattening a rope
//!   string of 2^28 characters commits 256 MiB at once. A commitment larger
//!   than the isolate's limit and overshoot together can never fit, so it
//!   is refused and the limit is breached; V8 then reaches its
//!   out-of-memory path (which `crate::fatal` turns into the memory-limit
//!   error) or, for a growable buffer's `grow`, throws a RangeError that
//!   the breach's termination overtakes. Commitments of a MiB or more are
//!   also tallied per isolate until they are given back: WebAssembly
//!   memories, which V8 makes and grows this way without counting them
//!   anywhere else, may together take no more than the limit and its
//!   overshoot (past that, making or growing one is a RangeError).
//! - **C++ objects** (`operator new`): the stack of open arrays and objects
//!   of `JSON.parse`, which deep input grows to gigabytes before the heap
//!   holds anything. One larger than an eighth of the limit is refused the
//!   same way. An eighth, because an escape from V8's frames leaves what
//!   they owned behind (`crate::fatal`): the refused container's previous
//!   storage, at most half of that, is what stays after dispose (4 MiB of
//!   a 64 MiB isolate), while the containers of ordinary work stay far
//!   below it.
//!
//! The C side is `native/guard.c`; it asks these functions, which read
//! the isolate this thread holds the lock of (`this_thread::LOCKED_HERE`).
//! Host code running in a callback (`REENTRY`) is never refused, and
//! neither is any other thread.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::memory::{MemoryBudget, overshoot};
use crate::stuck::NoEscape;
use crate::this_thread::{REENTRY, locked_budget};

unsafe extern "C" {
    fn ivm_guard_linked() -> std::ffi::c_int;
}

/// Makes sure the guards are linked in (`native/guard.c`); called once, as
/// V8 is initialised.
pub(crate) fn link() {
    // SAFETY: a C function without arguments or effects.
    let linked = unsafe { ivm_guard_linked() };
    debug_assert_eq!(linked, 1);
}

/// The budget of the isolate this thread runs V8 for, if no host code runs.
fn guarded() -> Option<&'static MemoryBudget> {
    if REENTRY.get().is_some() {
        return None;
    }
    locked_budget()
}

/// Commitments at least this large are tallied per isolate (and the
/// smaller ones are V8's heap pages and code, which its heap limit bounds).
const TALLIED_FROM: usize = 1 << 20;

/// A large commitment outstanding: pages from `start`, `bytes` long,
/// charged to `budget` until they are unmapped or given back.
struct Commitment {
    start: usize,
    bytes: usize,
    budget: Arc<MemoryBudget>,
}

/// Every isolate's large commitments. Pages are given back on whatever
/// thread V8 frees them (its collector's), hence one table for all.
static COMMITMENTS: Mutex<Vec<Commitment>> = Mutex::new(Vec::new());
static COMMITMENTS_LEN: AtomicUsize = AtomicUsize::new(0);

/// Whether V8 may commit `length` bytes at `address` (null for a new
/// mapping, recorded by [`ivm_guard_committed`] once made) on this thread.
///
/// A commitment larger than the isolate's limit and overshoot together can
/// never fit: it is refused, and the limit breached, so that the call ends
/// with the memory-limit error however V8 reports the failure (its
/// out-of-memory path, or a RangeError for a growable buffer's `grow`).
/// Large ones are tallied: a WebAssembly memory is such a commitment, made
/// again from its start, larger, each time it grows, and one past what is
/// left of the tally's room (the limit and its overshoot) is refused
/// without a breach, which V8 reports to the script as a RangeError (a
/// memory that cannot be made or grown) and the isolate keeps going.
#[unsafe(no_mangle)]
extern "C" fn ivm_guard_commit(address: *mut c_void, length: usize) -> c_int {
    let Some(budget) = guarded() else { return 1 };
    let room = budget.limit_bytes().saturating_add(overshoot(budget.limit_bytes()));
    if length > room {
        budget.breach();
        return 0;
    }
    if length < TALLIED_FROM {
        return 1;
    }
    let _no_escape = NoEscape::begin();
    let mut commitments = COMMITMENTS.lock().unwrap_or_else(PoisonError::into_inner);
    let start = address as usize;
    let found = (start != 0).then(|| commitments.iter().position(|c| c.start == start)).flatten();
    let more = found.map_or(length, |at| length.saturating_sub(commitments[at].bytes));
    if budget.tallied_commitments().saturating_add(more) > room {
        return 0;
    }
    match found {
        Some(at) => {
            budget.tally(more);
            commitments[at].bytes += more;
        }
        None if start != 0 => record(&mut commitments, start, length, budget),
        // Tallied once mapped, by `ivm_guard_committed`.
        None => {}
    }
    1
}

/// A new mapping of `length` bytes that [`ivm_guard_commit`] allowed (and
/// tallied) was made at `address`.
#[unsafe(no_mangle)]
extern "C" fn ivm_guard_committed(address: *mut c_void, length: usize) {
    let Some(budget) = guarded() else { return };
    if length >= TALLIED_FROM {
        let _no_escape = NoEscape::begin();
        record(&mut COMMITMENTS.lock().unwrap_or_else(PoisonError::into_inner), address as usize, length, budget);
    }
}

fn record(commitments: &mut Vec<Commitment>, start: usize, bytes: usize, budget: &MemoryBudget) {
    // SAFETY: `budget` is the one `LOCKED_HERE` holds, which points into the
    // `Arc<MemoryBudget>` of its isolate (`IsolateInner::memory`); one more
    // strong count keeps it for the commitment, which may be given back
    // after the isolate is gone.
    let budget = unsafe {
        Arc::increment_strong_count(budget);
        Arc::from_raw(budget)
    };
    budget.tally(bytes);
    commitments.push(Commitment { start, bytes, budget });
    COMMITMENTS_LEN.store(commitments.len(), Ordering::Release);
}

/// Pages from `address`, `length` long, were unmapped or made
/// inaccessible, on any thread: the commitments that start among them are
/// given back to their isolates.
#[unsafe(no_mangle)]
extern "C" fn ivm_guard_released(address: *mut c_void, length: usize) {
    // Most unmappings are of pages no commitment is tallied for.
    if COMMITMENTS_LEN.load(Ordering::Acquire) == 0 {
        return;
    }
    let range = (address as usize)..(address as usize).saturating_add(length);
    let _no_escape = NoEscape::begin();
    let mut commitments = COMMITMENTS.lock().unwrap_or_else(PoisonError::into_inner);
    commitments.retain(|commitment| {
        let released = range.contains(&commitment.start);
        if released {
            commitment.budget.untally(commitment.bytes);
        }
        !released
    });
    COMMITMENTS_LEN.store(commitments.len(), Ordering::Release);
}

/// The largest C++ object V8 may allocate on this thread now.
#[unsafe(no_mangle)]
extern "C" fn ivm_guard_object_limit() -> usize {
    guarded().map_or(usize::MAX, |budget| budget.limit_bytes() / 8)
}

/// An allocation of `size` bytes that `operator new` may not make (or the
/// system did not): the isolate's limit is breached, and the call leaves
/// V8's frames as on V8's own out-of-memory error.
#[unsafe(no_mangle)]
extern "C" fn ivm_guard_refuse_object(size: usize) -> ! {
    match guarded() {
        Some(budget) => {
            budget.breach();
            crate::fatal::report_and_leave(format!(
                "V8 asked for a single allocation of {size} bytes, past the memory limit"
            ))
        }
        None => {
            eprintln!("ivm: out of memory: an allocation of {size} bytes failed");
            std::process::abort()
        }
    }
}
