//! Running JavaScript in an isolate under its limits: [`Isolate::run_in`],
//! the one place a call's JavaScript runs, in four steps:
//!
//! 1. **arm**: the timeout and the CPU budget go to the watchdog, the host's
//!    exit check is watched, the CPU clock is read if the call needs it;
//! 2. **run**: the call's code, in its context, under a TryCatch;
//! 3. **settle**: the deadlines are disarmed, the time spent is added to the
//!    isolate's clocks and the call's budget, and what may have ended the
//!    call is read;
//! 4. **classify**: how the call ended, by a fixed precedence ([`classify`],
//!    a pure function).
//!
//! The memory limit is judged after every entry into the isolate, not only
//! runs of JavaScript, by `Isolate::with_locker`.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use ivm_runtime::{Deadline, Watchdog};

use crate::exception::thrown;
use crate::isolate::IsolateInner;
use crate::this_thread::{HOST_WAITS, REENTRANT_RUNS, RUN_DEPTH};
use crate::{Error, Isolate, Result};

/// What an isolate keeps of the calls that run in it.
pub(crate) struct RunState {
    /// Set when the running call's deadline passes or its CPU budget is
    /// spent (or the host wants its thread back): host code the call waits
    /// on (a blocking callback) sees it before V8 does.
    interrupted: AtomicBool,
    /// The CPU budget of the call running now, if it has one.
    cpu_budget: Mutex<Option<Arc<CpuBudget>>>,
    /// Whether calls read the CPU clock: they do after a long call, until
    /// calls turn short again (see `Isolate::cpu_time`).
    precise_cpu: AtomicBool,
    /// The time of the finished calls and the running one's start.
    clocks: Clocks,
    /// The most `cpu_time` has said: a running call estimated by its wall
    /// time may end up counting less, and the clock never goes back.
    cpu_time_seen_ns: AtomicU64,
    /// The run (by its start, `epoch_ns`) whose deadline came and whose
    /// frames are still to be read before it is terminated; 0 for none.
    timing_out: AtomicU64,
    /// Where that run's JavaScript was, once read: (its start, stack lines).
    timed_out_at: Mutex<Option<(u64, String)>>,
    /// The context of the outermost run that has a deadline, in which its
    /// frames are read.
    deadline_context: Mutex<Option<v8::Global<v8::Context>>>,
}

/// When the running call started, by the wall clock and, where it reads
/// it, by its thread's CPU clock.
#[derive(Clone, Copy)]
struct Running {
    started: Instant,
    cpu: Option<(libc::clockid_t, Duration)>,
}

/// What the clocks say at one moment.
#[derive(Clone, Copy)]
struct Reading {
    cpu: Duration,
    wall: Duration,
    /// The outermost call running now, whose time the clocks count as it
    /// goes (a watchdog polling them sees them move).
    running: Option<Running>,
}

/// An isolate's clocks, as a sequence lock. Only the thread running the
/// isolate's outermost call writes them, when the call starts and when it
/// ends (the isolate's lock keeps writers one at a time; teardown writes
/// when no call runs), and any thread reads them. The writer never waits
/// and makes no atomic read-modify-write: a mutex here cost every call two
/// locked round trips and two locked adds.
struct Clocks {
    /// Odd while a write is in progress; a reader that saw it change reads
    /// again.
    sequence: AtomicU64,
    cpu_ns: AtomicU64,
    wall_ns: AtomicU64,
    /// The running call's start as [`epoch_ns`] gives it; 0 while none
    /// runs.
    started: AtomicU64,
    /// The running call's thread CPU clock, `NO_CLOCK` where the call does
    /// not read it, and its reading at the start.
    cpu_clock: AtomicI64,
    cpu_started_ns: AtomicU64,
}

const NO_CLOCK: i64 = i64::MIN;

impl Clocks {
    fn new() -> Clocks {
        Clocks {
            sequence: AtomicU64::new(0),
            cpu_ns: AtomicU64::new(0),
            wall_ns: AtomicU64::new(0),
            started: AtomicU64::new(0),
            cpu_clock: AtomicI64::new(NO_CLOCK),
            cpu_started_ns: AtomicU64::new(0),
        }
    }

    /// Makes `write`'s stores one change for readers.
    fn write(&self, write: impl FnOnce(&Clocks)) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(sequence.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence before the stores that follow: a reader
        // that sees any of them sees the write in progress.
        fence(Ordering::Release);
        write(self);
        self.sequence.store(sequence.wrapping_add(2), Ordering::Release);
    }

    /// A call starts, at `started` (as [`epoch_ns`] gives it).
    fn start(&self, started: u64, cpu: Option<(libc::clockid_t, Duration)>) {
        self.write(|clocks| {
            clocks.started.store(started, Ordering::Relaxed);
            let (clock, cpu_started) = cpu.map_or((NO_CLOCK, 0), |(clock, at)| (i64::from(clock), duration_ns(at)));
            clocks.cpu_clock.store(clock, Ordering::Relaxed);
            clocks.cpu_started_ns.store(cpu_started, Ordering::Relaxed);
        });
    }

