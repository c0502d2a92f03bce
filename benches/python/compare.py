"""ivm's Python package against mini-racer (PyPI), in one Python process.

A benchmark, not a test: it loads both libraries side by side, times the same
three operations with each and prints a Markdown table of the best time per
operation, how many times faster ivm is (mini-racer's time divided by ivm's)
and whether that meets the goal:

- ``eval 1+2``: evaluate the source ``1+2`` and get ``3`` back in Python
  (ivm: ``Context.eval``; mini-racer: ``MiniRacer.eval``). Goal: ivm at least
  50x as fast.
- ``call (a, b) => a + b``: call a JavaScript function of two arguments with
  ``1, 2`` and get ``3`` back (ivm: ``Reference.apply`` on the function;
  mini-racer: ``MiniRacer.call("add", 1, 2)``, its helper for calls, which on
  0.14 is faster than calling the ``JSFunction`` it returns). Goal: ivm at
  least 50x as fast.
- ``dict of 10,000 entries in and out``: hand ``{"k0": 0, ..., "k9999":
  9999}`` to an identity function and get an equal Python ``dict`` back
  (ivm: ``Reference.apply(None, [d], copy=True)``; mini-racer:
  ``MiniRacer.call("ident", d)``, which goes through JSON both ways: it has
  no other way to take a dict in). Goal: ivm faster.

Each operation is checked once for the right result, warmed up, then timed
with ``time.perf_counter`` in batches (with Python's garbage collector off
during a batch, as ``timeit`` does) over rounds that alternate which library
goes first; the table shows each library's best batch, the least disturbed
by the rest of the machine.

Usage (``cargo xtask bench`` runs it the same way):

    target/py-venv/bin/python benches/python/compare.py [--time=SECONDS]

``--time`` is the seconds of measurement per row, shared by both libraries
(default 1.0). mini-racer must be installed in the same environment
(``target/py-venv/bin/pip install mini-racer``); without it the script stops
with exit status 2. Goals that are not met do not change the exit status
(0): this is a report. Timings of ivm only mean something for a release
build of its extension; the script warns when the one it loads looks like a
dev-profile (unoptimized) build.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import mmap
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ROUNDS = 4  # alternating which library goes first
MIN_BATCHES_PER_ROUND = 2
BATCH_S = 0.01  # batches at least this long, so reading the clock costs nothing measurable
WARM_UP_S = 0.1
MIN_WARM_UP_CALLS = 3
DICT_SIZE = 10_000


@dataclass(frozen=True)
class Row:
    name: str
    goal: float  # the least ratio (mini-racer / ivm) that meets the goal
    strict: bool  # the ratio must exceed the goal rather than reach it

    def met(self, ratio: float) -> bool:
        return ratio > self.goal if self.strict else ratio >= self.goal

    def goal_text(self) -> str:
        if self.strict:
            return "ivm faster (> 1x)"
        return f">= {self.goal:g}x"


ROWS = [
    Row("eval 1+2", 50.0, strict=False),
    Row("call (a, b) => a + b", 50.0, strict=False),
    Row(f"dict of {DICT_SIZE:,} entries in and out", 1.0, strict=True),
]


@dataclass
class Library:
    name: str
    version: str
    operations: list[Callable[[], Any]]  # one per row, in the order of ROWS
    close: Callable[[], None]


def make_dict() -> dict[str, int]:
    return {f"k{i}": i for i in range(DICT_SIZE)}


def load_ivm(big: dict[str, int]) -> Library:
    import ivm

    isolate = ivm.Isolate(memory_limit=128)
    context = isolate.create_context()
    add = context.eval("(a, b) => a + b")
    ident = context.eval("(x) => x")
    return Library(
        name="ivm",
        version=ivm.__version__,
        operations=[
            lambda: context.eval("1+2"),
            lambda: add.apply(None, [1, 2]),
            lambda: ident.apply(None, [big], copy=True),
        ],
        close=isolate.dispose,
    )


def load_mini_racer(big: dict[str, int]) -> Library:
    from py_mini_racer import MiniRacer

    racer = MiniRacer()
    racer.eval("var add = (a, b) => a + b; var ident = (x) => x;")
    return Library(
        name="mini-racer",
        version=f"{importlib.metadata.version('mini-racer')} (V8 {racer.v8_version})",
        operations=[
            lambda: racer.eval("1+2"),
            lambda: racer.call("add", 1, 2),
            lambda: racer.call("ident", big),
        ],
        close=racer.close,
    )


def check(library: Library, big: dict[str, int]) -> None:
    """Each operation gives the right answer, as a plain Python value."""
    expected = [3, 3, big]
    for row, operation, want in zip(ROWS, library.operations, expected, strict=True):
        got = operation()
        if type(got) is not type(want) or got != want:
            shown = repr(got) if not isinstance(got, dict) else f"a dict of {len(got)} entries"
            raise SystemExit(f"{library.name}: {row.name!r} gave {shown} ({type(got).__name__}), not the expected value")


def warm_up(operation: Callable[[], Any]) -> float:
    """Runs `operation` for a while; returns its mean time per call."""
    calls = 0
    start = time.perf_counter()
    while True:
        operation()
        calls += 1
        elapsed = time.perf_counter() - start
        if calls >= MIN_WARM_UP_CALLS and elapsed >= WARM_UP_S:
            return elapsed / calls


def best_batch(operation: Callable[[], Any], per_call: float, budget_s: float) -> float:
    """The least time per call over batches run for `budget_s` seconds
    (at least MIN_BATCHES_PER_ROUND batches)."""
    size = max(1, int(BATCH_S / per_call))
    best = float("inf")
    batches = 0
    spent = 0.0
    gc_was_enabled = gc.isenabled()
    try:
        while batches < MIN_BATCHES_PER_ROUND or spent < budget_s:
            gc.disable()
            start = time.perf_counter()
            for _ in range(size):
                operation()
            elapsed = time.perf_counter() - start
            if gc_was_enabled:
                gc.enable()
            best = min(best, elapsed / size)
            batches += 1
            spent += elapsed
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def measure_row(index: int, libraries: list[Library], seconds: float) -> list[float]:
    per_call = [warm_up(library.operations[index]) for library in libraries]
    best = [float("inf")] * len(libraries)
    budget = seconds / (ROUNDS * len(libraries))
    for round_ in range(ROUNDS):
        order = range(len(libraries)) if round_ % 2 == 0 else reversed(range(len(libraries)))
        for i in order:
            gc.collect()
            best[i] = min(best[i], best_batch(libraries[i].operations[index], per_call[i], budget))
    return best


def format_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_ratio(ratio: float) -> str:
    if ratio >= 1:
        return f"{ratio:.3g}x"
    return f"{ratio:.3g}x (ivm {1 / ratio:.3g}x slower)"


def looks_unoptimized(path: str) -> bool:
    """Whether the extension at `path` looks like a dev-profile build: an
    optimized build inlines `Vec::len` everywhere and keeps no symbol of it."""
    marker = b"_ZN5alloc3vec16Vec$LT$T$C$A$GT$3len17h"
    try:
        with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(marker) != -1
    except (OSError, ValueError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--time",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds of measurement per row, shared by both libraries (default 1.0)",
    )
    args = parser.parse_args()
    if not args.time > 0:
        parser.error(f"--time must be a positive number of seconds, not {args.time}")

    try:
        import py_mini_racer  # noqa: F401
    except ImportError as error:
        print(
            f"compare.py: mini-racer is not importable by {sys.executable} ({error}).\n"
            f"Install it into that environment: {sys.executable} -m pip install mini-racer",
            file=sys.stderr,
        )
        return 2
    try:
        import ivm
    except ImportError as error:
        print(
            f"compare.py: ivm is not importable by {sys.executable} ({error}); "
            "install the Python package (bindings/python) into that environment first",
            file=sys.stderr,
        )
        return 2

    big = make_dict()
    libraries = [load_ivm(big), load_mini_racer(big)]
    try:
        for library in libraries:
            check(library, big)
        results = [measure_row(index, libraries, args.time) for index in range(len(ROWS))]
    finally:
        for library in libraries:
            library.close()

    print(f"ivm {libraries[0].version} against mini-racer {libraries[1].version}")
    print(f"Python {platform.python_version()} on {platform.platform()}; {args.time:g} s per row")
    extension = ivm._ivm.__file__
    if looks_unoptimized(extension):
        print(
            f"WARNING: {extension} looks like a dev-profile (unoptimized) build: "
            "ivm's times below do not represent a release build."
        )
    print()
    print("| operation | ivm | mini-racer | mini-racer / ivm | goal | |")
    print("|---|---:|---:|---:|---|---|")
    for row, (ivm_time, racer_time) in zip(ROWS, results, strict=True):
        ratio = racer_time / ivm_time
        verdict = "met" if row.met(ratio) else "NOT met"
        print(
            f"| {row.name} | {format_time(ivm_time)} | {format_time(racer_time)} "
            f"| {format_ratio(ratio)} | {row.goal_text()} | {verdict} |"
        )
    # For `cargo xtask bench`'s report (docs/BENCHMARKS.md): one
    # tab-separated line per row, times in nanoseconds, the goal as the most
    # ivm's time may be of mini-racer's.
    results_file = os.environ.get("IVM_BENCH_RESULTS")
    if results_file:
        section = f"Python {platform.python_version()}: ivm vs mini-racer {libraries[1].version}"
        with open(results_file, "a", encoding="utf-8") as out:
            for row, (ivm_time, racer_time) in zip(ROWS, results, strict=True):
                out.write(f"{section}\t{row.name}\t{ivm_time * 1e9}\t{racer_time * 1e9}\t{1 / row.goal}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
