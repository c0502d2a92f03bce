"""Runs one memory attack, the JavaScript in argv[1], in a 32 MiB isolate of
this (fresh) process, given the library as `ivm`, and prints as JSON how
the call ended, the process's peak growth over its baseline and what stayed
resident after dispose, in MiB: the measurement tests/hardening.rs makes in
Rust."""

from __future__ import annotations

import json
import re
import sys
import time

import ivm


def status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        match = re.search(rf"^{field}:\s+(\d+)", status.read(), re.M)
    assert match
    return int(match.group(1)) / 1024


def settled_rss(enough: float) -> float:
    """Resident size once it is at most `enough` or has stopped falling (up
    to 5 s): the isolate is torn down on another thread."""
    last, deadline = float("inf"), time.monotonic() + 5
    while True:
        now = status_mib("VmRSS")
        if now <= enough or abs(last - now) < 0.5 or time.monotonic() > deadline:
            return now
        last = now
        time.sleep(0.2)


def main() -> None:
    # V8's process-wide set-up is part of the baseline, not of the attack.
    with ivm.Isolate(memory_limit=32) as warm:
        warm.create_context().eval("const a = []; for (let i = 0; i < 3e5; i++) a.push({ i }); a.length")
    time.sleep(1)
    baseline = settled_rss(float("-inf"))
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    isolate = ivm.Isolate(memory_limit=32)
    context = isolate.create_context()
    context.global_.set("ivm", ivm.library)
    outcome = "completed"
    try:
        context.eval(sys.argv[1], timeout=60)
    except ivm.IvmError as error:
        outcome = type(error).__name__
    peak = status_mib("VmHWM")
    if not isolate.is_disposed:
        isolate.dispose()
    after = settled_rss(baseline + 16)
    print(json.dumps({"outcome": outcome, "peak": peak - min(baseline, after), "returned": max(0.0, after - baseline)}))


if __name__ == "__main__":
    main()
