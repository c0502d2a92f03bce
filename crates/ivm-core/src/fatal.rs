//! V8's fatal errors, which would otherwise abort the whole process.
//!
//! V8 ends the process when it runs out of memory despite the memory limit's
//! layers, and when it reaches one of its deliberate crashes (a `CHECK`, or
//! "invalid size" errors that hostile code can provoke, such as splitting a
//! 256 MiB string into characters). ivm installs handlers for both. They mark
//! the running isolate as lost, report to the host's catastrophic-error
//! handler, and park the thread forever: V8 aborts if a handler returns, and
//! unwinding through V8's frames is not possible. The process and every other
//! isolate keep running; the thread that was running the lost isolate (for a
//! synchronous call, the caller's) does not come back.

use std::cell::Cell;
use std::ffi::{CStr, c_char};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::this_thread::RUNNING_CATASTROPHE;
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

    /// Whether the isolate was lost to a fatal V8 error. Its V8 lock is then
    /// held forever by a parked thread, so nothing may try to take it.
    pub(crate) fn happened(&self) -> bool {
        self.happened.load(Ordering::SeqCst)
    }
}

/// Marks `catastrophe` as the record of the isolate this thread runs until
/// the returned guard is dropped.
pub(crate) fn running(catastrophe: &Catastrophe) -> Running {
    Running(RUNNING_CATASTROPHE.with(|cell| cell.replace(std::ptr::from_ref(catastrophe))))
}

/// Restores the record this thread ran before, when dropped.
pub(crate) struct Running(*const Catastrophe);

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING_CATASTROPHE.with(|cell| cell.set(self.0));
    }
}

unsafe extern "C" {
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
    report_and_park("V8 fatal error (V8 printed the details to stderr)".to_owned());
}

fn on_fatal_error(file: &str, line: i32, message: &str) {
    report_and_park(format!("V8 fatal error: {message} ({file}:{line})"));
}

/// V8's fatal out-of-memory callback, registered on every isolate.
pub(crate) unsafe extern "C" fn on_fatal_oom(location: *const c_char, details: &v8::OomDetails) {
    // SAFETY: V8 passes null or NUL-terminated strings valid for this call.
    let (location, detail) = unsafe { (c_text(location), c_text(details.detail.cast())) };
    report_and_park(format!(
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

fn report_and_park(message: String) -> ! {
    let running = RUNNING_CATASTROPHE.with(Cell::get);
    // SAFETY: a non-null pointer was set by `running` from a reference that
    // outlives its guard, and the guard is alive: this callback runs inside
    // the call it guards, on the same thread.
    match unsafe { running.as_ref() } {
        Some(catastrophe) => {
            catastrophe.happened.store(true, Ordering::SeqCst);
            match &catastrophe.handler {
                Some(handler) => handler(&message),
                None => eprintln!("ivm: catastrophic error, isolate lost: {message}"),
            }
            catastrophe.strand.give_up();
        }
        None => eprintln!("ivm: catastrophic error outside any isolate call: {message}"),
    }
    loop {
        std::thread::park();
    }
}
