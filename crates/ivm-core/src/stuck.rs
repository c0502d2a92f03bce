//! Timeouts that hold where V8's termination does not reach.
//!
//! A timeout terminates the running JavaScript through V8, which stops it
//! at its next interrupt check. Some of V8's builtins loop without one:
//! `Array.prototype.includes` on an array-like of length 2^53 − 1, or
//! `lastIndexOf` on an empty array of length 2^32 − 1, would hold the
//! calling thread (the host's own, for a synchronous call) for ever.
//!
//! So a run whose termination has not taken effect [`GRACE`] after its
//! deadline is left the way V8's fatal errors are (`crate::fatal`): its
//! thread is sent [`signal`], whose handler jumps to the run's landing pad
//! over the stuck frames. The call ends with the timeout error, and the
//! isolate, whose V8 state is that of the skipped frames, is disposed.
//!
//! The handler jumps only when that is as sound as the fatal errors'
//! escape: the thread is in a run of the isolate the signal was for, no
//! host code is on the stack above its pad (`REENTRY`), and the
//! interrupted instruction is in the library that holds V8 and ivm (not in
//! the C library, whose locks, such as the allocator's, the skipped frames
//! must not keep) and not in ivm's own code that holds a lock ([`NoEscape`]). Otherwise it returns, and the check signals again
//! [`INTERVAL`] later. Where the signal cannot be had (the host handles it
//! already) or the architecture is not one whose interrupted instruction
//! this reads, stuck builtins keep their thread, as before.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::memory::MemoryBudget;
use crate::this_thread::{ESCAPED_STUCK, NO_ESCAPE, REENTRY, locked_budget};

/// How long after its deadline a run may take to stop before its thread is
/// made to leave it.
pub(crate) const GRACE: Duration = Duration::from_millis(250);

/// How often a stuck run's thread is signalled again while the handler
/// finds it somewhere it may not jump from.
pub(crate) const INTERVAL: Duration = Duration::from_millis(20);

/// Whether the handler is installed.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The executable part of the library (or program) that holds V8 and ivm.
static CODE_START: AtomicUsize = AtomicUsize::new(0);
static CODE_END: AtomicUsize = AtomicUsize::new(0);

/// The signal: one of the real-time signals, which neither Node nor
/// Python uses.
fn signal() -> c_int {
    libc::SIGRTMAX() - 4
}

/// Installs the handler, once, if the signal is free.
pub(crate) fn install() {
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) || INSTALLED.load(Ordering::SeqCst) {
        return;
    }
    let Some((start, end)) = own_code() else { return };
    CODE_START.store(start, Ordering::SeqCst);
    CODE_END.store(end, Ordering::SeqCst);
    // SAFETY: sigaction is given valid structures; the previous disposition
    // is read first so that a handler the host installed is left alone.
    unsafe {
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signal(), std::ptr::null(), &raw mut previous) != 0 || previous.sa_sigaction != libc::SIG_DFL
        {
            return;
        }
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as usize;
        // SA_NODEFER: the handler leaves by a jump that does not restore
        // the signal mask, which must not keep the signal blocked.
        action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&raw mut action.sa_mask);
        if libc::sigaction(signal(), &raw const action, std::ptr::null_mut()) == 0 {
            INSTALLED.store(true, Ordering::SeqCst);
        }
    }
}

/// The address range of the executable segment that holds this function.
fn own_code() -> Option<(usize, usize)> {
    struct Search {
        address: usize,
        found: Option<(usize, usize)>,
    }
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: `dl_iterate_phdr` passes a valid entry, and `data` is the
        // `Search` below, alive for the whole iteration.
        let (info, search) = unsafe { (&*info, &mut *data.cast::<Search>()) };
        for index in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers.
            let header = unsafe { &*info.dlpi_phdr.add(index) };
            if header.p_type != libc::PT_LOAD || header.p_flags & libc::PF_X == 0 {
                continue;
            }
            let start = (info.dlpi_addr as usize).wrapping_add(header.p_vaddr as usize);
            let end = start.wrapping_add(header.p_memsz as usize);
            if (start..end).contains(&search.address) {
                search.found = Some((start, end));
                return 1;
            }
        }
        0
    }
    let mut search = Search { address: own_code as *const () as usize, found: None };
    // SAFETY: the callback matches dl_iterate_phdr's contract and `search`
    // outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut search).cast()) };
    search.found
}

/// Signals the thread of the run that began at `started` (`run::epoch_ns`)
/// to leave it, if that run is still in progress; whether it is (the
/// timeout's checks call this every [`INTERVAL`] from [`GRACE`] after the
/// deadline, until it is not).
pub(crate) fn leave(budget: &MemoryBudget, started: u64) -> bool {
    if !INSTALLED.load(Ordering::SeqCst) || budget.running_since() != started {
        return false;
    }
    budget.mark_stuck(started);
    // SAFETY: tgkill has no memory preconditions; a thread that has ended
    // meanwhile is an error it returns, not undefined behaviour.
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), budget.running_thread(), signal()) };
    true
}

/// While it lives, this thread is not made to leave a stuck run: ivm's
/// code that holds a lock inside a run (which a jump would never release)
/// takes one first.
pub(crate) struct NoEscape;

impl NoEscape {
    pub(crate) fn begin() -> NoEscape {
        NO_ESCAPE.set(NO_ESCAPE.get() + 1);
        NoEscape
    }
}

impl Drop for NoEscape {
    fn drop(&mut self) {
        NO_ESCAPE.set(NO_ESCAPE.get() - 1);
    }
}

/// The handler. Async-signal-safe: it reads this thread's variables and
/// atomics, and either returns or jumps to the run's landing pad.
extern "C" fn on_signal(_signal: c_int, _info: *mut libc::siginfo_t, context: *mut c_void) {
    let Some(budget) = locked_budget() else { return };
    if !budget.running_stuck() || REENTRY.get().is_some() || NO_ESCAPE.get() > 0 || !crate::fatal::can_escape() {
        return;
    }
    let Some(at) = interrupted_at(context) else { return };
    if !(CODE_START.load(Ordering::Relaxed)..CODE_END.load(Ordering::Relaxed)).contains(&at) {
        return;
    }
    ESCAPED_STUCK.set(true);
    // SAFETY: as for a fatal error's escape (`fatal::report_and_leave`):
    // there is a pad, set by this isolate's entry; no host code is between
    // it and here (`REENTRY` is clear); and the interrupted code is V8's or
    // ivm's, so no lock of the C library is held by the skipped frames.
    unsafe { crate::fatal::escape() }
}

/// The address of the instruction the signal interrupted.
fn interrupted_at(context: *mut c_void) -> Option<usize> {
    if context.is_null() {
        return None;
    }
    // SAFETY: with SA_SIGINFO the kernel passes a `ucontext_t` as the third
    // argument of the handler.
    let context = unsafe { &*context.cast::<libc::ucontext_t>() };
    #[cfg(target_arch = "x86_64")]
    return Some(context.uc_mcontext.gregs[libc::REG_RIP as usize] as usize);
    #[cfg(target_arch = "aarch64")]
    return Some(context.uc_mcontext.pc as usize);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = context;
        None
    }
}
