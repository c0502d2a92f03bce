//! Node's thread: the one thread of a Node environment (the main thread or
//! a worker's) that may touch its values. Isolates run on ivm's pool, so
//! what they ask of the host (calling a Node function, settling a promise,
//! letting go of a Node value) is posted here as a job.

use std::collections::VecDeque;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, ThreadId};

use napi::{Env, sys};

/// Work for Node's thread. It gets `None` when the environment is shutting
/// down and can run nothing: the job is then only dropped.
pub(crate) type Job = Box<dyn FnOnce(Option<Env>) + Send>;

/// A way to run jobs on one Node environment's thread, from any thread.
pub(crate) struct MainThread {
    thread: ThreadId,
    /// The environment, for use on its thread only.
    env: RawEnv,
    /// `None` once Node has finalized the function (environment teardown);
    /// posting then fails instead of touching freed memory.
    tsfn: Mutex<Option<Tsfn>>,
    /// Calls still running (async and fire-and-forget): while there are
    /// any, the queue keeps Node's event loop alive.
    held: AtomicUsize,
    /// Jobs posted and not yet run. The thread-safe function only wakes
    /// Node's thread to run them, so that the thread can also run them
    /// while it waits inside a synchronous call (see `serve_while_waiting`).
    jobs: Mutex<VecDeque<Job>>,
}

impl std::fmt::Debug for MainThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MainThread").field("thread", &self.thread).field("held", &self.held).finish_non_exhaustive()
    }
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

impl Hold {
    /// Forgets the hold without letting go of it: for an environment
    /// being torn down, which has no job queue left to let go from.
    fn abandon(mut self) {
        self.0 = None;
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let Some(main) = self.0.take() else { return };
        let poster = Arc::clone(&main);
        // Not `post`, which would take a hold of its own for this job.
        let _ = poster.post_now(Box::new(move |env| {
            if let Some(env) = env {
                main.unhold(&env);
            }
        }));
    }
}

#[derive(Debug, Clone, Copy)]
struct Tsfn(sys::napi_threadsafe_function);

#[derive(Debug, Clone, Copy)]
struct RawEnv(sys::napi_env);

// SAFETY: the env is used only on its own thread (`holding` checks).
unsafe impl Send for RawEnv {}
// SAFETY: as above; sharing it only copies the pointer.
unsafe impl Sync for RawEnv {}

// SAFETY: Node-API thread-safe functions exist to be called from any
// thread; every call is made under `MainThread::tsfn`'s lock, which
// `finalized` also takes before the handle becomes invalid.
unsafe impl Send for Tsfn {}

impl MainThread {
    /// Makes the job queue of `env`, which must be the current thread's.
    pub(crate) fn new(env: Env) -> napi::Result<Arc<MainThread>> {
        let main = Arc::new(MainThread {
            thread: thread::current().id(),
            env: RawEnv(env.raw()),
            tsfn: Mutex::new(None),
            held: AtomicUsize::new(0),
            jobs: Mutex::new(VecDeque::new()),
        });
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
                // Borrowed by `run_jobs`: the strong count above keeps it
                // alive until `finalized`.
                Arc::as_ptr(&main).cast_mut().cast(),
                Some(run_jobs),
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
    pub(crate) fn post(self: &Arc<Self>, job: Job) -> Result<(), Job> {
        // Posted from Node's own thread (a synchronous call that settled a
        // promise Node waits for, say), the job keeps the event loop alive
        // until it has run: nothing else may be left to keep it running.
        let job = if self.is_current() { self.holding(job) } else { job };
        self.post_now(job)
    }

    /// `job`, holding Node's event loop until it has run; on Node's thread.
    fn holding(self: &Arc<Self>, job: Job) -> Job {
        let RawEnv(env) = self.env;
        // SAFETY: called on the environment's thread (the caller checked),
        // whose env the queue was made with.
        let hold = self.hold(&unsafe { Env::from_raw(env) });
        Box::new(move |env| {
            job(env);
            match &env {
                Some(env) => hold.release_on(env),
                // The environment is going: there is no loop left to hold.
                None => hold.abandon(),
            }
        })
    }

    fn post_now(&self, job: Job) -> Result<(), Job> {
        let guard = self.tsfn.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(Tsfn(tsfn)) = *guard else { return Err(job) };
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner).push_back(job);
        // A wake-up only; a failure means the environment is closing, and
        // `finalized` then disposes of the queue.
        // SAFETY: the function is alive while the lock is held (see `Tsfn`).
        unsafe {
            sys::napi_call_threadsafe_function(tsfn, ptr::null_mut(), sys::ThreadsafeFunctionCallMode::nonblocking)
        };
        Ok(())
    }

    /// Runs the queued jobs, on Node's thread (`None` at teardown: they
    /// are only dropped).
    fn run_queued(&self, env: Option<Env>) {
        loop {
            let job = self.jobs.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
            match job {
                Some(job) => job(env),
                None => return,
            }
        }
    }

    /// Makes this thread (Node's) run posted jobs while a synchronous call
    /// it makes waits for an isolate: the async call ahead of it may be
    /// waiting for one of them (a Node function it calls), as isolated-vm's
    /// default thread also serves such calls while it waits.
    pub(crate) fn serve_while_waiting(self: &Arc<Self>, env: Env) {
        let main = Arc::clone(self);
        let raw = env.raw();
        ivm_core::embedding::set_wait_hook(Some(std::rc::Rc::new(move || {
            // SAFETY: the hook runs on this thread only (it is thread-local),
            // inside a Node call, while the environment is alive.
            main.run_queued(Some(unsafe { Env::from_raw(raw) }));
        })));
    }
}

unsafe extern "C" fn run_jobs(
    env: sys::napi_env,
    _js: sys::napi_value,
    context: *mut std::ffi::c_void,
    _data: *mut std::ffi::c_void,
) {
    // SAFETY: `context` is the `MainThread` that the function holds a strong
    // count of until `finalized`.
    let main = unsafe { &*context.cast_const().cast::<MainThread>() };
    // SAFETY: Node passes this thread's environment, or null at teardown.
    let env = (!env.is_null()).then(|| unsafe { Env::from_raw(env) });
    main.run_queued(env);
}

unsafe extern "C" fn finalized(_env: sys::napi_env, data: *mut std::ffi::c_void, _hint: *mut std::ffi::c_void) {
    // SAFETY: `data` is the strong count `MainThread::new` gave the function.
    let main = unsafe { Arc::from_raw(data.cast_const().cast::<MainThread>()) };
    *main.tsfn.lock().unwrap_or_else(PoisonError::into_inner) = None;
    main.run_queued(None);
}
