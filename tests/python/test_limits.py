"""Timeouts, CPU limits and memory limits against hostile JavaScript."""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)

SPIN = "for (;;) {}"


def test_timeout_raises_timeout_error(context: ivm.Context) -> None:
    started = time.monotonic()
    with pytest.raises(ivm.TimeoutError) as raised:
        context.eval(SPIN, timeout=0.1)
    elapsed = time.monotonic() - started
    assert 0.09 <= elapsed < 2
    assert isinstance(raised.value, builtins.TimeoutError)
    assert isinstance(raised.value, ivm.IvmError)


def test_timeout_caught_as_builtin_timeout_error(context: ivm.Context) -> None:
    with pytest.raises(builtins.TimeoutError):
        context.eval(SPIN, timeout=0.05)


def test_isolate_usable_after_timeout(isolate: ivm.Isolate, context: ivm.Context) -> None:
    context.eval("globalThis.kept = 'state'")
    for _ in range(3):
        with pytest.raises(ivm.TimeoutError):
            context.eval(SPIN, timeout=0.05)
    assert not isolate.is_disposed
    assert context.eval("kept") == "state"
    assert isolate.create_context().eval("1 + 1") == 2


def test_timeout_not_reached(context: ivm.Context) -> None:
    assert context.eval("1 + 1", timeout=5) == 2
    assert context.eval("1 + 1", timeout=None) == 2
    assert context.eval("1", cpu_limit=None) == 1


def test_timeout_cannot_be_caught_by_javascript(context: ivm.Context) -> None:
    with pytest.raises(ivm.TimeoutError):
        context.eval("for (;;) { try { for (;;) {} } catch (e) {} finally { continue } }", timeout=0.05)
    assert context.eval("2") == 2


def test_timeout_in_every_kind_of_call(isolate: ivm.Isolate, context: ivm.Context) -> None:
    with pytest.raises(ivm.TimeoutError):
        isolate.compile_script(SPIN).run(context, timeout=0.05)
    with pytest.raises(ivm.TimeoutError):
        context.eval_closure(SPIN, timeout=0.05)
    with pytest.raises(ivm.TimeoutError):
        context.eval(f"() => {{ {SPIN} }}").apply(timeout=0.05)
    with pytest.raises(ivm.TimeoutError):
        context.eval(f"({{ get g() {{ {SPIN} }} }})").get("g", accessors=True, timeout=0.05)
    assert context.eval("3") == 3


def test_timeout_with_promise(context: ivm.Context) -> None:
    with pytest.raises(ivm.TimeoutError):
        context.eval(f"(async () => {{ await null; {SPIN} }})()", promise=True, timeout=0.05)
    assert context.eval("4") == 4


def test_negative_or_invalid_timeouts_are_rejected(context: ivm.Context) -> None:
    with pytest.raises(ValueError):
        context.eval("1", timeout=-1)
    with pytest.raises(ValueError):
        context.eval("1", cpu_limit=-0.5)
    with pytest.raises(ValueError):
        context.eval("1", timeout=float("nan"))
    with pytest.raises(TypeError):
        context.eval("1", timeout="soon")  # type: ignore[arg-type]


def test_cpu_limit_raises_cpu_limit_error(isolate: ivm.Isolate, context: ivm.Context) -> None:
    started = time.monotonic()
    with pytest.raises(ivm.CpuLimitError) as raised:
        context.eval(SPIN, cpu_limit=0.1)
    assert 0.09 <= time.monotonic() - started < 2
    assert isinstance(raised.value, builtins.TimeoutError)
    assert not isinstance(raised.value, ivm.TimeoutError)
    assert context.eval("5") == 5
    assert not isolate.is_disposed


def test_cpu_limit_does_not_count_waiting(context: ivm.Context) -> None:
    # A callback sleeping is not CPU time of the isolate.
    assert context.eval_closure("$0(); return 'done'", lambda: time.sleep(0.2), cpu_limit=0.1) == "done"


def test_cpu_limit_not_reached(context: ivm.Context) -> None:
    assert context.eval("let s = 0; for (let i = 0; i < 1000; i++) s += i; s", cpu_limit=1) == 499500


