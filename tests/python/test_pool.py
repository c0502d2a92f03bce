"""IsolatePool: isolates booted ahead of time, one per checkout, replaced
when handed back."""

from __future__ import annotations

import threading
import time

import pytest

import ivm

pytestmark = pytest.mark.timeout(120)


def test_checkouts_run_code_and_leave_nothing_behind() -> None:
    snapshot = ivm.create_snapshot(["var seed = 7; function work(n) { return n * seed; }"])
    pool = ivm.IsolatePool(2, snapshot=snapshot, memory_limit=32)
    assert pool.size == 2
    with pool.checkout() as pooled:
        assert pooled.context.eval("work(6)") == 42
        pooled.context.eval("seed = 1000")
        assert not pooled.isolate.is_disposed
    with pytest.raises(ivm.UsageError):
        pooled.context
    pooled.release()  # twice is harmless
    for _ in range(5):
        with pool.checkout() as pooled:
            assert pooled.context.eval("work(6)") == 42, "a fresh isolate every time"
    deadline = time.monotonic() + 10
    while pool.ready < pool.size:
        assert time.monotonic() < deadline, "the pool did not refill"
        time.sleep(0.01)


def test_checkouts_from_many_threads() -> None:
    pool = ivm.IsolatePool(2)
    results: list[object] = []

    def work() -> None:
        for _ in range(5):
            with pool.checkout() as pooled:
                results.append(pooled.context.eval("6 * 7"))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 15


def test_bad_options_are_refused() -> None:
    with pytest.raises(ivm.UsageError):
        ivm.IsolatePool(0)
    with pytest.raises(ivm.UsageError):
        ivm.IsolatePool(1, snapshot=b"not a snapshot")


def test_async_checkouts_wait_for_boots_in_turn() -> None:
    import asyncio

    pool = ivm.IsolatePool(1)

    async def main() -> list[object]:
        held = await pool.checkout_async()
        try:
            waiting = [pool.checkout_async() for _ in range(3)]
            results = []
            for pending in waiting:
                with await pending as pooled:
                    results.append(pooled.context.eval("6 * 7"))
            return results
        finally:
            held.release()

    assert asyncio.run(main()) == [42, 42, 42]
