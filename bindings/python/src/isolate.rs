//! `Isolate`, `Context` and `Script`: ivm-core's handles with Python names,
//! keyword options, context managers and the three forms of each call
//! (`eval`, `eval_async`, `eval_ignored`).

use ivm_core::{HeapStatistics, IsolateOptions, ThreadCpuProfile, numeric};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use crate::aio::{detached, future};
use crate::convert::{from_transferable, to_transferables};
use crate::errors::OrRaise;
use crate::inspector::{InspectorServer, InspectorSession};
use crate::module::Module;
use crate::options::{self, COMPILE, EVAL, EVAL_CLOSURE, RUN, number};
use crate::reference::Reference;

/// An isolate: a V8 heap of its own, shared with nothing else, with its own
/// memory limit. ``with Isolate(memory_limit=64) as isolate:`` disposes it
/// on leaving the block.
#[pyclass(module = "ivm", frozen)]
pub(crate) struct Isolate {
    inner: ivm_core::Isolate,
}

impl From<ivm_core::Isolate> for Isolate {
    fn from(inner: ivm_core::Isolate) -> Isolate {
        Isolate { inner }
    }
}

#[pymethods]
impl Isolate {
    #[new]
    #[pyo3(signature = (*, memory_limit = None, snapshot = None, on_catastrophic_error = None, inspector = false))]
    fn new(
        py: Python<'_>,
        memory_limit: Option<&Bound<'_, PyAny>>,
        snapshot: Option<Vec<u8>>,
        on_catastrophic_error: Option<Py<PyAny>>,
        inspector: bool,
    ) -> PyResult<Isolate> {
        let options = isolate_options(memory_limit, snapshot, on_catastrophic_error)?.inspector(inspector);
        Ok(Isolate { inner: detached(py, || ivm_core::Isolate::new(options))? })
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: &Bound<'_, PyAny>,
        _error: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if !self.inner.is_disposed() {
            detached(py, || self.inner.dispose())?;
        }
        Ok(())
    }

    /// A new context (a global object and its built-ins) in this isolate.
    /// node:vm's controls: ``code_generation_from_strings=False`` makes
    /// ``eval`` and ``new Function`` throw an ``EvalError``,
    /// ``wasm_code_generation=False`` refuses WebAssembly, and `globals` (a
    /// dict) is copied in as global variables. ``inspector=True`` shows the
    /// context to the isolate's inspector, under `name`, with `origin` (a
    /// URL, for display).
    #[pyo3(signature = (**options), text_signature = "($self, *, code_generation_from_strings=True, wasm_code_generation=True, globals=None, inspector=False, name=None, origin=None)")]
    fn create_context(&self, py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Context> {
        let options = options::context("create_context", options)?;
        Ok(Context { inner: detached(py, || self.inner.create_context_with(&options))? })
    }

    /// `create_context`, awaitable.
    #[pyo3(signature = (**options), text_signature = "($self, *, code_generation_from_strings=True, wasm_code_generation=True, globals=None, inspector=False, name=None, origin=None)")]
    fn create_context_async<'py>(
        &self,
        py: Python<'py>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::context("create_context_async", options)?;
        future(py, self.inner.create_context_with_async(options), |py, context| {
            Ok(Bound::new(py, Context { inner: context })?.into_any())
        })
    }

    /// Compiles `code` for running in any context of this isolate.
    #[pyo3(signature = (code, **options), text_signature = "($self, code, *, filename='<ivm>', line_offset=0, column_offset=0, cached_data=None, produce_cached_data=False)")]
    fn compile_script(&self, py: Python<'_>, code: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<Script> {
        let options = options::parse("compile_script", COMPILE, options)?.compile;
        Ok(Script { inner: detached(py, || self.inner.compile_script(code, &options))? })
    }