def test_timeout_and_cpu_limit_async(context: ivm.Context) -> None:
    async def main() -> None:
        with pytest.raises(ivm.TimeoutError):
            await context.eval_async(SPIN, timeout=0.05)
        with pytest.raises(ivm.CpuLimitError):
            await context.eval_async(SPIN, cpu_limit=0.05)
        assert await context.eval_async("6") == 6

    asyncio.run(main())


HOSTILE_ALLOCATIONS = [
    "const a = []; while (true) a.push({x: Math.random()})",
    "const a = []; while (true) a.push('x'.repeat(1000) + a.length)",
    "const a = []; while (true) a.push(new ArrayBuffer(1 << 20))",
    "new ArrayBuffer(64 << 20)",
    "const m = new Map(); for (let i = 0; ; i++) m.set(i, [i, String(i)])",
]


@pytest.mark.parametrize("code", HOSTILE_ALLOCATIONS)
def test_memory_limit_error(code: str) -> None:
    with ivm.Isolate(memory_limit=16) as isolate:
        context = isolate.create_context()
        with pytest.raises(ivm.MemoryLimitError) as raised:
            context.eval(code, timeout=20)
        assert isinstance(raised.value, MemoryError)
        assert isinstance(raised.value, ivm.IvmError)
        assert isolate.is_disposed
        with pytest.raises(ivm.DisposedError):
            context.eval("1")
    with ivm.Isolate(memory_limit=16) as fresh:
        assert fresh.create_context().eval("[1, 2, 3].length") == 3


def test_memory_limit_error_async() -> None:
    async def main() -> None:
        with ivm.Isolate(memory_limit=16) as isolate:
            context = isolate.create_context()
            with pytest.raises(MemoryError):
                await context.eval_async(HOSTILE_ALLOCATIONS[0], timeout=20)
            assert isolate.is_disposed

    asyncio.run(main())


FATAL = "'z'.repeat(2 ** 28).split('')"


def test_a_fatal_v8_error_ends_the_call_with_the_memory_limit_error() -> None:
    reports: list[str] = []
    with ivm.Isolate(memory_limit=32, on_catastrophic_error=reports.append) as isolate:
        with pytest.raises(ivm.MemoryLimitError):
            isolate.create_context().eval(FATAL)
        assert isolate.is_disposed
    assert len(reports) == 1
    assert "V8 fatal error" in reports[0] or "V8 ran out of memory" in reports[0]

    async def main() -> None:
        with ivm.Isolate(memory_limit=32) as isolate:
            context = isolate.create_context()
            lost = asyncio.ensure_future(context.eval_async(FATAL))
            queued = asyncio.ensure_future(context.eval_async("1"))
            with pytest.raises(ivm.MemoryLimitError):
                await lost
            with pytest.raises(ivm.IvmError):
                await queued
            assert isolate.is_disposed

    asyncio.run(main())
    with ivm.Isolate() as fresh:
        assert fresh.create_context().eval("6 * 7") == 42


def test_memory_limit_does_not_affect_other_isolates() -> None:
    with ivm.Isolate(memory_limit=64) as bystander:
        context = bystander.create_context()
        context.eval("globalThis.data = Array.from({length: 1000}, (_, i) => i)")
        with ivm.Isolate(memory_limit=16) as hostile:
            with pytest.raises(ivm.MemoryLimitError):
                hostile.create_context().eval(HOSTILE_ALLOCATIONS[0], timeout=20)
        assert context.eval("data.length") == 1000
        assert not bystander.is_disposed


def test_a_copied_argument_larger_than_the_memory_limit_is_refused() -> None:
    with ivm.Isolate(memory_limit=16) as isolate:
        context = isolate.create_context()
        with pytest.raises(ivm.JSError) as raised:
            context.eval_closure("globalThis.big = $0", b"x" * (64 << 20))
        assert raised.value.name == "RangeError"
        assert "Array buffer allocation failed" in raised.value.message
        # The host's oversized value is not the isolate's fault: it goes on.
        assert not isolate.is_disposed
        assert context.eval("typeof big") == "undefined"


