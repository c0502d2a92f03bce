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
//! 5. ICU's memory (`Intl` objects, collation and segmentation data, kept
//!    alive by the heap's small wrapper objects) goes through [`icu`], which
//!    charges it to the isolate whose lock the allocating thread holds.
//! 6. What none of these sees, `crate::growth` bounds by the process's
//!    growth while one isolate runs alone.
//!
//! V8's fatal out-of-memory error ends the call with the same memory-limit
//! error (`crate::fatal`).

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The memory accounting of one isolate, shared with V8's callbacks.
pub(crate) struct MemoryBudget {
    limit_bytes: usize,
    external_bytes: AtomicUsize,
    /// ICU's memory allocated while this isolate's lock was held, less what
    /// was freed then ([`icu`]). Signed: memory ICU allocated for the
    /// process (its caches) may be freed inside an isolate's call.
    icu_bytes: AtomicIsize,
    /// The limits of the live isolates this one made (`crate::family`).
    children_bytes: AtomicUsize,
    /// The large page commitments V8 made for the isolate and has not
    /// given back (`crate::guard`): WebAssembly memories, large objects.
    tallied_commitments: AtomicUsize,
    limit_hit: AtomicBool,
    /// V8's zone memory given on the isolate's thread since the limit was
    /// breached (`crate::guard`).
    zone_after_breach: AtomicUsize,
    terminator: OnceLock<v8::IsolateHandle>,
    /// The heap came near its limit and is being given a last-resort
    /// collection: the next time near it is a breach.
    collecting: AtomicBool,
    /// That collection was asked for and has not run yet.
    collection_pending: AtomicBool,
    /// When the isolate's run in progress began, in nanoseconds after the
    /// process's first (plus one); 0 while none is (`crate::growth`).
    running_since: AtomicU64,
    /// The thread that run is on (its id in the kernel).
    running_thread: AtomicI32,
    /// The run (its start, as `running_since`) whose timeout's termination
    /// has not stopped it, whose thread `crate::stuck` makes leave it.
    stuck_run: AtomicU64,
}

