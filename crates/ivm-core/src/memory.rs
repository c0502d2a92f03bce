//! The memory limit: hostile code may not push an isolate past it, and the
//! process must survive the attempt.
//!
//! Four layers, because each covers a hole in the others:
//! 1. V8's heap limit (resource constraints) bounds the JavaScript heap.
//! 2. Near that limit V8 calls [`near_heap_limit`]. The first time, the heap
//!    may be mostly what only a last-resort collection frees (V8's
//!    compilation cache keeps every distinct script source compiled until
//!    one), so it asks for that collection at the next interrupt check, or
//!    at the end of the call if none comes first ([`collect_if_pending`]):
//!    the limit is restored if the heap fits again, else the limit is
//!    breached. Near the limit again before that, it is breached at once. A
//!    breach asks V8 to terminate the running script. Either way the limit
//!    is raised by a bounded overshoot so that the allocation in flight can
//!    finish; one that does not fit reaches V8's fatal out-of-memory path,
//!    which `crate::fatal` escapes from. The isolate is disposed when the
//!    call ends.
//! 3. Memory outside the heap (ArrayBuffer contents) goes through
//!    [`allocator`], which refuses allocations that would pass the limit and
//!    records the breach the same way.
//! 4. What V8 counts outside the heap without the allocator (resizable and
//!    growable buffers' pages) is judged at every collection
//!    ([`judge_external_memory`]); V8 collects when it grows.
//!
//! V8's fatal out-of-memory error ends the call with the same memory-limit
//! error (`crate::fatal`).

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The memory accounting of one isolate, shared with V8's callbacks.
pub(crate) struct MemoryBudget {
    limit_bytes: usize,
    external_bytes: AtomicUsize,
    limit_hit: AtomicBool,
    terminator: OnceLock<v8::IsolateHandle>,
    /// The heap came near its limit and is being given a last-resort
    /// collection: the next time near it is a breach.
    collecting: AtomicBool,
    /// That collection was asked for and has not run yet.
    collection_pending: AtomicBool,
}

impl MemoryBudget {
    pub(crate) fn new(limit_bytes: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit_bytes,
            external_bytes: AtomicUsize::new(0),
            limit_hit: AtomicBool::new(false),
            terminator: OnceLock::new(),
            collecting: AtomicBool::new(false),
            collection_pending: AtomicBool::new(false),
        })
    }

    /// Connects the budget to its isolate once V8 has created it.
    pub(crate) fn attach(&self, handle: v8::IsolateHandle) {
        let _ = self.terminator.set(handle);
    }

    pub(crate) fn limit_bytes(&self) -> usize {
        self.limit_bytes
    }

    pub(crate) fn limit_hit(&self) -> bool {
        self.limit_hit.load(Ordering::SeqCst)
    }

    pub(crate) fn external_bytes(&self) -> usize {
        self.external_bytes.load(Ordering::SeqCst)
    }

    fn breach(&self) {
        self.limit_hit.store(true, Ordering::SeqCst);
        if let Some(handle) = self.terminator.get() {
            handle.terminate_execution();
        }
    }

    /// Whether `len` more bytes of off-heap memory fit under the limit now.
    pub(crate) fn fits(&self, len: usize) -> bool {
        self.external_bytes.load(Ordering::SeqCst).saturating_add(len) <= self.limit_bytes
    }

    /// Reserves `len` bytes of off-heap memory, or records a breach.
    fn reserve(&self, len: usize) -> bool {
        let before = self.external_bytes.fetch_add(len, Ordering::SeqCst);
        if before.saturating_add(len) > self.limit_bytes {
            self.external_bytes.fetch_sub(len, Ordering::SeqCst);
            self.breach();
            return false;
        }
        true
    }

    fn unreserve(&self, len: usize) {
        self.external_bytes.fetch_sub(len, Ordering::SeqCst);
    }
}

/// How far past its limit an isolate's heap may grow while the collection
/// or the termination that a breach asked for comes: half the limit, and at
/// least [`MIN_OVERSHOOT`]. Termination takes effect at the next interrupt
/// check, which comes quickly in JavaScript but not inside a long builtin
/// (filling a huge dictionary-mode object, flattening a long string, parsing
/// deep JSON); an allocation that does not fit in the overshoot is V8's
/// fatal out-of-memory error, which `crate::fatal` turns into this same
/// memory-limit error. So the heap never holds more than one and a half
/// times its limit.
fn overshoot(limit: usize) -> usize {
    (limit / 2).max(MIN_OVERSHOOT)
}

const MIN_OVERSHOOT: usize = 16 << 20;

/// V8's near-heap-limit callback: the first time, ask for a last-resort
/// collection; after that, record the breach and ask V8 to terminate. Both
/// grant the bounded overshoot, for the collection or the termination to come.
///
/// # Safety
/// `data` must be the pointer registered in `Isolate::new`: a `MemoryBudget`
/// kept alive by the isolate's owner for as long as the V8 isolate exists.
pub(crate) unsafe extern "C" fn near_heap_limit(data: *mut c_void, current: usize, initial: usize) -> usize {
    // SAFETY: see the function's contract; the budget outlives the isolate.
    let budget = unsafe { &*data.cast::<MemoryBudget>() };
    if !budget.collecting.swap(true, Ordering::SeqCst) {
        budget.collection_pending.store(true, Ordering::SeqCst);
        if let Some(handle) = budget.terminator.get() {
            handle.request_interrupt(collect_on_interrupt, data);
        }
    } else {
        budget.breach();
    }
    initial.saturating_add(overshoot(initial)).max(current)
}

