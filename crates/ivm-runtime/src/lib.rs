//! ivm-runtime owns the engine-neutral machinery that decides *when* work on an
//! isolate happens: the worker pool ([`Executor`]) with work stealing, the
//! per-isolate serial queues that run on it ([`Strand`]), the one-shot futures
//! that carry results back ([`oneshot`]), and the watchdog that fires
//! deadlines (timeouts).
//!
//! It must not know V8, JavaScript or any binding: everything it runs is an
//! opaque `FnOnce`. ivm-core supplies the closures (for example "run this
//! call in that isolate"), which keeps this crate testable, and its
//! concurrency model-checkable with loom, without an engine.

mod oneshot;
#[cfg(not(loom))]
mod pool;
mod strand;
mod sync;
#[cfg(not(loom))]
mod watchdog;

pub use oneshot::{Canceled, Receiver, Sender, oneshot};
#[cfg(not(loom))]
pub use pool::{Executor, block_in_place, on_worker_thread};
pub use strand::{Busy, Schedule, Strand, Task};
#[cfg(not(loom))]
pub use strand::{run_wait_hook, set_wait_hook};
#[cfg(not(loom))]
pub use watchdog::{Deadline, Watchdog};
