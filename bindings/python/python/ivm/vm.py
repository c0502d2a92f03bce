"""node:vm's API over ivm isolates, for Python.

Each context lives in an isolate of its own, with a memory limit and
timeouts; the dict a context is made from supplies its globals. Before
every run the dict's items become the context's globals (callables as
callbacks, also inside dicts, the rest as copies), and after it every
global the code created, changed or deleted is written back onto the dict,
also when the code raised::

    >>> from ivm import vm
    >>> sandbox = {"animal": "cat", "count": 2}
    >>> vm.run_in_new_context('count += 1; name = "kitty"', sandbox)
    'kitty'
    >>> sandbox
    {'animal': 'cat', 'count': 3, 'name': 'kitty'}

A run that its ``timeout`` (in seconds) ends raises :class:`ivm.TimeoutError`
("Script execution timed out after …ms"), and the context stays usable. A
script that completes with a promise (an async function's call) gives what
the promise came to once the run's jobs ran: its value, or its rejection
raised.
"""

from __future__ import annotations

import threading
from typing import Any, Mapping, Optional

from . import _ivm
from ._ivm import Isolate

__all__ = [
    "Context",
    "Script",
    "create_context",
    "is_context",
    "run_in_context",
    "run_in_new_context",
    "run_in_this_context",
]


class Context:
    """A context made from a dict (``create_context``): the dict is
    ``sandbox``, kept in step with the context's globals by every run.
    ``with`` disposes the context's isolate on leaving the block."""

    __slots__ = ("sandbox", "isolate", "_native")

    def __init__(
        self,
        sandbox: Optional[dict] = None,
        *,
        memory_limit: Optional[int] = None,
        name: Optional[str] = None,
        origin: Optional[str] = None,
        code_generation: Optional[Mapping[str, bool]] = None,
    ) -> None:
        if sandbox is None:
            sandbox = {}
        if not isinstance(sandbox, dict):
            raise TypeError(f"a context is made from a dict, not {type(sandbox).__name__}")
        self.sandbox = sandbox
        self.isolate = Isolate() if memory_limit is None else Isolate(memory_limit=memory_limit)
        options: dict[str, Any] = {}
        if name is not None:
            options["name"] = name
        if origin is not None:
            options["origin"] = origin
        if code_generation is not None:
            options["code_generation_from_strings"] = bool(code_generation.get("strings", True))
            options["wasm_code_generation"] = bool(code_generation.get("wasm", True))
        self._native = _ivm.Sandbox(self.isolate.create_context(**options))

    def _run(self, code: str, options: dict[str, Any]) -> Any:
        globals_ = self.sandbox
        if any(isinstance(value, _Synced) for value in globals_.values()):
            globals_ = {name: _given_back(value) for name, value in globals_.items()}
        raised, result, set_, deleted = self._native.run(code, globals_, **options)
        self._write_back(set_, deleted)
        if raised is not None:
            raise raised
        return result

    def _write_back(self, set_: list[tuple[str, Any]], deleted: list[str]) -> None:
        for name, value in set_:
            self.sandbox[name] = _Synced(value, self) if callable(value) else value
        for name in deleted:
            self.sandbox.pop(name, None)

    def dispose(self) -> None:
        """Disposes the context's isolate; later runs raise DisposedError."""
        if not self.isolate.is_disposed:
            self.isolate.dispose()

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"<ivm.vm.Context {self.sandbox!r}>"


class _Synced:
    """A function of a context's, called from Python: its arguments go in as
    a dict's values do, it runs with the context's global as ``this``, what
    it changes in the context's globals is written back onto the dict as a
    run's changes are (so that the next run does not copy older values over
    them), and a promise it returns (an async function's) gives what the
    call's jobs settled it to, or raises its rejection."""

    def __init__(self, function: Any, context: Context) -> None:
        self.__wrapped__ = function
        self._context = context

    def __call__(self, *args: Any) -> Any:
        raised, result, set_, deleted = self._context._native.call(self.__wrapped__, tuple(map(_given_back, args)))
        self._context._write_back(set_, deleted)
        if raised is not None:
            raise raised
        return result

    def __repr__(self) -> str:
        return repr(self.__wrapped__)


def _given_back(value: Any) -> Any:
    """``value`` as it goes into a context: a function of a context's as the
    function it calls."""
    return value.__wrapped__ if isinstance(value, _Synced) else value


def create_context(sandbox: Optional[dict] = None, **options: Any) -> Context:
    """A context whose globals are ``sandbox``'s items (node:vm's
    ``createContext``). Options: ``memory_limit`` (MB), ``name``,
    ``origin``, ``code_generation`` (``{"strings": bool, "wasm": bool}``).
    Given a Context, returns it."""
    if isinstance(sandbox, Context):
        return sandbox
    return Context(sandbox, **options)


