"""``ivm.vm``: node:vm's API over ivm isolates, with a dict as the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ivm
from ivm import vm


def test_the_seed_example_updates_the_dict() -> None:
    sandbox = {"animal": "cat", "count": 2}
    assert vm.run_in_new_context('count += 1; name = "kitty"', sandbox) == "kitty"
    assert sandbox == {"animal": "cat", "count": 3, "name": "kitty"}


def test_globals_created_changed_and_deleted_follow_the_dict() -> None:
    with vm.create_context({"kept": "k", "changed": 1, "removed": True, "items": [1, 2]}) as context:
        assert vm.is_context(context) and not vm.is_context({})
        assert vm.create_context(context) is context
        result = vm.run_in_context(
            "changed += 1; var made = { deep: [1, { n: 2 }] }; delete globalThis.removed; items.push(3); kept",
            context,
        )
        assert result == "k"
        assert context.sandbox == {"kept": "k", "changed": 2, "items": [1, 2, 3], "made": {"deep": [1, {"n": 2}]}}
        context.sandbox["changed"] = 10
        del context.sandbox["made"]
        assert vm.run_in_context("changed + typeof made", context) == "10undefined"


def test_callables_are_callable_inside_also_within_dicts() -> None:
    calls: list[tuple[Any, ...]] = []
    with vm.create_context({"console": {"log": lambda *a: calls.append(a)}, "double": lambda v: 2 * v}) as context:
        assert vm.run_in_context("console.log('hi', { n: 1 }); double(21)", context) == 42
        assert calls == [("hi", {"n": 1})]
        assert vm.run_in_context("double.constructor('return typeof process')()", context) == "undefined"
        assert "console" in context.sandbox and callable(context.sandbox["double"])


def test_a_function_defined_inside_comes_out_callable() -> None:
    with vm.create_context() as context:
        vm.run_in_context("function triple(x) { return 3 * x }", context)
        assert context.sandbox["triple"](5) == 15


def test_a_promise_the_script_completes_with_gives_its_value_or_raises_its_rejection() -> None:
    sandbox = {"n": 20}
    assert vm.run_in_new_context("(async () => { await null; n += 1; return n * 2 })()", sandbox) == 42
    assert sandbox["n"] == 21
    with pytest.raises(ivm.JSError) as rejected:
        vm.run_in_new_context('Promise.reject(new RangeError("no"))')
    assert rejected.value.name == "RangeError" and "no" in str(rejected.value)
    with pytest.raises(ivm.IvmError, match="still pending when its run ended"):
        vm.run_in_new_context("new Promise(() => {})")


def test_a_call_of_a_function_defined_inside_writes_back_what_it_changed() -> None:
    with vm.create_context() as context:
        vm.run_in_context("var counter = 0; function inc(n) { counter += n; return counter }", context)
        assert context.sandbox["inc"](5) == 5
        assert context.sandbox["counter"] == 5
        assert vm.run_in_context("inc(1) + counter", context) == 12
        assert context.sandbox["counter"] == 6
        # Called by Python code that a run called: the run writes it back.
        context.sandbox["via_host"] = lambda: context.sandbox["inc"](10)
        assert vm.run_in_context("via_host(); counter", context) == 16
        assert context.sandbox["counter"] == 16


def test_an_async_function_defined_inside_gives_its_value_or_raises_its_rejection() -> None:
    with vm.create_context() as context:
        vm.run_in_context(
            """var handled = 0;
               async function handle(event, reply) { await null; handled += 1; reply(event.id * 2); return this === globalThis }
               async function refuse() { await null; throw new TypeError('refused ' + handled) }""",
            context,
        )
        replies: list[int] = []
        assert context.sandbox["handle"]({"id": 21}, replies.append) is True
        assert replies == [42]
        assert context.sandbox["handled"] == 1
        with pytest.raises(ivm.JSError) as refused:
            context.sandbox["refuse"]()
        assert refused.value.name == "TypeError" and "refused 1" in str(refused.value)
        # Given back, such a function goes in as itself.
        context.sandbox["alias"] = context.sandbox["handle"]
        assert vm.run_in_context("alias === handle", context) is True


def test_an_instance_or_a_module_goes_in_with_its_public_methods_and_data() -> None:
    class Counter:
        def __init__(self) -> None:
            self.n = 1
            self._hidden = "no"

        def add(self, k: int) -> int:
            self.n += k
            return self.n

        @property
        def label(self) -> str:
            raise AssertionError("a property is not read")

    counter = Counter()
    code = "c.add(2) + ':' + c.n + ':' + typeof c._hidden + ':' + typeof c.label"
    assert vm.run_in_new_context(code, {"c": counter}) == "3:1:undefined:undefined"
    assert counter.n == 3
    import math

    assert vm.run_in_new_context("m.sqrt(16) + m.floor(m.pi)", {"m": math}) == 7


def test_a_value_that_cannot_cross_names_its_path() -> None:
    with pytest.raises(ivm.TransferError, match="outer"):
        vm.run_in_new_context("1", {"outer": {"inner": object()}})
    with pytest.raises(TypeError):
        vm.create_context([1, 2])  # type: ignore[arg-type]


def test_a_timeout_raises_node_vm_s_message_and_what_ran_before_stays() -> None:
    with vm.create_context({"n": 0}) as context:
        with pytest.raises(ivm.TimeoutError, match="Script execution timed out after 50ms"):
            vm.run_in_context("n = 1; for (;;) {}", context, timeout=0.05)
        assert context.sandbox["n"] == 1
        assert vm.run_in_context("n + 1", context) == 2


def test_errors_keep_their_class_and_a_syntax_error_names_the_file() -> None:
    with pytest.raises(ivm.JSError) as raised:
        vm.Script("let a = 1;\nlet a = 2;", filename="broken.js")
    assert raised.value.name == "SyntaxError" and "broken.js:2" in str(raised.value)
    with pytest.raises(ivm.JSError) as thrown:
        vm.run_in_new_context("x = 1; throw new RangeError('r')", (sandbox := {}))
    assert thrown.value.name == "RangeError" and sandbox == {"x": 1}


def test_hostile_memory_ends_in_a_memory_limit_error() -> None:
    with pytest.raises(ivm.MemoryLimitError):
        vm.run_in_new_context("const a = []; for (;;) a.push(new Array(1e5).fill(1))", memory_limit=32)


def test_scripts_run_in_many_contexts_and_in_this_context() -> None:
    script = vm.Script('globalVar = "set"')
    sandboxes: list[dict[str, Any]] = [{}, {}, {}]
    for sandbox in sandboxes:
        script.run_in_new_context(sandbox)
    assert sandboxes == [{"globalVar": "set"}] * 3
    counter = vm.Script("globalThis.counted = (globalThis.counted || 0) + 1")
    first = counter.run_in_this_context()
    assert counter.run_in_this_context() == first + 1
    assert vm.run_in_this_context("counted") == first + 1


CASES = json.loads((Path(__file__).parents[1] / "conformance" / "cases.json").read_text())


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["suite"] == "escapes" and "input" not in c and not c.get("options", {}).get("promise") and "hostLog" not in c["code"] and "hostObject" not in c["code"]],
    ids=lambda c: c["name"],
)
def test_the_conformance_escapes_stay_contained_through_run_in_new_context(case: dict[str, Any]) -> None:
    def host(*args: Any) -> str:
        return f"host:{len(args)}"

    def host_throws() -> None:
        raise Exception("from host")

    sandbox = {"host": host, "hostThrows": host_throws}
    if "throws" in case:
        with pytest.raises(Exception):
            vm.run_in_new_context(case["code"], sandbox)
    else:
        assert vm.run_in_new_context(case["code"], sandbox) == case["expect"]
