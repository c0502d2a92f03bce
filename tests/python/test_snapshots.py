"""Startup snapshots: made in a worker process under limits, booted from
with the scripts' globals in place, refused cleanly when broken."""

from __future__ import annotations

import threading
import time

import pytest

import ivm

pytestmark = pytest.mark.timeout(120)


def test_an_isolate_booted_from_a_snapshot_has_the_scripts_globals() -> None:
    snapshot = ivm.create_snapshot(
        ["globalThis.greet = (name) => `hello ${name}`;", ("var counter = 41; counter++;", "counter.js")]
    )
    assert isinstance(snapshot, bytes)
    with ivm.Isolate(snapshot=snapshot) as isolate:
        first = isolate.create_context()
        assert first.eval("greet('snapshot') + ' ' + counter") == "hello snapshot 42"
        first.eval("counter = 0")
        assert isolate.create_context().eval("counter") == 42, "each context starts from the snapshot"
    with ivm.Isolate() as plain:
        assert plain.create_context().eval("typeof greet") == "undefined"


def test_a_warmup_script_keeps_code_not_state() -> None:
    snapshot = ivm.create_snapshot(["function square(x) { return x * x; } var calls = 0;"], "square(3); calls++;")
    with ivm.Isolate(snapshot=snapshot) as isolate:
        assert isolate.create_context().eval("square(12) + calls") == 144


def test_broken_or_hostile_scripts_are_errors() -> None:
    with pytest.raises(ivm.JSError) as thrown:
        ivm.create_snapshot(["throw new TypeError('setup failed')"])
    assert (thrown.value.name, thrown.value.message) == ("TypeError", "setup failed")
    started = time.monotonic()
    with pytest.raises(ivm.TimeoutError):
        ivm.create_snapshot(["while (true) {}"], timeout=0.2)
    assert time.monotonic() - started < 10
    with pytest.raises(ivm.MemoryLimitError):
        ivm.create_snapshot(["const a = []; while (true) a.push(new Array(1e5).fill(1))"], memory_limit=16)
    with pytest.raises(TypeError):
        ivm.create_snapshot([42])  # type: ignore[list-item]


def test_corrupt_snapshots_are_refused_and_the_interpreter_lives() -> None:
    snapshot = bytearray(ivm.create_snapshot(["var ok = true"]))
    snapshot[len(snapshot) // 2] ^= 0xFF
    for bad in (b"", bytes(snapshot), bytes(snapshot[: len(snapshot) // 2])):
        with pytest.raises(ivm.UsageError):
            ivm.Isolate(snapshot=bad)


def test_snapshots_are_made_and_booted_while_other_isolates_run() -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            snapshot = ivm.create_snapshot([f"var n = {n}"], "n + 1")
            for _ in range(5):
                with ivm.Isolate(snapshot=snapshot) as isolate:
                    assert isolate.create_context().eval("n") == n
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    with ivm.Isolate() as bystander:
        context = bystander.create_context()
        threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            assert context.eval("[1, 2, 3].reduce((a, b) => a + b)") == 6
        for thread in threads:
            thread.join()
    assert errors == []