def is_context(value: object) -> bool:
    """Whether ``value`` is a context ``create_context`` made."""
    return isinstance(value, Context)


_RUN_OPTIONS = ("filename", "line_offset", "column_offset", "timeout")
_CONTEXT_OPTIONS = {"context_name": "name", "context_origin": "origin", "context_code_generation": "code_generation", "memory_limit": "memory_limit"}


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    run = {key: value for key, value in options.items() if key in _RUN_OPTIONS}
    context = {_CONTEXT_OPTIONS[key]: value for key, value in options.items() if key in _CONTEXT_OPTIONS}
    unknown = set(options) - set(_RUN_OPTIONS) - set(_CONTEXT_OPTIONS)
    if unknown:
        raise TypeError(f"unexpected option(s): {', '.join(sorted(unknown))}")
    return run, context


class Script:
    """Code compiled once, to run in any context (node:vm's ``Script``).
    A syntax error raises :class:`ivm.JSError` here."""

    __slots__ = ("code", "filename", "line_offset", "column_offset")

    def __init__(self, code: str, *, filename: str = "evalmachine.<anonymous>", line_offset: int = 0, column_offset: int = 0) -> None:
        self.code = str(code)
        self.filename = filename
        self.line_offset = line_offset
        self.column_offset = column_offset
        _this_context().isolate.compile_script(
            self.code, filename=filename, line_offset=line_offset, column_offset=column_offset
        ).release()

    @classmethod
    def _unchecked(cls, code: str, *, filename: str = "evalmachine.<anonymous>", line_offset: int = 0, column_offset: int = 0) -> "Script":
        """A script not compiled ahead, for the functions that run code at
        once (a syntax error is raised when it runs)."""
        script = cls.__new__(cls)
        script.code = str(code)
        script.filename = filename
        script.line_offset = line_offset
        script.column_offset = column_offset
        return script

    def _options(self, timeout: Optional[float]) -> dict[str, Any]:
        options: dict[str, Any] = {"filename": self.filename, "line_offset": self.line_offset, "column_offset": self.column_offset}
        if timeout is not None:
            options["timeout"] = timeout
        return options

    def run_in_context(self, context: Context, *, timeout: Optional[float] = None) -> Any:
        if not isinstance(context, Context):
            raise TypeError(f"run_in_context needs a Context, not {type(context).__name__}")
        return context._run(self.code, self._options(timeout))

    def run_in_new_context(self, sandbox: Optional[dict] = None, *, timeout: Optional[float] = None, **context_options: Any) -> Any:
        with Context(sandbox, **context_options) as context:
            return self.run_in_context(context, timeout=timeout)

    def run_in_this_context(self, *, timeout: Optional[float] = None) -> Any:
        return self.run_in_context(_this_context(), timeout=timeout)


def run_in_context(code: str, context: Context, **options: Any) -> Any:
    """Runs ``code`` in ``context``; the dict is updated after the run."""
    run, extra = _split(options)
    if extra:
        raise TypeError(f"unexpected option(s): {', '.join(sorted(extra))}")
    timeout = run.pop("timeout", None)
    return Script._unchecked(code, **run).run_in_context(context, timeout=timeout)


def run_in_new_context(code: str, sandbox: Optional[dict] = None, **options: Any) -> Any:
    """Runs ``code`` in a new context made from ``sandbox`` (a new dict by
    default), which is updated after the run; the context's isolate is
    disposed after it. Options: those of ``run_in_context``, and
    ``context_name``, ``context_origin``, ``context_code_generation`` and
    ``memory_limit`` for the new context."""
    run, context_options = _split(options)
    timeout = run.pop("timeout", None)
    return Script._unchecked(code, **run).run_in_new_context(sandbox, timeout=timeout, **context_options)


_this: Optional[Context] = None
_this_lock = threading.Lock()


def _this_context() -> Context:
    global _this
    with _this_lock:
        if _this is None:
            _this = Context({})
        return _this


def run_in_this_context(code: str, **options: Any) -> Any:
    """Runs ``code`` in the process's one shared context, made on first
    use, whose globals last from run to run (Python has no global object
    for them to follow)."""
    run, extra = _split(options)
    if extra:
        raise TypeError(f"unexpected option(s): {', '.join(sorted(extra))}")
    timeout = run.pop("timeout", None)
    return Script._unchecked(code, **run).run_in_this_context(timeout=timeout)



