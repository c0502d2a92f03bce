//! The async and fire-and-forget forms of every operation that enters an
//! isolate. Each queues the synchronous form on the isolate's strand, so the
//! three forms of all operations on one isolate run in the order they were
//! called, on the worker pool for the queued ones.
//!
//! An async form returns a [`Pending`]: a plain `Future` that needs no
//! particular executor. The call runs whether or not anyone awaits it, so
//! dropping a `Pending` only drops the result. A fire-and-forget ("ignored")
//! form returns nothing and drops the result, errors included, as
//! isolated-vm's `*Ignored` methods do. A call's timeout counts from when it
//! starts running, not from when it was queued.
//!
//! An async call with `promise: true` whose promise is still pending when
//! its code has run (it awaits an async host callback, say) is followed: its
//! result comes when the promise settles, and its timeout covers all of the
//! wait, the time the host takes included. (The synchronous form cannot
//! wait: nothing else may run in the isolate while its caller blocks.)

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use ivm_runtime::{Receiver, oneshot};

use crate::cancel::CallState;
use crate::{
    Canceler, CompileOptions, Context, ContextOptions, Error, EvalOptions, HeapStatistics, Isolate, Reference, Result,
    RunOptions, Script, Structured, Transferable, Value,
};

/// The result of an async call, once it has run.
#[must_use = "the call runs anyway; a Pending only carries its result"]
pub struct Pending<T> {
    receiver: Receiver<Result<T>>,
    call: Arc<CallState>,
}

impl<T> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pending")
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<T>> {
        Pin::new(&mut self.receiver).poll(cx).map(|result| result.unwrap_or(Err(Error::Canceled)))
    }
}

impl<T> Pending<T> {
    /// A pending result that `receiver` will carry, of work on `isolate`
    /// that is not one queued call.
    pub(crate) fn new(receiver: Receiver<Result<T>>, isolate: &Isolate) -> Pending<T> {
        Pending { receiver, call: CallState::new(&isolate.inner) }
    }

    /// A pending result of work bound to no isolate.
    pub(crate) fn unbound(receiver: Receiver<Result<T>>) -> Pending<T> {
        Pending { receiver, call: CallState::unbound() }
    }

    /// A handle that cancels the call: skipped if it has not started, its
    /// JavaScript terminated if it is running, its wait ended if it waits
    /// for its promise. A cancelled call's result is [`Error::Canceled`].
    pub fn canceler(&self) -> Canceler {
        self.call.canceler()
    }
}

impl<T> Pending<T> {
    /// Calls `f` when the call has run but its result waits for a promise
    /// to settle (`promise: true`, a promise still pending when its code is
    /// done): from then on nothing of the call is queued or running, and
    /// only something outside the isolate (a host callback settling) can
    /// finish it. Never called for a call that does not wait, nor for one
    /// with a timeout, which its deadline ends at the latest. Front-ends
    /// with an event loop use it to stop keeping the loop alive for a call
    /// that nothing may ever settle.
    pub fn on_waiting(&self, f: impl FnOnce() + Send + 'static) {
        self.call.on_waiting(f);
    }
}

impl<T: Send + 'static> Pending<T> {
    /// Calls `done` with the result once the call has run, on the thread
    /// that finishes it (a pool worker, usually), for front-ends that hand
    /// results to an event loop of their own (Node's, asyncio's) instead of
    /// awaiting them.
    pub fn on_ready(self, done: impl FnOnce(Result<T>) + Send + 'static) {
        let driver = Arc::new(Driver { state: Mutex::new(Some((self, Box::new(done)))) });
        driver.poll();
    }
}

type Done<T> = Box<dyn FnOnce(Result<T>) + Send>;

/// Polls a [`Pending`] each time it is woken and hands its result on.
struct Driver<T> {
    state: Mutex<Option<(Pending<T>, Done<T>)>>,
}

impl<T: Send + 'static> Driver<T> {
    fn poll(self: &Arc<Self>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((pending, _)) = state.as_mut() else { return };
        let waker = Waker::from(Arc::clone(self));
        if let Poll::Ready(result) = Pin::new(pending).poll(&mut TaskContext::from_waker(&waker)) {
            let (_, done) = state.take().expect("checked above");
            drop(state);
            done(result);
        }
    }
}

impl<T: Send + 'static> Wake for Driver<T> {
    fn wake(self: Arc<Self>) {
        self.poll();
    }
}

