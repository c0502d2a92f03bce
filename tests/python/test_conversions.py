"""Values between Python and JavaScript, both ways."""

from __future__ import annotations

import array
import asyncio
import datetime
import math
import re
import sys
from collections.abc import Callable
from subprocess import CompletedProcess
from typing import Any

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)

MAX_SAFE = 2**53 - 1
UTC = datetime.timezone.utc


def js_type(context: ivm.Context, value: object) -> str:
    """JavaScript's Object.prototype.toString of `value` once copied in."""
    result = context.eval_closure("return Object.prototype.toString.call($0)", value)
    assert isinstance(result, str)
    return result


def round_trip(context: ivm.Context, value: object) -> Any:
    return context.eval_closure("return $0", value, copy=True)


# --- JavaScript to Python ---------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("null", None),
        ("undefined", None),
        ("true", True),
        ("false", False),
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("1.5", 1.5),
        ("2.0", 2),
        ("1e300", 1e300),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        ("Number.MAX_SAFE_INTEGER", MAX_SAFE),
        ("-Number.MAX_SAFE_INTEGER", -MAX_SAFE),
        ("'text'", "text"),
        ("''", ""),
        ("'h\\u00e9llo \\u{1F30D}'", "h\u00e9llo \U0001f30d"),
        ("5n", 5),
        ("0n", 0),
        ("2n ** 64n", 2**64),
        ("-(2n ** 100n)", -(2**100)),
    ],
)
def test_primitives_from_js(context: ivm.Context, code: str, expected: object) -> None:
    result = context.eval(code)
    assert result == expected
    assert type(result) is type(expected)


def test_integral_numbers_come_back_as_int(context: ivm.Context) -> None:
    assert type(context.eval("3.0")) is int
    assert type(context.eval("0.5 + 0.5")) is int
    assert type(context.eval("0.1 + 0.2")) is float


def test_integral_numbers_beyond_safe_range_are_float(context: ivm.Context) -> None:
    result = context.eval("2 ** 60")
    assert type(result) is float
    assert result == 2.0**60


def test_nan_and_negative_zero_from_js(context: ivm.Context) -> None:
    nan = context.eval("NaN")
    assert isinstance(nan, float) and math.isnan(nan)
    negative_zero = context.eval("-0")
    assert isinstance(negative_zero, float)
    assert negative_zero == 0 and math.copysign(1, negative_zero) == -1
    positive_zero = context.eval("0")
    assert positive_zero == 0 and type(positive_zero) is int


def test_lone_surrogates_from_js(context: ivm.Context) -> None:
    assert context.eval("'\\ud800'") == "\ud800"
    assert context.eval("'a\\udc00b'") == "a\udc00b"
    assert context.eval("'\\ud83c\\udf0d'") == "\U0001f30d"


def test_plain_object_and_array_from_js(context: ivm.Context) -> None:
    value = context.eval("({a: 1, b: [true, null, 'x'], c: {d: 2.5}})", copy=True)
    assert value == {"a": 1, "b": [True, None, "x"], "c": {"d": 2.5}}
    assert type(value["b"]) is list


def test_object_key_order_from_js(context: ivm.Context) -> None:
    assert list(context.eval("({z: 1, a: 2, 2: 3, 1: 4})", copy=True)) == ["1", "2", "z", "a"]


def test_array_holes_and_undefined_are_none(context: ivm.Context) -> None:
    assert context.eval("[1, , 3, undefined]", copy=True) == [1, None, 3, None]
    assert context.eval("new Array(3)", copy=True) == [None, None, None]


def test_map_from_js(context: ivm.Context) -> None:
    assert context.eval("new Map([[1, 'one'], ['two', 2], [true, null]])", copy=True) == {
        1: "one",
        "two": 2,
        True: None,
    }


def test_map_with_unhashable_key_is_transfer_error(context: ivm.Context) -> None:
    with pytest.raises(ivm.TransferError):
        context.eval("new Map([[{}, 1]])", copy=True)


def test_set_from_js(context: ivm.Context) -> None:
    value = context.eval("new Set([1, 'a', null, 2.5])", copy=True)
    assert type(value) is set
    assert value == {1, "a", None, 2.5}


