//! ivm-core owns the lifecycle of V8 isolates and everything that lives in
//! them: [`Isolate`], [`Context`], [`Script`] and [`Reference`], with their
//! limits (memory, timeouts), termination, CPU/wall time accounting and
//! disposal.
//!
//! It must not know any front-end: no napi, no pyo3, no language idioms.
//! How values are copied is ivm-marshal's business and when work runs is
//! ivm-runtime's; this crate wires them to V8. Every operation comes in
//! three forms: synchronous (on the calling thread, under the isolate's
//! `v8::Locker`), async (a [`Pending`] future) and fire-and-forget, the last
//! two run on ivm-runtime's worker pool; all three take their turn on the
//! isolate's strand, in the order they were called.

mod callback;
mod cancel;
mod context;
mod error;
mod exception;
mod external_copy;
mod family;
mod fatal;
mod follow;
mod forms;
mod growth;
mod guard;
mod held;
pub mod host;
mod host_exit;
mod inspector;
mod isolate;
mod library;
mod memory;
mod module;
pub mod numeric;
mod options;
mod platform;
mod pool;
mod profiler;
mod reference;
mod rejections;
mod remote;
mod resident;
mod run;
mod sandbox;
mod script;
mod snapshot;
mod stuck;
mod teardown;
mod this_thread;
mod transfer;

pub use callback::{Callback, CallbackResult, HostError, Resolver};
pub use cancel::Canceler;
pub use context::Context;
pub use error::{Error, ErrorClass, JsError, Result};
pub use external_copy::{CopyOptions, ExternalCopy, ExternalCopyOptions, total_external_size};
pub use fatal::CatastrophicErrorHandler;
pub use forms::{Async, Ignored, Pending, QueuedForm, SyncFollowing};
pub use inspector::{InspectorMessage, InspectorServer, InspectorSession};
pub use isolate::{DEFAULT_MEMORY_LIMIT_MB, HeapStatistics, Isolate, IsolateOptions, MIN_MEMORY_LIMIT_MB};
/// ivm's versioned byte encoding of copies ([`ExternalCopy::encode`]).
pub use ivm_marshal::wire;
pub use ivm_marshal::{
    BigInt, BoundedAllocator, Buffer, Error as MarshalError, ErrorKind, JsString, Object, ObjectId, OwnedBytes,
    Serialized, SharedBuffer, Structured, Value, ViewKind,
};
pub use ivm_runtime::Executor;
pub use library::Library;
pub use module::{Module, ModuleResolver};
pub use options::{CompileOptions, ContextOptions, EvalOptions, RunOptions, ScriptOrigin, TransferMode};
pub use platform::initialize;
pub use pool::{IsolatePool, PooledIsolate};
pub use profiler::{CallFrame, CpuProfile, ProfileNode, ThreadCpuProfile};
pub use reference::Reference;
pub use remote::{Peers, Remote, RemoteClass, RemoteOp};
pub use sandbox::{Completion, Sandbox, SandboxChanges, SandboxValue};
pub use script::Script;
pub use snapshot::{SnapshotOptions, SnapshotScript, SnapshotWorker, create_snapshot, serve_snapshot_worker};
pub use transfer::Transferable;

/// What a front-end that embeds ivm in another language's runtime needs
/// beyond the API (the Node addon and the Python package use it): how the
/// host's thread waits and is asked to stop, and values to and from a
/// second V8 in the process. Programs that use ivm from Rust have no use
/// for it; the `ivm` crate does not re-export it.
pub mod embedding {
    pub use crate::callback::ServingHostCall;
    pub use crate::exception::STACK_BOUNDARY;
    pub use crate::host_exit::set_host_exit_check;
    pub use crate::platform::forward_v8_flags;
    pub use crate::run::take_timed_out_frames;
    /// Values to and from another V8 in the process (Node's, for the Node
    /// addon).
    pub use ivm_marshal::foreign;
    pub use ivm_runtime::set_wait_hook;
}
/// The V8 bindings ivm is built on, for code that works with V8 values
/// directly ([`Context::enter`], [`Reference::deref`]).
pub use v8;
