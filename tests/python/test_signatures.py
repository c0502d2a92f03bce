"""The options `help()` lists for a method are the ones it takes.

The signatures are written beside the methods in the binding; this checks
them against the compiled module, so that they cannot drift: every keyword
a signature names is accepted, and every option the method accepts is named.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import ivm

# Every keyword option any method of the binding takes.
OPTIONS = [
    "filename",
    "line_offset",
    "column_offset",
    "cached_data",
    "produce_cached_data",
    "timeout",
    "cpu_limit",
    "promise",
    "copy",
    "reference",
    "external_copy",
    "accessors",
    "code_generation_from_strings",
    "wasm_code_generation",
    "globals",
    "inspector",
    "name",
    "origin",
]


def accepted(call: Callable[..., Any]) -> set[str]:
    """The options `call` does not refuse as unexpected keywords."""
    taken = set()
    for name in OPTIONS:
        try:
            call(**{name: None})
        except TypeError as error:
            if "unexpected keyword argument" in str(error):
                continue
        except Exception:  # noqa: BLE001 - refused for its value, so taken
            pass
        taken.add(name)
    return taken


def listed(method: Any) -> set[str]:
    parameters = inspect.signature(method).parameters.values()
    return {parameter.name for parameter in parameters if parameter.kind is inspect.Parameter.KEYWORD_ONLY}


@pytest.fixture
def script(isolate: ivm.Isolate) -> ivm.Script:
    return isolate.compile_script("0")


def test_the_options_listed_are_the_options_taken(
    isolate: ivm.Isolate, context: ivm.Context, script: ivm.Script
) -> None:
    target = context.eval("({ a: 1 })", reference=True)
    function = context.eval("() => 1")
    module = isolate.compile_module("export default 0")
    module.instantiate(context, lambda specifier, referrer: None)
    calls: dict[Any, Callable[..., Any]] = {
        ivm.Context.eval: lambda **options: context.eval("0", **options),
        ivm.Context.eval_closure: lambda **options: context.eval_closure("0", **options),
        ivm.Isolate.compile_script: lambda **options: isolate.compile_script("0", **options),
        ivm.Isolate.compile_module: lambda **options: isolate.compile_module("0", **options),
        ivm.Script.run: lambda **options: script.run(context, **options),
        ivm.Reference.get: lambda **options: target.get("a", **options),
        ivm.Reference.set: lambda **options: target.set("a", 1, **options),
        ivm.Reference.delete: lambda **options: target.delete("b", **options),
        ivm.Reference.apply: lambda **options: function.apply(None, [], **options),
        ivm.Module.evaluate: lambda **options: module.evaluate(**options),
        ivm.Isolate.create_context: lambda **options: isolate.create_context(**options),
    }
    for method, call in calls.items():
        assert listed(method), f"{method.__qualname__} lists no options"
        assert listed(method) == accepted(call), method.__qualname__


OWNERS: dict[str, Any] = {
    "eval": ivm.Context,
    "eval_closure": ivm.Context,
    "compile_script": ivm.Isolate,
    "compile_module": ivm.Isolate,
    "run": ivm.Script,
    "get": ivm.Reference,
    "set": ivm.Reference,
    "delete": ivm.Reference,
    "apply": ivm.Reference,
    "evaluate": ivm.Module,
    "create_context": ivm.Isolate,
}


@pytest.mark.parametrize("name", list(OWNERS))
def test_the_async_and_ignored_forms_list_the_same_options(name: str) -> None:
    owner = OWNERS[name]
    forms = [getattr(owner, name + suffix) for suffix in ("", "_async", "_ignored") if hasattr(owner, name + suffix)]
    assert len(forms) >= 2
    signatures = {str(inspect.signature(form)) for form in forms}
    assert len(signatures) == 1, signatures