def test_date_from_js(context: ivm.Context) -> None:
    epoch = context.eval("new Date(0)", copy=True)
    assert epoch == datetime.datetime(1970, 1, 1, tzinfo=UTC)
    assert epoch.tzinfo is not None and epoch.utcoffset() == datetime.timedelta(0)
    moment = context.eval("new Date(Date.UTC(2024, 1, 29, 12, 34, 56, 789))", copy=True)
    assert moment == datetime.datetime(2024, 2, 29, 12, 34, 56, 789000, tzinfo=UTC)


def test_invalid_date_is_transfer_error(context: ivm.Context) -> None:
    with pytest.raises(ivm.TransferError):
        context.eval("new Date(NaN)", copy=True)


def test_regexp_from_js(context: ivm.Context) -> None:
    pattern = context.eval("/ab+c/im", copy=True)
    assert isinstance(pattern, re.Pattern)
    assert pattern.pattern == "ab+c"
    assert pattern.flags & re.IGNORECASE and pattern.flags & re.MULTILINE
    assert pattern.search("xABBC")


def test_boxed_primitives_from_js(context: ivm.Context) -> None:
    assert context.eval("[new String('s'), new Number(3), new Boolean(false), Object(5n)]", copy=True) == [
        "s",
        3,
        False,
        5,
    ]


def test_class_instance_copies_own_properties(context: ivm.Context) -> None:
    assert context.eval("new (class A { constructor() { this.x = 1 } m() {} })", copy=True) == {"x": 1}


def test_array_buffer_from_js(context: ivm.Context) -> None:
    value = context.eval("new Uint8Array([1, 2, 255]).buffer", copy=True)
    assert value == b"\x01\x02\xff"
    assert type(value) is bytes


@pytest.mark.parametrize(
    ("code", "fmt", "items"),
    [
        ("new Int8Array([-1, 2])", "b", [-1, 2]),
        ("new Uint8Array([1, 255])", "B", [1, 255]),
        ("new Uint8ClampedArray([300, -5])", "B", [255, 0]),
        ("new Int16Array([-3, 4])", "h", [-3, 4]),
        ("new Uint16Array([65535])", "H", [65535]),
        ("new Int32Array([-5])", "i", [-5]),
        ("new Uint32Array([4000000000])", "I", [4000000000]),
        ("new Float32Array([1.5, -2])", "f", [1.5, -2.0]),
        ("new Float64Array([2.25])", "d", [2.25]),
        ("new BigInt64Array([-7n])", "q", [-7]),
        ("new BigUint64Array([2n ** 64n - 1n])", "Q", [2**64 - 1]),
    ],
)
def test_typed_arrays_from_js(context: ivm.Context, code: str, fmt: str, items: list[object]) -> None:
    view = context.eval(code, copy=True)
    assert isinstance(view, memoryview)
    assert view.format == fmt
    assert view.tolist() == items


def test_typed_array_window_from_js(context: ivm.Context) -> None:
    view = context.eval("new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7].map(x => x)).subarray(2, 5)", copy=True)
    assert view.tolist() == [2, 3, 4]
    view = context.eval("new Int16Array(new Int16Array([1, 2, 3, 4]).buffer, 2, 2)", copy=True)
    assert view.tolist() == [2, 3]


def test_data_view_from_js_is_bytes_view(context: ivm.Context) -> None:
    view = context.eval("const d = new DataView(new ArrayBuffer(3)); d.setUint8(1, 9); d", copy=True)
    assert isinstance(view, memoryview)
    assert view.tobytes() == b"\x00\x09\x00"


def test_typed_array_copy_is_not_shared(context: ivm.Context) -> None:
    view = context.eval("globalThis.ta = new Uint8Array([1, 2]); ta", copy=True)
    view[0] = 99
    assert context.eval("ta[0]") == 1


def test_typed_arrays_over_one_buffer_share_memory_in_python(context: ivm.Context) -> None:
    whole, window = context.eval("const b = new ArrayBuffer(8); [new Uint8Array(b), new Uint8Array(b, 4, 2)]", copy=True)
    assert isinstance(whole, memoryview) and isinstance(window, memoryview)
    assert not whole.readonly
    whole[4] = 7
    assert window[0] == 7
    window[1] = 8
    assert whole[5] == 8


