//! The isolate: one V8 heap with its limits, its clocks and its lifecycle.

use std::collections::HashMap;
use std::ffi::c_void;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::time::Duration;

use ivm_runtime::{Executor, Strand};

use crate::callback::Registered;
use crate::exception::caught;
use crate::fatal::{self, Catastrophe, CatastrophicErrorHandler};
use crate::follow::{self, Follower};
use crate::memory::{self, MemoryBudget};
use crate::resident::Residence;
use crate::run::{CpuBudget, RunState};
use crate::this_thread::{LOCKED_HERE, REENTRY};
use crate::{Context, ContextOptions, Error, Result, platform};

/// The smallest memory limit an isolate accepts, in MiB (as isolated-vm).
pub const MIN_MEMORY_LIMIT_MB: usize = 8;
/// The memory limit of an isolate whose options name none, in MiB.
pub const DEFAULT_MEMORY_LIMIT_MB: usize = 128;

/// How to create an [`Isolate`].
#[derive(Clone)]
pub struct IsolateOptions {
    memory_limit_mb: usize,
    snapshot: Option<Vec<u8>>,
    on_catastrophic_error: Option<CatastrophicErrorHandler>,
    executor: Option<Executor>,
    inspector: bool,
}

impl Default for IsolateOptions {
    fn default() -> Self {
        IsolateOptions {
            memory_limit_mb: DEFAULT_MEMORY_LIMIT_MB,
            snapshot: None,
            on_catastrophic_error: None,
            executor: None,
            inspector: false,
        }
    }
}

impl fmt::Debug for IsolateOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsolateOptions")
            .field("memory_limit_mb", &self.memory_limit_mb)
            .field("snapshot", &self.snapshot.as_ref().map(Vec::len))
            .field("on_catastrophic_error", &self.on_catastrophic_error.is_some())
            .field("executor", &self.executor)
            .field("inspector", &self.inspector)
            .finish()
    }
}

impl IsolateOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// The memory the isolate may use, in MiB: its heap, and separately the
    /// off-heap memory of its ArrayBuffers. At least [`MIN_MEMORY_LIMIT_MB`].
    pub fn memory_limit(mut self, mb: usize) -> Self {
        self.memory_limit_mb = mb;
        self
    }

    /// A startup snapshot to boot the isolate from (made by
    /// [`create_snapshot`](crate::create_snapshot)).
    pub fn snapshot(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.snapshot = Some(bytes.into());
        self
    }

    /// Called, instead of aborting the process, when V8 fails in a way the
    /// isolate cannot survive (a fatal out-of-memory error that the memory
    /// limit's layers did not prevent). The thread that was running the
    /// isolate never returns; the host should log, stop taking work and exit.
    pub fn on_catastrophic_error(mut self, handler: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_catastrophic_error = Some(Arc::new(handler));
        self
    }

    /// The worker pool that runs this isolate's async and fire-and-forget
    /// calls; by default the process-wide one, with a worker per core.
    pub fn executor(mut self, executor: Executor) -> Self {
        self.executor = Some(executor);
        self
    }

    /// Attaches V8's inspector (Chrome DevTools), for
    /// [`Isolate::create_inspector_session`] and
    /// [`InspectorServer`](crate::InspectorServer). Off by default: a
    /// session can read and change everything in the isolate.
    pub fn inspector(mut self, enabled: bool) -> Self {
        self.inspector = enabled;
        self
    }

    pub(crate) fn inspector_enabled(&self) -> bool {
        self.inspector
    }
}

/// V8's heap statistics for one isolate, plus the off-heap memory it holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HeapStatistics {
    pub total_heap_size: usize,
    pub total_heap_size_executable: usize,
    pub total_physical_size: usize,
    pub total_available_size: usize,
    pub used_heap_size: usize,
    pub heap_size_limit: usize,
    pub malloced_memory: usize,
    pub peak_malloced_memory: usize,
    pub does_zap_garbage: bool,
    pub number_of_native_contexts: usize,
    pub number_of_detached_contexts: usize,
    pub total_global_handles_size: usize,
    pub used_global_handles_size: usize,
    pub external_memory: usize,
    /// Memory outside the V8 heap charged to this isolate's memory limit
    /// (ArrayBuffer contents), as isolated-vm's `externally_allocated_size`.
    pub externally_allocated_size: usize,
}

