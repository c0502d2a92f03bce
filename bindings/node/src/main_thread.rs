//! Node's thread: the one thread of a Node environment (the main thread or
//! a worker's) that may touch its values. Isolates run on ivm's pool, so
//! what they ask of the host (calling a Node function, settling a promise,
//! letting go of a Node value) is posted here as a job.

use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, ThreadId};

use napi::{Env, sys};

/// Work for Node's thread. It gets `None` when the environment is shutting
/// down and can run nothing: the job is then only dropped.
pub(crate) type Job = Box<dyn FnOnce(Option<Env>) + Send>;

/// A way to run jobs on one Node environment's thread, from any thread.
#[derive(Debug)]
pub(crate) struct MainThread {
    thread: ThreadId,
    /// `None` once Node has finalized the function (environment teardown);
    /// posting then fails instead of touching freed memory.
    tsfn: Mutex<Option<Tsfn>>,
    /// Calls still running (async and fire-and-forget): while there are
    /// any, the queue keeps Node's event loop alive.
    held: AtomicUsize,
}

/// Keeps Node's event loop alive until dropped (see `MainThread::hold`).
#[derive(Debug)]
pub(crate) struct Hold(Option<Arc<MainThread>>);

impl Hold {
    /// Lets go at once; on Node's thread.
    pub(crate) fn release_on(mut self, env: &Env) {
        if let Some(main) = self.0.take() {
            main.unhold(env);
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let Some(main) = self.0.take() else { return };
        let poster = Arc::clone(&main);
        let _ = poster.post(Box::new(move |env| {
            if let Some(env) = env {
                main.unhold(&env);
            }
        }));
    }
}

#[derive(Debug, Clone, Copy)]
struct Tsfn(sys::napi_threadsafe_function);

// SAFETY: Node-API thread-safe functions exist to be called from any
// thread; every call is made under `MainThread::tsfn`'s lock, which
// `finalized` also takes before the handle becomes invalid.
unsafe impl Send for Tsfn {}

impl MainThread {
    /// Makes the job queue of `env`, which must be the current thread's.
    pub(crate) fn new(env: Env) -> napi::Result<Arc<MainThread>> {
        let main = Arc::new(MainThread { thread: thread::current().id(), tsfn: Mutex::new(None), held: AtomicUsize::new(0) });
        let name = env.create_string("ivm")?;
        let mut tsfn = ptr::null_mut();
        // SAFETY: `env` is this thread's environment; the context pointer is
        // one strong count of `main`, released by `finalized`.
        napi::check_status!(unsafe {
            sys::napi_create_threadsafe_function(
                env.raw(),
                ptr::null_mut(),
                ptr::null_mut(),
                napi::NapiRaw::raw(&name),
                0,
                1,
                Arc::into_raw(Arc::clone(&main)).cast_mut().cast(),
                Some(finalized),
                ptr::null_mut(),
                Some(run_job),
                &mut tsfn,
            )
        })?;
        // An idle queue must not keep Node's event loop alive: pending
        // Promises hold it while there is work to wait for.
        // SAFETY: `tsfn` was just created on this environment's thread.
        napi::check_status!(unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn) })?;
        *main.tsfn.lock().unwrap_or_else(PoisonError::into_inner) = Some(Tsfn(tsfn));
        Ok(main)
    }

    /// Keeps Node's event loop alive until the returned guard is dropped,
    /// from any thread; called on Node's thread.
    pub(crate) fn hold(self: &Arc<Self>, env: &Env) -> Hold {
        if self.held.fetch_add(1, Ordering::Relaxed) == 0 {
            self.set_ref(env, true);
        }
        Hold(Some(Arc::clone(self)))
    }

    fn unhold(&self, env: &Env) {
        if self.held.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.set_ref(env, false);
        }
    }

    fn set_ref(&self, env: &Env, keep_alive: bool) {
        if let Some(Tsfn(tsfn)) = *self.tsfn.lock().unwrap_or_else(PoisonError::into_inner) {
            // SAFETY: on the environment's thread, with a live function.
            unsafe {
                if keep_alive {
                    sys::napi_ref_threadsafe_function(env.raw(), tsfn);
                } else {
                    sys::napi_unref_threadsafe_function(env.raw(), tsfn);
                }
            }
        }
    }

    /// Whether the calling thread is this environment's.
    pub(crate) fn is_current(&self) -> bool {
        thread::current().id() == self.thread
    }

    /// Queues `job` to run on Node's thread; gives it back if the
    /// environment is gone.
    pub(crate) fn post(&self, job: Job) -> Result<(), Job> {
        let guard = self.tsfn.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(Tsfn(tsfn)) = *guard else { return Err(job) };
        let data = Box::into_raw(Box::new(job));
        // SAFETY: the function is alive while the lock is held (see `Tsfn`);
        // on success `run_job` takes ownership of `data`.
        let status =
            unsafe { sys::napi_call_threadsafe_function(tsfn, data.cast(), sys::ThreadsafeFunctionCallMode::nonblocking) };
        if status == sys::Status::napi_ok {
            Ok(())
        } else {
            // SAFETY: the call failed, so `data` was not queued and is still ours.
            Err(*unsafe { Box::from_raw(data) })
        }
    }
}

unsafe extern "C" fn run_job(env: sys::napi_env, _js: sys::napi_value, _context: *mut std::ffi::c_void, data: *mut std::ffi::c_void) {
    // SAFETY: `data` is the box `post` leaked for this call.
    let job = unsafe { Box::from_raw(data.cast::<Job>()) };
    // SAFETY: Node passes this thread's environment, or null at teardown.
    let env = (!env.is_null()).then(|| unsafe { Env::from_raw(env) });
    job(env);
}

unsafe extern "C" fn finalized(_env: sys::napi_env, data: *mut std::ffi::c_void, _hint: *mut std::ffi::c_void) {
    // SAFETY: `data` is the strong count `MainThread::new` gave the function.
    let main = unsafe { Arc::from_raw(data.cast_const().cast::<MainThread>()) };
    *main.tsfn.lock().unwrap_or_else(PoisonError::into_inner) = None;
}