/// The queued forms of an operation. Each operation is defined once, as
/// its synchronous form and a queued one generic over `QueuedForm` (as
/// isolated-vm's `ThreePhaseTask` gives every operation its forms from one
/// definition); its `_async` and `_ignored` methods name the two forms.
pub trait QueuedForm: sealed::Sealed {
    /// What the caller gets: a [`Pending`], or nothing.
    type Output<T: Send + 'static>;

    /// Queues `call` on `isolate`.
    #[doc(hidden)]
    fn queue<T: Send + 'static>(
        isolate: &Isolate,
        call: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Self::Output<T>;

    /// Queues `call`, which returns JavaScript's result as `options` say:
    /// with `options.promise`, a promise still pending at its end is
    /// followed.
    #[doc(hidden)]
    fn queue_returning(
        isolate: &Isolate,
        options: &RunOptions,
        call: impl FnOnce() -> Result<Transferable> + Send + 'static,
    ) -> Self::Output<Transferable>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Async {}
    impl Sealed for super::Ignored {}
    impl Sealed for super::SyncFollowing {}
}

/// The async form: run on the worker pool, in the isolate's turn, with a
/// [`Pending`] for the result.
#[derive(Debug, Clone, Copy)]
pub struct Async;

/// The fire-and-forget form: run on the worker pool, in the isolate's
/// turn, with its result and errors dropped.
#[derive(Debug, Clone, Copy)]
pub struct Ignored;

/// The synchronous form, for a call whose result may be a promise that
/// settles later (`promise: true`): the call runs at once on this thread,
/// as the synchronous form does, and its result comes as a [`Pending`],
/// ready at once unless the promise is still pending at the call's end,
/// which is then followed as the async form follows it. isolated-vm's
/// `…Sync` calls with `promise: true` give a promise this way.
#[derive(Debug, Clone, Copy)]
pub struct SyncFollowing;

impl QueuedForm for Async {
    type Output<T: Send + 'static> = Pending<T>;

    fn queue<T: Send + 'static>(isolate: &Isolate, call: impl FnOnce() -> Result<T> + Send + 'static) -> Pending<T> {
        isolate.queue(call)
    }

    fn queue_returning(
        isolate: &Isolate,
        options: &RunOptions,
        call: impl FnOnce() -> Result<Transferable> + Send + 'static,
    ) -> Pending<Transferable> {
        if options.promise { isolate.queue_following(options, call) } else { isolate.queue(call) }
    }
}

impl QueuedForm for Ignored {
    type Output<T: Send + 'static> = ();

    fn queue<T: Send + 'static>(isolate: &Isolate, call: impl FnOnce() -> Result<T> + Send + 'static) {
        isolate.inner.strand.spawn(move || drop(call()));
    }

    fn queue_returning(
        isolate: &Isolate,
        _options: &RunOptions,
        call: impl FnOnce() -> Result<Transferable> + Send + 'static,
    ) {
        Self::queue(isolate, call);
    }
}

impl QueuedForm for SyncFollowing {
    type Output<T: Send + 'static> = Pending<T>;

    fn queue<T: Send + 'static>(isolate: &Isolate, call: impl FnOnce() -> Result<T> + Send + 'static) -> Pending<T> {
        let (sender, receiver) = oneshot();
        sender.send(call());
        Pending::new(receiver, isolate)
    }

    fn queue_returning(
        isolate: &Isolate,
        options: &RunOptions,
        call: impl FnOnce() -> Result<Transferable> + Send + 'static,
    ) -> Pending<Transferable> {
        if !options.promise {
            return Self::queue(isolate, call);
        }
        let (outlet, pending) = isolate.following_outlet();
        let deadline = options.time_limit().and_then(|timeout| std::time::Instant::now().checked_add(timeout));
        crate::follow::run_following(&outlet, deadline, &pending.call, || pending.call.run(call));
        pending
    }
}