    /// `compile_script`, awaitable.
    #[pyo3(signature = (code, **options), text_signature = "($self, code, *, filename='<ivm>', line_offset=0, column_offset=0, cached_data=None, produce_cached_data=False)")]
    fn compile_script_async<'py>(
        &self,
        py: Python<'py>,
        code: String,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::parse("compile_script_async", COMPILE, options)?.compile;
        future(py, self.inner.compile_script_async(code, options), |py, script| {
            Ok(Bound::new(py, Script { inner: script })?.into_any())
        })
    }

    /// Compiles `code` as an ES module.
    #[pyo3(signature = (code, **options), text_signature = "($self, code, *, filename='<ivm>', line_offset=0, column_offset=0, cached_data=None, produce_cached_data=False)")]
    fn compile_module(&self, py: Python<'_>, code: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<Module> {
        let options = options::parse("compile_module", COMPILE, options)?.compile;
        Ok(Module::from(detached(py, || self.inner.compile_module(code, &options))?))
    }

    /// `compile_module`, awaitable.
    #[pyo3(signature = (code, **options), text_signature = "($self, code, *, filename='<ivm>', line_offset=0, column_offset=0, cached_data=None, produce_cached_data=False)")]
    fn compile_module_async<'py>(
        &self,
        py: Python<'py>,
        code: String,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::parse("compile_module_async", COMPILE, options)?.compile;
        future(py, self.inner.compile_module_async(code, options), |py, module| {
            Ok(Bound::new(py, Module::from(module))?.into_any())
        })
    }

    /// Opens a DevTools protocol session with the isolate's inspector (the
    /// isolate needs ``inspector=True``): `on_message` is called with each
    /// response and event, a JSON string, on the isolate's thread.
    fn create_inspector_session(&self, py: Python<'_>, on_message: Py<PyAny>) -> PyResult<InspectorSession> {
        InspectorSession::open(py, &self.inner, on_message)
    }

    /// Serves the isolate's inspector to DevTools over a WebSocket on
    /// ``127.0.0.1:port`` (0 takes a free port; see the server's ``port``).
    #[pyo3(signature = (port = None), text_signature = "($self, port=0)")]
    fn start_inspector_server(&self, py: Python<'_>, port: Option<&Bound<'_, PyAny>>) -> PyResult<InspectorServer> {
        let port = match port {
            Some(port) => numeric::port("port", number("port", port)?).map_err(options::out_of_range)?,
            None => 0,
        };
        InspectorServer::start(py, &self.inner, port)
    }

    /// Disposes the isolate: a running call is stopped, and every later use
    /// of it (or of its contexts, scripts and references) raises
    /// `DisposedError`.
    fn dispose(&self, py: Python<'_>) -> PyResult<()> {
        detached(py, || self.inner.dispose())
    }

    /// Whether the isolate has been disposed (by `dispose`, or by hitting its
    /// memory limit).
    #[getter]
    fn is_disposed(&self) -> bool {
        self.inner.is_disposed()
    }

    /// CPU time the isolate has spent running JavaScript, in seconds.
    #[getter]
    fn cpu_time(&self) -> f64 {
        self.inner.cpu_time().as_secs_f64()
    }

    /// Wall-clock time the isolate has spent running JavaScript, in seconds.
    #[getter]
    fn wall_time(&self) -> f64 {
        self.inner.wall_time().as_secs_f64()
    }

    /// How many references into this isolate are alive.
    #[getter]
    fn reference_count(&self) -> usize {
        self.inner.reference_count()
    }

    /// V8's heap statistics for this isolate, as a dict.
    fn heap_statistics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let statistics = detached(py, || self.inner.heap_statistics())?;
        heap_statistics_dict(py, &statistics)
    }

    /// `heap_statistics`, awaitable.
    fn heap_statistics_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        future(py, self.inner.heap_statistics_async(), |py, statistics| {
            Ok(heap_statistics_dict(py, &statistics)?.into_any())
        })
    }

    /// Starts profiling the isolate's CPU use under `title`: each time the
    /// isolate runs, until ``stop_cpu_profiler(title)``.
    fn start_cpu_profiler(&self, py: Python<'_>, title: &str) -> PyResult<()> {
        self.inner.start_cpu_profiler(title).or_raise(py)
    }

    /// Stops profiling `title`: a list of ``{"threadId", "profile"}``
    /// dicts, one per time the isolate ran meanwhile, each profile in the
    /// DevTools protocol's format (as isolated-vm gives it).
    fn stop_cpu_profiler<'py>(&self, py: Python<'py>, title: &str) -> PyResult<Bound<'py, PyAny>> {
        let profiles = detached(py, || self.inner.stop_cpu_profiler(title))?;
        profiles_list(py, &profiles)
    }

    /// `stop_cpu_profiler`, awaitable.
    fn stop_cpu_profiler_async<'py>(&self, py: Python<'py>, title: String) -> PyResult<Bound<'py, PyAny>> {
        future(py, self.inner.stop_cpu_profiler_async(title), |py, profiles| profiles_list(py, &profiles))
    }

    fn __repr__(&self) -> String {
        let state = if self.inner.is_disposed() { " disposed" } else { "" };
        format!("<ivm.Isolate{state}>")
    }
}

