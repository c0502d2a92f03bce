"""The async forms with asyncio: results, exceptions, cancellation, concurrency."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)


def test_async_form_outside_a_loop_is_a_coroutine_for_asyncio_run(context: ivm.Context) -> None:
    # `asyncio.run(context.eval_async(...))`: no loop runs when the call is
    # made; it starts at once all the same, and the coroutine awaits it on
    # the loop that runs it.
    assert asyncio.run(context.eval_async("40 + 2")) == 42
    context.eval("globalThis.n = 0")
    pending = context.eval_async("++n")
    assert context.eval("n") == 1, "the call started before it was awaited"
    assert asyncio.run(pending) == 1
    with pytest.raises(ivm.JSError, match="nope"):
        asyncio.run(context.eval_async("throw new Error('nope')"))


def test_async_form_returns_future_of_running_loop(context: ivm.Context) -> None:
    async def main() -> Any:
        future = context.eval_async("40 + 2")
        assert isinstance(future, asyncio.Future)
        assert future.get_loop() is asyncio.get_running_loop()
        return await future

    assert asyncio.run(main()) == 42


def test_eval_async_results(context: ivm.Context) -> None:
    async def main() -> list[Any]:
        return [
            await context.eval_async("null"),
            await context.eval_async("'s'"),
            await context.eval_async("2n ** 64n"),
            await context.eval_async("({a: [1, 2]})", copy=True),
            await context.eval_async("new Map([[1, 2]])", copy=True),
            await context.eval_async("Promise.resolve({p: 1})", promise=True, copy=True),
            await context.eval_closure_async("return $0.map(x => x * 2)", [1, 2], copy=True),
        ]

    assert asyncio.run(main()) == [None, "s", 2**64, {"a": [1, 2]}, {1: 2}, {"p": 1}, [2, 4]]


def test_eval_async_exceptions_delivered(context: ivm.Context) -> None:
    async def main() -> None:
        with pytest.raises(ivm.JSError) as raised:
            await context.eval_async("throw new RangeError('r')")
        assert raised.value.name == "RangeError"
        assert raised.value.message == "r"
        with pytest.raises(ivm.JSError) as raised:
            await context.eval_async("1 +")
        assert raised.value.name == "SyntaxError"
        with pytest.raises(ivm.JSError) as raised:
            await context.eval_async("Promise.reject(new TypeError('rejected'))", promise=True)
        assert raised.value.name == "TypeError"
        with pytest.raises(ivm.TransferError):
            await context.eval_async("() => 1", copy=True)
        with pytest.raises(ivm.TimeoutError):
            await context.eval_async("for (;;) {}", timeout=0.05)
        assert await context.eval_async("'after errors'") == "after errors"

    asyncio.run(main())


def test_option_errors_raise_at_call_time(context: ivm.Context) -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            context.eval_async("1", bogus=True)  # type: ignore[call-arg]
        with pytest.raises(ValueError):
            context.eval_async("1", copy=True, reference=True)
        with pytest.raises(ivm.TransferError):
            context.eval_closure_async("return 1", object())

    asyncio.run(main())


def test_cancellation_by_wait_for(isolate: ivm.Isolate, context: ivm.Context) -> None:
    async def main() -> float:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(context.eval_async("while(true){}", timeout=0.3), 0.05)
        started = time.monotonic()
        assert await context.eval_async("'usable'") == "usable"
        return time.monotonic() - started

    waited = asyncio.run(main())
    assert not isolate.is_disposed
    # The cancelled call is stopped, not left running until its own timeout.
    assert waited < 0.2
    assert context.eval("1") == 1


def test_cancelling_a_future_stops_its_javascript(context: ivm.Context) -> None:
    async def main() -> float:
        future = cast("asyncio.Future[Any]", context.eval_async("for (;;) {}", timeout=5))
        await asyncio.sleep(0.05)
        future.cancel()
        started = time.monotonic()
        assert await context.eval_async("7") == 7
        return time.monotonic() - started

    assert asyncio.run(main()) < 1


def test_cancelled_queued_call_is_skipped(context: ivm.Context) -> None:
    async def main() -> Any:
        context.eval_ignored("globalThis.log = []")
        slow = context.eval_async("{ const end = Date.now() + 100; while (Date.now() < end) {} log.push('slow') }")
        skipped = cast("asyncio.Future[Any]", context.eval_async("log.push('skipped')"))
        skipped.cancel()
        await slow
        return await context.eval_async("log", copy=True)

    assert asyncio.run(main()) == ["slow"]


def test_cancelled_task_awaiting_call(context: ivm.Context) -> None:
    async def runner() -> Any:
        return await context.eval_async("for (;;) {}")

    async def main() -> Any:
        task = asyncio.ensure_future(runner())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await asyncio.wait_for(context.eval_async("'free again'"), 5)

    assert asyncio.run(main()) == "free again"


def test_many_concurrent_calls_across_isolates() -> None:
    async def main() -> None:
        isolates = [ivm.Isolate(memory_limit=32) for _ in range(4)]
        try:
            contexts = [isolate.create_context() for isolate in isolates]
            for index, context in enumerate(contexts):
                context.eval(f"globalThis.id = {index}")
            calls = [contexts[n % 4].eval_closure_async("return [id, $0 * 2]", n, copy=True) for n in range(200)]
            results = await asyncio.gather(*calls)
            assert results == [[n % 4, n * 2] for n in range(200)]
        finally:
            for isolate in isolates:
                isolate.dispose()

    asyncio.run(main())


def test_async_calls_on_two_isolates_run_at_the_same_time() -> None:
    # Each call counts itself in shared memory and spins until the other has
    # (see test_threads.RENDEZVOUS): both see 2 only if they run at once.
    code = """
    const seen = new Int32Array($0);
    Atomics.add(seen, 0, 1);
    const end = Date.now() + 5000;
    while (Atomics.load(seen, 0) < 2 && Date.now() < end) {}
    return Atomics.load(seen, 0);
    """
    shared = ivm.SharedArrayBuffer(4)

    async def main() -> list[object]:
        isolates = [ivm.Isolate() for _ in range(2)]
        try:
            contexts = [isolate.create_context() for isolate in isolates]
            return list(await asyncio.gather(*(context.eval_closure_async(code, shared) for context in contexts)))
        finally:
            for isolate in isolates:
                isolate.dispose()

    assert asyncio.run(main()) == [2, 2]


def test_event_loop_stays_responsive(context: ivm.Context) -> None:
    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.ensure_future(ticker())
        await context.eval_async("{ const end = Date.now() + 200; while (Date.now() < end) {} }")
        task.cancel()
        return ticks

    assert asyncio.run(main()) >= 5


def test_mixed_async_operations(isolate: ivm.Isolate) -> None:
    async def main() -> list[Any]:
        context = await isolate.create_context_async()
        script = await isolate.compile_script_async("globalThis.n = (globalThis.n || 0) + 1; n")
        global_ = context.global_
        results = await asyncio.gather(
            script.run_async(context),
            script.run_async(context),
            global_.set_async("k", "v"),
            global_.get_async("k"),
            isolate.heap_statistics_async(),
        )
        return [results[0], results[1], results[2], results[3], "used_heap_size" in results[4]]

    assert asyncio.run(main()) == [1, 2, True, "v", True]


def test_result_after_loop_closed_is_dropped(
    context: ivm.Context,
) -> None:
    async def main() -> None:
        context.eval_async("{ const end = Date.now() + 100; while (Date.now() < end) {} 1 }")

    asyncio.run(main())
    # The loop is closed before the call finishes; the isolate carries on.
    assert context.eval("'fine'") == "fine"
    time.sleep(0.15)
    assert context.eval("'still fine'") == "still fine"


def test_separate_event_loops(context: ivm.Context) -> None:
    for round_ in range(3):

        async def main() -> Any:
            return await context.eval_closure_async("return $0", round_)

        assert asyncio.run(main()) == round_
