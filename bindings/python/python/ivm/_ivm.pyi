"""Type stubs of ivm's compiled classes (``ivm._ivm``), re-exported by ``ivm``.

Options every method that runs JavaScript takes, as keywords:

- ``timeout``, ``cpu_limit``: seconds (an int or a float from 0 to
  2**53 − 1 milliseconds' worth), or ``None`` for no limit; on expiry the
  call raises ``ivm.TimeoutError`` / ``ivm.CpuLimitError`` and the isolate
  stays usable;
- ``copy``, ``reference``, ``external_copy``: how the result leaves the
  isolate (at most one); by default primitives are copied and anything else
  comes back as a :class:`Reference`;
- ``promise``: if the result is a promise, wait for it and give its value;
- ``filename``, ``line_offset``, ``column_offset`` (methods that take code):
  where the code comes from, as shown in stack traces (offsets are whole
  numbers that fit 32 bits).

Every numeric argument and option takes an int or a float (not a bool),
else raises ``TypeError``; a number out of its range (NaN, an infinity, a
negative timeout, a fraction where a whole number is due, 1e22) raises
``ivm.UsageError``, a ``ValueError``, naming the option. The ranges are
ivm-core's, the same in Rust, Node and Python.
- ``accessors`` (``Reference.get`` only): read through getters, Proxies and
  the prototype chain.
"""

from asyncio import Future
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, Final, NotRequired, Self, TypedDict, Unpack, final


__all__ = [
    "Callback",
    "Context",
    "CopyInto",
    "ExternalCopy",
    "InspectorServer",
    "InspectorSession",
    "Isolate",
    "IsolatePool",
    "Library",
    "Module",
    "PooledIsolate",
    "Reference",
    "Sandbox",
    "Script",
    "SharedArrayBuffer",
    "library",
    "total_external_size",
    "shutdown",
    "create_snapshot",
    "_snapshot_worker",
    "__version__",
]

__version__: Final[str]

class _RunOptions(TypedDict, total=False):
    timeout: float | None
    cpu_limit: float | None
    copy: bool
    reference: bool
    external_copy: bool
    promise: bool

class _GetOptions(_RunOptions, total=False):
    accessors: bool

class _OriginOptions(TypedDict, total=False):
    filename: str
    line_offset: int
    column_offset: int

class _CompileOptions(_OriginOptions, total=False):
    cached_data: bytes | None
    produce_cached_data: bool

class _EvalClosureOptions(_RunOptions, _OriginOptions, total=False): ...

class _EvalOptions(_EvalClosureOptions, total=False):
    cached_data: bytes | None

class _HeapStatistics(TypedDict):
    total_heap_size: int
    total_heap_size_executable: int
    total_physical_size: int
    total_available_size: int
    used_heap_size: int
    heap_size_limit: int
    malloced_memory: int
    peak_malloced_memory: int
    does_zap_garbage: bool
    number_of_native_contexts: int
    number_of_detached_contexts: int
    total_global_handles_size: int
    used_global_handles_size: int
    external_memory: int
    externally_allocated_size: int

class _CallFrame(TypedDict):
    functionName: str
    url: str
    scriptId: int
    lineNumber: int
    columnNumber: int

class _ProfileNode(TypedDict):
    id: int
    hitCount: int
    children: list[int]
    callFrame: _CallFrame
    bailoutReason: NotRequired[str]

class _CpuProfile(TypedDict):
    """A CPU profile in the DevTools protocol's format, as isolated-vm gives
    it: ``scriptId`` is a number and ``timeDeltas`` count from ``startTime``
    (microseconds)."""

    startTime: float
    endTime: float
    samples: list[int]
    timeDeltas: list[float]
    nodes: list[_ProfileNode]

class _ThreadCpuProfile(TypedDict):
    """The profile of one time the isolate ran, and the thread it ran on."""

    threadId: int
    profile: _CpuProfile

