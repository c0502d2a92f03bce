//! V8's fatal errors, which would otherwise abort the whole process.
//!
//! V8 ends the process when it runs out of memory despite the memory limit's
//! layers, and when it reaches one of its deliberate crashes (a `CHECK`, or
//! "invalid size" errors that hostile code can provoke, such as splitting a
//! 256 MiB string into characters). ivm installs handlers for both, which
//! report to the host's catastrophic-error handler and then, because V8
//! aborts if a handler returns and its frames (JavaScript's among them) have
//! no unwind tables, leave in one of two ways:
//!
//! - **Escape** (the usual case): every entry into an isolate runs under a
//!   landing pad ([`escapable`], `native/escape.c`), and the handler jumps
//!   back to it, over the frames of the failed operation. The entry then
//!   fails with the memory-limit error, the isolate is disposed, and its
//!   memory is returned: the caller's thread comes back and the process
//!   lives. The skipped frames are only the isolate's own (V8's, and ivm's
//!   code running it), so nothing outside the isolate is left half-done:
//!   this thread's state is restored from what it was at the pad, and the
//!   isolate, whose V8 state is past saving, is never run again.
//! - **Park**: where the frames between the pad and the error include host
//!   code (a host callback that called back into its isolate) or there is
//!   no pad (a V8 worker thread), jumping would leave the host's own
//!   interpreter half-done. The isolate is marked lost and the thread parks
//!   forever; the process and every other isolate keep running.
//!
//! Architecture Invariant: no code of a host (Node, Python) runs between a
//! landing pad and V8 without `REENTRY` being set, which is what tells the
//! two cases apart.

use std::cell::Cell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::this_thread::{REENTRY, RUNNING_CATASTROPHE, ThreadState};
use ivm_runtime::Strand;

/// A handler for errors V8 cannot recover from (see
/// [`IsolateOptions::on_catastrophic_error`]).
///
/// [`IsolateOptions::on_catastrophic_error`]: crate::IsolateOptions::on_catastrophic_error
pub type CatastrophicErrorHandler = Arc<dyn Fn(&str) + Send + Sync>;

/// One isolate's record of a catastrophe.
pub(crate) struct Catastrophe {
    handler: Option<CatastrophicErrorHandler>,
    happened: AtomicBool,
    /// The isolate's strand, which the parked thread holds: it is passed on
    /// so that the calls queued behind the lost one fail instead of waiting.
    strand: Strand,
}

impl Catastrophe {
    pub(crate) fn new(handler: Option<CatastrophicErrorHandler>, strand: Strand) -> Catastrophe {
        Catastrophe { handler, happened: AtomicBool::new(false), strand }
    }

    /// Whether the isolate was lost to a fatal V8 error that parked its
    /// thread. Its V8 lock is then held forever, so nothing may try to take
    /// it.
    pub(crate) fn happened(&self) -> bool {
        self.happened.load(Ordering::SeqCst)
    }
}

/// Runs `body`, an entry into the isolate whose record is `catastrophe`,
/// under a landing pad: `None` if a fatal error escaped from it. The
/// isolate must then never be run again (its V8 state is that of the
/// skipped frames); this thread's own state is as it was before.
pub(crate) fn escapable<R, F: FnOnce() -> R>(catastrophe: &Catastrophe, body: F) -> Option<R> {
    struct Frame<F, R> {
        body: Option<F>,
        result: Option<std::thread::Result<R>>,
    }
    unsafe extern "C" fn enter<F: FnOnce() -> R, R>(frame: *mut c_void) {
        // SAFETY: `frame` is the `Frame<F, R>` that `escapable` passed to
        // `ivm_escapable`, which calls this once, on this thread, while
        // `escapable`'s frame (and so the `Frame`) is alive.
        let frame = unsafe { &mut *frame.cast::<Frame<F, R>>() };
        if let Some(body) = frame.body.take() {
            // A panic may not unwind through the C frame: it is carried
            // over it and resumed on this side.
            frame.result = Some(catch_unwind(AssertUnwindSafe(body)));
        }
    }
    let state = ThreadState::at_pad();
    let previous = RUNNING_CATASTROPHE.replace(std::ptr::from_ref(catastrophe));
    let mut frame = Frame { body: Some(body), result: None };
    // SAFETY: `enter::<F, R>` is given the frame it expects. If a fatal error
    // escapes, `ivm_escapable` returns after skipping the frames above it
    // (see the module's comment for why skipping them is sound): what they
    // owned is leaked, never dropped, and `frame.result` stays `None`.
    unsafe { ivm_escapable(enter::<F, R>, (&raw mut frame).cast()) };
    RUNNING_CATASTROPHE.set(previous);
    match frame.result {
        Some(Ok(result)) => Some(result),
        Some(Err(panic)) => resume_unwind(panic),
        None => {
            state.restore();
            None
        }
    }
}