def test_a_value_the_host_sets_that_cannot_fit_the_heap_is_refused_and_the_isolate_kept() -> None:
    huge = "y" * (2**29 - 24)
    with ivm.Isolate(memory_limit=32) as isolate:
        context = isolate.create_context()
        attempts = {
            "set": lambda: context.global_.set("big", huge),
            "eval_closure": lambda: context.eval_closure("globalThis.big = $0", huge),
            "ExternalCopy": lambda: context.eval_closure("globalThis.big = $0", ivm.ExternalCopy(huge)),
        }
        for what, attempt in attempts.items():
            with pytest.raises(ivm.JSError) as raised:
                attempt()
            assert raised.value.name == "RangeError", what
            assert "memory limit" in raised.value.message, what
            assert not isolate.is_disposed, what
            assert context.eval("typeof big") == "undefined", what
        context.global_.set("fits", "y" * (4 << 20))
        assert context.eval("fits.length") == 4 << 20


def test_what_leaves_an_isolate_is_bounded_by_its_memory_limit() -> None:
    rope = "let s = 'x'.repeat(1 << 20); for (let i = 0; i < 8; i++) s = s + s;"
    with ivm.Isolate(memory_limit=32) as isolate:
        context = isolate.create_context()
        with pytest.raises(ivm.TransferError, match="32 MiB"):
            context.eval(f"{{ {rope} s }}")
        with pytest.raises(ivm.TransferError, match="32 MiB"):
            context.eval("{ const s = 'y'.repeat(1 << 20); Array(2000).fill(s) }", copy=True)
        with pytest.raises(ivm.JSError, match="32 MiB") as thrown:
            context.eval(f"{{ {rope} throw s }}")
        assert thrown.value.name == "RangeError"
        with pytest.raises(ivm.JSError) as stacked:
            context.eval(f"Error.prepareStackTrace = () => {{ {rope} return s; }}; throw new Error('x')")
        assert len(stacked.value.stack) < 1000 and "32 MiB" in stacked.value.stack
        assert not isolate.is_disposed
        assert context.eval("'y'.repeat(1 << 20).length") == 1 << 20


def test_copied_arguments_count_against_the_memory_limit() -> None:
    with ivm.Isolate(memory_limit=16) as isolate:
        context = isolate.create_context()
        before = isolate.heap_statistics()["externally_allocated_size"]
        context.eval_closure("globalThis.kept = $0", b"x" * (4 << 20))
        after = isolate.heap_statistics()["externally_allocated_size"]
        assert after >= before + (4 << 20)


def test_interpreter_survives_repeated_memory_exhaustion(
    run_python: Callable[..., CompletedProcess[str]],
) -> None:
    result = run_python(
        """
        import ivm
        for round in range(5):
            with ivm.Isolate(memory_limit=16) as isolate:
                try:
                    isolate.create_context().eval("const a = []; while (true) a.push({x: [1, 2, 3]})", timeout=20)
                except MemoryError as error:
                    assert isinstance(error, ivm.MemoryLimitError)
                else:
                    raise SystemExit("no MemoryLimitError")
        with ivm.Isolate() as isolate:
            print(isolate.create_context().eval("'alive'"))
        """
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "alive"


def test_ctrl_c_stops_a_runaway_synchronous_call(context: ivm.Context) -> None:
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            context.eval("for (;;) {}")
    finally:
        timer.cancel()
    assert context.eval("6 * 7") == 42


MEMORY_VECTORS = [
    vector
    for vector in json.loads((Path(__file__).parents[1] / "conformance" / "memory-vectors.json").read_text())["vectors"]
    if vector["bounded"]
]


@pytest.mark.parametrize("code", [vector["code"] for vector in MEMORY_VECTORS], ids=[vector["name"] for vector in MEMORY_VECTORS])
def test_memory_attacks_stay_within_twice_the_limit_and_their_memory_comes_back(code: str) -> None:
    import subprocess
    import sys

    script = Path(__file__).with_name("memory_vector.py")
    output = subprocess.run([sys.executable, str(script), code], capture_output=True, text=True, check=True).stdout
    result = json.loads(output)
    assert result["outcome"] != "completed"
    assert result["peak"] <= 2 * 32 + 64, f"peak growth {result['peak']:.0f} MiB"
    assert result["returned"] <= 16, f"{result['returned']:.0f} MiB still resident after dispose"


def test_a_zero_timeout_is_no_timeout_as_in_isolated_vm_and_node() -> None:
    with ivm.Isolate() as isolate:
        context = isolate.create_context()
        assert context.eval("let n = 0; for (let i = 0; i < 1e6; i++) n += i; n", timeout=0) == 499999500000
