//! Guards on single allocations that V8 makes while it runs an isolate,
//! before they are made: the ones that hostile code can make far larger
//! than the isolate's limit in one step, inside a builtin that never checks
//! for termination, so that no later check of the limit comes in time.
//!
//! - **Pages** (`mmap64`, `mprotect`): a heap object larger than the heap's
//!   space gets pages of its own, and V8 always grants the first one of the
//!   young generation whatever its size; flattening a rope string of 2^28
//!   characters commits 256 MiB at once. A commitment larger than the
//!   isolate's limit and overshoot together can never fit, so it is refused
//!   and the limit is breached; V8 then reaches its out-of-memory path
//!   (which `crate::fatal` turns into the memory-limit error) or, for a
//!   growable buffer's `grow`, throws a RangeError that the breach's
//!   termination overtakes.
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

use crate::memory::{MemoryBudget, overshoot};
use crate::this_thread::{LOCKED_HERE, REENTRY};

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
    let (_, budget) = LOCKED_HERE.get()?;
    if REENTRY.get().is_some() {
        return None;
    }
    // SAFETY: `LOCKED_HERE` holds the budget of the isolate whose lock this
    // thread holds, which keeps it alive for as long as it is set; the
    // reference does not leave the guard's caller.
    Some(unsafe { &*budget })
}

/// The most memory one mapping or change of protection may commit on this
/// thread now.
#[unsafe(no_mangle)]
extern "C" fn ivm_guard_commit_limit() -> usize {
    guarded().map_or(usize::MAX, |budget| {
        let limit = budget.limit_bytes();
        limit.saturating_add(overshoot(limit))
    })
}

/// A commitment of `length` bytes was refused: the isolate's limit is
/// breached, so that the call ends with the memory-limit error however V8
/// reports the failure (its out-of-memory path, or a RangeError for a
/// growable buffer's `grow`).
#[unsafe(no_mangle)]
extern "C" fn ivm_guard_refuse_commit(_length: usize) {
    if let Some(budget) = guarded() {
        budget.breach();
    }
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