/// Whether this thread is inside an entry's landing pad.
pub(crate) fn can_escape() -> bool {
    // SAFETY: `ivm_can_escape` only reads this thread's pad.
    unsafe { ivm_can_escape() != 0 }
}

/// Jumps to this thread's innermost landing pad.
///
/// # Safety
/// There must be a pad ([`can_escape`]), and the frames between it and the
/// caller must be only the isolate's own (see the module's comment).
pub(crate) unsafe fn escape() -> ! {
    // SAFETY: guaranteed by the caller.
    unsafe { ivm_escape() }
}

unsafe extern "C" {
    /// Runs `body(data)` under a landing pad, which `ivm_escape` jumps to
    /// (`native/escape.c`).
    fn ivm_escapable(body: unsafe extern "C" fn(*mut c_void), data: *mut c_void);
    /// Whether this thread is inside `ivm_escapable`.
    fn ivm_can_escape() -> c_int;
    /// Jumps to this thread's innermost landing pad.
    fn ivm_escape() -> !;

    /// `v8::base::SetPrintStackTrace`: V8 calls this hook after printing a
    /// fatal error and before aborting, on every fatal path, including
    /// `FatalNoSecurityImpact` (the "invalid size" errors), which skips the
    /// fatal-error callback that `v8::V8::set_fatal_error_handler` sets. The
    /// v8 crate does not bind it, so it is declared by its Itanium-mangled
    /// name; the `v8` version is pinned exactly, and the linker fails loudly
    /// should the symbol ever disappear.
    #[link_name = "_ZN2v84base18SetPrintStackTraceEPFvvE"]
    fn v8_base_set_print_stack_trace(hook: unsafe extern "C" fn());
}

/// Installs the process-wide handlers for V8's deliberate crashes. Must run
/// after `V8::initialize`, which installs V8's own stack printer.
pub(crate) fn install_fatal_error_handlers() {
    v8::V8::set_fatal_error_handler(on_fatal_error);
    // SAFETY: the declaration matches V8's `void SetPrintStackTrace(void
    // (*)())` under the C calling convention that the Itanium C++ ABI uses
    // for free functions, and the hook is a plain function valid forever.
    unsafe { v8_base_set_print_stack_trace(on_fatal_without_callback) };
}

unsafe extern "C" fn on_fatal_without_callback() {
    report_and_leave("V8 fatal error (V8 printed the details to stderr)".to_owned());
}

fn on_fatal_error(file: &str, line: i32, message: &str) {
    report_and_leave(format!("V8 fatal error: {message} ({file}:{line})"));
}

/// V8's fatal out-of-memory callback, registered on every isolate.
pub(crate) unsafe extern "C" fn on_fatal_oom(location: *const c_char, details: &v8::OomDetails) {
    // SAFETY: V8 passes null or NUL-terminated strings valid for this call.
    let (location, detail) = unsafe { (c_text(location), c_text(details.detail.cast())) };
    report_and_leave(format!(
        "V8 ran out of memory{} at {}{}",
        if details.is_heap_oom { " (heap)" } else { "" },
        location.unwrap_or_default(),
        detail.map(|d| format!(": {d}")).unwrap_or_default(),
    ));
}

/// # Safety
/// `ptr` must be null or point to a NUL-terminated string.
unsafe fn c_text(ptr: *const c_char) -> Option<String> {
    // SAFETY: guaranteed by the caller.
    (!ptr.is_null()).then(|| unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned())
}

/// Reports `message` to the catastrophic-error handler and leaves V8's
/// frames (escape or park, see the module's comment); also for
/// `crate::guard`'s refusals.
pub(crate) fn report_and_leave(message: String) -> ! {
    let running = RUNNING_CATASTROPHE.with(Cell::get);
    // SAFETY: a non-null pointer was set by `escapable` from a reference
    // that outlives the call it guards, and that call is running: this
    // callback runs inside it, on the same thread.
    match unsafe { running.as_ref() } {
        Some(catastrophe) => {
            match &catastrophe.handler {
                Some(handler) => handler(&message),
                None => eprintln!("ivm: catastrophic error, isolate lost: {message}"),
            }
            if REENTRY.get().is_none() && can_escape() {
                // SAFETY: there is a pad (checked above), set by `escapable`
                // for this isolate's entry (an isolate's lock is the only one
                // a thread holds, and runs of it nest only through host
                // callbacks, excluded above), so only the isolate's own
                // frames are skipped. Of ivm's locks, only the isolate's own
                // may be held by skipped frames; V8's are its isolate's, which
                // `Isolate::with_locker_now` tears down on this thread.
                unsafe { escape() }
            }
            catastrophe.happened.store(true, Ordering::SeqCst);
            catastrophe.strand.give_up();
        }
        None => eprintln!("ivm: catastrophic error outside any isolate call: {message}"),
    }
    loop {
        std::thread::park();
    }
}
