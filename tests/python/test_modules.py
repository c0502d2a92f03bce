"""ES modules: compiling, linking through a resolver (plain or async),
evaluation with top-level await, namespaces and errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)


def library(isolate: ivm.Isolate, sources: dict[str, str]) -> Callable[[str, ivm.Module], ivm.Module]:
    """A resolver over modules compiled from `sources`, each compiled once."""
    compiled = {name: isolate.compile_module(code, filename=name) for name, code in sources.items()}

    def resolve(specifier: str, referrer: ivm.Module) -> ivm.Module:
        return compiled[specifier]

    return resolve


def test_a_module_graph_links_evaluates_and_exports(isolate: ivm.Isolate, context: ivm.Context) -> None:
    main = isolate.compile_module(
        "import { add } from './math.js'; import value from './value.js'; export const sum = add(value, 2);",
        filename="main.js",
    )
    assert main.dependency_specifiers == ["./math.js", "./value.js"]
    asked: list[tuple[str, ivm.Module]] = []
    resolve = library(isolate, {"./math.js": "export const add = (a, b) => a + b;", "./value.js": "export default 40;"})

    def recording(specifier: str, referrer: ivm.Module) -> ivm.Module:
        asked.append((specifier, referrer))
        return resolve(specifier, referrer)

    main.instantiate(context, recording)
    assert [specifier for specifier, _ in asked] == ["./math.js", "./value.js"]
    assert main.evaluate() is None
    assert main.namespace.get("sum") == 42
    assert main.namespace.typeof == "object"


def test_modules_run_once_and_cycles_link(isolate: ivm.Isolate, context: ivm.Context) -> None:
    main = isolate.compile_module("import { a } from 'a'; import { b } from 'b'; export const both = a() + b();")
    resolve = library(
        isolate,
        {
            "a": "import { b } from 'b'; export function a() { return 'a'; }",
            "b": "import { a } from 'a'; export function b() { return 'b'; } globalThis.runs = (globalThis.runs || 0) + 1;",
        },
    )
    main.instantiate(context, resolve)
    main.evaluate()
    assert main.namespace.get("both") == "ab"
    assert context.eval("runs") == 1


def test_top_level_await_is_waited_for(isolate: ivm.Isolate, context: ivm.Context) -> None:
    module = isolate.compile_module("export const value = await Promise.resolve(6).then((n) => n * 7);")
    module.instantiate(context, library(isolate, {}))
    module.evaluate()
    assert module.namespace.get("value") == 42
    failing = isolate.compile_module("await null; throw new RangeError('late failure');")
    failing.instantiate(context, library(isolate, {}))
    with pytest.raises(ivm.JSError) as raised:
        failing.evaluate()
    assert (raised.value.name, raised.value.message) == ("RangeError", "late failure")


def test_the_async_forms_with_a_coroutine_resolver_and_an_async_callback(isolate: ivm.Isolate) -> None:
    async def main() -> object:
        context = await isolate.create_context_async()

        async def later() -> str:
            await asyncio.sleep(0.01)
            return "from Python"

        context.global_.set("later", ivm.Callback(later))
        root = await isolate.compile_module_async("import { x } from 'x'; export const answer = x + ' ' + await later();")
        leaf = await isolate.compile_module_async("export const x = 'hello';")

        async def resolve(specifier: str, referrer: ivm.Module) -> ivm.Module:
            await asyncio.sleep(0.01)
            assert (specifier, referrer.dependency_specifiers) == ("x", ["x"])
            return leaf

        await root.instantiate_async(context, resolve)
        await root.evaluate_async(timeout=5)
        return root.namespace.get("answer")

    assert asyncio.run(main()) == "hello from Python"


def test_a_plain_resolver_works_in_the_async_form(isolate: ivm.Isolate, context: ivm.Context) -> None:
    root = isolate.compile_module("export { default } from 'leaf';")
    resolve = library(isolate, {"leaf": "export default 'plain';"})

    async def main() -> None:
        await root.instantiate_async(context, resolve)
        await root.evaluate_async()

    asyncio.run(main())
    assert root.namespace.get("default") == "plain"


def test_a_synchronous_evaluation_cannot_wait_on_python(isolate: ivm.Isolate, context: ivm.Context) -> None:
    async def never() -> None:
        await asyncio.sleep(10)

    async def main() -> None:
        context.global_.set("never", ivm.Callback(never))
        module = isolate.compile_module("await never();")
        module.instantiate(context, library(isolate, {}))
        with pytest.raises(ivm.IvmError):
            module.evaluate()

    asyncio.run(main())


def test_errors_say_what_went_wrong(isolate: ivm.Isolate, context: ivm.Context) -> None:
    with pytest.raises(ivm.JSError) as syntax:
        isolate.compile_module("export const = 1;")
    assert syntax.value.name == "SyntaxError"

    main = isolate.compile_module("import { missing } from 'dep';")

    def refuse(specifier: str, referrer: ivm.Module) -> ivm.Module:
        raise LookupError(f"no module named {specifier}")

    with pytest.raises(LookupError, match="no module named dep"):
        main.instantiate(context, refuse)
    with pytest.raises(TypeError, match="must return an ivm.Module"):
        main.instantiate(context, lambda specifier, referrer: "not a module")  # type: ignore[arg-type, return-value]
    with pytest.raises(ivm.JSError) as link:
        main.instantiate(context, library(isolate, {"dep": "export const present = 1;"}))
    assert link.value.name == "SyntaxError"

    fresh = isolate.compile_module("export default 1;")
    with pytest.raises(ivm.UsageError):
        fresh.evaluate()
    with pytest.raises(ivm.UsageError):
        fresh.namespace

    with ivm.Isolate() as other:
        foreign = other.compile_module("export default 1;")
        importer = isolate.compile_module("import f from 'foreign';")
        with pytest.raises(ivm.UsageError):
            importer.instantiate(context, lambda specifier, referrer: foreign)

    async def refused_later() -> None:
        async def refuse_async(specifier: str, referrer: ivm.Module) -> ivm.Module:
            raise LookupError(f"nothing at {specifier}")

        with pytest.raises(ivm.UsageError, match="nothing at dep"):
            await main.instantiate_async(context, refuse_async)

    asyncio.run(refused_later())


def test_evaluation_timeout_and_release(isolate: ivm.Isolate, context: ivm.Context) -> None:
    spin = isolate.compile_module("while (true) {}")
    spin.instantiate(context, library(isolate, {}))
    with pytest.raises(ivm.TimeoutError):
        spin.evaluate(timeout=0.03)
    module = isolate.compile_module("export default 1;")
    module.release()
    with pytest.raises(ivm.ReleasedError):
        module.instantiate(context, library(isolate, {}))


def test_dynamic_import_uses_the_async_resolver_and_import_meta(isolate: ivm.Isolate, context: ivm.Context) -> None:
    main = isolate.compile_module(
        "const { twice } = await import('./twice.js'); export const result = twice(21);"
        " export const url = import.meta.url; export const stage = import.meta.stage;",
        filename="file:///app/main.js",
    )
    main.set_import_meta({"stage": "test"})
    resolve = library(isolate, {"./twice.js": "export const twice = (n) => n * 2;"})

    async def run() -> None:
        await main.instantiate_async(context, resolve)
        await main.evaluate_async(timeout=5)

    asyncio.run(run())
    assert main.namespace.get("result") == 42
    assert main.namespace.get("url") == "file:///app/main.js"
    assert main.namespace.get("stage") == "test"
