//! Options shared by the operations that compile or run JavaScript.

use std::borrow::Cow;
use std::time::Duration;

/// How a value leaves the isolate (isolated-vm's TransferOptions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferMode {
    /// Primitives are copied; anything else comes back as a [`Reference`],
    /// a function as one that knows it left as a function
    /// ([`Reference::callable`]), for hosts that give such functions to
    /// their code as functions (isolated-vm 4 and later).
    ///
    /// [`Reference`]: crate::Reference
    /// [`Reference::callable`]: crate::Reference::callable
    #[default]
    Auto,
    /// The value is copied out, except that a function comes back as
    /// [`Auto`](Self::Auto) gives it (and a value the isolate holds from
    /// outside as itself): what a function that left its isolate returns
    /// when called ([`Reference::call`](crate::Reference::call)).
    CopyExceptFunctions,
    /// The value is copied out (structured clone); values that cannot be
    /// copied are a [`MarshalError::DataClone`] naming where they were.
    ///
    /// [`MarshalError::DataClone`]: crate::MarshalError::DataClone
    Copy,
    /// The value always comes back as a [`Reference`], even a primitive.
    ///
    /// [`Reference`]: crate::Reference
    Reference,
    /// The value is copied into an [`ExternalCopy`].
    ///
    /// [`ExternalCopy`]: crate::ExternalCopy
    ExternalCopy,
}

/// Where a script comes from, as shown in stack traces and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScriptOrigin {
    /// Borrowed when it is text of the program's ([`ScriptOrigin::named`]:
    /// the default, a front-end's default): most evals give no name, and
    /// then cost no allocation for one.
    pub filename: Cow<'static, str>,
    /// Added to every line number (0-based offset of the script's first line).
    pub line_offset: i32,
    /// Added to column numbers on the script's first line.
    pub column_offset: i32,
}

impl Default for ScriptOrigin {
    fn default() -> Self {
        ScriptOrigin::named("<ivm>")
    }
}

impl ScriptOrigin {
    pub fn new(filename: impl Into<String>) -> Self {
        ScriptOrigin { filename: Cow::Owned(filename.into()), line_offset: 0, column_offset: 0 }
    }

    /// An origin named by text of the program's, without an allocation.
    pub const fn named(filename: &'static str) -> Self {
        ScriptOrigin { filename: Cow::Borrowed(filename), line_offset: 0, column_offset: 0 }
    }

    pub fn line_offset(mut self, lines: i32) -> Self {
        self.line_offset = lines;
        self
    }

    pub fn column_offset(mut self, columns: i32) -> Self {
        self.column_offset = columns;
        self
    }
}

/// Options for calls that run JavaScript.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOptions {
    /// Wall-clock limit for the call, microtasks included, and for an async
    /// call with [`promise`](RunOptions::promise) the whole wait for its
    /// promise, time spent waiting on host callbacks included (use
    /// [`cpu_limit`](RunOptions::cpu_limit) to count only the isolate's
    /// own work). On expiry the script is terminated, the call returns
    /// [`Error::Timeout`] and the isolate stays usable.
    ///
    /// A zero timeout means none, as in isolated-vm (and in every
    /// front-end).
    ///
    /// [`Error::Timeout`]: crate::Error::Timeout
    pub timeout: Option<Duration>,
    /// CPU time the call may spend, microtasks and the settling of promises
    /// it awaits included (unlike the timeout, time spent waiting does not
    /// count). Checked every few milliseconds; once spent, the script is
    /// terminated, the call returns [`Error::CpuLimit`] and the isolate
    /// stays usable.
    ///
    /// [`Error::CpuLimit`]: crate::Error::CpuLimit
    pub cpu_limit: Option<Duration>,
    /// How the call's result leaves the isolate.
    pub result: TransferMode,
    /// If the result is a promise, wait for it to settle (running the
    /// isolate's microtasks) and transfer its value, or fail with its
    /// rejection. A promise that cannot settle without outside help is an
    /// error in a synchronous call; an async call waits for it (its result
    /// comes when a host callback it awaits settles, say).
    pub promise: bool,
    /// For [`Reference::get`]: read through getters, Proxies and the
    /// prototype chain, as JavaScript's `object[key]` does. Without it
    /// (isolated-vm's default) only the object's own data properties are
    /// read, so reading runs no code of the isolate's.
    ///
    /// [`Reference::get`]: crate::Reference::get
    pub accessors: bool,
    /// Stop the [`timeout`](RunOptions::timeout)'s clock while the call
    /// waits on a host function (a callback, or a host value's method), as
    /// isolated-vm does: the timeout then bounds the isolate's own running.
    /// Off by default, where a call waiting on a host function that never
    /// returns still ends at its timeout.
    pub pause_timeout_in_host: bool,
}