impl Isolate {
    /// Queues `call` (a synchronous operation on this isolate) to run on the
    /// worker pool after everything queued before it.
    fn queue<T: Send + 'static>(&self, call: impl FnOnce() -> Result<T> + Send + 'static) -> Pending<T> {
        let (sender, receiver) = oneshot();
        let state = CallState::new(&self.inner);
        let call_state = Arc::clone(&state);
        self.inner.strand.spawn(move || sender.send(call_state.run(call)));
        Pending { receiver, call: state }
    }

    /// Queues `call`, a call that returns JavaScript's result with
    /// `options.promise`: a promise still pending when the call ends is
    /// followed, the result comes when it settles, and the timeout covers
    /// the wait (see the `follow` module).
    fn queue_following(
        &self,
        options: &RunOptions,
        call: impl FnOnce() -> Result<Transferable> + Send + 'static,
    ) -> Pending<Transferable> {
        let (outlet, pending) = self.following_outlet();
        let timeout = options.time_limit();
        let call_state = Arc::clone(&pending.call);
        self.inner.strand.spawn(move || {
            // A timeout too long for a deadline is refused by the call itself.
            let deadline = timeout.and_then(|timeout| std::time::Instant::now().checked_add(timeout));
            crate::follow::run_following(&outlet, deadline, &call_state, || call_state.run(call));
        });
        pending
    }

    /// Where a followed call's result goes, and the `Pending` it arrives
    /// in; cancelling the call delivers `Canceled` there.
    fn following_outlet(&self) -> (crate::follow::Outlet, Pending<Transferable>) {
        let (sender, receiver) = oneshot();
        let outlet: crate::follow::Outlet = Arc::new(Mutex::new(Some(sender)));
        let state = CallState::new(&self.inner);
        let canceled_outlet = Arc::clone(&outlet);
        state.on_cancel(move || crate::follow::deliver(&canceled_outlet, Err(Error::Canceled)));
        (outlet, Pending { receiver, call: state })
    }

    /// Runs `work` in the isolate's turn, after everything queued before
    /// it.
    pub(crate) fn spawn(&self, work: impl FnOnce() + Send + 'static) {
        self.inner.strand.spawn(work);
    }

    /// [`Isolate::create_context`], run on the worker pool.
    pub fn create_context_async(&self) -> Pending<Context> {
        self.create_context_with_async(ContextOptions::new())
    }

    /// [`Isolate::create_context_with`], run on the worker pool.
    ///
    /// As in isolated-vm, a context the isolate takes up at once (nothing is
    /// queued ahead of it) is made even if the isolate is disposed before
    /// it is: the result is then a context of the disposed isolate, every
    /// use of which fails with [`Error::Disposed`].
    pub fn create_context_with_async(&self, options: ContextOptions) -> Pending<Context> {
        let isolate = self.clone();
        let taken_up = self.inner.strand.is_idle() && !self.is_disposed();
        Async::queue(self, move || match isolate.create_context_with(&options) {
            Err(Error::Disposed) if taken_up => Ok(Context::disposed(&isolate)),
            made => made,
        })
    }

    /// [`Isolate::heap_statistics`], taken in turn with the isolate's other
    /// calls.
    pub fn heap_statistics_async(&self) -> Pending<HeapStatistics> {
        let isolate = self.clone();
        Async::queue(self, move || isolate.heap_statistics())
    }

    /// [`Isolate::compile_module`], run on the worker pool.
    pub fn compile_module_async(&self, code: impl Into<String>, options: CompileOptions) -> Pending<crate::Module> {
        let (isolate, code) = (self.clone(), code.into());
        Async::queue(self, move || isolate.compile_module(&code, &options))
    }

    /// [`Isolate::compile_script`], run on the worker pool.
    pub fn compile_script_async(&self, code: impl Into<String>, options: CompileOptions) -> Pending<Script> {
        let (isolate, code) = (self.clone(), code.into());
        Async::queue(self, move || isolate.compile_script(&code, &options))
    }
}

impl Context {
    /// [`Context::eval`] in a queued form.
    pub fn eval_queued<F: QueuedForm>(&self, code: impl Into<String>, options: EvalOptions) -> F::Output<Transferable> {
        let (context, code, run) = (self.clone(), code.into(), options.run.clone());
        F::queue_returning(self.isolate(), &run, move || context.eval(&code, &options))
    }

    /// [`Context::eval`], run on the worker pool.
    pub fn eval_async(&self, code: impl Into<String>, options: EvalOptions) -> Pending<Transferable> {
        self.eval_queued::<Async>(code, options)
    }

    /// [`Context::eval`], queued with its result dropped.
    pub fn eval_ignored(&self, code: impl Into<String>, options: EvalOptions) {
        self.eval_queued::<Ignored>(code, options)
    }

    /// [`Context::eval_closure`] in a queued form.
    pub fn eval_closure_queued<F: QueuedForm>(
        &self,
        code: impl Into<String>,
        arguments: Vec<Transferable>,
        options: EvalOptions,
    ) -> F::Output<Transferable> {
        let (context, code, run) = (self.clone(), code.into(), options.run.clone());
        F::queue_returning(self.isolate(), &run, move || context.eval_closure(&code, &arguments, &options))
    }