    /// The running call ended having taken `wall` and `cpu` (none when it
    /// never settled).
    fn end(&self, spent: Option<(Duration, Duration)>) {
        self.write(|clocks| {
            if let Some((wall, cpu)) = spent {
                let add = |total: &AtomicU64, d| {
                    total.store(total.load(Ordering::Relaxed).saturating_add(d), Ordering::Relaxed)
                };
                add(&clocks.wall_ns, duration_ns(wall));
                add(&clocks.cpu_ns, duration_ns(cpu));
            }
            clocks.started.store(0, Ordering::Relaxed);
        });
    }

    /// `f` of a reading all of one moment. `f` runs again if a call started
    /// or ended while it ran, so a CPU clock it reads belongs to the call
    /// the reading names.
    fn read<T>(&self, f: impl Fn(Reading) -> T) -> T {
        let mut tries = 0u32;
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            if before % 2 == 0 {
                let started = self.started.load(Ordering::Relaxed);
                let clock = self.cpu_clock.load(Ordering::Relaxed);
                let reading = Reading {
                    cpu: Duration::from_nanos(self.cpu_ns.load(Ordering::Relaxed)),
                    wall: Duration::from_nanos(self.wall_ns.load(Ordering::Relaxed)),
                    running: (started != 0).then(|| Running {
                        started: epoch() + Duration::from_nanos(started - 1),
                        cpu: libc::clockid_t::try_from(clock)
                            .ok()
                            .map(|clock| (clock, Duration::from_nanos(self.cpu_started_ns.load(Ordering::Relaxed)))),
                    }),
                };
                // Orders the loads above before the check below: had any
                // of them seen a later write, the check sees its sequence.
                fence(Ordering::Acquire);
                if self.sequence.load(Ordering::Relaxed) == before {
                    let value = f(reading);
                    if self.sequence.load(Ordering::Acquire) == before {
                        return value;
                    }
                }
            }
            tries += 1;
            if tries < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// The instant calls' starts are counted from.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// `at` in nanoseconds since [`epoch`], plus one: never 0, so 0 can stand
/// for none.
pub(crate) fn epoch_ns(at: Instant) -> u64 {
    duration_ns(at.saturating_duration_since(epoch())).saturating_add(1).min(u64::MAX - 1)
}

impl RunState {
    pub(crate) fn new() -> RunState {
        RunState {
            interrupted: AtomicBool::new(false),
            cpu_budget: Mutex::new(None),
            precise_cpu: AtomicBool::new(false),
            clocks: Clocks::new(),
            cpu_time_seen_ns: AtomicU64::new(0),
            timing_out: AtomicU64::new(0),
            timed_out_at: Mutex::new(None),
            deadline_context: Mutex::new(None),
        }
    }

    /// The isolate is torn down: a call that never settled (one lost to a
    /// fatal error, `fatal.rs`) stops its clocks where they are.
    pub(crate) fn abandon(&self) {
        self.clocks.end(None);
        self.deadline_context.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.cpu_budget.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    pub(crate) fn mark_interrupted(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
    }

    pub(crate) fn was_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// The CPU time of the calls so far, the running one's included. A
    /// call that does not read its thread's CPU clock (a short one, see
    /// `Isolate::cpu_time`) counts its wall time while it runs.
    pub(crate) fn cpu_time(&self) -> Duration {
        let now = self.clocks.read(|reading| {
            let live = reading.running.map_or(Duration::ZERO, |running| match running.cpu {
                Some((clock, started)) => clock_time(clock).saturating_sub(started),
                None => running.started.elapsed(),
            });
            duration_ns(reading.cpu.saturating_add(live))
        });
        Duration::from_nanos(self.cpu_time_seen_ns.fetch_max(now, Ordering::Relaxed).max(now))
    }

    /// The wall time of the calls so far, the running one's included.
    pub(crate) fn wall_time(&self) -> Duration {
        self.clocks.read(|reading| {
            reading.wall.saturating_add(reading.running.map_or(Duration::ZERO, |running| running.started.elapsed()))
        })
    }

    /// The outermost run with a deadline that began at `started` ended: its
    /// deadline's state is cleared, and where its code was when the deadline
    /// came is given, if it was read.
    fn deadline_settled(&self, started: u64) -> Option<String> {
        self.deadline_context.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.timing_out.store(0, Ordering::SeqCst);
        let frames = self.timed_out_at.lock().unwrap_or_else(PoisonError::into_inner).take();
        frames.filter(|(at, _)| *at == started).map(|(_, frames)| frames)
    }

    /// The CPU budget of the call running now, if it has one.
    pub(crate) fn current_cpu_budget(&self) -> Option<Arc<CpuBudget>> {
        self.cpu_budget.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A call at least this long makes the next ones read the CPU clock.
const LONG_CALL: Duration = Duration::from_millis(1);

/// A call shorter than this makes the next ones count wall time.
const SHORT_CALL: Duration = Duration::from_micros(100);

/// How often a call's CPU time is checked against its budget: the most a
/// call can overrun it by.
const CPU_CHECK: Duration = Duration::from_millis(5);

/// Records time this thread spent waiting on host code in the middle of a
/// call (a blocking callback), which a call's CPU time must not include.
pub(crate) fn note_host_wait(waited: Duration) {
    HOST_WAITS.set(HOST_WAITS.get().saturating_add(waited));
}

/// The limits of one call.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    pub(crate) timeout: Option<Duration>,
    /// Whether the timeout's clock stops while the call waits on the host
    /// (`RunOptions::pause_timeout_in_host`).
    pub(crate) pause_in_host: bool,
    /// Shared with the later pieces of work of the same call (the settling
    /// of promises it awaits), which spend from it too.
    pub(crate) cpu: Option<Arc<CpuBudget>>,
}

impl From<&crate::RunOptions> for Limits {
    fn from(options: &crate::RunOptions) -> Limits {
        Limits {
            timeout: options.time_limit(),
            pause_in_host: options.pause_timeout_in_host,
            cpu: options.cpu_limit.map(CpuBudget::new),
        }
    }
}

/// CPU time a call may still spend.
pub(crate) struct CpuBudget {
    left_ns: AtomicU64,
    exhausted: AtomicBool,
    /// Told once the budget is spent, by whichever piece of the call's work
    /// spent it (a followed call's result waits on this).
    on_exhausted: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl fmt::Debug for CpuBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuBudget").field("left", &self.left()).finish()
    }
}

impl CpuBudget {
    fn new(limit: Duration) -> Arc<CpuBudget> {
        Arc::new(CpuBudget {
            left_ns: AtomicU64::new(duration_ns(limit)),
            exhausted: AtomicBool::new(false),
            on_exhausted: Mutex::new(None),
        })
    }

    /// Calls `f` once the budget is spent (at once if it is already).
    pub(crate) fn when_exhausted(&self, f: impl FnOnce() + Send + 'static) {
        if self.exhausted.load(Ordering::SeqCst) {
            return f();
        }
        *self.on_exhausted.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(f));
    }

    fn left(&self) -> Duration {
        Duration::from_nanos(self.left_ns.load(Ordering::SeqCst))
    }

    /// Takes `used` from the budget; whether it is exhausted.
    fn spend(&self, used: Duration) -> bool {
        let used = duration_ns(used);
        let before =
            self.left_ns.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| Some(left.saturating_sub(used)));
        let exhausted = self.exhausted.load(Ordering::SeqCst) || before.unwrap_or(0) <= used;
        if exhausted {
            self.exhausted.store(true, Ordering::SeqCst);
            let tell = self.on_exhausted.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(tell) = tell {
                tell();
            }
        }
        exhausted
    }
}

/// What ended a call early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interruption {
    MemoryLimit,
    Disposed,
    /// The host wants the thread back (see `host_exit`).
    HostExit,
    Timeout,
    CpuLimit,
}