/// Runs the collection [`near_heap_limit`] asked for, between statements
/// of the JavaScript that came near the limit.
unsafe extern "C" fn collect_on_interrupt(isolate: v8::UnsafeRawIsolatePtr, data: *mut c_void) {
    // SAFETY: V8 runs interrupts on the thread that holds the isolate's
    // lock, while the isolate (and so the budget, see `near_heap_limit`)
    // lives.
    let (mut isolate, budget) = unsafe { (v8::Isolate::from_raw_isolate_ptr(isolate), &*data.cast::<MemoryBudget>()) };
    collect_if_pending(&mut isolate, budget);
}

/// The last-resort collection, if one was asked for and has not run: V8
/// frees all it can (its compilation cache too). If the heap then fits
/// under the limit, the limit V8 was given is restored and the next time
/// near it gets a collection again; if not, the limit is breached.
pub(crate) fn collect_if_pending(isolate: &mut v8::Isolate, budget: &MemoryBudget) {
    // Read before the swap: this runs after every call, and is rarely due.
    if !budget.collection_pending.load(Ordering::Relaxed) || !budget.collection_pending.swap(false, Ordering::SeqCst) {
        return;
    }
    isolate.low_memory_notification();
    if isolate.get_heap_statistics().used_heap_size() >= budget.limit_bytes {
        budget.breach();
        return;
    }
    // Removing the callback with a limit restores that limit.
    isolate.remove_near_heap_limit_callback(near_heap_limit, budget.limit_bytes);
    isolate.add_near_heap_limit_callback(near_heap_limit, std::ptr::from_ref(budget).cast_mut().cast());
    budget.collecting.store(false, Ordering::SeqCst);
}

/// V8's GC prologue callback: the memory V8 counts outside the heap, which
/// includes what ivm's allocator does not see (the pages of resizable and
/// growable ArrayBuffers, committed as they grow), is judged against the
/// limit at every collection. V8 starts one when that memory grows.
///
/// # Safety
/// `data` must be the pointer registered in `Isolate::new`, as for
/// [`near_heap_limit`].
pub(crate) unsafe extern "C" fn judge_external_memory(
    isolate: v8::UnsafeRawIsolatePtr,
    _type: v8::GCType,
    _flags: v8::GCCallbackFlags,
    data: *mut c_void,
) {
    // SAFETY: V8 runs GC callbacks on the thread that holds the isolate's
    // lock, and the budget outlives the isolate (see the contract).
    let (mut isolate, budget) = unsafe { (v8::Isolate::from_raw_isolate_ptr(isolate), &*data.cast::<MemoryBudget>()) };
    if isolate.get_heap_statistics().external_memory() > budget.limit_bytes {
        budget.breach();
    }
}

/// An ArrayBuffer allocator that charges every buffer to the isolate's budget.
pub(crate) fn allocator(budget: &Arc<MemoryBudget>) -> v8::UniqueRef<v8::Allocator> {
    static VTABLE: v8::RustAllocatorVtable<MemoryBudget> =
        v8::RustAllocatorVtable { allocate: allocate_zeroed, allocate_uninitialized, free, drop: drop_budget };
    let handle = Arc::into_raw(Arc::clone(budget));
    // SAFETY: `handle` is a live `Arc<MemoryBudget>` whose strong count is
    // released exactly once, by `drop_budget`, when V8 drops the allocator;
    // every vtable function expects exactly that handle type.
    unsafe { v8::new_rust_allocator(handle, &VTABLE) }
}

unsafe extern "C" fn allocate_zeroed(budget: &MemoryBudget, len: usize) -> *mut c_void {
    if !budget.reserve(len) {
        return std::ptr::null_mut();
    }
    // SAFETY: calloc has no preconditions; a zero size is rounded up so that a
    // successful allocation is never mistaken for failure.
    let ptr = unsafe { libc::calloc(len.max(1), 1) };
    if ptr.is_null() {
        budget.unreserve(len);
    }
    ptr
}

unsafe extern "C" fn allocate_uninitialized(budget: &MemoryBudget, len: usize) -> *mut c_void {
    if !budget.reserve(len) {
        return std::ptr::null_mut();
    }
    // SAFETY: as in `allocate_zeroed`.
    let ptr = unsafe { libc::malloc(len.max(1)) };
    if ptr.is_null() {
        budget.unreserve(len);
    }
    ptr
}

unsafe extern "C" fn free(budget: &MemoryBudget, data: *mut c_void, len: usize) {
    // SAFETY: V8 frees only what this allocator returned, with its length.
    unsafe { libc::free(data) };
    budget.unreserve(len);
}

unsafe extern "C" fn drop_budget(budget: *const MemoryBudget) {
    // SAFETY: `budget` came from `Arc::into_raw` in `allocator`, and V8 calls
    // this once, when it destroys the allocator.
    drop(unsafe { Arc::from_raw(budget) });
}