/// The options `Isolate(…)` takes (and `IsolatePool(…)`, for its isolates).
pub(crate) fn isolate_options(
    memory_limit: Option<&Bound<'_, PyAny>>,
    snapshot: Option<Vec<u8>>,
    on_catastrophic_error: Option<Py<PyAny>>,
) -> PyResult<IsolateOptions> {
    let mut options = IsolateOptions::new();
    if let Some(megabytes) = options::memory_limit(memory_limit)? {
        options = options.memory_limit(megabytes);
    }
    if let Some(snapshot) = snapshot {
        options = options.snapshot(snapshot);
    }
    if let Some(handler) = on_catastrophic_error {
        options = options.on_catastrophic_error(move |message| {
            crate::interpreter::attach(|py| {
                if let Err(error) = handler.call1(py, (message,)) {
                    error.write_unraisable(py, None);
                }
            });
        });
    }
    Ok(options)
}

/// CPU profiles as Python lists and dicts, by way of their JSON.
fn profiles_list<'py>(py: Python<'py>, profiles: &[ThreadCpuProfile]) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (ThreadCpuProfile::json(profiles),))
}

fn heap_statistics_dict<'py>(py: Python<'py>, statistics: &HeapStatistics) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, size) in statistics.sizes() {
        dict.set_item(name, size)?;
    }
    dict.set_item("does_zap_garbage", statistics.does_zap_garbage)?;
    Ok(dict)
}

/// A context of an isolate: a global object with JavaScript's built-ins,
/// where code runs. ``with`` releases it on leaving the block.
#[pyclass(module = "ivm", frozen)]
pub(crate) struct Context {
    pub(crate) inner: ivm_core::Context,
}

#[pymethods]
impl Context {
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(&self, _kind: &Bound<'_, PyAny>, _error: &Bound<'_, PyAny>, _traceback: &Bound<'_, PyAny>) {
        self.inner.release();
    }

    /// A reference to the context's global object (``globalThis``); named
    /// with an underscore because ``global`` is a Python keyword.
    #[getter]
    fn global_(&self, py: Python<'_>) -> PyResult<Reference> {
        Ok(Reference::isolate(detached(py, || self.inner.global())?))
    }