impl Interruption {
    fn error(self) -> Error {
        match self {
            Interruption::MemoryLimit => Error::MemoryLimit,
            Interruption::Disposed => Error::DisposedDuringExecution,
            Interruption::HostExit => Error::Canceled,
            Interruption::Timeout => Error::Timeout,
            Interruption::CpuLimit => Error::CpuLimit,
        }
    }
}

/// What is known of a run once it has ended, for [`classify`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RunEnd {
    /// A run inside a callback's call back into its isolate: the outermost
    /// run owns the isolate's clocks, interruptions and teardown.
    reentrant: bool,
    /// The isolate went over its memory limit.
    memory_breached: bool,
    disposed: bool,
    /// The host's exit check said it wants the thread back.
    host_exit: bool,
    /// V8 says the run's JavaScript was terminated.
    terminated: bool,
    /// The run's own timeout fired.
    timer_fired: bool,
    /// The run spent its CPU budget.
    cpu_exceeded: bool,
    /// The run's code ended in an error of its own.
    failed: bool,
}

/// How a run ended: what interrupted it, if anything, and whether a
/// termination V8 may still have pending must be cancelled so that it
/// cannot hit the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ending {
    interruption: Option<Interruption>,
    cancel_termination: bool,
}

/// The precedence of how a run ended:
/// 1. a reentrant run in an isolate over its memory limit ends with it (an
///    outermost run's breach is judged as its entry lets go, by
///    `with_locker`);
/// 2. disposal;
/// 3. the host wanting its thread back (outermost runs only);
/// 4. a reentrant run terminated by nothing of its own: the termination is
///    an outer run's, and unwinds to it as a timeout;
/// 5. the run's own CPU limit, then its timeout, if the run was cut short by
///    it (terminated, or its code failed); a timer that fired just as the
///    code finished is no interruption, but its termination is cancelled.
fn classify(end: RunEnd) -> Ending {
    let ending = |interruption, cancel_termination| Ending { interruption, cancel_termination };
    if end.reentrant && end.memory_breached {
        ending(Some(Interruption::MemoryLimit), false)
    } else if end.disposed {
        ending(Some(Interruption::Disposed), false)
    } else if !end.reentrant && end.host_exit {
        ending(Some(Interruption::HostExit), true)
    } else if end.reentrant && end.terminated && !end.timer_fired && !end.cpu_exceeded {
        ending(Some(Interruption::Timeout), false)
    } else if end.terminated || end.timer_fired || end.cpu_exceeded {
        let own = if end.cpu_exceeded { Interruption::CpuLimit } else { Interruption::Timeout };
        ending((end.terminated || end.failed).then_some(own), true)
    } else {
        ending(None, false)
    }
}

