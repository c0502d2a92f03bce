//! ivm-runtime owns the engine-neutral machinery that decides *when* work on an
//! isolate happens: today the watchdog that fires deadlines (timeouts), and the
//! worker pool with per-isolate serial queues as it grows.
//!
//! It must not know V8, JavaScript or any binding: everything it runs is an
//! opaque `FnOnce`. ivm-core supplies the closures (for example "terminate this
//! isolate"), which keeps this crate testable without an engine.

mod watchdog;

pub use watchdog::{Deadline, Watchdog};
