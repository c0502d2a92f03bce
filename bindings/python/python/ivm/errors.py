"""The exceptions ivm raises: one class per kind of failure, all under
:class:`IvmError`, each also a subclass of the builtin exception Python code
already catches for it (a timeout is a :class:`TimeoutError`, hitting the
memory limit a :class:`MemoryError`, …)."""

from __future__ import annotations

import builtins
from typing import Any

__all__ = [
    "IvmError",
    "JSError",
    "TimeoutError",
    "CpuLimitError",
    "MemoryLimitError",
    "DisposedError",
    "ReleasedError",
    "UsageError",
    "TransferError",
    "CanceledError",
    "IoError",
    "UnsupportedError",
]


class IvmError(Exception):
    """Base class of every error ivm raises."""


class JSError(IvmError):
    """JavaScript threw, or failed to compile.

    ``name`` is the JavaScript error's name (``"TypeError"``,
    ``"SyntaxError"``, ...; empty when something other than an Error was
    thrown), ``message`` its message, ``stack`` its stack trace (with the
    script's filename in its frames) and ``value`` the thrown value itself
    when it was a primitive (``throw 42``)."""

    name: str
    message: str
    stack: str | None
    value: Any

    def __init__(self, message: str, name: str = "Error", stack: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.stack = stack
        self.value = value

    def __str__(self) -> str:
        if self.stack:
            return self.stack
        if not self.name:
            return f"Uncaught {self.message}"
        return f"{self.name}: {self.message}" if self.message else self.name


class TimeoutError(IvmError, builtins.TimeoutError):
    """The call ran past its ``timeout``; the isolate stays usable."""


class CpuLimitError(IvmError, builtins.TimeoutError):
    """The call spent its CPU-time budget (``cpu_limit``); the isolate stays
    usable."""


class MemoryLimitError(IvmError, MemoryError):
    """The isolate exceeded its memory limit and has been disposed. The
    interpreter is unaffected."""


class DisposedError(IvmError):
    """The isolate has been disposed (or was disposed during the call)."""


class ReleasedError(IvmError):
    """The handle (context, script, reference, copy) has been released."""


class UsageError(IvmError, ValueError):
    """An argument was out of range, or a handle was used with an isolate it
    does not belong to, or a synchronous call was made where it would
    deadlock."""


class TransferError(IvmError, TypeError):
    """A value could not be copied into or out of an isolate."""


class CanceledError(IvmError):
    """A queued call was dropped before it ran to completion."""


class IoError(IvmError, OSError):
    """The operating system refused something the call needed (the port
    for an inspector server, say)."""


class UnsupportedError(IvmError, NotImplementedError):
    """The feature is part of the API but this build does not provide it
    yet."""
