//! ivm: V8 isolates for untrusted and parallel JavaScript.
//!
//! This crate is the public Rust API and holds no logic of its own: it
//! names, one by one, the parts of ivm-core that programs use, so that the
//! internal crates can be split or merged without breaking users, and
//! nothing meant only for the Node and Python front-ends (ivm-core's
//! `embedding`) or for V8 itself leaks into it. The Node and Python
//! packages expose the same concepts.
//!
//! ```
//! use ivm::{EvalOptions, Isolate, IsolateOptions, Value};
//!
//! let isolate = Isolate::new(IsolateOptions::new().memory_limit(32))?;
//! let context = isolate.create_context()?;
//! let sum = context.eval("[1, 2, 3].reduce((a, b) => a + b)", &EvalOptions::new())?;
//! assert_eq!(sum, Value::Number(6.0));
//! # Ok::<(), ivm::Error>(())
//! ```
//!
//! [`Context::enter`] and [`Reference::deref`] hand out V8's own handles,
//! for code that works with V8 values directly: such code depends on the
//! `v8` crate itself, at the version ivm-core pins.

// Isolates and what lives in them.
pub use ivm_core::{
    Context, DEFAULT_MEMORY_LIMIT_MB, HeapStatistics, Isolate, IsolateOptions, MIN_MEMORY_LIMIT_MB, Module,
    ModuleResolver, Reference, Script,
};
// Running code: options, results, and the three forms of every call.
pub use ivm_core::{
    Async, Canceler, CompileOptions, ContextOptions, EvalOptions, Ignored, Pending, QueuedForm, RunOptions,
    ScriptOrigin, SyncFollowing, TransferMode, Transferable,
};
// node:vm's sandboxes, kept in step with a host's object by copying.
pub use ivm_core::{Completion, Sandbox, SandboxChanges, SandboxValue};
// Errors.
pub use ivm_core::{CatastrophicErrorHandler, Error, ErrorClass, JsError, Result};
// Host functions, and host values held by reference.
/// What a Reference to a host value grants, for hosts that implement
/// [`Remote`] for values of their own.
pub use ivm_core::host;
pub use ivm_core::{Callback, CallbackResult, HostError, Library, Peers, Remote, RemoteClass, RemoteOp, Resolver};
// Copies: the value model, ExternalCopy, shared memory.
/// The global allocator that bounds V8's serialized copies out of an
/// isolate by the isolate's memory limit as they are made; without it they
/// are checked once made.
pub use ivm_core::BoundedAllocator;
/// The ranges of numeric options, the same in every front-end.
pub use ivm_core::numeric;
/// ivm's versioned byte encoding of copies ([`ExternalCopy::encode`]).
pub use ivm_core::wire;
pub use ivm_core::{
    BigInt, Buffer, CopyOptions, ErrorKind, ExternalCopy, ExternalCopyOptions, JsString, MarshalError, Object,
    ObjectId, OwnedBytes, Serialized, SharedBuffer, Structured, Value, ViewKind, total_external_size,
};
// CPU profiles (Isolate::start_cpu_profiler).
pub use ivm_core::{CallFrame, CpuProfile, ProfileNode, ThreadCpuProfile};
// Pools, snapshots, the inspector, the worker pool.
pub use ivm_core::{
    Executor, InspectorMessage, InspectorServer, InspectorSession, IsolatePool, PooledIsolate, SnapshotOptions,
    SnapshotScript, SnapshotWorker, create_snapshot, initialize, serve_snapshot_worker,
};
