"""Threads: the GIL is released while JavaScript runs."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)

# CPU-bound JavaScript (no clock reads), about 0.3 s on a typical machine.
HEAVY = "{ let x = 0; for (let i = 0; i < ITERATIONS; i++) x = (x + i * i) % 1000003; x }"


def run_heavy(iterations: int) -> tuple[int, float]:
    with ivm.Isolate() as isolate:
        context = isolate.create_context()
        started = time.perf_counter()
        result = context.eval(HEAVY.replace("ITERATIONS", str(iterations)))
        return result, time.perf_counter() - started


# Each call counts itself in shared memory, then spins until the other one
# has counted too (or five seconds pass): both see 2 only if their
# JavaScript runs at the same time. Run one after the other (the GIL held
# while JavaScript runs), the first would give up and see 1. Unlike a
# timing ratio, this holds on a machine busy with other work.
RENDEZVOUS = """
const seen = new Int32Array($0);
Atomics.add(seen, 0, 1);
const end = Date.now() + 5000;
while (Atomics.load(seen, 0) < 2 && Date.now() < end) {}
return Atomics.load(seen, 0);
"""


def test_two_threads_run_javascript_at_the_same_time() -> None:
    shared = ivm.SharedArrayBuffer(4)
    seen: list[Any] = []

    def work() -> None:
        with ivm.Isolate() as isolate:
            seen.append(isolate.create_context().eval_closure(RENDEZVOUS, shared))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [2, 2]


def test_cpu_heavy_scripts_in_two_threads_give_the_same_results() -> None:
    iterations = 2_000_000
    expected, _ = run_heavy(iterations)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(run_heavy(iterations)[0])) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected, expected]


def test_python_thread_runs_while_javascript_runs(context: ivm.Context) -> None:
    counter = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            counter[0] += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        time.sleep(0.01)
        before = counter[0]
        with pytest.raises(ivm.TimeoutError):
            context.eval("for (;;) {}", timeout=0.3)
        during = counter[0] - before
    finally:
        stop.set()
        thread.join()
    assert during > 10_000


def test_python_thread_runs_while_waiting_for_isolate(context: ivm.Context) -> None:
    context.eval_ignored("{ const end = Date.now() + 300; while (Date.now() < end) {} }")
    ticks = [0]
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        assert context.eval("'after the queued call'") == "after the queued call"
    finally:
        stop.set()
        thread.join()
    assert ticks[0] >= 20


def test_threads_each_with_own_isolate() -> None:
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with ivm.Isolate(memory_limit=32) as isolate:
                context = isolate.create_context()
                context.global_.set("index", index)
                results[index] = context.eval("[index, index * index]", copy=True)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {index: [index, index * index] for index in range(8)}


def test_threads_sharing_one_isolate_are_serialized(context: ivm.Context) -> None:
    context.eval("globalThis.count = 0")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(100):
                context.eval("{ const c = count; for (let i = 0; i < 100; i++) {} count = c + 1 }")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert context.eval("count") == 400


def test_callback_from_other_thread_call_runs_on_that_thread(context: ivm.Context) -> None:
    seen: list[int] = []
    context.global_.set("where", lambda: seen.append(threading.get_ident()))
    thread = threading.Thread(target=lambda: context.eval("where()"))
    thread.start()
    thread.join()
    assert seen == [thread.ident]


def test_dispose_from_another_thread_while_threads_wait() -> None:
    isolate = ivm.Isolate()
    context = isolate.create_context()
    outcomes: list[type[BaseException] | None] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            context.eval("for (;;) {}", timeout=10)
            outcome: type[BaseException] | None = None
        except BaseException as error:  # noqa: BLE001 - recorded
            outcome = type(error)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    isolate.dispose()
    for thread in threads:
        thread.join(10)
    assert outcomes == [ivm.DisposedError] * 3
