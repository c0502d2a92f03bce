"""Isolate: creation, disposal, context manager, statistics, limits' validation."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)

HEAP_STATISTICS_KEYS = {
    "total_heap_size",
    "total_heap_size_executable",
    "total_physical_size",
    "total_available_size",
    "used_heap_size",
    "heap_size_limit",
    "malloced_memory",
    "peak_malloced_memory",
    "does_zap_garbage",
    "number_of_native_contexts",
    "number_of_detached_contexts",
    "total_global_handles_size",
    "used_global_handles_size",
    "external_memory",
    "externally_allocated_size",
}


def test_create_and_dispose() -> None:
    isolate = ivm.Isolate()
    assert not isolate.is_disposed
    assert isolate.create_context().eval("6 * 7") == 42
    isolate.dispose()
    assert isolate.is_disposed
    assert "disposed" in repr(isolate)


def test_context_manager_disposes_on_exit() -> None:
    with ivm.Isolate(memory_limit=32) as isolate:
        assert isinstance(isolate, ivm.Isolate)
        assert not isolate.is_disposed
        assert isolate.create_context().eval("'ok'") == "ok"
    assert isolate.is_disposed


def test_context_manager_disposes_and_propagates_exceptions() -> None:
    with pytest.raises(KeyError):
        with ivm.Isolate() as isolate:
            raise KeyError("boom")
    assert isolate.is_disposed


def test_context_manager_after_explicit_dispose() -> None:
    with ivm.Isolate() as isolate:
        isolate.dispose()
    assert isolate.is_disposed


def test_dispose_twice_raises_disposed_error() -> None:
    isolate = ivm.Isolate()
    isolate.dispose()
    with pytest.raises(ivm.DisposedError):
        isolate.dispose()


def test_many_isolates_in_sequence() -> None:
    for index in range(20):
        with ivm.Isolate(memory_limit=16) as isolate:
            assert isolate.create_context().eval_closure("return $0 + 1", index) == index + 1


def test_isolates_do_not_share_globals() -> None:
    with ivm.Isolate() as first, ivm.Isolate() as second:
        first.create_context().eval("globalThis.secret = 1")
        assert second.create_context().eval("typeof secret") == "undefined"


@pytest.mark.parametrize("limit", [8, 16, 32, 64])
def test_memory_limit_sets_heap_size_limit(limit: int) -> None:
    with ivm.Isolate(memory_limit=limit) as isolate:
        assert isolate.heap_statistics()["heap_size_limit"] == limit * 2**20


def test_default_memory_limit_is_128_mib() -> None:
    with ivm.Isolate() as isolate:
        assert isolate.heap_statistics()["heap_size_limit"] == 128 * 2**20


@pytest.mark.parametrize("limit", [0, 1, 7])
def test_memory_limit_below_minimum_is_usage_error(limit: int) -> None:
    with pytest.raises(ivm.UsageError, match="memory_limit"):
        ivm.Isolate(memory_limit=limit)
    with pytest.raises(ValueError):
        ivm.Isolate(memory_limit=limit)


def test_memory_limit_too_large_is_usage_error() -> None:
    with pytest.raises(ivm.UsageError):
        ivm.Isolate(memory_limit=2**62)


def test_memory_limit_negative_is_rejected() -> None:
    with pytest.raises((ValueError, OverflowError)):
        ivm.Isolate(memory_limit=-1)


def test_memory_limit_wrong_type_is_type_error() -> None:
    with pytest.raises(TypeError):
        ivm.Isolate(memory_limit="64")  # type: ignore[arg-type]


def test_memory_limit_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        ivm.Isolate(64)  # type: ignore[misc]


def test_bytes_that_are_not_a_snapshot_are_refused() -> None:
    with pytest.raises(ivm.UsageError, match="not a usable snapshot"):
        ivm.Isolate(snapshot=b"not a snapshot")


def test_on_catastrophic_error_is_accepted() -> None:
    messages: list[str] = []
    with ivm.Isolate(on_catastrophic_error=messages.append) as isolate:
        assert isolate.create_context().eval("1") == 1
    assert messages == []


def test_heap_statistics(isolate: ivm.Isolate) -> None:
    statistics = isolate.heap_statistics()
    assert set(statistics) == HEAP_STATISTICS_KEYS
    for key, value in statistics.items():
        if key == "does_zap_garbage":
            assert isinstance(value, bool)
        else:
            assert isinstance(value, int) and not isinstance(value, bool), key
            assert value >= 0, key
    assert statistics["used_heap_size"] > 0
    assert statistics["total_heap_size"] >= statistics["used_heap_size"]


def test_heap_statistics_grow_with_allocation(isolate: ivm.Isolate) -> None:
    context = isolate.create_context()
    before = isolate.heap_statistics()["used_heap_size"]
    context.eval("globalThis.keep = Array.from({length: 200000}, (_, i) => ({i}))")
    after = isolate.heap_statistics()["used_heap_size"]
    assert after > before + 1_000_000


def test_heap_statistics_count_contexts(isolate: ivm.Isolate) -> None:
    contexts = [isolate.create_context() for _ in range(3)]
    assert isolate.heap_statistics()["number_of_native_contexts"] >= 3
    del contexts


def test_heap_statistics_async(isolate: ivm.Isolate) -> None:
    async def main() -> dict[str, object]:
        return dict(await isolate.heap_statistics_async())

    statistics = asyncio.run(main())
    assert set(statistics) == HEAP_STATISTICS_KEYS
    assert statistics["heap_size_limit"] == 64 * 2**20


def test_create_context_and_compile_script_async(isolate: ivm.Isolate) -> None:
    async def main() -> object:
        context = await isolate.create_context_async()
        assert isinstance(context, ivm.Context)
        script = await isolate.compile_script_async("21 * 2", filename="async.js")
        assert isinstance(script, ivm.Script)
        return await script.run_async(context)

    assert asyncio.run(main()) == 42


def test_cpu_and_wall_time(isolate: ivm.Isolate) -> None:
    context = isolate.create_context()
    assert isinstance(isolate.cpu_time, float)
    assert isinstance(isolate.wall_time, float)
    cpu_before, wall_before = isolate.cpu_time, isolate.wall_time
    context.eval("const end = Date.now() + 150; while (Date.now() < end) {}")
    cpu_spent = isolate.cpu_time - cpu_before
    wall_spent = isolate.wall_time - wall_before
    assert 0.1 <= cpu_spent < 5
    assert 0.1 <= wall_spent < 5
    assert isolate.wall_time >= isolate.cpu_time * 0.9


def test_wall_time_counts_time_waiting_in_callbacks(isolate: ivm.Isolate) -> None:
    context = isolate.create_context()
    cpu_before, wall_before = isolate.cpu_time, isolate.wall_time
    context.eval_closure("$0()", lambda: time.sleep(0.2))
    assert isolate.wall_time - wall_before >= 0.18
    assert isolate.cpu_time - cpu_before < 0.15


def test_times_are_monotonic(isolate: ivm.Isolate) -> None:
    context = isolate.create_context()
    previous = isolate.cpu_time
    for _ in range(5):
        context.eval("for (let i = 0; i < 1e5; i++) {}")
        assert isolate.cpu_time >= previous
        previous = isolate.cpu_time


def test_reference_count(isolate: ivm.Isolate) -> None:
    context = isolate.create_context()
    base = isolate.reference_count
    first = context.eval("({})")
    second = context.eval("[]")
    assert isolate.reference_count == base + 2
    first.release()
    assert isolate.reference_count == base + 1
    del second
    gc.collect()
    assert isolate.reference_count == base
    del context


def test_primitives_do_not_count_as_references(isolate: ivm.Isolate) -> None:
    context = isolate.create_context()
    base = isolate.reference_count
    values = [context.eval(code) for code in ("1", "'s'", "null", "true", "1n")]
    assert values == [1, "s", None, True, 1]
    assert isolate.reference_count == base


def test_dispose_during_running_async_call_raises_disposed_error() -> None:
    async def main() -> None:
        isolate = ivm.Isolate()
        context = isolate.create_context()
        running = context.eval_async("for (;;) {}")
        await asyncio.sleep(0.1)
        isolate.dispose()
        with pytest.raises(ivm.DisposedError):
            await asyncio.wait_for(running, 10)
        with pytest.raises(ivm.DisposedError):
            await context.eval_async("1")

    asyncio.run(main())


def test_dispose_during_running_sync_call_from_another_thread() -> None:
    isolate = ivm.Isolate()
    context = isolate.create_context()
    timer = threading.Timer(0.1, isolate.dispose)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(ivm.DisposedError):
            context.eval("for (;;) {}")
    finally:
        timer.join()
    assert time.monotonic() - started < 5
    assert isolate.is_disposed


def test_using_a_disposed_isolate_raises_disposed_error() -> None:
    isolate = ivm.Isolate()
    context = isolate.create_context()
    script = isolate.compile_script("1")
    reference = context.eval("({a: 1})")
    isolate.dispose()
    with pytest.raises(ivm.DisposedError):
        isolate.create_context()
    with pytest.raises(ivm.DisposedError):
        isolate.compile_script("1")
    with pytest.raises(ivm.DisposedError):
        isolate.heap_statistics()
    with pytest.raises(ivm.DisposedError):
        context.eval("1")
    with pytest.raises(ivm.DisposedError):
        context.eval_closure("return 1")
    with pytest.raises(ivm.DisposedError):
        script.run(context)
    with pytest.raises(ivm.DisposedError):
        reference.get("a")
    with pytest.raises(ivm.DisposedError):
        reference.copy()
    with pytest.raises(ivm.DisposedError):
        context.global_.set("x", 1)


def test_async_forms_of_a_disposed_isolate_raise_disposed_error() -> None:
    isolate = ivm.Isolate()
    context = isolate.create_context()
    isolate.dispose()

    async def main() -> None:
        with pytest.raises(ivm.DisposedError):
            await isolate.create_context_async()
        with pytest.raises(ivm.DisposedError):
            await isolate.compile_script_async("1")
        with pytest.raises(ivm.DisposedError):
            await isolate.heap_statistics_async()
        with pytest.raises(ivm.DisposedError):
            await context.eval_async("1")

    asyncio.run(main())


def test_ignored_forms_on_a_disposed_isolate_do_not_raise() -> None:
    isolate = ivm.Isolate()
    context = isolate.create_context()
    isolate.dispose()
    context.eval_ignored("1")
    context.eval_closure_ignored("return $0", 1)
    assert isolate.is_disposed


def test_compile_module_takes_compile_options_only(isolate: ivm.Isolate) -> None:
    assert isolate.compile_module("export default 1", filename="m.mjs").dependency_specifiers == []
    with pytest.raises(TypeError):
        isolate.compile_module("export default 1", timeout=1)  # type: ignore[call-arg]


def test_the_library_lets_javascript_make_isolates_within_its_own_limit() -> None:
    with ivm.Isolate(memory_limit=32) as isolate:
        context = isolate.create_context()
        context.global_.set("ivm", ivm.library)
        assert repr(ivm.library) == "ivm.library"
        made = context.eval(
            "const child = new ivm.Isolate({ memoryLimit: 8 }); child.createContextSync().evalSync('6 * 7')"
        )
        assert made == 42
        refused = context.eval("try { new ivm.Isolate({ memoryLimit: 64 }); 'made' } catch (e) { e.name + ': ' + e.message }")
        assert refused.startswith("RangeError: ") and "64 MB asked" in refused
