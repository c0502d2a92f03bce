"""Reference: values in an isolate, and Python objects handed to JavaScript."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)


def test_global_reference(context: ivm.Context) -> None:
    global_ = context.global_
    assert isinstance(global_, ivm.Reference)
    assert global_.typeof == "object"
    assert "isolate" in repr(global_)


def test_get_set_delete(context: ivm.Context) -> None:
    global_ = context.global_
    assert global_.set("x", 5) is True
    assert global_.get("x") == 5
    assert context.eval("x") == 5
    assert global_.delete("x") is True
    assert context.eval("typeof x") == "undefined"
    assert global_.get("x") is None


def test_get_missing_property_is_none(context: ivm.Context) -> None:
    assert context.global_.get("doesNotExist") is None


def test_get_object_property_is_reference(context: ivm.Context) -> None:
    context.eval("globalThis.nested = {inner: {value: 1}}")
    nested = context.global_.get("nested")
    assert isinstance(nested, ivm.Reference)
    inner = nested.get("inner")
    assert isinstance(inner, ivm.Reference)
    assert inner.get("value") == 1
    assert nested.get("inner", copy=True) == {"value": 1}
    external = nested.get("inner", external_copy=True)
    assert isinstance(external, ivm.ExternalCopy)
    assert external.copy() == {"value": 1}
    primitive = nested.get("inner", reference=True)
    assert isinstance(primitive, ivm.Reference)


def test_integer_and_other_keys(context: ivm.Context) -> None:
    array = context.eval("[10, 20, 30]")
    assert array.get(1) == 20
    assert array.get("length") == 3
    assert array.set(0, "a") is True
    assert array.copy() == ["a", 20, 30]
    assert array.delete(2) is True
    assert array.copy() == ["a", 20, None]
    mapping = context.eval("({'1.5': 'float', 'true': 'bool', 'null': 'null'})")
    assert mapping.get(1.5) == "float"
    assert mapping.get(True) == "bool"
    assert mapping.get(None) == "null"


def test_non_primitive_key_is_type_error(context: ivm.Context) -> None:
    with pytest.raises(TypeError):
        context.global_.get([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        context.global_.set({"a": 1}, 1)  # type: ignore[arg-type]


def test_set_values_of_every_kind(context: ivm.Context) -> None:
    global_ = context.global_
    global_.set("data", {"list": [1, 2], "n": None})
    assert context.eval("data.list[1]") == 2
    function = context.eval("(a) => a + 1")
    global_.set("inc", function)
    assert context.eval("inc(1)") == 2
    global_.set("double", lambda value: value * 2)
    assert context.eval("double(21)") == 42
    global_.set("copied", ivm.ExternalCopy([7]))
    assert context.eval("copied[0]") == 7


def test_delete_non_configurable_returns_false(context: ivm.Context) -> None:
    context.eval("Object.defineProperty(globalThis, 'fixed', {value: 1, configurable: false})")
    assert context.global_.delete("fixed") is False
    assert context.eval("fixed") == 1


def test_accessors_default_reads_own_data_properties_only(context: ivm.Context) -> None:
    value = context.eval("({own: 1, get computed() { globalThis.ran = true; return 2 }, __proto__: {inherited: 3}})")
    assert value.get("own") == 1
    assert value.get("inherited") is None
    with pytest.raises(ivm.UsageError):
        value.get("computed")
    assert context.eval("globalThis.ran") is None


def test_accessors_true_reads_as_javascript_does(context: ivm.Context) -> None:
    value = context.eval("({own: 1, get computed() { globalThis.ran = true; return 2 }, __proto__: {inherited: 3}})")
    assert value.get("own", accessors=True) == 1
    assert value.get("computed", accessors=True) == 2
    assert context.eval("globalThis.ran") is True
    assert value.get("inherited", accessors=True) == 3
    assert value.get("toString", accessors=True).typeof == "function"


def test_accessors_and_proxies(context: ivm.Context) -> None:
    proxy = context.eval("new Proxy({}, {get() { return 42 }})")
    with pytest.raises(ivm.UsageError):
        proxy.get("anything")
    assert proxy.get("anything", accessors=True) == 42


def test_accessors_is_only_for_get(context: ivm.Context) -> None:
    with pytest.raises(TypeError):
        context.global_.set("x", 1, accessors=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        context.global_.delete("x", accessors=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        context.eval("(() => 1)").apply(accessors=True)  # type: ignore[call-arg]


def test_getter_errors_propagate_with_accessors(context: ivm.Context) -> None:
    value = context.eval("({get bad() { throw new RangeError('getter') }})")
    with pytest.raises(ivm.JSError) as raised:
        value.get("bad", accessors=True)
    assert raised.value.name == "RangeError"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("({})", "object"),
        ("[]", "object"),
        ("null", "null"),
        ("undefined", "undefined"),
        ("1", "number"),
        ("'s'", "string"),
        ("true", "boolean"),
        ("1n", "bigint"),
        ("(function () {})", "function"),
        ("class A {}", "function"),
        # isolated-vm's rule: a symbol's typeof is "object".
        ("Symbol('s')", "object"),
    ],
)
def test_typeof(context: ivm.Context, code: str, expected: str) -> None:
    assert context.eval(f"({code})", reference=True).typeof == expected


def test_copy(context: ivm.Context) -> None:
    reference = context.eval("({a: [1, {b: 'c'}]})")
    assert reference.copy() == {"a": [1, {"b": "c"}]}
    context.eval_closure("$0.a.push(2)", reference)
    assert reference.copy() == {"a": [1, {"b": "c"}, 2]}


def test_copy_of_function_is_transfer_error(context: ivm.Context) -> None:
    with pytest.raises(ivm.TransferError):
        context.eval("(() => 1)").copy()


def test_deref_of_isolate_value_is_usage_error(context: ivm.Context) -> None:
    with pytest.raises(ivm.UsageError):
        context.eval("({})").deref()


def test_apply(context: ivm.Context) -> None:
    function = context.eval("(function (a, b) { 'use strict'; return [this === undefined ? 'undef' : this.k, a + b] })")
    assert function.typeof == "function"
    assert function.apply(None, [1, 2], copy=True) == ["undef", 3]
    assert function.apply({"k": "v"}, [1, 2], copy=True) == ["v", 3]
    assert function.apply(arguments=(3, 4), copy=True) == ["undef", 7]
    result = function.apply(None, [1, 2])
    assert isinstance(result, ivm.Reference)
    assert result.copy() == ["undef", 3]


def test_apply_receiver_reference(context: ivm.Context) -> None:
    receiver = context.eval("globalThis.self = {k: 'ref'}; self")
    method = context.eval("(function () { return this === self })")
    assert method.apply(receiver) is True


def test_apply_arguments_any_iterable(context: ivm.Context) -> None:
    add = context.eval("(...xs) => xs.reduce((a, b) => a + b, 0)")
    assert add.apply(None, range(5)) == 10
    assert add.apply(None, (x for x in [1, 2, 3])) == 6
    assert add.apply() == 0


def test_apply_with_callable_and_reference_arguments(context: ivm.Context) -> None:
    call_it = context.eval("(f, x) => f(x.n)")
    holder = context.eval("({n: 20})")
    assert call_it.apply(None, [lambda n: n + 1, holder]) == 21


def test_apply_throws_js_error(context: ivm.Context) -> None:
    failing = context.eval("() => { throw new TypeError('nope') }")
    with pytest.raises(ivm.JSError) as raised:
        failing.apply()
    assert raised.value.name == "TypeError"
    assert raised.value.message == "nope"


def test_apply_non_function_is_error(context: ivm.Context) -> None:
    with pytest.raises(ivm.IvmError):
        context.eval("({})").apply()


def test_apply_timeout(context: ivm.Context) -> None:
    spin = context.eval("() => { for (;;) {} }")
    with pytest.raises(ivm.TimeoutError):
        spin.apply(timeout=0.05)
    assert context.eval("1") == 1


def test_apply_promise(context: ivm.Context) -> None:
    later = context.eval("async (x) => x * 2")
    assert isinstance(later.apply(None, [2]), ivm.Reference)
    assert later.apply(None, [2], promise=True) == 4


def test_async_forms(context: ivm.Context) -> None:
    global_ = context.global_
    function = context.eval("(a, b) => ({sum: a + b})")

    async def main() -> list[Any]:
        return [
            await global_.set_async("y", [1, 2]),
            await global_.get_async("y", copy=True),
            await global_.get_async("y"),
            await global_.delete_async("y"),
            await global_.get_async("y"),
            await function.apply_async(None, [1, 2], copy=True),
            await context.eval("({c: 3})").copy_async(),
        ]

    set_result, copied, reference, deleted, missing, applied, copy = asyncio.run(main())
    assert set_result is True
    assert copied == [1, 2]
    assert isinstance(reference, ivm.Reference)
    assert deleted is True
    assert missing is None
    assert applied == {"sum": 3}
    assert copy == {"c": 3}


def test_async_get_with_accessors(context: ivm.Context) -> None:
    value = context.eval("({get g() { return 'got' }})")

    async def main() -> Any:
        with pytest.raises(ivm.UsageError):
            await value.get_async("g")
        return await value.get_async("g", accessors=True)

    assert asyncio.run(main()) == "got"


def test_ignored_forms(context: ivm.Context) -> None:
    global_ = context.global_
    global_.set_ignored("z", 1)
    assert context.eval("z") == 1
    global_.delete_ignored("z")
    assert context.eval("typeof z") == "undefined"
    push = context.eval("globalThis.log = []; (x) => log.push(x)")
    push.apply_ignored(None, ["a"])
    push.apply_ignored(None, ["b"])
    assert context.eval("log", copy=True) == ["a", "b"]


def test_ignored_forms_drop_errors(context: ivm.Context) -> None:
    context.eval("() => { throw new Error('dropped') }").apply_ignored()
    context.global_.delete_ignored("NaN")
    assert context.eval("1") == 1


def test_release_then_use_is_released_error(isolate: ivm.Isolate, context: ivm.Context) -> None:
    reference = context.eval("({a: 1})")
    function = context.eval("() => 1")
    reference.release()
    function.release()
    with pytest.raises(ivm.ReleasedError):
        reference.get("a")
    with pytest.raises(ivm.ReleasedError):
        reference.set("a", 2)
    with pytest.raises(ivm.ReleasedError):
        reference.delete("a")
    with pytest.raises(ivm.ReleasedError):
        reference.copy()
    with pytest.raises(ivm.ReleasedError):
        _ = reference.typeof
    with pytest.raises(ivm.ReleasedError):
        function.apply()
    with pytest.raises(ivm.ReleasedError):
        context.eval_closure("return $0", reference)
    reference.release()  # twice is harmless

    async def main() -> None:
        with pytest.raises(ivm.ReleasedError):
            await function.apply_async()
        with pytest.raises(ivm.ReleasedError):
            await reference.get_async("a")
        with pytest.raises(ivm.ReleasedError):
            await reference.copy_async()

    asyncio.run(main())


def test_release_lowers_reference_count(isolate: ivm.Isolate, context: ivm.Context) -> None:
    base = isolate.reference_count
    references = [context.eval("({})") for _ in range(10)]
    assert isolate.reference_count == base + 10
    for reference in references:
        reference.release()
    assert isolate.reference_count == base
    more = [context.eval("({})") for _ in range(10)]
    assert isolate.reference_count == base + 10
    del more
    gc.collect()
    assert isolate.reference_count == base


def test_reference_used_in_another_isolate_is_usage_error(context: ivm.Context) -> None:
    reference = context.eval("({})")
    with ivm.Isolate() as other:
        other_context = other.create_context()
        with pytest.raises(ivm.UsageError):
            other_context.global_.set("r", reference)
        with pytest.raises(ivm.UsageError):
            other_context.eval_closure("return $0", reference)


# --- host references: Python objects held by JavaScript ---------------------


def test_host_reference_deref_is_the_same_object() -> None:
    target = {"k": 1}
    reference = ivm.Reference(target)
    assert reference.deref() is target
    assert "Python" in repr(reference)


def test_host_reference_round_trip_keeps_identity(context: ivm.Context) -> None:
    target = [1, 2]
    back = context.eval_closure("return $0", ivm.Reference(target))
    assert isinstance(back, ivm.Reference)
    assert back.deref() is target
    context.global_.set("held", ivm.Reference(target))
    assert context.global_.get("held").deref() is target
    assert context.eval("held", reference=True).deref() is target


def test_host_reference_typeof() -> None:
    assert ivm.Reference({}).typeof == "object"
    assert ivm.Reference(print).typeof == "function"
    assert ivm.Reference(lambda: None).typeof == "function"


def test_host_reference_in_javascript(context: ivm.Context) -> None:
    target = {"k": 1}
    reference = ivm.Reference(target)
    assert context.eval_closure("return [typeof $0, $0.constructor.name, $0.typeof]", reference, copy=True) == [
        "object",
        "Reference",
        "object",
    ]
    assert context.eval_closure("return $0.getSync('k')", reference) == 1
    assert context.eval_closure("return $0.getSync('missing')", reference) is None
    context.eval_closure("$0.setSync('m', [1, 2])", reference)
    assert target["m"] == [1, 2]
    context.eval_closure("$0.deleteSync('m')", reference)
    assert "m" not in target
    assert context.eval_closure("return $0.copySync()", reference, copy=True) == {"k": 1}


def test_a_reference_to_a_function_is_callable(context: ivm.Context) -> None:
    add = context.eval("(a, b) => a + b")
    assert isinstance(add, ivm.Reference)
    assert add(2, 3) == 5 == add.apply(None, [2, 3])
    with pytest.raises(ivm.UsageError, match="not a function"):
        context.eval("({})", reference=True)()


def test_host_reference_apply_sync(context: ivm.Context) -> None:
    multiply = ivm.Reference(lambda a, b: a * b)
    assert context.eval_closure("return $0.typeof", multiply) == "function"
    assert context.eval_closure("return $0.applySync(undefined, [6, 7])", multiply) == 42


def test_deref_into_inside_gives_the_python_object_back_once(context: ivm.Context) -> None:
    target = {"a": 1}
    seen: list[object] = []
    reference, record = ivm.Reference(target), ivm.Reference(seen.append)
    context.eval_closure("globalThis.once = $0.derefInto(); $1.applySync(undefined, [once])", reference, record)
    assert len(seen) == 1 and seen[0] is target
    assert context.eval_closure("return $0.derefInto()", reference) is target
    message = context.eval_closure(
        "try { $0.applySync(undefined, [once]); return 'no' } catch (e) { return e.message }", record
    )
    assert message == "The return value of `derefInto()` should only be used once"


def test_host_reference_attributes(context: ivm.Context) -> None:
    class Box:
        def __init__(self) -> None:
            self.value = 3

        def method(self, x: int) -> int:
            return self.value + x

    box = Box()
    reference = ivm.Reference(box)
    assert context.eval_closure("return $0.getSync('value')", reference) == 3
    context.eval_closure("$0.setSync('value', 10)", reference)
    assert box.value == 10
    # A method is the class's, not the instance's own data.
    assert context.eval_closure("return $0.getSync('method')", reference) is None
    assert context.eval_closure("return $0.getSync('nope')", reference) is None
    granted = ivm.Reference(box, unsafe_inherit=True, accessors=True)
    assert context.eval_closure("return $0.getSync('method').applySync(undefined, [5])", granted) == 15


def test_host_reference_sequence_items(context: ivm.Context) -> None:
    items = [10, 20, 30]
    reference = ivm.Reference(items)
    assert context.eval_closure("return $0.getSync(1)", reference) == 20
    assert context.eval_closure("return $0.getSync(7)", reference) is None
    context.eval_closure("$0.setSync(0, 'a')", reference)
    assert items[0] == "a"


def test_host_reference_nested_objects_stay_references(context: ivm.Context) -> None:
    inner = {"q": 9}
    reference = ivm.Reference({"sub": inner})
    assert context.eval_closure(
        "const r = $0.getSync('sub'); return [r instanceof $0.constructor, r.getSync('q')]", reference, copy=True
    ) == [True, 9]
    assert context.eval_closure("return $0.getSync('sub')", reference).deref() is inner


def test_host_reference_errors_reach_javascript(context: ivm.Context) -> None:
    failing = ivm.Reference(lambda: 1 / 0)
    assert context.eval_closure(
        "try { $0.applySync(undefined, []); return 'no' } catch (e) { return [e instanceof Error, e.message] }",
        failing,
        copy=True,
    ) == [True, "division by zero"]


def test_host_reference_async_methods_from_js(context: ivm.Context) -> None:
    add = ivm.Reference(lambda a, b: a + b)
    holder = ivm.Reference({"k": "v"})

    async def main() -> list[Any]:
        return [
            await context.eval_closure_async("return $0.apply(undefined, [2, 3])", add, promise=True),
            await context.eval_closure_async("return $0.get('k')", holder, promise=True),
        ]

    assert asyncio.run(main()) == [5, "v"]


def test_host_reference_methods_from_python() -> None:
    target: dict[str, Any] = {"k": 1, "sub": {"a": 1}}
    reference = ivm.Reference(target)
    assert reference.get("k") == 1
    assert reference.get("missing") is None
    sub = reference.get("sub")
    assert isinstance(sub, ivm.Reference)
    assert sub.deref() is target["sub"]
    assert reference.get("sub", copy=True) == {"a": 1}
    assert reference.set("j", 2) is True
    assert target["j"] == 2
    assert reference.delete("j") is True
    assert "j" not in target
    assert reference.copy() == {"k": 1, "sub": {"a": 1}}
    function = ivm.Reference(lambda *args: list(args))
    assert function.apply(None, [1, 2], copy=True) == [1, 2]
    assert function.apply(None, [1, 2]).deref() == [1, 2]
    assert ivm.Reference(lambda a, b: a * b).apply(None, [3, 4]) == 12


def test_host_reference_async_forms_are_usage_errors() -> None:
    reference = ivm.Reference({})
    with pytest.raises(ivm.UsageError):
        reference.get_async("k")
    with pytest.raises(ivm.UsageError):
        reference.set_ignored("k", 1)
    with pytest.raises(ivm.UsageError):
        reference.apply_ignored()


def test_an_ivm_error_raised_behind_a_reference_keeps_its_class(context: ivm.Context) -> None:
    def expired() -> None:
        raise ivm.TimeoutError("from the host")

    context.global_.set("expired", ivm.Reference(expired))
    with pytest.raises(ivm.TimeoutError, match="from the host"):
        context.eval("expired.applySync(undefined, [])")
