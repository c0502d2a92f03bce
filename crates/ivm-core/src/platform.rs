//! Process-wide V8 initialisation.

use std::sync::{Once, OnceLock};

static PLATFORM: OnceLock<v8::SharedRef<v8::Platform>> = OnceLock::new();

/// Initialises V8 for this process; later calls do nothing.
///
/// Every ivm entry point calls this, but a host that creates its own threads
/// should call it first, before spawning them: V8 requires threads that run
/// JavaScript to be created after it is initialised.
pub fn initialize() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Memory protection keys are inherited by a thread only at creation,
        // so with them enabled any thread the host made before this call
        // would crash the first time it ran JavaScript. Hosts (Node workers,
        // Python threads) make threads before loading ivm, so W^X is kept by
        // page permissions instead.
        v8::V8::set_flags_from_string("--no-memory-protection-keys");
        // Turboshaft's loop unrolling can drop a loop's interrupt check
        // altogether (seen with `while (true) x = new Array(64)`), and then
        // neither a timeout nor the memory limit can terminate the loop. A
        // sandbox needs every loop to stay interruptible.
        v8::V8::set_flags_from_string("--no-turboshaft-loop-unrolling");
        let platform = PLATFORM.get_or_init(|| v8::new_default_platform(0, false).make_shared());
        v8::V8::initialize_platform(platform.clone());
        v8::V8::initialize();
        crate::fatal::install_fatal_error_handlers();
    });
}

/// Runs the tasks V8 posted to `isolate`'s own thread (the inspector's heap
/// snapshots are one), on the thread that holds its lock.
pub(crate) fn run_posted_tasks(isolate: &v8::Isolate) {
    if let Some(platform) = PLATFORM.get() {
        while v8::Platform::pump_message_loop(platform, isolate, false) {}
    }
}
