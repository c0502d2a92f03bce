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
        crate::memory::icu::install();
        crate::guard::link();
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
        crate::stuck::install();
    });
}

/// The V8 flags a host may pass on to ivm's V8 from its own command line
/// (Node's `--expose-gc`, say): those that change what JavaScript can do
/// within the language. Flags that would loosen a limit or hand sandboxed
/// code V8's internals (`--allow-natives-syntax`, heap sizes) are not
/// passed on. V8 reads `_` in a flag's name as `-`, and so does the check.
const FORWARDED: [&str; 3] = ["--expose-gc", "--harmony", "--js-"];

/// Passes on to ivm's V8 the flags among `flags` (a host's command line)
/// that it forwards, and returns them. Isolates made afterwards see them;
/// the host calls this before making any (in a Node process, ivm's V8 is
/// not Node's and does not see Node's flags otherwise, as isolated-vm's
/// isolates do).
pub fn forward_v8_flags<'a>(flags: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let forwarded = forwarded(flags);
    for flag in &forwarded {
        v8::V8::set_flags_from_string(flag);
    }
    forwarded
}

fn forwarded<'a>(flags: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    flags
        .into_iter()
        .filter(|flag| {
            let name = flag.split('=').next().unwrap_or(flag).replace('_', "-");
            let name = name.strip_prefix("--no-").map_or(name.clone(), |rest| format!("--{rest}"));
            FORWARDED.iter().any(|allowed| name.starts_with(allowed))
        })
        .collect()
}

/// Runs the tasks V8 posted to `isolate`'s own thread (the inspector's heap
/// snapshots are one), on the thread that holds its lock.
pub(crate) fn run_posted_tasks(isolate: &v8::Isolate) {
    if let Some(platform) = PLATFORM.get() {
        while v8::Platform::pump_message_loop(platform, isolate, false) {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_flags_within_the_language_are_forwarded() {
        let flags = [
            "--expose-gc",
            "--allow-natives-syntax",
            "--max-old-space-size=100",
            "--no-harmony-shadow-realm",
            "--inspect",
            "--js-float16array",
            "--no_expose_gc",
            "--allow_natives_syntax",
            "--harmony_temporal",
            "-e",
        ];
        assert_eq!(
            super::forwarded(flags),
            ["--expose-gc", "--no-harmony-shadow-realm", "--js-float16array", "--no_expose_gc", "--harmony_temporal"]
        );
    }
}
