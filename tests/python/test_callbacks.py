"""Python functions called from JavaScript: sync and async callbacks."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)


def test_callable_argument_becomes_function(context: ivm.Context) -> None:
    assert context.eval_closure("return typeof $0", lambda: None) == "function"
    assert context.eval_closure("return $0(2, 3)", lambda a, b: a + b) == 5


def test_callable_property_becomes_function(context: ivm.Context) -> None:
    calls: list[tuple[Any, ...]] = []
    context.global_.set("record", lambda *args: calls.append(args))
    context.eval("record(1, 'two', [3], {four: 4}, null, undefined, true, 2n ** 70n)")
    assert calls == [(1, "two", [3], {"four": 4}, None, None, True, 2**70)]


def test_builtin_and_bound_methods_are_callbacks(context: ivm.Context) -> None:
    items: list[int] = []
    context.global_.set("append", items.append)
    context.global_.set("length", len)
    context.eval("append(1); append(2)")
    assert items == [1, 2]
    assert context.eval("length('four')") == 4


def test_explicit_callback(context: ivm.Context) -> None:
    callback = ivm.Callback(lambda value: value * 2)
    assert "Callback" in repr(callback)
    context.global_.set("double", callback)
    assert context.eval("double(21)") == 42
    assert context.eval_closure("return $0(4)", callback) == 8


def test_callback_of_non_callable_is_type_error() -> None:
    with pytest.raises(TypeError):
        ivm.Callback(5)  # type: ignore[arg-type]


def test_classes_are_not_callbacks(context: ivm.Context) -> None:
    with pytest.raises(ivm.TransferError):
        context.eval_closure("return 1", dict)


def test_callback_return_values(context: ivm.Context) -> None:
    assert context.eval_closure("return $0().x[1]", lambda: {"x": [1, 2]}) == 2
    assert context.eval_closure("return $0() === null", lambda: None) is True
    assert context.eval_closure("return typeof $0()", lambda: 2**70) == "bigint"
    assert context.eval_closure("return $0()(5)", lambda: (lambda y: y + 1)) == 6
    reference = context.eval("({n: 7})")
    assert context.eval_closure("return $0().n", lambda: reference) == 7
    assert context.eval_closure("return $0().getSync('k')", lambda: ivm.Reference({"k": "v"})) == "v"


def test_callback_arguments_are_copies(context: ivm.Context) -> None:
    seen: list[Any] = []
    context.global_.set("keep", seen.append)
    context.eval("globalThis.o = {list: [1]}; keep(o); o.list.push(2)")
    assert seen == [{"list": [1]}]
    seen[0]["list"].append(99)
    assert context.eval("o.list", copy=True) == [1, 2]


def test_callback_receives_cyclic_values(context: ivm.Context) -> None:
    seen: list[Any] = []
    context.global_.set("keep", seen.append)
    context.eval("const c = {}; c.c = c; keep(c)")
    assert seen[0]["c"] is seen[0]


def test_python_exception_reaches_javascript_as_error(context: ivm.Context) -> None:
    def fail() -> None:
        raise ValueError("bad thing")

    context.global_.set("fail", fail)
    assert context.eval(
        "try { fail(); 'no' } catch (e) { [e instanceof Error, e.name, e.message] }", copy=True
    ) == [True, "Error", "bad thing"]


def test_python_exception_without_message_uses_class_name(context: ivm.Context) -> None:
    def fail() -> None:
        raise KeyboardInterruptLike()

    class KeyboardInterruptLike(Exception):
        pass

    context.global_.set("fail", fail)
    assert context.eval("try { fail() } catch (e) { e.message }") == "KeyboardInterruptLike"


def test_uncaught_python_exception_comes_back_as_js_error(context: ivm.Context) -> None:
    def fail() -> None:
        raise ValueError("bad thing")

    context.global_.set("fail", fail)
    with pytest.raises(ivm.JSError) as raised:
        context.eval("fail()", filename="caller.js")
    assert raised.value.name == "Error"
    assert raised.value.message == "bad thing"
    assert "bad thing" in str(raised.value)
    assert "caller.js" in (raised.value.stack or "")
    assert context.eval("'still usable'") == "still usable"


def test_unsupported_return_value_is_error_in_javascript(context: ivm.Context) -> None:
    result = context.eval_closure(
        "try { $0(); return 'no' } catch (e) { return e instanceof Error }", lambda: object()
    )
    assert result is True


def test_callback_runs_on_calling_thread_for_sync_calls(context: ivm.Context) -> None:
    threads: list[int] = []
    context.eval_closure("$0()", lambda: threads.append(threading.get_ident()))
    assert threads == [threading.get_ident()]


def test_callback_can_reenter_its_isolate(context: ivm.Context) -> None:
    context.eval("globalThis.base = 40")
    assert context.eval_closure("return $0()", lambda: context.eval("base + 2")) == 42


def test_callback_called_many_times(context: ivm.Context) -> None:
    total = [0]

    def add(value: int) -> None:
        total[0] += value

    context.global_.set("add", add)
    context.eval("for (let i = 0; i < 1000; i++) add(i)")
    assert total[0] == sum(range(1000))


def test_callback_from_eval_async(context: ivm.Context) -> None:
    calls: list[Any] = []

    def record(value: Any) -> int:
        calls.append(value)
        return len(calls)

    context.global_.set("record", record)

    async def main() -> Any:
        return await context.eval_async("record('a'); record('b')")

    assert asyncio.run(main()) == 2
    assert calls == ["a", "b"]


def test_callback_exception_from_eval_async(context: ivm.Context) -> None:
    def fail() -> None:
        raise RuntimeError("async boom")

    context.global_.set("fail", fail)

    async def main() -> None:
        with pytest.raises(ivm.JSError) as raised:
            await context.eval_async("fail()")
        assert raised.value.message == "async boom"

    asyncio.run(main())


def test_async_callback_returns_promise() -> None:
    async def double(value: int) -> int:
        await asyncio.sleep(0.01)
        return value * 2

    async def main() -> list[Any]:
        with ivm.Isolate() as isolate:
            context = isolate.create_context()
            context.global_.set("double", double)
            return [
                await context.eval_async("double(1) instanceof Promise"),
                await context.eval_async("double(21)", promise=True),
                await context.eval_async("Promise.all([double(1), double(2)])", promise=True, copy=True),
            ]

    assert asyncio.run(main()) == [True, 42, [2, 4]]


def test_async_callback_runs_on_the_loop() -> None:
    loop_threads: list[int] = []

    async def where() -> str:
        loop_threads.append(threading.get_ident())
        asyncio.get_running_loop()  # raises if not on a loop
        return "ran"

    async def main() -> Any:
        with ivm.Isolate() as isolate:
            context = isolate.create_context()
            return await context.eval_closure_async("return $0()", where, promise=True)

    assert asyncio.run(main()) == "ran"
    assert loop_threads == [threading.get_ident()]


def test_async_callback_exception_rejects_promise() -> None:
    async def fail() -> None:
        raise KeyError("nope")

    async def main() -> None:
        with ivm.Isolate() as isolate:
            context = isolate.create_context()
            context.global_.set("fail", fail)
            caught = await context.eval_async(
                "fail().then(() => 'resolved', e => [e instanceof Error, e.message])", promise=True, copy=True
            )
            assert caught == [True, "'nope'"]
            with pytest.raises(ivm.JSError) as raised:
                await context.eval_async("fail()", promise=True)
            assert "nope" in raised.value.message

    asyncio.run(main())


def test_async_callbacks_run_concurrently() -> None:
    async def slow(value: int) -> int:
        await asyncio.sleep(0.1)
        return value

    async def main() -> tuple[Any, float]:
        with ivm.Isolate() as isolate:
            context = isolate.create_context()
            context.global_.set("slow", slow)
            loop = asyncio.get_running_loop()
            started = loop.time()
            result = await context.eval_async("Promise.all([1, 2, 3, 4, 5].map(x => slow(x)))", promise=True, copy=True)
            return result, loop.time() - started

    result, elapsed = asyncio.run(main())
    assert result == [1, 2, 3, 4, 5]
    assert elapsed < 0.4


def test_async_callback_made_without_loop_rejects() -> None:
    async def value() -> int:
        return 5

    callback = ivm.Callback(value)  # no event loop runs here

    async def main() -> Any:
        with ivm.Isolate() as isolate:
            context = isolate.create_context()
            return await context.eval_closure_async(
                "return $0().then(x => 'resolved ' + x, e => 'rejected: ' + e.message)", callback, promise=True
            )

    result = asyncio.run(main())
    assert result.startswith("rejected: ")
    assert "event loop" in result


def test_callback_with_async_and_sync_mixed() -> None:
    log: list[str] = []

    async def fetch(name: str) -> str:
        await asyncio.sleep(0)
        log.append(f"fetch {name}")
        return name.upper()

    async def main() -> Any:
        with ivm.Isolate() as isolate:
            context = isolate.create_context()
            context.global_.set("fetch", fetch)
            context.global_.set("log", log.append)
            return await context.eval_async(
                "(async () => { log('start'); const v = await fetch('x'); log('got ' + v); return v })()",
                promise=True,
            )

    assert asyncio.run(main()) == "X"
    assert log == ["start", "fetch x", "got X"]


def test_python_exception_is_cause_of_js_error(context: ivm.Context) -> None:
    original = ValueError("the original")

    def fail() -> None:
        raise original

    context.global_.set("fail", fail)
    with pytest.raises(ivm.JSError) as raised:
        context.eval("fail()")
    assert raised.value.__cause__ is original


def test_js_error_of_other_origin_has_no_cause(context: ivm.Context) -> None:
    def fail() -> None:
        raise ValueError("caught in JavaScript")

    context.global_.set("fail", fail)
    with pytest.raises(ivm.JSError) as raised:
        context.eval("try { fail() } catch (e) { throw new Error('another') }")
    assert raised.value.__cause__ is None


def test_caught_callback_exception_is_not_cause_of_later_error(context: ivm.Context) -> None:
    def fail() -> None:
        raise ValueError("same message")

    context.global_.set("fail", fail)
    context.eval("try { fail() } catch (e) {}")
    with pytest.raises(ivm.JSError) as raised:
        context.eval("throw new Error('same message')")
    assert raised.value.__cause__ is None


def test_ivm_errors_a_callback_lets_through_keep_their_class(context: ivm.Context) -> None:
    def spent() -> None:
        raise ivm.TimeoutError("Script execution timed out.")

    context.global_.set("spent", spent)
    with pytest.raises(ivm.TimeoutError, match="Script execution timed out."):
        context.eval("spent()")
    # Inside, it is an ordinary Error that code may catch.
    assert context.eval("try { spent() } catch (e) { e instanceof Error && e.message }") == "Script execution timed out."
    # A refusal of a Reference to a Python object is a TypeError, as
    # isolated-vm's.
    context.global_.set("log", ivm.Reference(print))
    assert context.eval("try { log.getSync('__globals__') } catch (e) { e.name }") == "TypeError"