/// A run armed with its limits, until it settles.
struct Armed<'a> {
    isolate: &'a Isolate,
    reentrant: bool,
    started: Instant,
    /// Whether this run reads the CPU clock, and what it read at the start.
    precise: bool,
    cpu_started: Option<Duration>,
    waits_started: Duration,
    reentrant_started: Duration,
    host_checked: bool,
    timeout: Option<Timeout>,
    cpu_limit: Option<(Deadline, Arc<CpuBudget>)>,
    _current_budget: Option<CurrentBudget<'a>>,
    _depth: RunDepth,
}

impl<'a> Armed<'a> {
    fn arm(isolate: &'a Isolate, limits: &Limits) -> Armed<'a> {
        let inner = &isolate.inner;
        let _depth = RunDepth::enter();
        let reentrant = RUN_DEPTH.get() > 1;
        let started = Instant::now();
        // Reading a thread's CPU clock is a system call (about 0.6 us here,
        // more than a short call itself): see `Isolate::cpu_time` for when
        // it is read.
        let precise = limits.cpu.is_some() || inner.run.precise_cpu.load(Ordering::Relaxed);
        let cpu_started = precise.then(|| clock_time(libc::CLOCK_THREAD_CPUTIME_ID));
        // This thread's clock, for readers on other threads (the CPU
        // limit's checks, `cpu_time` while the call runs).
        let cpu = cpu_started.map(|started| (thread_cpu_clock(), started));
        if !reentrant {
            // Stored only when set: most calls find it clear, and a store
            // here would be a locked instruction on every call.
            if inner.run.interrupted.load(Ordering::Relaxed) {
                inner.run.interrupted.store(false, Ordering::SeqCst);
            }
            let started_ns = epoch_ns(started);
            inner.run.clocks.start(started_ns, cpu);
            inner.memory.run_started(started_ns);
        }
        // A host that may want this thread back while the call runs gets
        // asked (see `host_exit`).
        let host_checked = !reentrant && crate::host_exit::checked_here();
        if host_checked {
            inner.host_exit.run_started(inner);
        }
        // Checked to fit by `run_in`; a deadline past the clock's end is none.
        let timeout = limits.timeout.and_then(|timeout| started.checked_add(timeout)).map(|at| {
            let timer = Timer::start(inner, at, (!reentrant).then(|| epoch_ns(started)));
            if limits.pause_in_host { Timeout::pausable(timer) } else { Timeout::Running(timer) }
        });
        // A CPU limit makes the run precise, so its clock was read above.
        let cpu_limit =
            limits.cpu.as_ref().zip(cpu).map(|(budget, cpu)| (arm_cpu_limit(inner, budget, cpu), Arc::clone(budget)));
        let _current_budget = limits.cpu.as_ref().map(|budget| CurrentBudget::set(inner, Some(Arc::clone(budget))));
        Armed {
            isolate,
            reentrant,
            started,
            precise,
            cpu_started,
            waits_started: HOST_WAITS.get(),
            reentrant_started: REENTRANT_RUNS.get(),
            host_checked,
            timeout,
            cpu_limit,
            _current_budget,
            _depth,
        }
    }

    /// Disarms the run and accounts its time; what may have ended it.
    fn settle(self, terminated: bool, failed: bool) -> RunEnd {
        let inner = &self.isolate.inner;
        if self.host_checked {
            inner.host_exit.run_ended();
        }
        let timer_fired = self.timeout.is_some_and(Timeout::stop);
        let wall = self.started.elapsed();
        let cpu_used = match self.cpu_started {
            Some(cpu_started) => clock_time(libc::CLOCK_THREAD_CPUTIME_ID).saturating_sub(cpu_started),
            None => {
                // Host waits, less the reentrant runs inside them.
                let waited = HOST_WAITS.get().saturating_sub(self.waits_started);
                let reentered = REENTRANT_RUNS.get().saturating_sub(self.reentrant_started);
                wall.saturating_sub(waited.saturating_sub(reentered))
            }
        };
        if self.reentrant {
            REENTRANT_RUNS.set(REENTRANT_RUNS.get().saturating_add(wall));
        }
        let cpu_exceeded = self.cpu_limit.is_some_and(|(check, budget)| {
            drop(check);
            budget.spend(cpu_used)
        });
        if !self.reentrant {
            let precise_next = if wall >= LONG_CALL {
                true
            } else if wall < SHORT_CALL {
                false
            } else {
                self.precise
            };
            inner.run.precise_cpu.store(precise_next, Ordering::Relaxed);
            inner.run.clocks.end(Some((wall, cpu_used)));
            inner.memory.run_ended();
        }
        RunEnd {
            reentrant: self.reentrant,
            memory_breached: inner.memory.limit_hit(),
            disposed: self.isolate.is_disposed(),
            host_exit: inner.host_exit.exit_requested(),
            terminated,
            timer_fired,
            cpu_exceeded,
            failed,
        }
    }
}

impl Isolate {
    /// Runs JavaScript in `context`: `f` gets a scope with the context
    /// entered and a TryCatch around it. This is where limits are enforced:
    /// the timeout, the CPU limit, disposal and the host's exit check during
    /// the call all turn into their errors here (the memory limit in
    /// `with_locker`, around every entry), and the call's time is added to
    /// the isolate's clocks.
    pub(crate) fn run_in<R>(
        &self,
        context: &v8::Global<v8::Context>,
        limits: Limits,
        f: impl FnOnce(&mut v8::PinnedRef<'_, v8::TryCatch<'_, '_, v8::HandleScope<'_>>>) -> Result<R>,
    ) -> Result<R> {
        crate::numeric::check_duration("timeout", limits.timeout)?;
        crate::numeric::check_duration("cpu_limit", limits.cpu.as_ref().map(|budget| budget.left()))?;
        let (result, interruption) = self.with_locker(|isolate| {
            let armed = Armed::arm(self, &limits);
            // An outermost run with a deadline: where it is when the deadline
            // comes is read in its context (`on_deadline`).
            let watched = (!armed.reentrant && armed.timeout.is_some()).then(|| epoch_ns(armed.started));
            if watched.is_some() {
                *self.inner.run.deadline_context.lock().unwrap_or_else(PoisonError::into_inner) = Some(context.clone());
            }
            let rejections = self.inner.rejections.start(!armed.reentrant);
            let (result, terminated) = {
                v8::scope!(let scope, isolate);
                let context = v8::Local::new(scope, context);
                let scope = &mut v8::ContextScope::new(scope, context);
                v8::tc_scope!(let scope, scope);
                let result = f(scope);
                // A promise the call rejected and nobody handled fails it.
                let unhandled = self.inner.rejections.take(scope, rejections);
                let result = match (result, unhandled) {
                    (Ok(_), Some(reason)) if !scope.has_terminated() => Err(thrown(scope, reason, None)),
                    (result, _) => result,
                };
                (result, scope.has_terminated())
            };
            let ending = classify(armed.settle(terminated, result.is_err()));
            // Only runs with a deadline pay for the frames' bookkeeping; a
            // timeout on this thread always replaces what an earlier one left.
            let frames = watched.and_then(|started| self.inner.run.deadline_settled(started));
            if ending.interruption == Some(Interruption::Timeout) {
                crate::this_thread::TIMED_OUT_AT.with(|slot| *slot.borrow_mut() = frames);
            }
            if ending.cancel_termination {
                isolate.cancel_terminate_execution();
            }
            if ending.interruption == Some(Interruption::HostExit) {
                self.inner.host_exit.exit_handled();
            }
            Ok((result, ending.interruption))
        })?;
        match interruption {
            None => result,
            Some(interruption) => Err(interruption.error()),
        }
    }
}

/// A run's timeout: the watchdog's deadlines for it, which a pause
/// cancels and a resume arms again for the time that was left.
struct Timer {
    inner: Arc<IsolateInner>,
    /// When the timeout comes, while its deadlines are armed.
    at: Instant,
    /// The time left when it was paused.
    left: Duration,
    capture: Option<u64>,
    armed: Option<Deadlines>,
    fired: bool,
}

impl Timer {
    fn start(inner: &Arc<IsolateInner>, at: Instant, capture: Option<u64>) -> Timer {
        let armed = Some(arm_timeout(inner, at, capture));
        Timer { inner: Arc::clone(inner), at, left: Duration::ZERO, capture, armed, fired: false }
    }