def test_errors_from_js_are_js_error_instances(context: ivm.Context) -> None:
    error = context.eval("new TypeError('bad type')", copy=True)
    assert isinstance(error, ivm.JSError)
    assert error.name == "TypeError"
    assert error.message == "bad type"
    assert error.stack is not None and "bad type" in error.stack
    nested = context.eval("({list: [new RangeError('r')]})", copy=True)
    assert isinstance(nested["list"][0], ivm.JSError)
    assert nested["list"][0].name == "RangeError"


def test_cycles_from_js_are_preserved(context: ivm.Context) -> None:
    value = context.eval("const o = {name: 'o'}; o.self = o; o.list = [o]; o", copy=True)
    assert value["self"] is value
    assert value["list"][0] is value
    shared = context.eval("const s = {v: 1}; [s, s, {s}]", copy=True)
    assert shared[0] is shared[1] is shared[2]["s"]


def test_functions_and_symbols_cannot_be_copied(context: ivm.Context) -> None:
    with pytest.raises(ivm.TransferError):
        context.eval("(function () {})", copy=True)
    with pytest.raises(ivm.TransferError):
        context.eval("({f() {}})", copy=True)
    with pytest.raises(ivm.TransferError):
        context.eval("Symbol('s')", copy=True)
    with pytest.raises(TypeError):
        context.eval("Symbol('s')", copy=True)


def test_symbol_result_is_reference_by_default(context: ivm.Context) -> None:
    reference = context.eval("globalThis.sym = Symbol('s'); sym")
    assert isinstance(reference, ivm.Reference)
    assert context.eval_closure("return $0 === sym", reference) is True


# --- Python to JavaScript ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "[object Null]"),
        (True, "[object Boolean]"),
        (1, "[object Number]"),
        (1.5, "[object Number]"),
        ("s", "[object String]"),
        (2**70, "[object BigInt]"),
        (b"ab", "[object ArrayBuffer]"),
        (bytearray(b"ab"), "[object ArrayBuffer]"),
        ([1], "[object Array]"),
        ((1, 2), "[object Array]"),
        ({"a": 1}, "[object Object]"),
        ({1: "a"}, "[object Map]"),
        ({1, 2}, "[object Set]"),
        (frozenset({1}), "[object Set]"),
        (datetime.datetime(2020, 1, 1, tzinfo=UTC), "[object Date]"),
        (ValueError("v"), "[object Error]"),
        (memoryview(b"abc"), "[object Uint8Array]"),
        (array.array("i", [1]), "[object Int32Array]"),
        (array.array("d", [1.0]), "[object Float64Array]"),
    ],
)
def test_python_values_become_js_types(context: ivm.Context, value: object, expected: str) -> None:
    assert js_type(context, value) == expected


def test_python_to_js_values(context: ivm.Context) -> None:
    assert context.eval_closure("return $0 === null", None) is True
    assert context.eval_closure("return $0 === true && $1 === false", True, False) is True
    assert context.eval_closure("return typeof $0 === 'number' && $0 === 3", 3) is True
    assert context.eval_closure("return $0 === 0.25", 0.25) is True
    assert context.eval_closure("return $0 === 'h\u00e9llo \U0001f30d' && $0.length", "h\u00e9llo \U0001f30d") == 8


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (MAX_SAFE, "number"),
        (-MAX_SAFE, "number"),
        (2**53 + 1, "bigint"),
        (-(2**53 + 1), "bigint"),
        (2**64, "bigint"),
        (-(2**200), "bigint"),
    ],
)
def test_int_to_number_or_bigint(context: ivm.Context, value: int, kind: str) -> None:
    assert context.eval_closure("return typeof $0", value) == kind
    assert context.eval_closure("return String($0)", value) == str(value)


@pytest.mark.parametrize("value", [0, 1, -1, MAX_SAFE, -MAX_SAFE, 2**53 + 1, 2**64, -(2**64) - 5, 3**100])
def test_int_round_trip(context: ivm.Context, value: int) -> None:
    result = round_trip(context, value)
    assert result == value
    assert type(result) is int


def test_bigint_arithmetic_in_js(context: ivm.Context) -> None:
    assert context.eval_closure("return $0 * 2n", 2**64) == 2**65


