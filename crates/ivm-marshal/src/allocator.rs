//! The bound on V8's serializer buffer: [`BoundedAllocator`], the global
//! allocator the front-ends install.
//!
//! A copy out of an isolate is first made by V8's own serializer, into a
//! buffer the `v8` crate grows with Rust's global allocator. Its output can
//! be far larger than the isolate (a string referred to 2,000 times is
//! written 2,000 times), so while it runs this thread's allocations are
//! capped at the copy's bound ([`CloneOptions::max_bytes`]): a larger one
//! fails, which V8's serializer reports as running out of memory, and the
//! copy fails with [`Error::OverLimit`] instead of taking the host's memory.
//! Without this allocator installed the bound is checked only once the
//! buffer is made.
//!
//! [`CloneOptions::max_bytes`]: crate::CloneOptions::max_bytes
//! [`Error::OverLimit`]: crate::Error::OverLimit

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system's allocator, except that on a thread where V8 is serializing
/// a value out of an isolate, an allocation larger than the copy's bound
/// fails. Install it in a program or library that embeds ivm:
/// `#[global_allocator] static ALLOCATOR: BoundedAllocator = BoundedAllocator;`.
#[derive(Debug, Default, Clone, Copy)]
pub struct BoundedAllocator;

thread_local! {
    /// The largest allocation this thread may make now.
    static CAP: Cell<usize> = const { Cell::new(usize::MAX) };
    /// An allocation was refused under the cap.
    static REFUSED: Cell<bool> = const { Cell::new(false) };
}

/// How many [`Capped`] live, on all threads: while none does, an allocation
/// is allowed without a look at this thread's cap (a thread-local's lookup,
/// which in a shared library is a call, on every allocation of the host's).
/// A thread counts its own before it sets its cap, so it always sees it.
static CAPPED: AtomicUsize = AtomicUsize::new(0);

#[inline]
fn allowed(size: usize) -> bool {
    CAPPED.load(Ordering::Relaxed) == 0 || allowed_under_cap(size)
}

/// [`allowed`] while some thread is capped. Out of line: inlined, the
/// compiler computes the thread-local's address (a call, in a shared
/// library) before the count is even read.
#[cold]
#[inline(never)]
fn allowed_under_cap(size: usize) -> bool {
    // `try_with`: a thread being torn down has no cap.
    let allowed = CAP.try_with(Cell::get).map_or(true, |cap| size <= cap);
    if !allowed {
        let _ = REFUSED.try_with(|refused| refused.set(true));
    }
    allowed
}

// SAFETY: every method forwards to `System`, which upholds `GlobalAlloc`'s
// contract, or returns null, which is how an allocator reports failure.
unsafe impl GlobalAlloc for BoundedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`; `ptr` came from `System` through this.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !allowed(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// While it lives, this thread's allocations are capped at `cap` bytes.
#[derive(Debug)]
pub struct Capped {
    previous: usize,
}

impl Capped {
    pub(crate) fn set(cap: usize) -> Capped {
        CAPPED.fetch_add(1, Ordering::Relaxed);
        REFUSED.set(false);
        Capped { previous: CAP.replace(cap) }
    }

    /// Lifts the cap while it lives: for host code that V8's serializer
    /// reaches through a getter (a host function it calls), whose
    /// allocations are the host's, and which would fail outright (Rust
    /// aborts on an allocation that fails) rather than as a copy does.
    pub fn lifted() -> Capped {
        CAPPED.fetch_add(1, Ordering::Relaxed);
        Capped { previous: CAP.replace(usize::MAX) }
    }

    /// Whether an allocation was refused under the cap.
    pub(crate) fn refused(&self) -> bool {
        REFUSED.get()
    }

    /// Lifts this thread's cap for good, after an escape from a fatal error
    /// skipped the frames (and the drops) of the caps it set: the host's
    /// allocations on this thread must not stay capped. The caps skipped
    /// stay counted, which only keeps [`allowed`] looking at the cap.
    pub fn forget_skipped() {
        CAP.set(usize::MAX);
    }
}

impl Drop for Capped {
    fn drop(&mut self) {
        CAP.set(self.previous);
        CAPPED.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_binds_its_thread_while_it_lives() {
        let cap = Capped::set(16);
        assert!(allowed(16) && !allowed(17));
        assert!(cap.refused(), "the refusal is recorded");
        std::thread::spawn(|| assert!(allowed(1 << 20), "other threads are not capped")).join().unwrap();
        {
            let _lifted = Capped::lifted();
            assert!(allowed(1 << 20), "lifted for host code");
        }
        assert!(!allowed(17), "and capped again after");
        drop(cap);
        assert!(allowed(1 << 20));
    }

    #[test]
    fn an_escape_leaves_no_cap_behind() {
        // An escape skips the cap's drop, as forgetting it does.
        std::mem::forget(Capped::set(16));
        assert!(!allowed(17));
        Capped::forget_skipped();
        assert!(allowed(1 << 20));
    }
}