impl HeapStatistics {
    /// The sizes by isolated-vm's field names (`does_zap_garbage`, a flag,
    /// is the one field not among them), for front-ends that hand the
    /// statistics over as an object or a dict.
    pub fn sizes(&self) -> [(&'static str, usize); 14] {
        [
            ("total_heap_size", self.total_heap_size),
            ("total_heap_size_executable", self.total_heap_size_executable),
            ("total_physical_size", self.total_physical_size),
            ("total_available_size", self.total_available_size),
            ("used_heap_size", self.used_heap_size),
            ("heap_size_limit", self.heap_size_limit),
            ("malloced_memory", self.malloced_memory),
            ("peak_malloced_memory", self.peak_malloced_memory),
            ("number_of_native_contexts", self.number_of_native_contexts),
            ("number_of_detached_contexts", self.number_of_detached_contexts),
            ("total_global_handles_size", self.total_global_handles_size),
            ("used_global_handles_size", self.used_global_handles_size),
            ("external_memory", self.external_memory),
            ("externally_allocated_size", self.externally_allocated_size),
        ]
    }
}

/// A V8 isolate: a heap of its own, shared with nothing else.
///
/// `Isolate` is a cheap, `Send + Sync` handle; clones refer to the same
/// isolate. The isolate lives until it is disposed or until the last handle
/// to it (including its contexts, scripts and references) is dropped.
#[derive(Clone)]
pub struct Isolate {
    pub(crate) inner: Arc<IsolateInner>,
}

pub(crate) struct IsolateInner {
    /// `None` once disposed. Calls hold the read lock while they run, so
    /// disposal (the write lock) waits for running calls to unwind.
    v8: RwLock<Option<v8::SharedIsolate>>,
    pub(crate) terminator: v8::IsolateHandle,
    pub(crate) memory: Arc<MemoryBudget>,
    tag: IsolateTag,
    disposed: AtomicBool,
    live_handles: AtomicUsize,
    /// A context for compiling scripts that are not yet bound to one; V8
    /// needs a context to create the exceptions compilation may throw.
    compile_context: Mutex<Option<Arc<v8::Global<v8::Context>>>>,
    pub(crate) catastrophe: Catastrophe,
    /// Every call into the isolate, of any form, takes its turn here.
    pub(crate) strand: Strand,
    /// What the calls that ran in it left: its clocks, the running call's
    /// interruption and CPU budget.
    pub(crate) run: RunState,
    /// Promise rejections without a handler, which fail the call they
    /// happen in (`rejections.rs`).
    pub(crate) rejections: crate::rejections::Rejections,
    /// Its part in the host's exit checks.
    pub(crate) host_exit: crate::host_exit::Watch,
    /// What the isolate holds of its host's.
    pub(crate) host: HostLinks,
    /// Its ES modules, by id, for V8's module callbacks.
    pub(crate) modules: Mutex<crate::module::Registry>,
    /// Where inspector sessions' messages wait, when the isolate has an
    /// inspector.
    pub(crate) inspector: Option<Arc<crate::inspector::Inbox>>,
    /// The CPU profiles being taken.
    pub(crate) profiler: crate::profiler::Profiler,
    /// The isolates it made, and its share of its maker's budget.
    pub(crate) family: crate::family::Family,
    /// The host thread whose V8 state stays in it between calls.
    pub(crate) residence: Residence,
}

/// What an isolate holds of its host's: the functions passed in, the values
/// its `Reference` objects stand for, and the calls that wait on the host.
pub(crate) struct HostLinks {
    /// The host functions passed into the isolate, which its JavaScript
    /// functions point to; they live as long as the isolate.
    #[expect(clippy::vec_box, reason = "the functions hold their entries' addresses, which must not move")]
    pub(crate) callbacks: Mutex<Vec<Box<Registered>>>,
    /// Calls of async host functions whose results have not settled their
    /// promises in the isolate yet. A followed call waits on nothing but
    /// the outside world only while this is zero (see `follow`).
    pub(crate) pending_calls: AtomicUsize,
    /// Async calls waiting for the promise they returned, by id.
    pub(crate) followers: Mutex<HashMap<u64, Follower>>,
    /// Values outside the isolate that its `Reference` objects stand for.
    pub(crate) remotes: Arc<Mutex<crate::remote::RemoteTable>>,
    /// The host functions those `Reference` objects call, made on first use.
    pub(crate) remote_dispatch: OnceLock<crate::remote::Dispatch>,
}

/// What a context may compile at run time, as `ContextOptions` said: kept
/// under a private key of its global object, where V8's callbacks below
/// read it. A context without it (one ivm made for compiling) allows both.
#[derive(Debug, Clone, Copy)]
struct CodeGeneration {
    strings: bool,
    wasm: bool,
}

impl CodeGeneration {
    fn key<'s>(scope: &v8::PinScope<'s, '_>) -> Option<v8::Local<'s, v8::Private>> {
        let name = v8::String::new(scope, "ivm.codeGeneration")?;
        Some(v8::Private::for_api(scope, Some(name)))
    }