def test_nan_infinity_and_negative_zero_to_js(context: ivm.Context) -> None:
    assert context.eval_closure("return Number.isNaN($0)", math.nan) is True
    assert context.eval_closure("return $0 === Infinity && $1 === -Infinity", math.inf, -math.inf) is True
    assert context.eval_closure("return Object.is($0, -0)", -0.0) is True
    assert context.eval_closure("return Object.is($0, 0)", 0.0) is True
    back = round_trip(context, -0.0)
    assert math.copysign(1, back) == -1
    assert math.isnan(round_trip(context, math.nan))


def test_float_round_trip(context: ivm.Context) -> None:
    for value in (0.1, -2.5, 1e-300, 1.7976931348623157e308):
        assert round_trip(context, value) == value
    assert round_trip(context, 3.0) == 3


def test_lone_surrogates_to_js(context: ivm.Context) -> None:
    assert context.eval_closure("return [$0.length, $0.charCodeAt(0)]", "\ud800", copy=True) == [1, 0xD800]
    assert context.eval_closure("return $0.charCodeAt(1)", "a\udc00b") == 0xDC00
    for text in ("\ud800", "a\udc00b", "\udfff\ud800", "x\U0001f30d\ud83c"):
        assert round_trip(context, text) == text


def test_bytes_round_trip(context: ivm.Context) -> None:
    assert round_trip(context, b"\x00\x01\xff") == b"\x00\x01\xff"
    assert round_trip(context, bytearray(b"abc")) == b"abc"
    assert round_trip(context, b"") == b""
    assert context.eval_closure("return new Uint8Array($0)[2]", b"\x00\x01\xff") == 255


def test_list_tuple_round_trip(context: ivm.Context) -> None:
    assert round_trip(context, [1, "a", None, [2.5, [True]]]) == [1, "a", None, [2.5, [True]]]
    result = round_trip(context, (1, (2, 3)))
    assert result == [1, [2, 3]]
    assert type(result) is list and type(result[1]) is list
    assert round_trip(context, []) == []


def test_dict_round_trip(context: ivm.Context) -> None:
    value = {"z": 1, "a": {"nested": [1, 2]}, "m": None}
    result = round_trip(context, value)
    assert result == value
    assert list(result) == ["z", "a", "m"]
    assert round_trip(context, {}) == {}


def test_dict_with_non_str_keys_is_map(context: ivm.Context) -> None:
    assert context.eval_closure("return $0 instanceof Map && $0.get(1) === 'one'", {1: "one"}) is True
    value = {1: "one", "two": 2, None: [3], 2.5: True}
    assert round_trip(context, value) == value


def test_set_round_trip(context: ivm.Context) -> None:
    assert context.eval_closure("return $0.has(1) && $0.has('a') && $0.size", {1, "a"}) == 2
    assert round_trip(context, {1, "a", None}) == {1, "a", None}
    result = round_trip(context, frozenset({1, 2}))
    assert result == {1, 2}
    assert context.eval_closure("return $0.size", {(1, 2)}) == 1