    /// Stops the clock, unless the timeout came already (the run is then
    /// being terminated, and stays so).
    fn pause(&mut self) {
        if let Some(Deadlines { termination, fallback }) = self.armed.take() {
            fallback.map(Deadline::cancel);
            self.fired |= termination.cancel();
            self.left = self.at.saturating_duration_since(Instant::now());
        }
    }

    fn resume(&mut self) {
        if self.armed.is_none() && !self.fired {
            self.at = Instant::now() + self.left;
            self.armed = Some(arm_timeout(&self.inner, self.at, self.capture));
        }
    }

    /// Disarms the timeout; whether it came.
    fn stop(&mut self) -> bool {
        self.pause();
        self.fired
    }
}

/// An armed run's timeout. A pausable one is also on this thread's
/// [`PAUSABLE`] list, where the host waits of its run find it.
enum Timeout {
    Running(Timer),
    Pausable(Rc<RefCell<Timer>>),
}

thread_local! {
    /// The pausable timeouts of the runs in progress on this thread,
    /// innermost last, each with its run's depth (`RUN_DEPTH`).
    static PAUSABLE: RefCell<Vec<(u32, Rc<RefCell<Timer>>)>> = const { RefCell::new(Vec::new()) };
}

impl Timeout {
    fn pausable(timer: Timer) -> Timeout {
        let timer = Rc::new(RefCell::new(timer));
        PAUSABLE.with(|pausable| pausable.borrow_mut().push((RUN_DEPTH.get(), Rc::clone(&timer))));
        Timeout::Pausable(timer)
    }