    fn store(self, scope: &v8::PinScope<'_, '_>, context: v8::Local<'_, v8::Context>) -> Option<()> {
        let bits = i32::from(self.strings) | i32::from(self.wasm) << 1;
        let value = v8::Integer::new(scope, bits);
        context.global(scope).set_private(scope, Self::key(scope)?, value.into()).map(drop)
    }

    fn of(scope: &v8::PinScope<'_, '_>, context: v8::Local<'_, v8::Context>) -> CodeGeneration {
        let bits = Self::key(scope)
            .and_then(|key| context.global(scope).get_private(scope, key))
            .filter(|value| value.is_int32())
            .and_then(|value| value.int32_value(scope))
            .unwrap_or(3);
        CodeGeneration { strings: bits & 1 != 0, wasm: bits & 2 != 0 }
    }
}

/// V8 asks before compiling WebAssembly: refused in the contexts made
/// without `ContextOptions::wasm_code_generation`.
unsafe extern "C" fn allow_wasm_code_generation(
    context: v8::Local<'_, v8::Context>,
    _source: v8::Local<'_, v8::String>,
) -> bool {
    // SAFETY: V8 calls this while JavaScript runs in `context`.
    v8::callback_scope!(unsafe scope, context);
    CodeGeneration::of(scope, context).wasm
}

/// V8 asks before compiling a string (`eval`, `new Function`), in every
/// context ivm makes (each refuses strings, so that V8 asks): refused where
/// the context was made without `code_generation_from_strings`, and for a
/// source longer, in characters, than an eighth of the memory limit in
/// bytes (isolated-vm's cap). V8's parser never checks for termination, so
/// a huge source would hold the thread past any timeout; the cap bounds the
/// parse. A source that is not a string is not compiled at all (`eval`
/// returns it), so it is let through.
fn code_generation_from_strings<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    source: v8::Local<'s, v8::Value>,
    _is_code_like: bool,
) -> v8::ModifyCodeGenerationFromStringsResult<'s> {
    let allowed = match v8::Local::<v8::String>::try_from(source) {
        Err(_) => true,
        Ok(source) => {
            let context = scope.get_current_context();
            let cap = Isolate::of(scope).map_or(0, |isolate| isolate.inner.memory.limit_bytes() / 8);
            CodeGeneration::of(scope, context).strings && source.length() <= cap
        }
    };
    v8::ModifyCodeGenerationFromStringsResult { codegen_allowed: allowed, modified_source: None }
}

impl IsolateInner {
    /// Stops the running call's JavaScript, as a deadline does.
    pub(crate) fn interrupt(&self) {
        self.run.mark_interrupted();
        self.terminator.terminate_execution();
    }

    /// Withdraws a termination requested by [`interrupt`](Self::interrupt)
    /// that found no JavaScript running.
    pub(crate) fn clear_termination(&self) {
        self.terminator.cancel_terminate_execution();
    }
}

/// The V8 isolate's way back to its owner, for code that V8 calls with
/// nothing but a scope (promise handlers).
#[derive(Clone)]
struct Backlink(Arc<OnceLock<Weak<IsolateInner>>>);

/// Tags the V8 isolate with its owner so that handles can check that a
/// scope they are given belongs to their isolate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct IsolateTag(u64);

static NEXT_ISOLATE_TAG: AtomicU64 = AtomicU64::new(1);

impl fmt::Debug for Isolate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Isolate").field("id", &Arc::as_ptr(&self.inner)).field("disposed", &self.is_disposed()).finish()
    }
}

