"""Context.eval / eval_closure, Script, release, the three forms, ordering."""

from __future__ import annotations

import asyncio
import gc

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)


def test_eval_returns_completion_value(context: ivm.Context) -> None:
    assert context.eval("1 + 2") == 3
    assert context.eval("let a = 5; a * 2") == 10
    assert context.eval("'a' + 'b'") == "ab"
    assert context.eval("") is None
    assert context.eval("var nothing;") is None


def test_eval_object_result_is_reference_by_default(context: ivm.Context) -> None:
    result = context.eval("({a: 1})")
    assert isinstance(result, ivm.Reference)
    assert result.typeof == "object"
    assert result.copy() == {"a": 1}


def test_eval_result_modes(context: ivm.Context) -> None:
    assert context.eval("({a: [1, 2]})", copy=True) == {"a": [1, 2]}
    reference = context.eval("42", reference=True)
    assert isinstance(reference, ivm.Reference)
    assert reference.typeof == "number"
    assert reference.copy() == 42
    external = context.eval("({b: 'x'})", external_copy=True)
    assert isinstance(external, ivm.ExternalCopy)
    assert external.copy() == {"b": "x"}


def test_false_result_modes_are_ignored(context: ivm.Context) -> None:
    assert isinstance(context.eval("({})", copy=False, reference=True), ivm.Reference)
    assert context.eval("({})", copy=True, reference=False) == {}


def test_globals_persist_within_a_context(context: ivm.Context) -> None:
    context.eval("globalThis.counter = 1")
    context.eval("counter += 1")
    context.eval("function twice(x) { return 2 * x }")
    assert context.eval("twice(counter)") == 4


def test_contexts_of_one_isolate_are_separate(isolate: ivm.Isolate) -> None:
    first = isolate.create_context()
    second = isolate.create_context()
    first.eval("globalThis.x = 'first'")
    assert second.eval("typeof x") == "undefined"
    second.eval("globalThis.x = 'second'")
    assert first.eval("x") == "first"


def test_eval_closure_arguments(context: ivm.Context) -> None:
    assert context.eval_closure("return $0 + $1", 40, 2) == 42
    assert context.eval_closure("return arguments.length", 1, 2, 3) == 3
    assert context.eval_closure("return [typeof $0, $0]", None, copy=True) == ["object", None]
    assert context.eval_closure("return 'no arguments'") == "no arguments"
    assert context.eval_closure("globalThis.side = 1") is None
    assert context.eval("side") == 1


def test_eval_closure_arguments_are_copies(context: ivm.Context) -> None:
    values = [1, 2]
    assert context.eval_closure("$0.push(3); return $0.length", values) == 3
    assert values == [1, 2]


def test_eval_closure_with_reference_argument(context: ivm.Context) -> None:
    target = context.eval("globalThis.target = {n: 1}; target")
    assert context.eval_closure("$0.n += 1; return $0 === target", target) is True
    assert context.eval("target.n") == 2


def test_eval_closure_with_options(context: ivm.Context) -> None:
    assert context.eval_closure("return {a: $0}", 1, copy=True) == {"a": 1}
    with pytest.raises(ivm.JSError) as raised:
        context.eval_closure("throw new Error('here')", filename="closure.js")
    assert "closure.js" in (raised.value.stack or "")


def test_script_runs_in_several_contexts(isolate: ivm.Isolate) -> None:
    script = isolate.compile_script("globalThis.runs = (globalThis.runs || 0) + 1; runs")
    first = isolate.create_context()
    second = isolate.create_context()
    assert script.run(first) == 1
    assert script.run(first) == 2
    assert script.run(second) == 1


def test_script_run_options(isolate: ivm.Isolate, context: ivm.Context) -> None:
    script = isolate.compile_script("({list: [1, 2]})")
    assert script.run(context, copy=True) == {"list": [1, 2]}
    assert isinstance(script.run(context), ivm.Reference)
    with pytest.raises(ivm.TimeoutError):
        isolate.compile_script("for (;;) {}").run(context, timeout=0.05)


def test_script_in_context_of_another_isolate_is_usage_error(isolate: ivm.Isolate) -> None:
    script = isolate.compile_script("1")
    with ivm.Isolate() as other:
        with pytest.raises(ivm.UsageError):
            script.run(other.create_context())


def test_filename_in_stack_traces(context: ivm.Context) -> None:
    stack = context.eval("\n\nnew Error('where').stack", filename="my-file.js")
    assert "my-file.js:3:" in stack
    with pytest.raises(ivm.JSError) as raised:
        context.eval("function f() { throw new Error('x') }\nf()", filename="thrower.js")
    assert "thrower.js:1:" in (raised.value.stack or "")
    assert "thrower.js:2:" in (raised.value.stack or "")


def test_line_and_column_offsets(context: ivm.Context) -> None:
    stack = context.eval("new Error('x').stack", filename="off.js", line_offset=10, column_offset=5)
    assert "off.js:11:6" in stack


def test_script_filename_in_stack_traces(isolate: ivm.Isolate, context: ivm.Context) -> None:
    script = isolate.compile_script("\nthrow new RangeError('bad')", filename="script.js", line_offset=100)
    with pytest.raises(ivm.JSError) as raised:
        script.run(context)
    assert raised.value.name == "RangeError"
    assert "script.js:102:" in (raised.value.stack or "")


