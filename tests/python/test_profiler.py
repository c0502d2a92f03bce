"""CPU profiles: ``start_cpu_profiler`` / ``stop_cpu_profiler``, one
profile per time the isolate ran, in the DevTools protocol's format."""

import asyncio

import pytest

import ivm

BUSY = "function busyLoop() { let x = 0; for (let i = 0; i < 2e7; i++) x += i % 7; return x } busyLoop()"


def function_names(profiles: list) -> set:
    return {node["callFrame"]["functionName"] for p in profiles for node in p["profile"]["nodes"]}


def test_a_profile_names_the_functions_that_ran() -> None:
    with ivm.Isolate() as isolate:
        context = isolate.create_context()
        isolate.start_cpu_profiler("busy")
        context.eval(BUSY, filename="busy.js")
        profiles = isolate.stop_cpu_profiler("busy")
        assert "busyLoop" in function_names(profiles)
        profile = profiles[0]["profile"]
        assert isinstance(profiles[0]["threadId"], int)
        assert len(profile["samples"]) == len(profile["timeDeltas"])
        assert profile["endTime"] >= profile["startTime"]
        busy = next(n for p in profiles for n in p["profile"]["nodes"] if n["callFrame"]["functionName"] == "busyLoop")
        assert busy["callFrame"]["url"] == "busy.js"
        assert isinstance(busy["callFrame"]["scriptId"], int)


def test_a_title_never_started_has_no_profiles() -> None:
    with ivm.Isolate() as isolate:
        assert isolate.stop_cpu_profiler("never") == []


def test_the_awaitable_stop_sees_the_calls_queued_before_it() -> None:
    async def main() -> list:
        with ivm.Isolate() as isolate:
            context = isolate.create_context()
            isolate.start_cpu_profiler("queued")
            run = context.eval_async(BUSY)
            profiles = await isolate.stop_cpu_profiler_async("queued")
            await run
            return profiles

    assert "busyLoop" in function_names(asyncio.run(main()))


def test_a_disposed_isolate_refuses() -> None:
    isolate = ivm.Isolate()
    isolate.dispose()
    with pytest.raises(ivm.DisposedError):
        isolate.start_cpu_profiler("x")
    with pytest.raises(ivm.DisposedError):
        isolate.stop_cpu_profiler("x")