impl PartialEq for Isolate {
    fn eq(&self, other: &Isolate) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Isolate {}

/// Lets calls made from a host callback enter the isolate that called it,
/// until dropped; and lifts the cap on allocations a copy out of the
/// isolate may have set (`ivm_marshal::BoundedAllocator`): the callback's
/// are the host's.
pub(crate) struct Reentry {
    outer: Option<(IsolateTag, v8::UnsafeRawIsolatePtr)>,
    _uncapped: ivm_marshal::AllocationCap,
}

impl Reentry {
    pub(crate) fn allow(scope: &v8::PinScope<'_, '_>) -> Reentry {
        let tag = scope.get_slot::<IsolateTag>().copied();
        // SAFETY: the pointer is only turned back into an isolate handle by
        // `with_locker_now`, on this thread, while this guard lives, which is
        // inside the callback and so inside the isolate's locked call.
        let entry = tag.map(|tag| (tag, unsafe { scope.as_raw_isolate_ptr() }));
        Reentry { outer: REENTRY.replace(entry), _uncapped: ivm_marshal::AllocationCap::lifted() }
    }
}

impl Drop for Reentry {
    fn drop(&mut self) {
        REENTRY.set(self.outer.take());
    }
}

/// Records, for the lifetime of a lock, which isolate this thread holds,
/// and whose budget ICU's allocations are charged to.
struct LockedHere;

impl LockedHere {
    fn mark(tag: IsolateTag, budget: &MemoryBudget) -> LockedHere {
        LOCKED_HERE.set(Some((tag, budget)));
        LockedHere
    }
}

impl Drop for LockedHere {
    fn drop(&mut self) {
        LOCKED_HERE.set(None);
    }
}

/// Where a disposed isolate's heap is unmapped (see `teardown`).
#[derive(Clone, Copy)]
enum Teardown {
    /// On the teardown thread, so that the disposing thread goes on.
    Elsewhere,
    Here,
}

impl Isolate {
    /// Creates an isolate with its own heap and the given limits.
    pub fn new(options: IsolateOptions) -> Result<Isolate> {
        platform::initialize();
        crate::numeric::check_memory_limit(options.memory_limit_mb)?;
        let snapshot = options.snapshot.as_deref().map(crate::snapshot::open).transpose()?;
        let limit_bytes = options
            .memory_limit_mb
            .checked_mul(1 << 20)
            .ok_or_else(|| Error::InvalidArgument("memory_limit is too large".into()))?;
        let memory = MemoryBudget::new(limit_bytes);
        crate::growth::register(&memory);
        let mut params =
            v8::Isolate::create_params().heap_limits(0, limit_bytes).array_buffer_allocator(memory::allocator(&memory));
        if let Some(snapshot) = snapshot {
            params = params.snapshot_blob(snapshot);
        }
        let mut isolate = v8::Isolate::new(params);
        isolate.add_near_heap_limit_callback(memory::near_heap_limit, Arc::as_ptr(&memory).cast_mut().cast::<c_void>());
        isolate.add_gc_prologue_callback(
            memory::judge_external_memory,
            Arc::as_ptr(&memory).cast_mut().cast::<c_void>(),
            // Growth outside the heap starts major collections; minor ones,
            // the frequent kind, are not worth the statistics' walk.
            v8::GCType::kGCTypeMarkSweepCompact | v8::GCType::kGCTypeIncrementalMarking,
        );
        isolate.set_oom_error_handler(fatal::on_fatal_oom);
        isolate.set_host_import_module_dynamically_callback(crate::module::import_dynamically);
        isolate.set_host_initialize_import_meta_object_callback(crate::module::initialize_meta);
        isolate.set_allow_wasm_code_generation_callback(allow_wasm_code_generation);
        isolate.set_modify_code_generation_from_strings_callback(code_generation_from_strings);
        crate::rejections::watch(&mut isolate);
        let inspector = options.inspector.then(|| crate::inspector::attach(&mut isolate));
        let terminator = isolate.thread_safe_handle();
        let residence = Residence::new(&isolate);
        memory.attach(terminator.clone());
        let tag = IsolateTag(NEXT_ISOLATE_TAG.fetch_add(1, Ordering::Relaxed));
        isolate.set_slot(tag);
        let backlink = Backlink(Arc::new(OnceLock::new()));
        isolate.set_slot(backlink.clone());
        // SAFETY: everything attached to the isolate is `Send`: its slots
        // hold a plain integer and a `Weak` to the `IsolateInner` (which is
        // `Send + Sync`), the allocator and near-heap-limit data are a
        // `MemoryBudget` of atomics, and the OOM handler and module
        // callbacks are plain functions; the inspector's slot is used only
        // under the isolate's lock (see `inspector::AgentSlot`).
        // `memory` (the callback's data) is kept alive by the `IsolateInner`
        // that owns the isolate.
        let shared = unsafe { isolate.try_into_shared() }.map_err(|e| {
            let message = e.to_string();
            drop(e.into_isolate());
            Error::InvalidArgument(message)
        })?;
        let strand = options.executor.as_ref().unwrap_or_else(|| Executor::global()).strand();
        let inner = Arc::new(IsolateInner {
            v8: RwLock::new(Some(shared)),
            terminator,
            memory,
            tag,
            disposed: AtomicBool::new(false),
            live_handles: AtomicUsize::new(0),
            compile_context: Mutex::new(None),
            catastrophe: Catastrophe::new(options.on_catastrophic_error, strand.clone()),
            strand,
            run: RunState::new(),
            rejections: Default::default(),
            host_exit: crate::host_exit::Watch::default(),
            host: HostLinks {
                callbacks: Mutex::new(Vec::new()),
                pending_calls: AtomicUsize::new(0),
                followers: Mutex::new(HashMap::new()),
                remotes: Arc::default(),
                remote_dispatch: OnceLock::new(),
            },
            modules: Mutex::new(HashMap::new()),
            inspector,
            profiler: crate::profiler::Profiler::default(),
            family: crate::family::Family::default(),
            residence,
        });
        let _ = backlink.0.set(Arc::downgrade(&inner));
        Ok(Isolate { inner })
    }