    /// Compiles and runs `code`, returning its completion value.
    #[pyo3(signature = (code, **options), text_signature = "($self, code, *, filename='<ivm>', line_offset=0, column_offset=0, cached_data=None, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn eval<'py>(
        &self,
        py: Python<'py>,
        code: &str,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::parse("eval", EVAL, options)?;
        let result = detached(py, || self.inner.eval(code, &options))?;
        from_transferable(py, result)
    }

    /// `eval`, awaitable.
    #[pyo3(signature = (code, **options), text_signature = "($self, code, *, filename='<ivm>', line_offset=0, column_offset=0, cached_data=None, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn eval_async<'py>(
        &self,
        py: Python<'py>,
        code: String,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::parse("eval_async", EVAL, options)?;
        future(py, self.inner.eval_async(code, options), from_transferable)
    }

    /// `eval`, queued; its result and errors are dropped.
    #[pyo3(signature = (code, **options), text_signature = "($self, code, *, filename='<ivm>', line_offset=0, column_offset=0, cached_data=None, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn eval_ignored(&self, code: String, options: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let options = options::parse("eval_ignored", EVAL, options)?;
        self.inner.eval_ignored(code, options);
        Ok(())
    }

    /// Runs `code` as the body of a function whose arguments are `$0`,
    /// `$1`, …: `arguments`, copied in (handles and callables as
    /// themselves).
    #[pyo3(signature = (code, *arguments, **options), text_signature = "($self, code, *arguments, filename='<ivm>', line_offset=0, column_offset=0, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn eval_closure<'py>(
        &self,
        py: Python<'py>,
        code: &str,
        arguments: &Bound<'_, PyTuple>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::parse("eval_closure", EVAL_CLOSURE, options)?;
        let arguments = to_transferables(arguments.as_any())?;
        let result = detached(py, || self.inner.eval_closure(code, &arguments, &options))?;
        from_transferable(py, result)
    }

    /// `eval_closure`, awaitable.
    #[pyo3(signature = (code, *arguments, **options), text_signature = "($self, code, *arguments, filename='<ivm>', line_offset=0, column_offset=0, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn eval_closure_async<'py>(
        &self,
        py: Python<'py>,
        code: String,
        arguments: &Bound<'_, PyTuple>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::parse("eval_closure_async", EVAL_CLOSURE, options)?;
        let arguments = to_transferables(arguments.as_any())?;
        future(py, self.inner.eval_closure_async(code, arguments, options), from_transferable)
    }

    /// `eval_closure`, queued; its result and errors are dropped.
    #[pyo3(signature = (code, *arguments, **options), text_signature = "($self, code, *arguments, filename='<ivm>', line_offset=0, column_offset=0, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn eval_closure_ignored(
        &self,
        code: String,
        arguments: &Bound<'_, PyTuple>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let options = options::parse("eval_closure_ignored", EVAL_CLOSURE, options)?;
        self.inner.eval_closure_ignored(code, to_transferables(arguments.as_any())?, options);
        Ok(())
    }

    /// Releases the context; later uses raise `ReleasedError`.
    fn release(&self) {
        self.inner.release();
    }

    fn __repr__(&self) -> &'static str {
        "<ivm.Context>"
    }
}

/// A compiled script, runnable in any context of its isolate.
#[pyclass(module = "ivm", frozen)]
pub(crate) struct Script {
    inner: ivm_core::Script,
}

#[pymethods]
impl Script {
    /// Runs the script in `context`, returning its completion value.
    #[pyo3(signature = (context, **options), text_signature = "($self, context, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn run<'py>(
        &self,
        py: Python<'py>,
        context: &Bound<'_, Context>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("run", RUN, options)?;
        let context = &context.get().inner;
        let result = detached(py, || self.inner.run(context, &options))?;
        from_transferable(py, result)
    }

    /// `run`, awaitable.
    #[pyo3(signature = (context, **options), text_signature = "($self, context, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn run_async<'py>(
        &self,
        py: Python<'py>,
        context: &Bound<'_, Context>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = options::run("run_async", RUN, options)?;
        future(py, self.inner.run_async(&context.get().inner, options), from_transferable)
    }

    /// `run`, queued; its result and errors are dropped.
    #[pyo3(signature = (context, **options), text_signature = "($self, context, *, timeout=None, cpu_limit=None, promise=False, copy=False, reference=False, external_copy=False)")]
    fn run_ignored(&self, context: &Bound<'_, Context>, options: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let options = options::run("run_ignored", RUN, options)?;
        self.inner.run_ignored(&context.get().inner, options);
        Ok(())
    }

    /// V8's code cache of the script, when compiled with
    /// ``produce_cached_data=True``: pass it as ``cached_data`` to compile
    /// the same source faster.
    #[getter]
    fn cached_data<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.cached_data().map(|data| PyBytes::new(py, data))
    }

    /// Whether V8 rejected the ``cached_data`` the script was compiled with
    /// (``None`` when it was given none).
    #[getter]
    fn cached_data_rejected(&self) -> Option<bool> {
        self.inner.cached_data_rejected()
    }

    /// Releases the compiled code; later runs raise `ReleasedError`.
    fn release(&self) {
        self.inner.release();
    }

    fn __repr__(&self) -> &'static str {
        "<ivm.Script>"
    }
}