    fn stop(self) -> bool {
        match self {
            Timeout::Running(mut timer) => timer.stop(),
            Timeout::Pausable(timer) => {
                PAUSABLE.with(|pausable| pausable.borrow_mut().pop());
                timer.borrow_mut().stop()
            }
        }
    }
}

/// While it lives, the timeout of the innermost run on this thread is
/// paused, if that run's timeout pauses in host code: the run is waiting
/// on a host function (`callback.rs`).
pub(crate) struct HostTime(Option<Rc<RefCell<Timer>>>);

impl HostTime {
    pub(crate) fn begin() -> HostTime {
        let innermost = PAUSABLE.with(|pausable| {
            pausable.borrow().last().filter(|(depth, _)| *depth == RUN_DEPTH.get()).map(|(_, timer)| Rc::clone(timer))
        });
        if let Some(timer) = &innermost {
            timer.borrow_mut().pause();
        }
        HostTime(innermost)
    }
}

impl Drop for HostTime {
    fn drop(&mut self) {
        if let Some(timer) = &self.0 {
            timer.borrow_mut().resume();
        }
    }
}

/// Forgets the pausable timeouts of runs that a fatal error's escape
/// skipped (`this_thread::ThreadState`): their isolate is lost.
pub(crate) fn forget_pausable_timeouts() {
    PAUSABLE.with(|pausable| pausable.borrow_mut().clear());
}

/// The watchdog's deadlines for one armed timeout.
struct Deadlines {
    /// Terminates the run (or first asks where it is, see [`arm_timeout`]).
    termination: Deadline,
    /// Terminates without asking, if the asking found no JavaScript; then,
    /// if termination does not stop the run, makes its thread leave it
    /// (`crate::stuck`).
    fallback: Option<Deadline>,
}

/// Terminates the isolate's running code at `at`, unless the returned
/// deadlines are cancelled first.
///
/// An outermost run (`capture`: its start, as `epoch_ns` gives it) is
/// first asked, between statements, where its JavaScript is
/// ([`on_deadline`]), which then terminates it; a run that does not answer
/// within [`FRAMES_GRACE`] (its thread waits on the host) is told to stop
/// waiting, and one that has not answered by [`FRAMES_WAIT`] is terminated
/// without. The second deadline is that last resort, and goes
/// on checking: a run that termination does not stop (a builtin of V8's
/// that loops without checking for it) has its thread made to leave it
/// from [`crate::stuck::GRACE`] after the deadline. Both come only to runs
/// that reach their deadline.
fn arm_timeout(inner: &Arc<IsolateInner>, at: Instant, capture: Option<u64>) -> Deadlines {
    let weak = Arc::downgrade(inner);
    let Some(started) = capture else {
        let termination = Watchdog::global().schedule(at, move || {
            if let Some(inner) = weak.upgrade() {
                inner.interrupt();
            }
        });
        return Deadlines { termination, fallback: None };
    };
    let asked = weak.clone();
    let termination = Watchdog::global().schedule(at, move || {
        if let Some(inner) = asked.upgrade() {
            inner.run.timing_out.store(started, Ordering::SeqCst);
            inner.terminator.request_interrupt(on_deadline, std::ptr::null_mut());
        }
    });
    let stuck_from = at + crate::stuck::GRACE;
    let unasked_from = at + FRAMES_WAIT;
    let mut terminated = false;
    let fallback = Watchdog::global().schedule_every(at + FRAMES_GRACE, crate::stuck::INTERVAL, move || {
        let Some(inner) = weak.upgrade() else { return false };
        let now = Instant::now();
        if !terminated {
            if inner.run.timing_out.load(Ordering::SeqCst) != started {
                // It answered (and was terminated), or it ended.
                terminated = true;
            } else if now >= unasked_from {
                terminated = true;
                if inner.run.timing_out.compare_exchange(started, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    inner.interrupt();
                }
            } else {
                // Host code the run waits on ends its wait at once, back
                // into JavaScript, where the interrupt asks and terminates.
                inner.run.mark_interrupted();
            }
        } else if now >= stuck_from {
            return crate::stuck::leave(&inner.memory, started);
        }
        inner.memory.running_since() == started
    });
    Deadlines { termination, fallback: Some(fallback) }
}

/// Where the JavaScript of the last call on this thread that timed out was
/// when its deadline came, as stack lines (`    at f (file:1:2)`), if it
/// was running JavaScript; taken, so that it is read once.
pub fn take_timed_out_frames() -> Option<String> {
    crate::this_thread::TIMED_OUT_AT.with(|slot| slot.borrow_mut().take())
}

/// How long a run whose deadline came has to say where it is before host
/// code it waits on is told to stop waiting.
const FRAMES_GRACE: Duration = Duration::from_millis(5);

/// How long it has before it is terminated without saying: its thread may
/// wait that long for a core on a loaded machine, and JavaScript that does
/// not take the interrupt would not take the termination either.
const FRAMES_WAIT: Duration = Duration::from_millis(100);

/// How many frames a timed-out run's error shows.
const TIMED_OUT_FRAMES: usize = 10;

/// V8's interrupt for a run whose deadline came: notes where its
/// JavaScript is, and terminates it. A request left over from a run that
/// ended meanwhile finds another run (or none) and does nothing.
unsafe extern "C" fn on_deadline(isolate: v8::UnsafeRawIsolatePtr, _data: *mut std::ffi::c_void) {
    // SAFETY: V8 runs interrupts on the thread that holds the isolate's
    // lock, with the isolate entered.
    let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(isolate) };
    let Some(owner) = Isolate::of(&isolate) else { return };
    let inner = &owner.inner;
    // It takes the run's locks: its thread may not be made to leave here.
    let _no_escape = crate::stuck::NoEscape::begin();
    // The run the deadline was for must be the one running now.
    let started = inner.run.clocks.started.load(Ordering::Acquire);
    if started == 0 || inner.run.timing_out.compare_exchange(started, 0, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        return;
    }
    let context = inner.run.deadline_context.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let frames = context.and_then(|context| {
        v8::scope_with_context!(let scope, &mut isolate, &context);
        v8::StackTrace::current_stack_trace(scope, TIMED_OUT_FRAMES).map(|trace| stack_lines(scope, trace))
    });
    if let Some(frames) = frames {
        *inner.run.timed_out_at.lock().unwrap_or_else(PoisonError::into_inner) = Some((started, frames));
    }
    inner.interrupt();
}