    /// Disposes the isolate now: a running call is terminated and returns
    /// [`Error::DisposedDuringExecution`], and every later operation on it or
    /// on its contexts, scripts and references returns [`Error::Disposed`].
    pub fn dispose(&self) -> Result<()> {
        self.dispose_with(Teardown::Elsewhere)
    }

    /// [`dispose`](Isolate::dispose) with the heap torn down on this thread,
    /// for a thread that exists to do such work off the host's way (an
    /// `IsolatePool`'s): handing it to yet another thread would only have
    /// the two compete for the cores with the host.
    pub(crate) fn dispose_here(&self) -> Result<()> {
        self.dispose_with(Teardown::Here)
    }

    fn dispose_with(&self, teardown: Teardown) -> Result<()> {
        if self.inner.disposed.swap(true, Ordering::SeqCst) || self.inner.catastrophe.happened() {
            return Err(Error::Disposed);
        }
        self.inner.terminator.terminate_execution();
        if self.locked_here() {
            // Disposing from inside this isolate's own call (`Context::enter`):
            // the lock is ours, so the call tears the isolate down as it ends.
            return Ok(());
        }
        // A call running now on another thread tears the isolate down as it
        // ends (`with_locker_now`). Waiting for it here could wait forever:
        // that call may be waiting on this very thread (a callback posted to
        // the host's event loop that disposes), or on an isolate whose call
        // disposes this one meanwhile.
        let Some(mut slot) = self.slot_unless_called() else { return Ok(()) };
        let shared = slot.take();
        drop(slot);
        self.tear_down(shared, teardown);
        Ok(())
    }

    /// Frees this thread's V8 state in the isolate if the thread is
    /// resident there (`resident.rs`), for an isolate handed on to be torn
    /// down on another thread (a pooled one handed back). A call in progress
    /// holds the isolate's slot for reading; then the thread stays.
    pub(crate) fn leave_residence(&self) {
        if !self.inner.residence.here() || self.inner.catastrophe.happened() {
            return;
        }
        // Held while the thread leaves.
        if let Some(slot) = self.slot_unless_called()
            && slot.is_some()
        {
            self.inner.residence.leave();
        }
    }

