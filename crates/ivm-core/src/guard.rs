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
//! - **Zone segments** (`malloc` called by V8's zone allocator): the
//!   memory of V8's parsers and compilers, which no heap limit bounds and
//!   which V8's RegExp parser, checking no interrupt, grows to hundreds of
//!   MiB for a pattern of a few MiB. Once the isolate's limit is breached
//!   (by the process's growth, `crate::growth`, or any other check) and a
//!   few MiB given since, no new segment is given, so the work that ignores termination ends in
//!   V8's out-of-memory path, which `crate::fatal` turns into the
//!   memory-limit error. The escape skips the zone's destructor, so large
//!   segments are recorded until given back, and the ones whose zone was
//!   on the skipped stack are freed after it
//!   ([`free_escaped_zone_segments`]).
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

/// Zone segments this large are the ones a zone makes once it has grown
/// past its first few (V8's `Zone::kMaximumSegmentSize`, 32 KiB): only big
/// zones have them, so small compilations never touch the record.
const RECORDED_SEGMENT: usize = 32 << 10;

/// The large zone segments made on threads running an isolate and not yet
/// given back: their address and size. A segment whose zone lived in the
/// frames a fatal error escaped from is never given back by V8; these are
/// what [`free_escaped_zone_segments`] finds it among.
static ZONE_SEGMENTS: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
static ZONE_SEGMENTS_LEN: AtomicUsize = AtomicUsize::new(0);
/// How many segments were ever recorded, for the tests to see the hooks
/// work.
#[cfg(test)]
static ZONE_SEGMENTS_EVER: AtomicUsize = AtomicUsize::new(0);

/// The zone memory an isolate's thread is given after its limit was
/// breached: what the termination that follows needs (a collection, the
/// unwinding of the run) and far less than what work that checks for no
/// termination goes on taking.
const ZONE_AFTER_BREACH: usize = 8 << 20;

/// Whether V8's zone allocator may take a segment of `size` bytes on this
/// thread: 0 once the isolate's limit is breached and [`ZONE_AFTER_BREACH`]
/// given since (V8's RegExp parser, which checks for no termination, would
/// otherwise go on growing its zone), 2 if it is made to be recorded, 1
/// otherwise.
#[unsafe(no_mangle)]
extern "C" fn ivm_guard_zone_segment(size: usize) -> c_int {
    match guarded() {
        Some(budget) if budget.limit_hit() && budget.zone_after_breach(size) > ZONE_AFTER_BREACH => 0,
        Some(_) if size >= RECORDED_SEGMENT => 2,
        _ => 1,
    }
}

/// A zone segment `ivm_guard_zone_segment` asked for was made.
#[unsafe(no_mangle)]
extern "C" fn ivm_guard_zone_segment_recorded(segment: *mut c_void, size: usize) {
    let _no_escape = NoEscape::begin();
    let mut segments = ZONE_SEGMENTS.lock().unwrap_or_else(PoisonError::into_inner);
    segments.push((segment as usize, size));
    #[cfg(test)]
    ZONE_SEGMENTS_EVER.fetch_add(1, Ordering::Relaxed);
    ZONE_SEGMENTS_LEN.store(segments.len(), Ordering::Release);
}

/// A zone segment was given back, on any thread.
#[unsafe(no_mangle)]
extern "C" fn ivm_guard_zone_segment_returned(segment: *mut c_void) {
    if ZONE_SEGMENTS_LEN.load(Ordering::Acquire) == 0 {
        return;
    }
    let _no_escape = NoEscape::begin();
    let mut segments = ZONE_SEGMENTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(at) = segments.iter().rposition(|&(start, _)| start == segment as usize) {
        segments.swap_remove(at);
        ZONE_SEGMENTS_LEN.store(segments.len(), Ordering::Release);
    }
}

/// Frees the recorded zone segments whose zone lived in `skipped`, the
/// stack of the frames a fatal error escaped from on this thread: their
/// zones' destructors never ran, and nothing else can reach them. A
/// segment begins with its zone's address and, two words on, its size
/// (V8's `Segment`). Zones elsewhere (the heap, V8's process-wide ones) are
/// left to their owners.
pub(crate) fn free_escaped_zone_segments(skipped: std::ops::Range<usize>) {
    if ZONE_SEGMENTS_LEN.load(Ordering::Acquire) == 0 {
        return;
    }
    let mut segments = ZONE_SEGMENTS.lock().unwrap_or_else(PoisonError::into_inner);
    let before = segments.len();
    segments.retain(|&(start, size)| {
        let header = start as *const usize;
        // SAFETY: a recorded segment is a live allocation of at least
        // `RECORDED_SEGMENT` bytes (records go when V8 gives them back), so
        // its first three words may be read.
        let (zone, length) = unsafe { (header.read(), header.add(2).read()) };
        let escaped = skipped.contains(&zone) && length == size;
        if escaped {
            // SAFETY: the segment was allocated by `malloc`, and its zone,
            // which alone referred to it, is gone with the skipped frames.
            unsafe { libc::free(start as *mut c_void) };
        }
        !escaped
    });
    ZONE_SEGMENTS_LEN.store(segments.len(), Ordering::Release);
    if segments.len() < before {
        // The C library keeps freed memory for later allocations unless
        // asked to give back its whole pages.
        // SAFETY: no requirements.
        unsafe { libc::malloc_trim(0) };
    }
}

/// The smallest C++ object that `ivm_guard_object_limit` may refuse, an
/// eighth of the smallest limit: `operator new` asks for no smaller one,
/// which keeps V8's many small allocations off the thread-local reads.
#[unsafe(export_name = "ivm_guard_objects_from")]
static GUARDED_OBJECTS_FROM: usize = (crate::MIN_MEMORY_LIMIT_MB << 20) / 8;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EvalOptions, Isolate, IsolateOptions};

    /// The zone hooks know V8's zone functions: a compilation large enough
    /// to record segments (a source of a few MiB) has them all given back by
    /// the time it ends, so none is left for an escape to find.
    #[test]
    fn zone_segments_are_recorded_and_forgotten_when_given_back() {
        let isolate = Isolate::new(IsolateOptions::new()).unwrap();
        let context = isolate.create_context().unwrap();
        let source = format!("[{}].length", "[1, {a: 2}],".repeat(200_000));
        let recorded = || ZONE_SEGMENTS.lock().unwrap_or_else(PoisonError::into_inner).len();
        let (before, ever) = (recorded(), ZONE_SEGMENTS_EVER.load(Ordering::Relaxed));
        let length = context.eval(&source, &EvalOptions::default()).unwrap();
        assert!(matches!(length.as_value(), Some(ivm_marshal::Value::Number(n)) if *n == 200_000.0));
        assert!(ZONE_SEGMENTS_EVER.load(Ordering::Relaxed) > ever, "the compilation's zone segments were recorded");
        assert_eq!(recorded(), before, "and all given back");
        isolate.dispose().unwrap();
    }
}