/// A stack trace as V8 writes an error's stack (`    at f (file:1:2)`),
/// without the frames of ivm's library.
fn stack_lines(scope: &v8::PinScope<'_, '_>, trace: v8::Local<'_, v8::StackTrace>) -> String {
    let mut lines = Vec::new();
    for index in 0..trace.get_frame_count() {
        let Some(frame) = trace.get_frame(scope, index) else { continue };
        let script = frame.get_script_name_or_source_url(scope).map(|name| name.to_rust_string_lossy(scope));
        let script = script.unwrap_or_else(|| "<anonymous>".to_owned());
        if script == crate::exception::LIBRARY_SCRIPT {
            continue;
        }
        let at = format!("{script}:{}:{}", frame.get_line_number(), frame.get_column());
        match frame.get_function_name(scope).map(|name| name.to_rust_string_lossy(scope)) {
            Some(name) if !name.is_empty() => lines.push(format!("    at {name} ({at})")),
            _ => lines.push(format!("    at {at}")),
        }
    }
    lines.join("\n")
}

/// Checks, every few milliseconds, the CPU time this thread has spent
/// against `budget`, and terminates the running code once it is spent.
/// Dropping the returned deadline stops the checks.
fn arm_cpu_limit(
    inner: &Arc<IsolateInner>,
    budget: &Arc<CpuBudget>,
    (clock, started): (libc::clockid_t, Duration),
) -> Deadline {
    let left = budget.left();
    let inner = Arc::downgrade(inner);
    let budget = Arc::clone(budget);
    Watchdog::global().schedule_every(Instant::now() + left.min(CPU_CHECK), CPU_CHECK, move || {
        if clock_time(clock).saturating_sub(started) < left {
            return true;
        }
        budget.exhausted.store(true, Ordering::SeqCst);
        if let Some(inner) = inner.upgrade() {
            inner.interrupt();
        }
        false
    })
}

/// Counts a run of JavaScript on this thread for its lifetime.
struct RunDepth;

impl RunDepth {
    fn enter() -> RunDepth {
        RUN_DEPTH.set(RUN_DEPTH.get() + 1);
        RunDepth
    }
}

impl Drop for RunDepth {
    fn drop(&mut self) {
        RUN_DEPTH.set(RUN_DEPTH.get().saturating_sub(1));
    }
}

/// The CPU budget of the call running in an isolate, for host code that
/// the call sets work in motion for (an async callback's settling).
struct CurrentBudget<'a>(&'a IsolateInner, Option<Arc<CpuBudget>>);