    /// The isolate's slot, held for writing, unless a call holds it (for
    /// reading) now: no call of the isolate runs while it is held.
    fn slot_unless_called(&self) -> Option<std::sync::RwLockWriteGuard<'_, Option<v8::SharedIsolate>>> {
        match self.inner.v8.try_write() {
            Ok(slot) => Some(slot),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Whether the isolate was disposed, hit its memory limit, or was lost to
    /// a catastrophic error.
    pub fn is_disposed(&self) -> bool {
        self.inner.disposed.load(Ordering::SeqCst) || self.inner.catastrophe.happened()
    }

    /// Total CPU time spent running this isolate's calls.
    ///
    /// Long calls are measured with the thread's CPU clock. Reading it costs
    /// more than a short call does, so while an isolate's calls take under
    /// a millisecond they are counted at their wall-clock time, less any
    /// time spent waiting on blocking host callbacks; a call that short runs
    /// on the CPU for all of it but the scheduler's interruptions. After a
    /// long call the clock is read again, until calls turn short. Calls with
    /// a `cpu_limit` always read it.
    pub fn cpu_time(&self) -> Duration {
        self.inner.run.cpu_time()
    }

    /// Total wall-clock time spent in this isolate's calls.
    pub fn wall_time(&self) -> Duration {
        self.inner.run.wall_time()
    }

    /// How many contexts, scripts and references to this isolate are alive.
    pub fn reference_count(&self) -> usize {
        self.inner.live_handles.load(Ordering::SeqCst)
    }

    /// V8's heap statistics, plus the off-heap memory charged to the limit.
    pub fn heap_statistics(&self) -> Result<HeapStatistics> {
        self.with_locker(|isolate| {
            let s = isolate.get_heap_statistics();
            Ok(HeapStatistics {
                total_heap_size: s.total_heap_size(),
                total_heap_size_executable: s.total_heap_size_executable(),
                total_physical_size: s.total_physical_size(),
                total_available_size: s.total_available_size(),
                used_heap_size: s.used_heap_size(),
                heap_size_limit: s.heap_size_limit(),
                malloced_memory: s.malloced_memory(),
                peak_malloced_memory: s.peak_malloced_memory(),
                does_zap_garbage: s.does_zap_garbage(),
                number_of_native_contexts: s.number_of_native_contexts(),
                number_of_detached_contexts: s.number_of_detached_contexts(),
                total_global_handles_size: s.total_global_handles_size(),
                used_global_handles_size: s.used_global_handles_size(),
                external_memory: s.external_memory(),
                externally_allocated_size: self.inner.memory.external_bytes(),
            })
        })
    }

    /// Creates a new context (a global object and its built-ins).
    pub fn create_context(&self) -> Result<Context> {
        self.create_context_with(&ContextOptions::new())
    }

    /// A new context with node:vm's controls: whether code may be generated
    /// from strings (`eval`, `new Function`) or compiled from WebAssembly,
    /// and globals copied in from a plain object.
    pub fn create_context_with(&self, options: &ContextOptions) -> Result<Context> {
        self.with_locker(|isolate| {
            v8::scope!(let scope, isolate);
            let context = v8::Context::new(scope, Default::default());
            let global = context.global(scope);
            if options.inspector {
                let name = options
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("ivm context {}", NEXT_CONTEXT_NAME.fetch_add(1, Ordering::Relaxed)));
                crate::inspector::context_created(scope, context, &name, options.origin.as_deref(), true);
            }
            context.set_allow_generation_from_strings(false);
            let scope = &mut v8::ContextScope::new(scope, context);
            v8::tc_scope!(let scope, scope);
            let allowed =
                CodeGeneration { strings: options.code_generation_from_strings, wasm: options.wasm_code_generation };
            allowed.store(scope, context).ok_or_else(|| caught(scope))?;
            if let Some(globals) = &options.globals {
                let globals =
                    ivm_marshal::to_v8(scope, globals).map_err(|e| crate::transfer::marshal_error(scope, e))?;
                let globals = v8::Local::<v8::Object>::try_from(globals)
                    .map_err(|_| Error::InvalidArgument("globals must be a plain object".into()))?;
                let keys = globals.get_own_property_names(scope, Default::default()).ok_or_else(|| caught(scope))?;
                for index in 0..keys.length() {
                    let key = keys.get_index(scope, index).ok_or_else(|| caught(scope))?;
                    let value = globals.get(scope, key).ok_or_else(|| caught(scope))?;
                    let name = v8::Local::<v8::Name>::try_from(key).map_err(|_| caught(scope))?;
                    global.create_data_property(scope, name, value).ok_or_else(|| caught(scope))?;
                }
            }
            let global_object: v8::Local<'_, v8::Value> = global.into();
            let global_object = v8::Global::new(scope, global_object);
            Ok((v8::Global::new(scope, context), global_object))
        })
        .map(|(context, global_object)| Context::from_global(self.clone(), context, global_object))
    }

    /// Locks the isolate on this thread and hands `f` the entered isolate.
    ///
    /// The isolate's state is checked under the lock, so a call that waited
    /// for the lock while the isolate was disposed sees that it was.
    pub(crate) fn with_locker<R>(&self, f: impl FnOnce(&mut v8::Isolate) -> Result<R>) -> Result<R> {
        // A disposed isolate fails at once, without waiting for its turn.
        if self.is_disposed() {
            return Err(Error::Disposed);
        }
        // This thread works for a call of this isolate that waits for it:
        // waiting for that call's turn would never end.
        if self.served_here() {
            return Err(Error::NestedCall);
        }
        // Synchronous calls wait for the async and fire-and-forget calls
        // queued before them; from a task of this isolate they run at once.
        self.inner.strand.enter(|| self.with_locker_now(f)).map_err(|_| Error::NestedCall)?
    }