impl MemoryBudget {
    pub(crate) fn new(limit_bytes: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit_bytes,
            external_bytes: AtomicUsize::new(0),
            icu_bytes: AtomicIsize::new(0),
            children_bytes: AtomicUsize::new(0),
            tallied_commitments: AtomicUsize::new(0),
            limit_hit: AtomicBool::new(false),
            zone_after_breach: AtomicUsize::new(0),
            terminator: OnceLock::new(),
            collecting: AtomicBool::new(false),
            collection_pending: AtomicBool::new(false),
            running_since: AtomicU64::new(0),
            running_thread: AtomicI32::new(0),
            stuck_run: AtomicU64::new(0),
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

    /// The off-heap memory charged to the isolate: its ArrayBuffers', ICU's,
    /// and the limits of the isolates it made.
    pub(crate) fn off_heap_bytes(&self) -> usize {
        let icu = usize::try_from(self.icu_bytes.load(Ordering::Relaxed)).unwrap_or(0);
        self.external_bytes.load(Ordering::SeqCst).saturating_add(icu).saturating_add(self.children_bytes())
    }

    fn children_bytes(&self) -> usize {
        self.children_bytes.load(Ordering::SeqCst)
    }

    /// Charges a child's limit (`crate::family`), which its caller checked
    /// to fit.
    pub(crate) fn reserve_for_child(&self, bytes: usize) {
        self.children_bytes.fetch_add(bytes, Ordering::SeqCst);
    }

    pub(crate) fn release_for_child(&self, bytes: usize) {
        self.children_bytes.fetch_sub(bytes, Ordering::SeqCst);
    }

    pub(crate) fn tallied_commitments(&self) -> usize {
        self.tallied_commitments.load(Ordering::SeqCst)
    }

    /// Adds `bytes` of large commitments to the tally (`crate::guard`),
    /// which its caller checked to fit.
    pub(crate) fn tally(&self, bytes: usize) {
        self.tallied_commitments.fetch_add(bytes, Ordering::SeqCst);
    }

    pub(crate) fn untally(&self, bytes: usize) {
        self.tallied_commitments.fetch_sub(bytes, Ordering::SeqCst);
    }

    /// Marks a run of the isolate, begun at `started` (`run::epoch_ns`) on
    /// this thread, as in progress, for the process-growth checks
    /// (`crate::growth`).
    pub(crate) fn run_started(&self, started: u64) {
        self.running_thread.store(crate::this_thread::kernel_id(), Ordering::Relaxed);
        self.running_since.store(started, Ordering::Release);
        crate::growth::watch();
    }

    pub(crate) fn run_ended(&self) {
        self.running_since.store(0, Ordering::Release);
    }

    pub(crate) fn running_since(&self) -> u64 {
        self.running_since.load(Ordering::Acquire)
    }

    /// Marks the run that began at `started` as stuck past its deadline
    /// (`crate::stuck`).
    pub(crate) fn mark_stuck(&self, started: u64) {
        self.stuck_run.store(started, Ordering::SeqCst);
    }

    /// Whether the run in progress is one marked stuck.
    pub(crate) fn running_stuck(&self) -> bool {
        let stuck = self.stuck_run.load(Ordering::SeqCst);
        stuck != 0 && stuck == self.running_since()
    }

    pub(crate) fn running_thread(&self) -> i32 {
        self.running_thread.load(Ordering::Relaxed)
    }

    pub(crate) fn breach(&self) {
        self.limit_hit.store(true, Ordering::SeqCst);
        if let Some(handle) = self.terminator.get() {
            handle.terminate_execution();
        }
    }

    /// Counts a zone segment of `len` bytes given since the limit was
    /// breached: the total so far.
    pub(crate) fn zone_after_breach(&self, len: usize) -> usize {
        self.zone_after_breach.fetch_add(len, Ordering::Relaxed) + len
    }

    /// Whether `len` more bytes of off-heap memory fit under the limit now.
    pub(crate) fn fits(&self, len: usize) -> bool {
        self.off_heap_bytes().saturating_add(len) <= self.limit_bytes
    }

    /// Reserves `len` bytes of off-heap memory, or records a breach.
    fn reserve(&self, len: usize) -> bool {
        self.external_bytes.fetch_add(len, Ordering::SeqCst);
        if self.off_heap_bytes() > self.limit_bytes {
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

/// The memory limit of the isolate whose lock this thread holds, if any.
pub(crate) fn locked_limit() -> Option<usize> {
    crate::this_thread::locked_budget().map(MemoryBudget::limit_bytes)
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
pub(crate) fn overshoot(limit: usize) -> usize {
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
/// limit at every collection. V8 starts one when that memory grows. So is
/// the heap with the limits of the isolates this one made.
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
    let statistics = isolate.get_heap_statistics();
    // The limits of the isolates it made count against its heap too, which
    // V8's own heap limit (set when the isolate was made) does not know.
    let children = budget.children_bytes();
    if statistics.external_memory() > budget.limit_bytes
        || (children > 0 && statistics.used_heap_size().saturating_add(children) > budget.limit_bytes)
    {
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

/// ICU's allocations, charged to the isolate whose lock the allocating
/// thread holds (`this_thread::LOCKED_HERE`): V8 creates ICU's objects
/// (date formats, collators, segmenters, break iterators) for `Intl` and
/// for locale-aware string methods only inside calls, and frees them when a
/// collection of that isolate's heap finds their wrappers dead. Memory ICU
/// allocates with no isolate locked (its data and caches at start) is the
/// process's and is not charged.
pub(crate) mod icu {
    use std::ffi::c_void;
    use std::sync::atomic::Ordering;

    use super::{MemoryBudget, overshoot};
    use crate::this_thread::locked_budget;

    type Alloc = unsafe extern "C" fn(*const c_void, usize) -> *mut c_void;
    type Realloc = unsafe extern "C" fn(*const c_void, *mut c_void, usize) -> *mut c_void;
    type Free = unsafe extern "C" fn(*const c_void, *mut c_void);

    unsafe extern "C" {
        // ICU renames its symbols by version; 78 is the ICU of the pinned
        // `v8` crate, and a link error says when an upgrade changes it.
        fn u_setMemoryFunctions_78(context: *const c_void, a: Alloc, r: Realloc, f: Free, status: *mut i32);
    }

    /// Routes ICU's allocations through this module. Must come before ICU
    /// allocates anything, so before V8 is initialised; ICU refuses
    /// otherwise, and its memory then goes uncharged.
    pub(crate) fn install() {
        let mut status = 0;
        // SAFETY: the three functions are ICU's malloc, realloc and free
        // contract over libc's, and need no context.
        unsafe { u_setMemoryFunctions_78(std::ptr::null(), allocate, reallocate, free, &raw mut status) };
        debug_assert!(status <= 0, "ICU refused its memory functions: {status}");
    }

    /// Adds `delta` bytes to the locked isolate's charge. An allocation
    /// that takes the isolate past its limit is a breach; one that would
    /// take it past the overshoot too is refused (ICU reports the failure,
    /// and V8 throws or takes its fatal path, which `crate::fatal` escapes).
    fn charge(budget: &MemoryBudget, delta: isize) -> bool {
        let before = budget.icu_bytes.fetch_add(delta, Ordering::Relaxed);
        if delta <= 0 {
            return true;
        }
        let charged = budget.off_heap_bytes();
        if charged <= budget.limit_bytes {
            return true;
        }
        budget.breach();
        if charged <= budget.limit_bytes.saturating_add(overshoot(budget.limit_bytes)) {
            return true;
        }
        budget.icu_bytes.store(before, Ordering::Relaxed);
        false
    }

    fn size_of(ptr: *mut c_void) -> isize {
        // SAFETY: `ptr` is null or a live block of libc's allocator.
        isize::try_from(unsafe { libc::malloc_usable_size(ptr) }).unwrap_or(isize::MAX)
    }

    unsafe extern "C" fn allocate(_: *const c_void, size: usize) -> *mut c_void {
        // SAFETY: malloc has no preconditions.
        let ptr = unsafe { libc::malloc(size) };
        if !ptr.is_null() && locked_budget().is_some_and(|budget| !charge(budget, size_of(ptr))) {
            // SAFETY: `ptr` was just allocated and is not handed out.
            unsafe { libc::free(ptr) };
            return std::ptr::null_mut();
        }
        ptr
    }

    unsafe extern "C" fn reallocate(_: *const c_void, ptr: *mut c_void, size: usize) -> *mut c_void {
        let Some(budget) = locked_budget() else {
            // SAFETY: ICU passes a block this allocator returned, or null.
            return unsafe { libc::realloc(ptr, size) };
        };
        let before = size_of(ptr);
        let growth = isize::try_from(size).unwrap_or(isize::MAX).saturating_sub(before);
        // Refused before the block is touched: a failed realloc leaves the
        // caller's block as it was.
        if !charge(budget, growth) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        let moved = unsafe { libc::realloc(ptr, size) };
        // What was charged becomes what the allocator actually holds.
        let held = if moved.is_null() { before } else { size_of(moved) };
        budget.icu_bytes.fetch_add(held - before - growth, Ordering::Relaxed);
        moved
    }

    unsafe extern "C" fn free(_: *const c_void, ptr: *mut c_void) {
        if let Some(budget) = locked_budget() {
            charge(budget, -size_of(ptr));
        }
        // SAFETY: ICU frees only blocks this allocator returned.
        unsafe { libc::free(ptr) };
    }
}
