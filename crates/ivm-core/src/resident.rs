//! An isolate's V8 state kept on the host thread that calls it, between
//! its calls.
//!
//! V8 keeps, per thread, what a thread needs inside an isolate: its handle
//! blocks, its stack guard, the top of its stack of calls. A `v8::Locker`
//! that is the outermost on its thread makes that state when it takes the
//! lock and frees it when it lets go: about a tenth of a short call's time,
//! most of it the handle block's allocation and free (the allocation sets
//! off glibc's consolidation of its small free chunks). A Locker taken
//! inside an `Unlocker` instead archives the state when it lets go and
//! restores it when it takes the lock again, lazily: when the same thread
//! comes back and no other thread locked the isolate in between, nothing is
//! copied.
//!
//! So the first host thread to call an isolate takes an outermost Locker
//! and an Unlocker inside it, and leaves both in place: the thread is
//! *resident*. It holds no lock between its calls, and other threads lock
//! the isolate as before (V8 archives the resident thread's state when one
//! does, and restores it when that thread comes back); its own calls lock
//! inside the two.
//!
//! Only the resident thread can free its state (V8 takes the thread from
//! the caller), so it leaves before the isolate is torn down: when it
//! disposes the isolate, when a call of its ends with the isolate disposed,
//! when it drops the isolate's last handle and when it hands a pooled
//! isolate back. An isolate torn down from another thread while a thread is
//! resident leaves that thread's archived state unfreed (a handle block,
//! about 8 KiB): the teardown deletes the archive, not what it points to.
//!
//! **Invariant**: at most one thread is resident in an isolate, and never
//! one of ivm's own (the executor's workers, the warm pool's refill
//! thread, inspector sessions, a child isolate's boot), which call
//! isolates they do not own. A thread leaves only while no call of the
//! isolate is in progress on any thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::this_thread::{OWN_THREAD, THREAD_NUMBER};

unsafe extern "C" {
    // rusty_v8's constructors and destructors of `v8::Locker` and
    // `v8::Unlocker` in place (its `binding.cc`, which checks their sizes:
    // two words and one). Its own `Locker` enters the isolate and its
    // `Unlocker` lives only for a closure, so neither can stay in place
    // between calls.
    fn v8__Locker__CONSTRUCT(buf: *mut [usize; 2], isolate: *mut std::ffi::c_void);
    fn v8__Locker__DESTRUCT(this: *mut [usize; 2]);
    fn v8__Unlocker__CONSTRUCT(buf: *mut [usize; 1], isolate: *mut std::ffi::c_void);
    fn v8__Unlocker__DESTRUCT(this: *mut [usize; 1]);
}

/// The thread resident in an isolate, if one is.
pub(crate) struct Residence {
    isolate: RawIsolate,
    /// The resident thread's `THREAD_NUMBER`; 0 while none is.
    thread: AtomicU64,
    /// Its outermost Locker and the Unlocker inside it, made and destroyed
    /// only on that thread.
    lockers: Mutex<Option<Lockers>>,
}

struct RawIsolate(*mut std::ffi::c_void);

// SAFETY: the pointer is only handed to V8's Locker and Unlocker, which V8
// allows on any thread; the isolate outlives the `Residence` that holds it
// (both are `IsolateInner`'s, which tears the isolate down only after its
// resident thread left or with no thread left to leave).
unsafe impl Send for RawIsolate {}
// SAFETY: as for `Send`; the pointer itself is never written.
unsafe impl Sync for RawIsolate {}

/// Storage of a `v8::Locker` and of the `v8::Unlocker` inside it. Boxed:
/// V8's destructors get the addresses the constructors were given.
struct Lockers {
    locker: Box<[usize; 2]>,
    unlocker: Box<[usize; 1]>,
}

fn this_thread() -> u64 {
    THREAD_NUMBER.with(|number| *number)
}

impl Residence {
    /// No thread resident yet in `isolate`, which was just made.
    pub(crate) fn new(isolate: &v8::Isolate) -> Residence {
        // SAFETY: only the pointer is taken; `UnsafeRawIsolatePtr` is a
        // transparent wrapper of the isolate's address.
        let raw = unsafe { isolate.as_raw_isolate_ptr() };
        // SAFETY: same layout, as above.
        let pointer = unsafe { std::mem::transmute::<v8::UnsafeRawIsolatePtr, *mut std::ffi::c_void>(raw) };
        Residence { isolate: RawIsolate(pointer), thread: AtomicU64::new(0), lockers: Mutex::new(None) }
    }

