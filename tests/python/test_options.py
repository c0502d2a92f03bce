"""Every numeric option, driven with the values a careless or hostile caller
passes (NaN, the infinities, negatives, fractions, 2**53 and past it, 1e22,
ints too large for a float, values of the wrong type, and random floats of
every magnitude): each call ends in a correct result, a ``TypeError`` (not a
number) or a ``UsageError`` (a ``ValueError``: out of range) that names the
option, and the interpreter lives on."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest

import ivm

pytestmark = pytest.mark.timeout(120)

MAX_SAFE_INTEGER = 2**53 - 1
EDGES: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    -1,
    -0.5,
    0,
    0.5,
    1.5,
    7,
    8,
    64,
    65535,
    65536,
    2**31,
    2**32,
    MAX_SAFE_INTEGER,
    2**53,
    2**53 + 2,
    1e22,
    10**400,
    -(10**400),
    1.7976931348623157e308,
]
WRONG_TYPES: list[Any] = ["5", True, False, [], {}, object(), b"1", 1j]


def random_numbers(count: int) -> list[float]:
    generator = random.Random(20261203)
    return [generator.choice([-1, 1]) * generator.random() * 10 ** generator.randint(-4, 25) for _ in range(count)]


VALUES = EDGES + random_numbers(40)


def finite(value: Any) -> bool:
    """Whether `value` is a number a float holds (ints past that are not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def whole(low: float, high: float) -> Callable[[Any], bool]:
    return lambda value: finite(value) and float(value).is_integer() and low <= value <= high


def drive(
    name: str,
    call: Callable[[Any], Any],
    accepts: Callable[[Any], bool],
    check: Callable[[Any], None],
    allow_timeout: Callable[[Any], bool] = lambda _: False,
) -> None:
    """Calls `call` with every value and checks how it ended."""
    for value in VALUES + WRONG_TYPES:
        label = f"{name} = {value!r}"[:80]
        try:
            result = call(value)
        except Exception as error:  # noqa: BLE001 - each kind is checked below
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                assert isinstance(error, TypeError), f"{label}: {error!r}"
                assert name in str(error), f"{label}: {error}"
            elif not accepts(value):
                assert isinstance(error, ivm.UsageError) and isinstance(error, ValueError), f"{label}: {error!r}"
                assert str(error).startswith(f"`{name}` must be a "), f"{label}: {error}"
            else:
                # ivm's TimeoutError and CpuLimitError are both TimeoutErrors.
                assert isinstance(error, TimeoutError) and allow_timeout(value), f"{label}: {error!r}"
        else:
            assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{label} was accepted"
            assert accepts(value), f"{label} was accepted"
            check(result)


def seconds_in_range(value: Any) -> bool:
    return finite(value) and 0 <= value <= MAX_SAFE_INTEGER / 1000


def equals_42(result: Any) -> None:
    assert result == 42


def test_timeouts_and_cpu_limits_of_every_call(isolate: ivm.Isolate, context: ivm.Context) -> None:
    script = isolate.compile_script("6 * 7")
    double = context.eval("(x) => x * 2")
    global_ = context.global_
    global_.set("n", 42)

    def evaluate(**options: Any) -> int:
        # A module of its own each time: one whose evaluation a timeout
        # ended stays unfinished.
        module = isolate.compile_module("export default 42")
        module.instantiate(context, lambda *_: None)
        module.evaluate(**options)
        return 42

    calls: dict[str, Callable[..., Any]] = {
        "eval": lambda **o: context.eval("6 * 7", **o),
        "eval_closure": lambda **o: context.eval_closure("return $0 * 2", 21, **o),
        "run": lambda **o: script.run(context, **o),
        "apply": lambda **o: double.apply(None, [21], **o),
        "get": lambda **o: global_.get("n", **o),
        "set": lambda **o: global_.set("n", 42, **o) and 42,
        "evaluate": evaluate,
    }
    for name in ("timeout", "cpu_limit"):
        for call in calls.values():
            drive(name, lambda value, call=call: call(**{name: value}), seconds_in_range, equals_42, lambda s: s < 0.005)
    # The case the issue was filed for, in Python's units.
    with pytest.raises(ivm.UsageError, match="timeout"):
        context.eval("6 * 7", timeout=1e22)
    assert context.eval("6 * 7") == 42


def test_offsets_of_compiling_and_eval(isolate: ivm.Isolate, context: ivm.Context) -> None:
    accepts = whole(-(2**31), 2**31 - 1)
    for name in ("line_offset", "column_offset"):
        drive(
            name,
            lambda value, name=name: isolate.compile_script("6 * 7", filename="o.js", **{name: value}).run(context),
            accepts,
            equals_42,
        )
        drive(name, lambda value, name=name: context.eval("6 * 7", filename="o.js", **{name: value}), accepts, equals_42)
        drive(
            name,
            lambda value, name=name: isolate.compile_module("export default 1", **{name: value}) and 42,
            accepts,
            equals_42,
        )


def test_memory_limits_of_isolates_and_pools() -> None:
    accepts = whole(8, MAX_SAFE_INTEGER // 2**20)

    def isolate_with(memory_limit: Any) -> ivm.Isolate:
        return ivm.Isolate(memory_limit=memory_limit)

    def usable(isolate: ivm.Isolate) -> None:
        with isolate:
            assert isolate.create_context().eval("1 + 1") == 2

    drive("memory_limit", isolate_with, accepts, usable)

    def pool_with(memory_limit: Any) -> Any:
        if isinstance(memory_limit, (int, float)) and accepts(memory_limit) and memory_limit > 64:
            return None  # booted isolates of each size would only be slow
        return ivm.IsolatePool(1, memory_limit=memory_limit)

    drive("memory_limit", pool_with, accepts, lambda pool: None)


def test_pool_sizes() -> None:
    accepts = whole(1, 2**32 - 1)

    def pool_of(size: Any) -> Any:
        if isinstance(size, (int, float)) and accepts(size) and size > 2:
            return None  # booting many is a test of patience, not of the check
        return ivm.IsolatePool(size, memory_limit=16)

    drive("size", pool_of, accepts, lambda pool: None)


def test_inspector_ports() -> None:
    with ivm.Isolate(inspector=True) as isolate:

        def start(port: Any) -> Any:
            if isinstance(port, int) and not isinstance(port, bool) and 0 < port <= 65535:
                return None  # only port 0 (a free one) is opened
            server = isolate.start_inspector_server(port)
            server.close()
            return None

        drive("port", start, whole(0, 65535), lambda _: None)


def test_shared_array_buffer_sizes() -> None:
    def make(byte_length: Any) -> Any:
        if isinstance(byte_length, (int, float)) and whole(0, MAX_SAFE_INTEGER)(byte_length) and byte_length > 1 << 20:
            return None  # memory the system may or may not have: below
        return ivm.SharedArrayBuffer(byte_length)

    drive("byte_length", make, whole(0, MAX_SAFE_INTEGER), lambda _: None)
    # In range, but more than any system has: a MemoryError, not an abort.
    with pytest.raises(MemoryError):
        ivm.SharedArrayBuffer(2**52)


def test_snapshot_options_are_checked_before_a_worker_starts() -> None:
    for name, accepts in (("memory_limit", whole(8, MAX_SAFE_INTEGER // 2**20)), ("timeout", seconds_in_range)):
        for value in EDGES + WRONG_TYPES:
            in_range = isinstance(value, (int, float)) and not isinstance(value, bool) and accepts(value)
            if in_range:
                continue  # a worker per value would be slow
            expected = ivm.UsageError if isinstance(value, (int, float)) and not isinstance(value, bool) else TypeError
            with pytest.raises(expected, match=name):
                ivm.create_snapshot(["1"], **{name: value})


def test_a_panic_in_the_package_is_raised_and_the_interpreter_lives() -> None:
    from ivm import _ivm

    panic = getattr(_ivm, "_panic_for_testing", None)
    if panic is None:
        pytest.skip("release build: the panic hook exists in debug builds only")
    with pytest.raises(BaseException) as raised:
        panic()
    assert type(raised.value).__name__ == "PanicException"
    assert "on purpose" in str(raised.value)
    assert ivm.Isolate().create_context().eval("6 * 7") == 42