    fn with_locker_now<R>(&self, f: impl FnOnce(&mut v8::Isolate) -> Result<R>) -> Result<R> {
        if self.is_disposed() {
            return Err(Error::Disposed);
        }
        if let Some((locked, _)) = LOCKED_HERE.get() {
            return match REENTRY.get() {
                // A host callback calling back into the isolate that called
                // it: the isolate is locked and entered on this thread.
                Some((tag, pointer)) if tag == self.inner.tag && locked == tag => {
                    // SAFETY: `pointer` is this isolate's, recorded by the
                    // callback running on this thread inside the locked call
                    // (see `Reentry::allow`); V8 allows nested handle scopes
                    // and calls, which end before the callback returns.
                    let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(pointer) };
                    f(&mut isolate)
                }
                // V8 (and the v8 crate's Locker) cannot take a second
                // isolate's lock on a thread that holds one.
                _ => Err(Error::NestedCall),
            };
        }
        let mut teardown = Teardown::Elsewhere;
        let outcome = {
            let guard = self.inner.v8.read().unwrap_or_else(PoisonError::into_inner);
            let shared = guard.as_ref().ok_or(Error::Disposed)?;
            let resident = self.inner.residence.enter();
            let mut locker = shared.lock();
            let _held = LockedHere::mark(self.inner.tag, &self.inner.memory);
            if self.is_disposed() {
                return Err(Error::Disposed);
            }
            if resident && self.inner.run.was_interrupted() {
                // An outermost Locker starts with a fresh state, where a
                // termination that came after the last call ended (a late
                // deadline, say) is gone; the resident thread's state is the
                // one that call left, and every termination asked for
                // marks the run interrupted first (`IsolateInner::interrupt`).
                locker.cancel_terminate_execution();
            }
            let entered = fatal::escapable(&self.inner.catastrophe, || {
                crate::profiler::profiled(&mut locker, &self.inner.profiler, f)
            });
            match entered {
                // A fatal V8 error escaped from the entry (`fatal.rs`), or a
                // run stuck past its deadline was made to leave it
                // (`stuck.rs`), which ends as the timeout it is: the
                // isolate's V8 state is that of the skipped frames, so
                // nothing may run in it again. It is torn down on this
                // thread: a recursive lock of V8's that a skipped frame held
                // is held by this thread, which can take it again, where
                // any other thread would wait for it forever.
                None => {
                    self.inner.disposed.store(true, Ordering::SeqCst);
                    self.inner.residence.forget();
                    teardown = Teardown::Here;
                    if crate::this_thread::ESCAPED_STUCK.replace(false) {
                        Err(Error::Timeout)
                    } else {
                        Err(Error::MemoryLimit)
                    }
                }
                Some(result) => {
                    // Every entry is judged against the memory limit, not
                    // only runs of JavaScript: making a context, compiling or
                    // copying a value in allocates on the heap too. A
                    // collection asked for near the limit that no interrupt
                    // check reached runs first.
                    memory::collect_if_pending(&mut locker, &self.inner.memory);
                    if self.inner.memory.limit_hit() {
                        // Marked under the lock, so that calls queued behind
                        // this one see a disposed isolate rather than run on
                        // a heap that is over its limit.
                        self.inner.disposed.store(true, Ordering::SeqCst);
                        Err(Error::MemoryLimit)
                    } else {
                        result
                    }
                }
            }
        };
        // Disposed during the call, by another thread that could not wait
        // for it (see `dispose_with`), over its limit, or lost: the isolate
        // is torn down now that the call has let go of it.
        if self.inner.disposed.load(Ordering::SeqCst) {
            let escaped = matches!(teardown, Teardown::Here);
            self.drop_v8(teardown);
            if escaped {
                // The skipped frames were below this one on this thread's
                // stack; the zones they held are gone with them.
                let here = std::ptr::addr_of!(outcome) as usize;
                crate::guard::free_escaped_zone_segments(crate::this_thread::stack_bottom()..here);
            }
        }
        outcome
    }

    /// The context scripts are compiled in before they are bound to one,
    /// created on first use so that isolates that never compile pay nothing.
    pub(crate) fn compile_context(&self) -> Result<Arc<v8::Global<v8::Context>>> {
        let slot = || self.inner.compile_context.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(context) = slot().as_ref() {
            return Ok(Arc::clone(context));
        }
        let created = self.with_locker(|isolate| {
            v8::scope!(let scope, isolate);
            let context = v8::Context::new(scope, Default::default());
            // The inspector reports (and sets breakpoints in) the scripts of
            // the contexts it knows, and scripts are compiled here.
            crate::inspector::context_created(scope, context, "ivm compilation", None, false);
            Ok(Arc::new(v8::Global::new(scope, context)))
        })?;
        Ok(Arc::clone(slot().get_or_insert(created)))
    }