    /// Whether this thread is resident, after making it so if no thread is
    /// and it may be. Called by an outermost entry of the isolate before it
    /// takes the isolate's lock, with the isolate alive.
    pub(crate) fn enter(&self) -> bool {
        let resident = self.thread.load(Ordering::Acquire);
        if resident != 0 {
            return resident == this_thread();
        }
        if ivm_runtime::on_worker_thread() || OWN_THREAD.get() {
            return false;
        }
        let me = this_thread();
        if self.thread.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return false;
        }
        let mut lockers = Lockers { locker: Box::new([0; 2]), unlocker: Box::new([0; 1]) };
        // SAFETY: the isolate is alive (see the contract) and this thread
        // holds none of its locks (an outermost entry): the Locker is the
        // outermost on this thread, and the Unlocker inside it lets the lock
        // go again, both in storage that stays where it is until `leave`
        // destroys them on this thread, innermost first.
        unsafe {
            v8__Locker__CONSTRUCT(&mut *lockers.locker, self.isolate.0);
            v8__Unlocker__CONSTRUCT(&mut *lockers.unlocker, self.isolate.0);
        }
        *self.lockers.lock().unwrap_or_else(PoisonError::into_inner) = Some(lockers);
        true
    }

    /// Whether this thread is the resident one.
    pub(crate) fn here(&self) -> bool {
        self.thread.load(Ordering::Acquire) == this_thread()
    }

    /// Frees this thread's state in the isolate, if it is resident. The
    /// caller makes sure that no call of the isolate is in progress on any
    /// thread and that the isolate was not lost to a catastrophe (a thread
    /// parked forever holds its lock).
    pub(crate) fn leave(&self) {
        if !self.here() {
            return;
        }
        if let Some(mut lockers) = self.lockers.lock().unwrap_or_else(PoisonError::into_inner).take() {
            // SAFETY: made by `enter` on this thread (the resident one), and
            // destroyed innermost first: the Unlocker takes the lock back,
            // which nobody holds (see the contract), and restores this
            // thread's state; the outermost Locker frees it and lets go.
            unsafe {
                v8__Unlocker__DESTRUCT(&mut *lockers.unlocker);
                v8__Locker__DESTRUCT(&mut *lockers.locker);
            }
        }
        self.thread.store(0, Ordering::Release);
    }

    /// Forgets this thread's Locker and Unlocker without destroying them,
    /// after an escape from a call of the isolate on this thread: V8's lock
    /// is still this thread's (the skipped frames held it), and the
    /// isolate is torn down here, with this thread's state in it.
    pub(crate) fn forget(&self) {
        if self.here() {
            // Plain storage: dropping it runs no destructor of V8's.
            self.lockers.lock().unwrap_or_else(PoisonError::into_inner).take();
            self.thread.store(0, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{EvalOptions, Isolate, IsolateOptions, IsolatePool, Transferable};

    fn number(result: crate::Result<Transferable>) -> f64 {
        match result.unwrap().as_value() {
            Some(ivm_marshal::Value::Number(n)) => *n,
            other => panic!("not a number: {other:?}"),
        }
    }

    /// The first host thread to call an isolate stays resident; calls on
    /// other threads and on the pool's workers run between its calls, in
    /// the same heap, without taking its place; disposing leaves.
    #[test]
    fn the_first_host_thread_stays_resident_until_it_disposes() {
        let isolate = Isolate::new(IsolateOptions::new()).unwrap();
        let context = isolate.create_context().unwrap();
        let residence = &isolate.inner.residence;
        assert!(residence.here(), "the thread that made the context");
        assert_eq!(number(context.eval("globalThis.n = 1", &EvalOptions::default())), 1.0);
        let other = {
            let context = context.clone();
            std::thread::spawn(move || {
                let n = number(context.eval("++n", &EvalOptions::default()));
                (n, context.isolate().inner.residence.here())
            })
        };
        assert_eq!(other.join().unwrap(), (2.0, false), "another thread's call sees the heap, not resident");
        let (sender, receiver) = std::sync::mpsc::channel();
        context.eval_async("++n", EvalOptions::default()).on_ready(move |result| drop(sender.send(result)));
        assert_eq!(number(receiver.recv().unwrap()), 3.0, "so does a worker's");
        assert_eq!(number(context.eval("++n", &EvalOptions::default())), 4.0, "the resident thread's state came back");
        assert!(residence.here());
        isolate.dispose().unwrap();
        assert!(!residence.here(), "disposing left");
    }

    /// A termination that comes after a call ended does not reach the
    /// resident thread's next call, as it does not reach a fresh Locker's.
    #[test]
    fn a_termination_after_a_call_does_not_reach_the_next() {
        let isolate = Isolate::new(IsolateOptions::new()).unwrap();
        let context = isolate.create_context().unwrap();
        assert_eq!(number(context.eval("1", &EvalOptions::default())), 1.0);
        isolate.inner.interrupt();
        assert_eq!(number(context.eval("2", &EvalOptions::default())), 2.0);
        assert!(isolate.inner.residence.here());
    }

    /// A pooled isolate handed back is disposed on the pool's thread, which
    /// is never resident; the thread that used it leaves as it hands it back,
    /// and is resident in the next one it uses, which that thread booted.
    #[test]
    fn a_pooled_isolate_is_left_as_it_is_handed_back() {
        let pool = IsolatePool::new(IsolateOptions::new(), 1).unwrap();
        let pooled = pool.checkout().unwrap();
        assert_eq!(number(pooled.context().eval("6 * 7", &EvalOptions::default())), 42.0);
        let isolate = pooled.isolate().clone();
        assert!(isolate.inner.residence.here());
        drop(pooled);
        assert!(!isolate.inner.residence.here());
        let next = pool.checkout().unwrap();
        assert_eq!(number(next.context().eval("1 + 1", &EvalOptions::default())), 2.0);
        // Booted on the pool's thread, which did not stay: this one did.
        assert!(next.isolate().inner.residence.here());
    }
}