impl<'a> CurrentBudget<'a> {
    fn set(inner: &'a IsolateInner, budget: Option<Arc<CpuBudget>>) -> CurrentBudget<'a> {
        let slot = &mut *inner.run.cpu_budget.lock().unwrap_or_else(PoisonError::into_inner);
        CurrentBudget(inner, std::mem::replace(slot, budget))
    }
}

impl Drop for CurrentBudget<'_> {
    fn drop(&mut self) {
        *self.0.run.cpu_budget.lock().unwrap_or_else(PoisonError::into_inner) = self.1.take();
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The CPU-time clock of the calling thread, readable from other threads.
fn thread_cpu_clock() -> libc::clockid_t {
    let mut clock: libc::clockid_t = libc::CLOCK_THREAD_CPUTIME_ID;
    // SAFETY: `pthread_self` is always valid for the calling thread and
    // `clock` is a valid place to write a clock id; on failure it keeps the
    // calling-thread clock, which the checks then read (on the watchdog
    // thread: its own time, so the budget is never falsely exhausted).
    unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    clock
}

/// The time of a clock (zero if it cannot be read).
fn clock_time(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; an invalid clock id only
    // makes the call fail, leaving `ts` zero.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// The time of the system's monotonic clock (isolated-vm's `lib.hrtime`).
pub(crate) fn monotonic() -> Duration {
    clock_time(libc::CLOCK_MONOTONIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(change: impl FnOnce(&mut RunEnd)) -> Ending {
        let mut end = RunEnd::default();
        change(&mut end);
        classify(end)
    }

    fn interrupted(interruption: Interruption, cancel_termination: bool) -> Ending {
        Ending { interruption: Some(interruption), cancel_termination }
    }

    /// A reader on another thread never sees half a write: every call the
    /// writer records adds the same to both totals and starts with its CPU
    /// reading equal to its start, so a torn reading would break either.
    #[test]
    fn the_clocks_are_read_whole_while_calls_start_and_end() {
        let clocks = Arc::new(Clocks::new());
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (clocks, done) = (Arc::clone(&clocks), Arc::clone(&done));
            std::thread::spawn(move || {
                let (mut readings, mut running) = (0u64, 0u64);
                while !done.load(Ordering::Relaxed) {
                    let reading = clocks.read(|reading| reading);
                    assert_eq!(reading.cpu, reading.wall);
                    if let Some(call) = reading.running {
                        let (clock, cpu_started) = call.cpu.expect("every call reads its CPU clock");
                        assert_eq!(clock, 7);
                        assert_eq!(cpu_started, call.started.duration_since(epoch()));
                        running += 1;
                    }
                    readings += 1;
                }
                (readings, running)
            })
        };
        for call in 1..=200_000u64 {
            clocks.start(call, Some((7, Duration::from_nanos(call - 1))));
            clocks.end(Some((Duration::from_nanos(call), Duration::from_nanos(call))));
        }
        done.store(true, Ordering::Relaxed);
        let (readings, _) = reader.join().expect("the reader found no torn reading");
        assert!(readings > 0);
        let total = clocks.read(|reading| reading);
        assert!(total.running.is_none());
        assert_eq!(total.wall, Duration::from_nanos(200_000 * 200_001 / 2));
    }

    #[test]
    fn a_run_that_nothing_stopped_keeps_its_result() {
        assert_eq!(ended(|_| {}), Ending { interruption: None, cancel_termination: false });
        assert_eq!(ended(|end| end.failed = true), Ending { interruption: None, cancel_termination: false });
    }

    #[test]
    fn the_memory_limit_ends_a_reentrant_run_first_and_an_outermost_run_is_judged_by_its_entry() {
        let everything = |end: &mut RunEnd| {
            *end = RunEnd {
                reentrant: true,
                memory_breached: true,
                disposed: true,
                host_exit: true,
                terminated: true,
                timer_fired: true,
                cpu_exceeded: true,
                failed: true,
            }
        };
        assert_eq!(ended(everything), interrupted(Interruption::MemoryLimit, false));
        // Outermost: `with_locker` reports the breach; here disposal wins.
        assert_eq!(
            ended(|end| {
                everything(end);
                end.reentrant = false;
            }),
            interrupted(Interruption::Disposed, false)
        );
    }

    #[test]
    fn disposal_comes_before_the_host_and_the_limits() {
        let end = |end: &mut RunEnd| {
            end.disposed = true;
            end.host_exit = true;
            end.terminated = true;
            end.timer_fired = true;
            end.cpu_exceeded = true;
        };
        assert_eq!(ended(end), interrupted(Interruption::Disposed, false));
    }

    #[test]
    fn the_host_wanting_its_thread_back_comes_before_the_limits_in_an_outermost_run() {
        let end = |end: &mut RunEnd| {
            end.host_exit = true;
            end.terminated = true;
            end.timer_fired = true;
        };
        assert_eq!(ended(end), interrupted(Interruption::HostExit, true));
        // A reentrant run leaves the host's request to the outermost one.
        assert_eq!(
            ended(|e| {
                end(e);
                e.reentrant = true;
            }),
            interrupted(Interruption::Timeout, true)
        );
    }

    #[test]
    fn a_reentrant_run_terminated_by_an_outer_run_unwinds_as_a_timeout() {
        let end = |end: &mut RunEnd| {
            end.reentrant = true;
            end.terminated = true;
        };
        assert_eq!(ended(end), interrupted(Interruption::Timeout, false));
    }

    #[test]
    fn the_cpu_limit_comes_before_the_timeout() {
        let end = |end: &mut RunEnd| {
            end.terminated = true;
            end.timer_fired = true;
            end.cpu_exceeded = true;
        };
        assert_eq!(ended(end), interrupted(Interruption::CpuLimit, true));
        assert_eq!(
            ended(|e| {
                e.terminated = true;
                e.timer_fired = true;
            }),
            interrupted(Interruption::Timeout, true)
        );
    }

    #[test]
    fn a_timer_that_fired_as_the_code_finished_is_no_interruption_but_is_cancelled() {
        assert_eq!(ended(|end| end.timer_fired = true), Ending { interruption: None, cancel_termination: true });
        assert_eq!(
            ended(|end| {
                end.timer_fired = true;
                end.failed = true;
            }),
            interrupted(Interruption::Timeout, true)
        );
    }
}