@final
class InspectorSession:
    """A DevTools protocol session with an isolate's inspector."""

    def dispatch(self, message: str) -> None:
        """Sends a protocol request (a JSON string)."""
    def close(self) -> None:
        """Ends the session, resuming JavaScript it paused."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

@final
class InspectorServer:
    """An isolate's inspector served over a WebSocket on 127.0.0.1."""

    @property
    def port(self) -> int: ...
    @property
    def websocket_url(self) -> str: ...
    @property
    def devtools_url(self) -> str: ...
    def close(self) -> None:
        """Stops the server and ends its sessions."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

@final
class Isolate:
    """A V8 isolate: a heap of its own with a memory limit (MiB) that
    JavaScript cannot break. ``with Isolate() as isolate:`` disposes it on
    leaving the block."""

    def __new__(
        cls,
        *,
        memory_limit: int | None = None,
        snapshot: bytes | None = None,
        on_catastrophic_error: Callable[[str], object] | None = None,
        inspector: bool = False,
    ) -> Self: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    def create_context(
        self,
        *,
        code_generation_from_strings: bool = True,
        wasm_code_generation: bool = True,
        globals: dict[str, Any] | None = None,
        inspector: bool = False,
        name: str | None = None,
        origin: str | None = None,
    ) -> Context:
        """A new context (a global object with JavaScript's built-ins)."""
    def create_context_async(
        self,
        *,
        code_generation_from_strings: bool = True,
        wasm_code_generation: bool = True,
        globals: dict[str, Any] | None = None,
        inspector: bool = False,
        name: str | None = None,
        origin: str | None = None,
    ) -> Future[Context]: ...
    def create_inspector_session(self, on_message: Callable[[str], object]) -> InspectorSession:
        """Opens a DevTools protocol session with the isolate's inspector
        (the isolate needs ``inspector=True``); ``on_message`` gets each
        response and event as a JSON string, on the isolate's thread."""
    def start_inspector_server(self, port: int = 0) -> InspectorServer:
        """Serves the isolate's inspector to DevTools over a WebSocket on
        ``127.0.0.1:port`` (0 takes a free port)."""
    def compile_module(self, code: str, **options: Unpack[_CompileOptions]) -> Module:
        """Compiles ``code`` as an ES module."""
    def compile_module_async(self, code: str, **options: Unpack[_CompileOptions]) -> Future[Module]: ...
    def compile_script(self, code: str, **options: Unpack[_CompileOptions]) -> Script:
        """Compiles ``code`` to run in any context of this isolate."""
    def compile_script_async(self, code: str, **options: Unpack[_CompileOptions]) -> Future[Script]: ...
    def dispose(self) -> None:
        """Disposes the isolate; a running call stops with ``DisposedError``."""
    @property
    def is_disposed(self) -> bool: ...
    @property
    def cpu_time(self) -> float:
        """CPU seconds spent running JavaScript."""
    @property
    def wall_time(self) -> float:
        """Wall-clock seconds spent running JavaScript."""
    @property
    def reference_count(self) -> int: ...
    def heap_statistics(self) -> _HeapStatistics: ...
    def heap_statistics_async(self) -> Future[_HeapStatistics]: ...
    def start_cpu_profiler(self, title: str) -> None: ...
    def stop_cpu_profiler(self, title: str) -> list[_ThreadCpuProfile]: ...
    def stop_cpu_profiler_async(self, title: str) -> Future[list[_ThreadCpuProfile]]: ...

@final
class IsolatePool:
    """``size`` isolates booted ahead of time (from ``snapshot``, typically);
    a checked-out isolate is disposed and replaced when handed back."""

    def __new__(
        cls,
        size: int,
        *,
        memory_limit: int | None = None,
        snapshot: bytes | None = None,
        on_catastrophic_error: Callable[[str], object] | None = None,
    ) -> Self: ...
    def checkout(self) -> PooledIsolate:
        """An isolate and its context for one request."""
    def checkout_async(self) -> Future[PooledIsolate]: ...
    @property
    def ready(self) -> int: ...
    @property
    def size(self) -> int: ...

@final
class PooledIsolate:
    """An isolate checked out of an IsolatePool; a context manager that
    hands it back on exit."""

    @property
    def isolate(self) -> Isolate: ...
    @property
    def context(self) -> Context: ...
    def release(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

@final
class Context:
    """Where code runs: a global object and JavaScript's built-ins."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    @property
    def global_(self) -> Reference:
        """The global object (``globalThis``)."""
    def eval(self, code: str, **options: Unpack[_EvalOptions]) -> Any:
        """Compiles and runs ``code``; returns its completion value."""
    def eval_async(self, code: str, **options: Unpack[_EvalOptions]) -> Future[Any]: ...
    def eval_ignored(self, code: str, **options: Unpack[_EvalOptions]) -> None: ...
    def eval_closure(self, code: str, *arguments: Any, **options: Unpack[_EvalClosureOptions]) -> Any:
        """Runs ``code`` as a function body whose arguments are ``$0``, ``$1``, …"""
    def eval_closure_async(self, code: str, *arguments: Any, **options: Unpack[_EvalClosureOptions]) -> Future[Any]: ...
    def eval_closure_ignored(self, code: str, *arguments: Any, **options: Unpack[_EvalClosureOptions]) -> None: ...
    def release(self) -> None: ...

@final
class Script:
    """Compiled code, runnable in any context of its isolate."""

    def run(self, context: Context, **options: Unpack[_RunOptions]) -> Any: ...
    def run_async(self, context: Context, **options: Unpack[_RunOptions]) -> Future[Any]: ...
    def run_ignored(self, context: Context, **options: Unpack[_RunOptions]) -> None: ...
    @property
    def cached_data(self) -> bytes | None:
        """V8's code cache, when compiled with ``produce_cached_data=True``."""
    @property
    def cached_data_rejected(self) -> bool | None: ...
    def release(self) -> None: ...

@final
class Module:
    """An ES module: instantiate it in a context with a resolver for its
    imports, then evaluate it."""

    @property
    def dependency_specifiers(self) -> list[str]: ...
    def instantiate(self, context: Context, resolver: Callable[[str, Module], Module]) -> None:
        """Links the module and its imports; ``resolver(specifier, referrer)``
        returns the Module a specifier names."""
    def instantiate_async(
        self, context: Context, resolver: Callable[[str, Module], Module | Coroutine[Any, Any, Module]]
    ) -> Future[None]: ...
    def evaluate(self, **options: Unpack[_RunOptions]) -> Any:
        """Runs the module, waiting for its top-level ``await``."""
    def evaluate_async(self, **options: Unpack[_RunOptions]) -> Future[Any]: ...
    @property
    def namespace(self) -> Reference:
        """The module's exports."""
    @property
    def cached_data(self) -> bytes | None: ...
    @property
    def cached_data_rejected(self) -> bool | None: ...
    def set_import_meta(self, meta: dict[str, Any]) -> None:
        """Properties for ``import.meta`` besides ``url`` (the filename)."""
    def release(self) -> None: ...

@final
class Reference:
    """A value that stays where it lives: in an isolate, or a Python object
    handed to JavaScript by reference (``Reference(obj)``).

    A Reference to a Python object lets JavaScript call it (if callable)
    and read and write its own data: a dict's items, a list's or tuple's
    elements, an instance's ``__dict__`` attributes. Names beginning with
    ``_`` are never reachable. ``unsafe_inherit=True`` also grants class and
    module attributes, ``accessors=True`` properties and descriptors (bound
    methods among them); everything reached through the Reference carries
    the same grant."""

    def __new__(cls, value: object, *, unsafe_inherit: bool = False, accessors: bool = False) -> Self: ...
    @property
    def typeof(self) -> str:
        """JavaScript's ``typeof`` of the value (``"null"`` for null)."""
    def deref(self) -> Any:
        """The Python object of a reference made in Python."""
    def copy(self) -> Any: ...
    def copy_async(self) -> Future[Any]: ...
    def get(self, key: str | int, **options: Unpack[_GetOptions]) -> Any: ...
    def get_async(self, key: str | int, **options: Unpack[_GetOptions]) -> Future[Any]: ...
    def set(self, key: str | int, value: object, **options: Unpack[_RunOptions]) -> bool: ...
    def set_async(self, key: str | int, value: object, **options: Unpack[_RunOptions]) -> Future[bool]: ...
    def set_ignored(self, key: str | int, value: object, **options: Unpack[_RunOptions]) -> None: ...
    def delete(self, key: str | int, **options: Unpack[_RunOptions]) -> bool: ...
    def delete_async(self, key: str | int, **options: Unpack[_RunOptions]) -> Future[bool]: ...
    def delete_ignored(self, key: str | int, **options: Unpack[_RunOptions]) -> None: ...
    def apply(
        self, receiver: object = None, arguments: Iterable[object] | None = None, **options: Unpack[_RunOptions]
    ) -> Any: ...
    def __call__(self, *arguments: object) -> Any: ...
    def apply_async(
        self, receiver: object = None, arguments: Iterable[object] | None = None, **options: Unpack[_RunOptions]
    ) -> Future[Any]: ...
    def apply_ignored(
        self, receiver: object = None, arguments: Iterable[object] | None = None, **options: Unpack[_RunOptions]
    ) -> None: ...
    def release(self) -> None: ...

@final
class ExternalCopy:
    """A copy held outside every isolate, copied into isolates on demand."""

    def __new__(cls, value: object, *, transfer_out: bool = False) -> Self: ...
    def copy(self, *, release: bool = False, transfer_in: bool = False) -> Any: ...
    def copy_into(self, *, release: bool = False, transfer_in: bool = False) -> CopyInto: ...
    @property
    def size(self) -> int: ...
    @property
    def is_released(self) -> bool: ...
    def release(self) -> None: ...

@final
class CopyInto:
    """An ExternalCopy with the options it enters an isolate with."""

@final
class Callback:
    """A Python function JavaScript can call; an ``async def`` function
    returns a promise in JavaScript."""

    def __new__(cls, function: Callable[..., object]) -> Self: ...

@final
class Library:
    """isolated-vm's library, for an isolate's JavaScript:
    ``context.global_.set("ivm", ivm.library)`` gives its code
    ``new ivm.Isolate({ memoryLimit })``, ``ivm.ExternalCopy`` and the rest.
    An isolate made there draws its memory limit from the one that made it,
    and goes when that one goes."""

library: Final[Library]

@final
class SharedArrayBuffer:
    """Memory shared with isolates; ``memoryview(buffer)`` writes to it."""

    def __new__(cls, byte_length: int) -> Self: ...
    @property
    def byte_length(self) -> int: ...
    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

def create_snapshot(
    scripts: Iterable[str | tuple[str, str]],
    warmup: str | None = None,
    *,
    memory_limit: int = 128,
    timeout: float = 10.0,
) -> bytes:
    """A snapshot of a fresh context after running ``scripts`` (each a str or
    a ``(code, filename)`` tuple), for ``Isolate(snapshot=...)``."""

def _snapshot_worker() -> int:
    """The body of a snapshot worker process (what create_snapshot starts)."""

def shutdown() -> None:
    """Stops ivm's threads from entering Python (registered with atexit)."""

def total_external_size() -> int:
    """Bytes held by every live ExternalCopy in the process."""

@final
class Sandbox:
    """A context whose globals follow a dict: the native side of ``ivm.vm``."""

    def __new__(cls, context: Context) -> Self: ...
    def run(
        self, code: str, globals: dict[str, Any], **options: Any
    ) -> tuple[BaseException | None, Any, list[tuple[str, Any]], list[str]]: ...
    def call(
        self, function: Reference, args: tuple[Any, ...]
    ) -> tuple[BaseException | None, Any, list[tuple[str, Any]], list[str]]: ...
