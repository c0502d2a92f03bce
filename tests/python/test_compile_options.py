"""V8's code cache on compile_script, compile_module and eval, and node:vm's
context controls on create_context."""

from __future__ import annotations

import asyncio

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)

FIB = "function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); } fib(20)"


def test_a_code_cache_is_made_and_consumed(isolate: ivm.Isolate, context: ivm.Context) -> None:
    first = isolate.compile_script(FIB, produce_cached_data=True)
    assert isinstance(first.cached_data, bytes) and first.cached_data
    assert first.cached_data_rejected is None
    again = isolate.compile_script(FIB, cached_data=first.cached_data)
    assert again.cached_data_rejected is False
    assert again.cached_data is None
    assert again.run(context) == 6765


def test_a_cache_of_other_source_or_garbage_is_rejected(isolate: ivm.Isolate, context: ivm.Context) -> None:
    cache = isolate.compile_script(FIB, produce_cached_data=True).cached_data
    other = isolate.compile_script("'other source'", cached_data=cache)
    assert other.cached_data_rejected is True
    assert other.run(context) == "other source"
    garbage = isolate.compile_script("'garbage cache'", cached_data=b"\x01\x02\x03")
    assert garbage.cached_data_rejected is True
    with pytest.raises(TypeError):
        isolate.compile_script("1", cached_data="not bytes")  # type: ignore[typeddict-item]


def test_modules_have_code_caches_too(isolate: ivm.Isolate) -> None:
    module = isolate.compile_module("export const x = 1;", produce_cached_data=True)
    assert module.cached_data
    reused = isolate.compile_module("export const x = 1;", cached_data=module.cached_data)
    assert reused.cached_data_rejected is False


def test_eval_compiles_with_a_scripts_cache(isolate: ivm.Isolate) -> None:
    cache = isolate.compile_script(FIB, produce_cached_data=True).cached_data
    with ivm.Isolate() as fresh:
        context = fresh.create_context()
        assert context.eval(FIB, cached_data=cache) == 6765
        assert context.eval("'other source'", cached_data=b"\x01\x02\x03") == "other source"


def test_code_caches_are_made_by_compiling_only(context: ivm.Context) -> None:
    with pytest.raises(TypeError):
        context.eval("1", produce_cached_data=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        context.eval_closure("return 1", cached_data=b"")  # type: ignore[call-arg]


WASM = "new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))"


def test_a_context_can_refuse_code_generation(isolate: ivm.Isolate) -> None:
    strict = isolate.create_context(code_generation_from_strings=False, wasm_code_generation=False)
    for code in ("eval('1 + 1')", "new Function('return 1')"):
        with pytest.raises(ivm.JSError) as refused:
            strict.eval(code)
        assert refused.value.name == "EvalError"
    with pytest.raises(ivm.JSError) as wasm:
        strict.eval(WASM)
    assert wasm.value.name == "CompileError"
    assert strict.eval("1 + 1") == 2
    default = isolate.create_context()
    assert default.eval("eval('1 + 1')") == 2
    assert default.eval(f"{WASM} instanceof WebAssembly.Module") is True


def test_a_context_can_start_with_globals(isolate: ivm.Isolate) -> None:
    seeded = isolate.create_context(globals={"answer": 42, "names": ["a", "b"]})
    assert seeded.eval("answer + names.length") == 44

    async def made_async() -> object:
        context = await isolate.create_context_async(globals={"x": 1}, code_generation_from_strings=False)
        return context.eval("typeof eval === 'function' && x")

    assert asyncio.run(made_async()) == 1
    with pytest.raises(ivm.TransferError):
        isolate.create_context(globals={"bad": object()})