impl RunOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// The timeout that applies: none for a zero one.
    pub(crate) fn time_limit(&self) -> Option<Duration> {
        self.timeout.filter(|timeout| !timeout.is_zero())
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn result(mut self, mode: TransferMode) -> Self {
        self.result = mode;
        self
    }

    pub fn promise(mut self, follow: bool) -> Self {
        self.promise = follow;
        self
    }

    pub fn cpu_limit(mut self, limit: Duration) -> Self {
        self.cpu_limit = Some(limit);
        self
    }

    pub fn accessors(mut self, accessors: bool) -> Self {
        self.accessors = accessors;
        self
    }

    pub fn pause_timeout_in_host(mut self, pause: bool) -> Self {
        self.pause_timeout_in_host = pause;
        self
    }
}

/// Options for compiling a script or module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompileOptions {
    pub origin: ScriptOrigin,
    /// V8's code cache from an earlier compilation of the same source (see
    /// `cached_data` on [`Script`] and [`Module`]): compiling consumes it
    /// instead of parsing, unless V8 rejects it (another V8 version, other
    /// source), which the compiled script reports.
    ///
    /// [`Script`]: crate::Script
    /// [`Module`]: crate::Module
    pub cached_data: Option<std::sync::Arc<[u8]>>,
    /// Make a code cache of the compiled code, for later compilations.
    pub produce_cached_data: bool,
}

impl CompileOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn origin(mut self, origin: ScriptOrigin) -> Self {
        self.origin = origin;
        self
    }

    pub fn cached_data(mut self, cached_data: impl Into<std::sync::Arc<[u8]>>) -> Self {
        self.cached_data = Some(cached_data.into());
        self
    }

    pub fn produce_cached_data(mut self, produce: bool) -> Self {
        self.produce_cached_data = produce;
        self
    }
}

/// Options for making a context (node:vm's `createContext` options).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ContextOptions {
    /// Whether `eval` and `new Function` may compile strings; when not, they
    /// throw an `EvalError`.
    pub code_generation_from_strings: bool,
    /// Whether WebAssembly may be compiled; when not, it throws a
    /// `WebAssembly.CompileError`.
    pub wasm_code_generation: bool,
    /// A plain object whose own properties become globals of the context
    /// (node:vm's contextified object, as a copy).
    pub globals: Option<crate::Structured>,
    /// Whether the isolate's inspector shows the context (isolated-vm's
    /// `inspector` context option); the isolate needs an inspector.
    pub inspector: bool,
    /// The context's name in the inspector (node:vm's `name`).
    pub name: Option<String>,
    /// The context's origin in the inspector, a URL such as
    /// `https://example.com` (node:vm's `origin`, for display).
    pub origin: Option<String>,
}

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            code_generation_from_strings: true,
            wasm_code_generation: true,
            globals: None,
            inspector: false,
            name: None,
            origin: None,
        }
    }
}

impl ContextOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn code_generation_from_strings(mut self, allow: bool) -> Self {
        self.code_generation_from_strings = allow;
        self
    }

    pub fn wasm_code_generation(mut self, allow: bool) -> Self {
        self.wasm_code_generation = allow;
        self
    }

    pub fn globals(mut self, globals: crate::Structured) -> Self {
        self.globals = Some(globals);
        self
    }

    pub fn inspector(mut self, inspected: bool) -> Self {
        self.inspector = inspected;
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }
}

/// Options for `eval` and `eval_closure`: compiling and running at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvalOptions {
    pub compile: CompileOptions,
    pub run: RunOptions,
}

impl EvalOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn origin(mut self, origin: ScriptOrigin) -> Self {
        self.compile.origin = origin;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.run.timeout = Some(timeout);
        self
    }

    pub fn result(mut self, mode: TransferMode) -> Self {
        self.run.result = mode;
        self
    }

    pub fn promise(mut self, follow: bool) -> Self {
        self.run.promise = follow;
        self
    }

    pub fn cpu_limit(mut self, limit: Duration) -> Self {
        self.run.cpu_limit = Some(limit);
        self
    }

    pub fn pause_timeout_in_host(mut self, pause: bool) -> Self {
        self.run.pause_timeout_in_host = pause;
        self
    }

    /// A script's code cache for [`Context::eval`](crate::Context::eval)
    /// to compile with.
    pub fn cached_data(mut self, cached_data: impl Into<std::sync::Arc<[u8]>>) -> Self {
        self.compile.cached_data = Some(cached_data.into());
        self
    }
}