    /// [`Context::eval_closure`], run on the worker pool.
    pub fn eval_closure_async(
        &self,
        code: impl Into<String>,
        arguments: Vec<Transferable>,
        options: EvalOptions,
    ) -> Pending<Transferable> {
        self.eval_closure_queued::<Async>(code, arguments, options)
    }

    /// [`Context::eval_closure`], queued with its result dropped.
    pub fn eval_closure_ignored(&self, code: impl Into<String>, arguments: Vec<Transferable>, options: EvalOptions) {
        self.eval_closure_queued::<Ignored>(code, arguments, options)
    }
}

impl Script {
    /// [`Script::run`] in a queued form.
    pub fn run_queued<F: QueuedForm>(&self, context: &Context, options: RunOptions) -> F::Output<Transferable> {
        let (script, context) = (self.clone(), context.clone());
        F::queue_returning(self.isolate(), &options.clone(), move || script.run(&context, &options))
    }

    /// [`Script::run`], run on the worker pool.
    pub fn run_async(&self, context: &Context, options: RunOptions) -> Pending<Transferable> {
        self.run_queued::<Async>(context, options)
    }

    /// [`Script::run`], queued with its result dropped.
    pub fn run_ignored(&self, context: &Context, options: RunOptions) {
        self.run_queued::<Ignored>(context, options)
    }
}

impl Reference {
    /// [`Reference::get`], run on the worker pool.
    pub fn get_async(&self, key: impl Into<Value>, options: RunOptions) -> Pending<Transferable> {
        let (reference, key) = (self.clone(), key.into());
        Async::queue_returning(self.isolate(), &options.clone(), move || reference.get(key, &options))
    }

    /// [`Reference::set`] in a queued form.
    pub fn set_queued<F: QueuedForm>(
        &self,
        key: impl Into<Value>,
        value: impl Into<Transferable>,
        options: RunOptions,
    ) -> F::Output<bool> {
        let (reference, key, value) = (self.clone(), key.into(), value.into());
        F::queue(self.isolate(), move || reference.set(key, value, &options))
    }

    /// [`Reference::set`], run on the worker pool.
    pub fn set_async(
        &self,
        key: impl Into<Value>,
        value: impl Into<Transferable>,
        options: RunOptions,
    ) -> Pending<bool> {
        self.set_queued::<Async>(key, value, options)
    }

    /// [`Reference::set`], queued with its result dropped.
    pub fn set_ignored(&self, key: impl Into<Value>, value: impl Into<Transferable>, options: RunOptions) {
        self.set_queued::<Ignored>(key, value, options)
    }

    /// [`Reference::delete`] in a queued form.
    pub fn delete_queued<F: QueuedForm>(&self, key: impl Into<Value>, options: RunOptions) -> F::Output<bool> {
        let (reference, key) = (self.clone(), key.into());
        F::queue(self.isolate(), move || reference.delete(key, &options))
    }

    /// [`Reference::delete`], run on the worker pool.
    pub fn delete_async(&self, key: impl Into<Value>, options: RunOptions) -> Pending<bool> {
        self.delete_queued::<Async>(key, options)
    }

    /// [`Reference::delete`], queued with its result dropped.
    pub fn delete_ignored(&self, key: impl Into<Value>, options: RunOptions) {
        self.delete_queued::<Ignored>(key, options)
    }

    /// [`Reference::apply`] in a queued form.
    pub fn apply_queued<F: QueuedForm>(
        &self,
        receiver: impl Into<Transferable>,
        arguments: Vec<Transferable>,
        options: RunOptions,
    ) -> F::Output<Transferable> {
        let (reference, receiver) = (self.clone(), receiver.into());
        F::queue_returning(self.isolate(), &options.clone(), move || reference.apply(receiver, &arguments, &options))
    }

    /// [`Reference::apply`], run on the worker pool.
    pub fn apply_async(
        &self,
        receiver: impl Into<Transferable>,
        arguments: Vec<Transferable>,
        options: RunOptions,
    ) -> Pending<Transferable> {
        self.apply_queued::<Async>(receiver, arguments, options)
    }

    /// [`Reference::apply`], queued with its result dropped.
    pub fn apply_ignored(&self, receiver: impl Into<Transferable>, arguments: Vec<Transferable>, options: RunOptions) {
        self.apply_queued::<Ignored>(receiver, arguments, options)
    }

    /// [`Reference::copy`], run on the worker pool.
    pub fn copy_async(&self) -> Pending<Structured> {
        let reference = self.clone();
        Async::queue(self.isolate(), move || reference.copy())
    }
}