def test_datetime_to_js(context: ivm.Context) -> None:
    moment = datetime.datetime(2021, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert context.eval_closure("return $0.toISOString()", moment) == "2021-06-01T12:00:00.123Z"
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    assert context.eval_closure("return $0.toISOString()", datetime.datetime(2021, 6, 1, 12, tzinfo=plus_two)) == (
        "2021-06-01T10:00:00.000Z"
    )
    assert context.eval_closure("return $0.getTime()", datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1000


def test_naive_datetime_is_local_time(context: ivm.Context) -> None:
    naive = datetime.datetime(2020, 1, 1, 8, 30)
    assert context.eval_closure("return $0.getTime()", naive) == round(naive.timestamp() * 1000)


def test_datetime_round_trip(context: ivm.Context) -> None:
    moment = datetime.datetime(2000, 2, 29, 23, 59, 59, 999000, tzinfo=UTC)
    result = round_trip(context, moment)
    assert result == moment
    assert result.tzinfo is not None and result.utcoffset() == datetime.timedelta(0)
    # Dates hold milliseconds: microseconds are rounded.
    assert round_trip(context, datetime.datetime(2000, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)).microsecond == 123000


def test_exceptions_to_js_errors(context: ivm.Context) -> None:
    assert context.eval_closure("return [$0 instanceof Error, $0.name, $0.message]", ValueError("bad"), copy=True) == [
        True,
        "Error",
        "bad",
    ]
    assert context.eval_closure("return [$0 instanceof TypeError, $0.message]", TypeError("t"), copy=True) == [True, "t"]
    back = round_trip(context, TypeError("t"))
    assert isinstance(back, ivm.JSError)
    assert back.name == "TypeError"
    assert back.message == "t"


@pytest.mark.parametrize(
    ("fmt", "items", "kind"),
    [
        ("b", [-1, 2], "Int8Array"),
        ("B", [1, 255], "Uint8Array"),
        ("h", [-3, 4], "Int16Array"),
        ("H", [65535], "Uint16Array"),
        ("i", [-5, 6], "Int32Array"),
        ("I", [4000000000], "Uint32Array"),
        ("q", [-7], "BigInt64Array"),
        ("Q", [2**64 - 1], "BigUint64Array"),
        ("f", [1.5], "Float32Array"),
        ("d", [2.25, -1.0], "Float64Array"),
    ],
)
def test_buffers_become_typed_arrays_by_format(context: ivm.Context, fmt: str, items: list[Any], kind: str) -> None:
    data = array.array(fmt, items)
    assert js_type(context, data) == f"[object {kind}]"
    assert js_type(context, memoryview(data)) == f"[object {kind}]"
    assert context.eval_closure("return $0.length", data) == len(items)
    back = round_trip(context, memoryview(data))
    assert isinstance(back, memoryview)
    assert back.format == fmt
    assert back.tolist() == items


def test_non_contiguous_memoryview_is_copied(context: ivm.Context) -> None:
    assert context.eval_closure("return Array.from($0)", memoryview(b"abcdef")[::2], copy=True) == [97, 99, 101]


def test_memoryview_of_unsupported_format_is_transfer_error(context: ivm.Context) -> None:
    with pytest.raises(ivm.TransferError):
        context.eval_closure("return 1", memoryview(b"ab").cast("?"))


def test_typed_array_in_is_a_copy(context: ivm.Context) -> None:
    data = bytearray(b"\x01\x02")
    context.eval_closure("$0[0] = 9", memoryview(data))
    assert data == bytearray(b"\x01\x02")


def test_cycles_to_js_are_preserved(context: ivm.Context) -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    assert context.eval_closure("return $0[1] === $0", cyclic) is True
    back = round_trip(context, cyclic)
    assert back[1] is back
    mapping: dict[str, Any] = {"name": "m"}
    mapping["self"] = mapping
    assert context.eval_closure("return $0.self.self === $0", mapping) is True
    shared = {"v": 1}
    assert context.eval_closure("return $0[0] === $0[1]", [shared, shared]) is True
    back = round_trip(context, [shared, shared])
    assert back[0] is back[1]


def test_subclasses_of_builtin_types(context: ivm.Context) -> None:
    class MyInt(int):
        pass

    class MyDict(dict[str, int]):
        pass

    class MyStr(str):
        pass

    assert context.eval_closure("return $0 + 1", MyInt(4)) == 5
    assert context.eval_closure("return $0.a", MyDict(a=1)) == 1
    assert context.eval_closure("return $0 + '!'", MyStr("s")) == "s!"


def test_nesting_within_limit_to_js(context: ivm.Context) -> None:
    nested: list[Any] = []
    for _ in range(500):
        nested = [nested]
    depth = context.eval_closure(
        "let d = 0, x = $0; while (Array.isArray(x) && x.length) { x = x[0]; d++ } return d", nested
    )
    assert depth == 500


DEEP_TO_JS = """
import ivm
context = ivm.Isolate().create_context()
context.eval(
    "globalThis.depthOf = (x) => {{ let d = 0; while (Array.isArray(x) ? x.length : x && 'm' in x) {{"
    " x = Array.isArray(x) ? x[0] : x.m; d++ }} return d }}"
)
value = [] if "{kind}" == "list" else {{}}
for _ in range({depth}):
    value = [value] if "{kind}" == "list" else {{"m": value}}
try:
    if "{where}" == "argument":
        print("depth", context.eval_closure("return depthOf($0)", value))
    elif "{where}" == "property":
        context.global_.set("deep", value)
        print("depth", context.eval("depthOf(deep)"))
    else:  # returned by a callback: converted beneath JavaScript's frames
        print(context.eval_closure(
            "try {{ return 'depth ' + depthOf($0()) }} catch (e) {{ return 'TransferError ' + e.message }}",
            lambda: value,
        ))
except ivm.TransferError as error:
    print("TransferError", error)
"""

DEEP_CASES = [(kind, where) for kind in ("list", "dict") for where in ("argument", "property", "callback")]


@pytest.mark.parametrize(("kind", "where"), DEEP_CASES)
def test_too_deep_nesting_to_js_is_transfer_error(
    run_python: Callable[..., CompletedProcess[str]], kind: str, where: str
) -> None:
    # In a subprocess: a stack overflow while converting crashes the
    # interpreter, which must fail this test only.
    result = run_python(DEEP_TO_JS.format(kind=kind, where=where, depth=5000))
    assert result.returncode == 0, f"crashed ({result.returncode}): {result.stderr[-2000:]}"
    assert result.stdout.startswith("TransferError"), result.stdout
    assert "nests" in result.stdout


@pytest.mark.parametrize(("kind", "where"), DEEP_CASES)
def test_deep_nesting_within_limit_to_js(
    run_python: Callable[..., CompletedProcess[str]], kind: str, where: str
) -> None:
    result = run_python(DEEP_TO_JS.format(kind=kind, where=where, depth=900))
    assert result.returncode == 0, f"crashed ({result.returncode}): {result.stderr[-2000:]}"
    assert result.stdout.strip() == "depth 900"


DEEP_FROM_JS = """
import asyncio, ivm
context = ivm.Isolate().create_context()
code = "let o = {{}}; for (let i = 0; i < {depth}; i++) o = {{o}}; o"
async def main():
    return await context.eval_async(code, copy=True)
try:
    value = {call}
except ivm.TransferError as error:
    print("TransferError", error)
else:
    depth = 0
    while value:
        value = value["o"]
        depth += 1
    print("depth", depth)
"""


@pytest.mark.parametrize("call", ["context.eval(code, copy=True)", "asyncio.run(main())"], ids=["sync", "async"])
def test_too_deep_nesting_from_js_is_transfer_error(
    run_python: Callable[..., CompletedProcess[str]], call: str
) -> None:
    # In a subprocess: a stack overflow while converting crashes the
    # interpreter, which must fail this test only.
    result = run_python(DEEP_FROM_JS.format(depth=5000, call=call))
    assert result.returncode == 0, f"crashed ({result.returncode}): {result.stderr[-2000:]}"
    assert result.stdout.startswith("TransferError"), result.stdout


@pytest.mark.parametrize("call", ["context.eval(code, copy=True)", "asyncio.run(main())"], ids=["sync", "async"])
def test_nesting_within_limit_from_js(run_python: Callable[..., CompletedProcess[str]], call: str) -> None:
    result = run_python(DEEP_FROM_JS.format(depth=900, call=call))
    assert result.returncode == 0, f"crashed ({result.returncode}): {result.stderr[-2000:]}"
    assert result.stdout.strip() == "depth 900"


@pytest.mark.parametrize(
    "value",
    [object(), int, math, slice(1, 2), range(3), complex(1, 2), Ellipsis, type("C", (), {})()],
    ids=["object", "type", "module", "slice", "range", "complex", "ellipsis", "instance"],
)
def test_unsupported_objects_are_transfer_errors(context: ivm.Context, value: object) -> None:
    with pytest.raises(ivm.TransferError):
        context.eval_closure("return 1", value)
    with pytest.raises(TypeError):
        context.global_.set("x", value)
    with pytest.raises(ivm.TransferError):
        ivm.ExternalCopy(value)


def test_unsupported_object_nested_is_transfer_error(context: ivm.Context) -> None:
    with pytest.raises(ivm.TransferError):
        context.eval_closure("return 1", {"a": [1, object()]})


def test_callables_inside_values_are_transfer_errors(context: ivm.Context) -> None:
    with pytest.raises(ivm.TransferError):
        context.eval_closure("return 1", {"f": print})
    with pytest.raises(ivm.TransferError):
        context.eval_closure("return 1", [ivm.Callback(print)])


# --- shared memory ----------------------------------------------------------


def test_shared_array_buffer_basics() -> None:
    shared = ivm.SharedArrayBuffer(16)
    assert shared.byte_length == 16
    assert len(shared) == 16
    view = memoryview(shared)
    assert not view.readonly
    assert view.format == "B"
    assert view.nbytes == 16
    assert view.tobytes() == bytes(16)
    view[0] = 7
    assert memoryview(shared)[0] == 7
    assert "16" in repr(shared)


def test_empty_shared_array_buffer() -> None:
    shared = ivm.SharedArrayBuffer(0)
    assert len(shared) == 0
    assert memoryview(shared).nbytes == 0


def test_shared_array_buffer_visible_both_ways(context: ivm.Context) -> None:
    shared = ivm.SharedArrayBuffer(8)
    assert context.eval_closure("globalThis.bytes = new Uint8Array($0); return $0 instanceof SharedArrayBuffer", shared)
    context.eval("bytes[0] = 7")
    assert memoryview(shared)[0] == 7
    memoryview(shared)[1] = 9
    assert context.eval("bytes[1]") == 9


def test_shared_memory_across_isolates(isolate: ivm.Isolate) -> None:
    shared = ivm.SharedArrayBuffer(4)
    first = isolate.create_context()
    with ivm.Isolate() as other:
        second = other.create_context()
        first.eval_closure("globalThis.a = new Int32Array($0)", shared)
        second.eval_closure("globalThis.a = new Int32Array($0)", shared)
        first.eval("Atomics.store(a, 0, 1234)")
        assert second.eval("Atomics.load(a, 0)") == 1234


def test_shared_array_buffer_from_js_is_writable_view(context: ivm.Context) -> None:
    view = context.eval("globalThis.sab = new SharedArrayBuffer(4); sab", copy=True)
    assert isinstance(view, memoryview)
    assert not view.readonly
    assert view.nbytes == 4
    view[2] = 5
    assert context.eval("new Uint8Array(sab)[2]") == 5
    context.eval("new Uint8Array(sab)[3] = 6")
    assert view[3] == 6


def test_typed_array_over_shared_memory_from_js(context: ivm.Context) -> None:
    view = context.eval("globalThis.sab = new SharedArrayBuffer(16); new Int32Array(sab, 4, 2)", copy=True)
    assert view.format == "i"
    assert view.nbytes == 8
    view[0] = 0x01020304
    assert context.eval("new Int32Array(sab)[1]") == 0x01020304
    context.eval("new Int32Array(sab)[2] = -1")
    assert view[1] == -1


def test_shared_array_buffer_round_trip_is_same_memory(context: ivm.Context) -> None:
    shared = ivm.SharedArrayBuffer(8)
    back = round_trip(context, shared)
    assert isinstance(back, memoryview)
    back[3] = 42
    assert memoryview(shared)[3] == 42


def test_view_of_shared_memory_to_js_shares_memory(context: ivm.Context) -> None:
    shared = ivm.SharedArrayBuffer(16)
    window = memoryview(shared)[2:6]
    result = context.eval_closure(
        "$0[0] = 1; return [Object.prototype.toString.call($0), $0.byteOffset, $0.length, $0.buffer instanceof SharedArrayBuffer]",
        window,
        copy=True,
    )
    assert result == ["[object Uint8Array]", 2, 4, True]
    assert memoryview(shared)[2] == 1


def test_shared_memory_with_async_calls(context: ivm.Context) -> None:
    shared = ivm.SharedArrayBuffer(4)

    async def main() -> None:
        await context.eval_closure_async("globalThis.s = new Uint8Array($0); s[0] = 3", shared)
        assert memoryview(shared)[0] == 3

    asyncio.run(main())


# --- ExternalCopy ----------------------------------------------------------


def test_external_copy(context: ivm.Context) -> None:
    copy = ivm.ExternalCopy({"a": [1, 2], "b": b"xy"})
    assert copy.size > 0
    assert not copy.is_released
    assert copy.copy() == {"a": [1, 2], "b": b"xy"}
    assert context.eval_closure("return $0.a[1]", copy) == 2
    assert context.eval_closure("return $0.a.length", copy) == 2
    context.global_.set("fromCopy", copy)
    assert context.eval("fromCopy.b.byteLength") == 2
    assert f"{copy.size}" in repr(copy)


def test_external_copy_release(context: ivm.Context) -> None:
    copy = ivm.ExternalCopy([1])
    copy.release()
    assert copy.is_released
    with pytest.raises(ivm.ReleasedError):
        copy.copy()
    with pytest.raises(ivm.ReleasedError):
        context.eval_closure("return $0", copy)


def test_external_copy_copy_with_release() -> None:
    copy = ivm.ExternalCopy("text")
    assert copy.copy(release=True) == "text"
    assert copy.is_released


def test_external_copy_copy_into(context: ivm.Context) -> None:
    copy = ivm.ExternalCopy([1, 2, 3])
    into = copy.copy_into()
    assert isinstance(into, ivm.CopyInto)
    assert context.eval_closure("return $0.length", into) == 3
    assert not copy.is_released
    assert context.eval_closure("return $0[2]", copy.copy_into(release=True)) == 3
    assert copy.is_released


def test_external_copy_transfer_in(context: ivm.Context) -> None:
    copy = ivm.ExternalCopy(b"\x01\x02\x03")
    assert context.eval_closure("return $0.byteLength", copy.copy_into(transfer_in=True)) == 3
    assert copy.is_released
    # Its memory was handed over, and later uses say so (isolated-vm's words).
    with pytest.raises(ivm.ReleasedError, match="Array buffer is invalid"):
        copy.copy()
    # A copy with no buffer of its own to hand over is copied and stays.
    plain = ivm.ExternalCopy({"a": [1]})
    assert plain.copy(transfer_in=True) == {"a": [1]}
    assert not plain.is_released
    assert context.eval_closure("return $0.a[0]", plain.copy_into(transfer_in=True)) == 1
    assert plain.copy() == {"a": [1]}


def test_external_copy_of_isolate_value(context: ivm.Context) -> None:
    copy = ivm.ExternalCopy(context.eval("({a: [1, 'two']})"))
    assert copy.copy() == {"a": [1, "two"]}
    with ivm.Isolate() as other:
        assert other.create_context().eval_closure("return $0.a[1]", copy) == "two"
    with pytest.raises(ivm.TransferError):
        ivm.ExternalCopy(context.eval("() => 1"))


def test_external_copy_transfer_out(context: ivm.Context) -> None:
    buffer = context.eval("globalThis.ab = new Uint8Array([1, 2, 3]).buffer; ab")
    copy = ivm.ExternalCopy(buffer, transfer_out=True)
    assert context.eval("ab.byteLength") == 0  # detached in the isolate
    assert copy.copy(transfer_in=True) == b"\x01\x02\x03"
    assert copy.is_released
    array = context.eval("globalThis.ta = new Uint16Array([1, 2]); ta")
    moved = ivm.ExternalCopy(array, transfer_out=True)
    assert context.eval("ta.length") == 0
    view = moved.copy()
    assert isinstance(view, memoryview)
    assert view.format == "H" and view.tolist() == [1, 2]


def test_external_copy_transfer_out_needs_isolate_value() -> None:
    with pytest.raises(ivm.UsageError):
        ivm.ExternalCopy(b"x", transfer_out=True)


def test_total_external_size() -> None:
    before = ivm.total_external_size()
    copy = ivm.ExternalCopy(b"x" * 100_000)
    assert ivm.total_external_size() >= before + 100_000
    copy.release()
    assert ivm.total_external_size() <= before + 1000


def test_external_copy_result_mode(context: ivm.Context) -> None:
    copy = context.eval("({n: 1})", external_copy=True)
    assert isinstance(copy, ivm.ExternalCopy)
    with ivm.Isolate() as other:
        assert other.create_context().eval_closure("return $0.n", copy) == 1


def test_reference_to_js_object_round_trips(context: ivm.Context) -> None:
    reference = context.eval("globalThis.obj = {}; obj")
    assert context.eval_closure("return $0 === obj", reference) is True