    /// Whether this thread holds this isolate's lock.
    pub(crate) fn locked_here(&self) -> bool {
        LOCKED_HERE.get().is_some_and(|(tag, _)| tag == self.inner.tag)
    }

    /// Whether this thread holds another isolate's lock, so that a
    /// synchronous call into this one cannot run on it.
    pub(crate) fn locked_by_another_here(&self) -> bool {
        LOCKED_HERE.get().is_some_and(|(tag, _)| tag != self.inner.tag)
    }

    /// Whether the running call must stop: its deadline passed, the isolate
    /// was disposed or went over its memory limit. For host code a call
    /// waits on, which V8's termination cannot reach; the call's JavaScript
    /// is terminated too, so that the wait that ends for it does not return
    /// into code that goes on (a deadline asks first where the code is, and
    /// terminates only once it answers, see `run::arm_timeout`).
    pub(crate) fn must_stop(&self) -> bool {
        let stop = self.inner.run.was_interrupted() || self.is_disposed() || self.inner.memory.limit_hit();
        if stop {
            self.inner.terminator.terminate_execution();
        }
        stop
    }

    /// The CPU budget of the call running now, if it has one.
    pub(crate) fn current_cpu_budget(&self) -> Option<Arc<CpuBudget>> {
        self.inner.run.current_cpu_budget()
    }

    /// The ivm isolate a V8 isolate (or a scope of one) belongs to, if it
    /// is one of ivm's and still alive.
    pub(crate) fn of(isolate: &v8::Isolate) -> Option<Isolate> {
        let backlink = isolate.get_slot::<Backlink>()?;
        backlink.0.get()?.upgrade().map(|inner| Isolate { inner })
    }

    /// Whether `isolate` (as seen from inside a scope) is this isolate.
    pub(crate) fn owns(&self, isolate: &v8::Isolate) -> bool {
        isolate.get_slot::<IsolateTag>() == Some(&self.inner.tag)
    }

    pub(crate) fn handle_opened(&self) {
        self.inner.live_handles.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn handle_closed(&self) {
        self.inner.live_handles.fetch_sub(1, Ordering::SeqCst);
    }

    /// Tears the V8 isolate down once no call is running on it.
    fn drop_v8(&self, teardown: Teardown) {
        let shared = self.inner.v8.write().unwrap_or_else(PoisonError::into_inner).take();
        self.tear_down(shared, teardown);
    }

    /// Tears down `shared`, the V8 isolate taken out of its slot (if it was
    /// still there), and what hangs on it.
    fn tear_down(&self, shared: Option<v8::SharedIsolate>, teardown: Teardown) {
        // Taken out of its slot, the isolate has no call in progress and
        // can get none.
        if shared.is_some() && !self.inner.catastrophe.happened() {
            self.inner.residence.leave();
        }
        follow::abandon(&self.inner.host.followers);
        // A call lost to a fatal error never settled: its clocks and the
        // host's exit checks stop here (for any other call, they already
        // did).
        self.inner.run.abandon();
        self.inner.memory.run_ended();
        self.inner.host_exit.run_ended();
        // The compile context's handle must not outlive the isolate's lock
        // discipline; drop it before the isolate itself.
        self.inner.compile_context.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.inner.rejections.forget();
        self.inner.family.disband();
        match (shared, teardown) {
            (Some(shared), Teardown::Elsewhere) => {
                // What V8 may still reach while it tears the isolate down
                // (the allocator's budget, the host functions' entries) lives
                // in `IsolateInner`, kept until the teardown ends; a tuple
                // drops its fields in order.
                crate::teardown::hand_over(Box::new((shared, Arc::clone(&self.inner))));
            }
            (shared, _) => drop(shared),
        }
    }
}

impl Drop for IsolateInner {
    fn drop(&mut self) {
        self.family.disband();
        if self.catastrophe.happened() {
            // A parked thread holds this isolate's V8 lock forever; tearing
            // it down would wait for that lock forever too. Leak it.
            let lost = self.v8.get_mut().unwrap_or_else(PoisonError::into_inner).take();
            std::mem::forget(lost);
            std::mem::forget(self.compile_context.get_mut().unwrap_or_else(PoisonError::into_inner).take());
        } else if self.v8.get_mut().unwrap_or_else(PoisonError::into_inner).is_some() {
            // Never disposed: the isolate is torn down with this, and its
            // last handle is gone, so no call of it is in progress.
            self.residence.leave();
        }
    }
}

/// Numbers inspected contexts made without a name, as node:vm's
/// "VM Context 1", "VM Context 2", ….
static NEXT_CONTEXT_NAME: AtomicU64 = AtomicU64::new(1);