def test_compile_syntax_error(isolate: ivm.Isolate) -> None:
    with pytest.raises(ivm.JSError) as raised:
        isolate.compile_script("let = = 1", filename="broken.js")
    assert raised.value.name == "SyntaxError"
    assert "broken.js" in (raised.value.stack or "")


def test_context_release(isolate: ivm.Isolate) -> None:
    context = isolate.create_context()
    global_ = context.global_
    context.release()
    with pytest.raises(ivm.ReleasedError):
        context.eval("1")
    with pytest.raises(ivm.ReleasedError):
        context.eval_closure("return 1")
    with pytest.raises(ivm.ReleasedError):
        _ = context.global_
    with pytest.raises(ivm.ReleasedError):
        global_.get("Object")
    context.release()  # releasing twice is harmless


def test_context_manager_releases(isolate: ivm.Isolate) -> None:
    with isolate.create_context() as context:
        assert isinstance(context, ivm.Context)
        assert context.eval("1") == 1
    with pytest.raises(ivm.ReleasedError):
        context.eval("1")
    assert not isolate.is_disposed
    assert isolate.create_context().eval("2") == 2


def test_script_release(isolate: ivm.Isolate, context: ivm.Context) -> None:
    script = isolate.compile_script("1")
    assert script.run(context) == 1
    script.release()
    with pytest.raises(ivm.ReleasedError):
        script.run(context)
    script.release()


def test_released_context_in_async_form(isolate: ivm.Isolate) -> None:
    context = isolate.create_context()
    context.release()

    async def main() -> None:
        with pytest.raises(ivm.ReleasedError):
            await context.eval_async("1")

    asyncio.run(main())


def test_released_handles_are_collected(isolate: ivm.Isolate) -> None:
    base = isolate.reference_count
    for _ in range(100):
        isolate.create_context().eval("({})")
    gc.collect()
    assert isolate.reference_count == base


def test_async_forms(isolate: ivm.Isolate, context: ivm.Context) -> None:
    async def main() -> list[object]:
        script = isolate.compile_script("globalThis.fromScript = 3; fromScript")
        return [
            await context.eval_async("1 + 1"),
            await context.eval_async("({a: 1})", copy=True),
            await context.eval_closure_async("return $0 * $1", 6, 7),
            await script.run_async(context),
            await context.eval_async("Promise.resolve('p')", promise=True),
        ]

    assert asyncio.run(main()) == [2, {"a": 1}, 42, 3, "p"]


def test_eval_async_returns_reference(context: ivm.Context) -> None:
    async def main() -> object:
        return await context.eval_async("[1, 2, 3]")

    result = asyncio.run(main())
    assert isinstance(result, ivm.Reference)
    assert result.copy() == [1, 2, 3]


def test_ignored_forms(isolate: ivm.Isolate, context: ivm.Context) -> None:
    context.eval_ignored("globalThis.a = 1")
    context.eval_closure_ignored("globalThis.b = $0", 2)
    isolate.compile_script("globalThis.c = 3").run_ignored(context)
    assert context.eval("[a, b, c]", copy=True) == [1, 2, 3]


def test_ignored_errors_are_dropped(context: ivm.Context) -> None:
    context.eval_ignored("throw new Error('dropped')")
    context.eval_ignored("for (;;) {}", timeout=0.05)
    context.eval_ignored("syntax error here")
    assert context.eval("'still fine'") == "still fine"


def test_ignored_calls_run_in_order_before_later_async_call(context: ivm.Context) -> None:
    context.eval_ignored("globalThis.log = []")
    for index in range(10):
        context.eval_ignored(f"log.push({index})")

    async def main() -> object:
        return await context.eval_async("log", copy=True)

    assert asyncio.run(main()) == list(range(10))


def test_mixed_forms_run_in_call_order(isolate: ivm.Isolate, context: ivm.Context) -> None:
    context.eval_ignored("globalThis.log = []")
    context.eval_ignored("{ const end = Date.now() + 50; while (Date.now() < end) {} log.push('slow') }")
    context.eval_closure_ignored("log.push($0)", "closure")
    context.global_.set_ignored("flag", "set")
    isolate.compile_script("log.push(flag)").run_ignored(context)
    push = context.eval("(x) => log.push(x)")
    push.apply_ignored(None, ["applied"])
    assert context.eval("log", copy=True) == ["slow", "closure", "set", "applied"]


def test_async_calls_run_in_call_order(context: ivm.Context) -> None:
    async def main() -> object:
        context.eval_ignored("globalThis.log = []")
        futures = [context.eval_async(f"log.push({index}); log.length") for index in range(20)]
        lengths = await asyncio.gather(*futures)
        assert lengths == list(range(1, 21))
        return await context.eval_async("log", copy=True)

    assert asyncio.run(main()) == list(range(20))


def test_sync_call_waits_for_queued_calls(context: ivm.Context) -> None:
    context.eval_ignored("{ const end = Date.now() + 100; while (Date.now() < end) {} globalThis.done = true }")
    assert context.eval("globalThis.done") is True


def test_repr(isolate: ivm.Isolate, context: ivm.Context) -> None:
    assert "Context" in repr(context)
    assert "Script" in repr(isolate.compile_script("1"))
