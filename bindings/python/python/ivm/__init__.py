"""ivm: V8 isolates for untrusted and parallel JavaScript.

Each :class:`Isolate` is a V8 heap of its own with a memory limit that
JavaScript cannot break; code runs in its :class:`Context`\\ s with timeouts
and CPU limits. Every operation comes in three forms: ``ctx.eval(...)``
(synchronous, releasing the GIL while JavaScript runs), ``await
ctx.eval_async(...)`` (on ivm's thread pool, in the order calls were made
on the isolate) and ``ctx.eval_ignored(...)`` (fire and forget).

    >>> import ivm
    >>> with ivm.Isolate(memory_limit=64) as isolate:
    ...     context = isolate.create_context()
    ...     context.eval("1 + 2")
    3
"""

import atexit

from . import _ivm
from ._ivm import (
    Callback,
    Context,
    CopyInto,
    ExternalCopy,
    InspectorServer,
    InspectorSession,
    Isolate,
    IsolatePool,
    Module,
    PooledIsolate,
    Reference,
    Script,
    SharedArrayBuffer,
    __version__,
    create_snapshot,
    library,
    total_external_size,
)
from .errors import (
    CanceledError,
    CpuLimitError,
    DisposedError,
    IoError,
    IvmError,
    JSError,
    MemoryLimitError,
    ReleasedError,
    TimeoutError,
    TransferError,
    UnsupportedError,
    UsageError,
)

# ivm's threads stop entering Python before the interpreter finalizes.
atexit.register(_ivm.shutdown)

__all__ = [
    "Callback",
    "Context",
    "CopyInto",
    "ExternalCopy",
    "InspectorServer",
    "InspectorSession",
    "Isolate",
    "IsolatePool",
    "Module",
    "PooledIsolate",
    "Reference",
    "Script",
    "SharedArrayBuffer",
    "__version__",
    "create_snapshot",
    "library",
    "total_external_size",
    "CanceledError",
    "CpuLimitError",
    "DisposedError",
    "IoError",
    "IvmError",
    "JSError",
    "MemoryLimitError",
    "ReleasedError",
    "TimeoutError",
    "TransferError",
    "UnsupportedError",
    "UsageError",
]
