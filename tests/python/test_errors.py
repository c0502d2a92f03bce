"""Exception classes, JSError's attributes, option errors."""

from __future__ import annotations

import builtins
from typing import Any

import pytest

import ivm
import ivm.errors

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (ivm.JSError, ()),
        (ivm.TimeoutError, (builtins.TimeoutError,)),
        (ivm.CpuLimitError, (builtins.TimeoutError,)),
        (ivm.MemoryLimitError, (MemoryError,)),
        (ivm.DisposedError, ()),
        (ivm.ReleasedError, ()),
        (ivm.UsageError, (ValueError,)),
        (ivm.TransferError, (TypeError,)),
        (ivm.CanceledError, ()),
        (ivm.UnsupportedError, (NotImplementedError,)),
    ],
)
def test_class_hierarchy(error: type[Exception], bases: tuple[type[BaseException], ...]) -> None:
    assert issubclass(error, ivm.IvmError)
    assert issubclass(error, Exception)
    for base in bases:
        assert issubclass(error, base)
    assert getattr(ivm.errors, error.__name__) is error
    assert error.__name__ in ivm.errors.__all__


def test_ivm_timeout_error_is_not_the_builtin() -> None:
    assert ivm.TimeoutError is not builtins.TimeoutError
    assert issubclass(ivm.IvmError, Exception)
    assert not issubclass(ivm.CpuLimitError, ivm.TimeoutError)
    assert not issubclass(ivm.DisposedError, ivm.ReleasedError)


def test_js_error_for_thrown_error(context: ivm.Context) -> None:
    with pytest.raises(ivm.JSError) as raised:
        context.eval("function thrower() { throw new TypeError('bad value') }\nthrower()", filename="err.js")
    error = raised.value
    assert error.name == "TypeError"
    assert error.message == "bad value"
    assert error.value is None
    assert error.stack is not None
    assert error.stack.startswith("TypeError: bad value")
    assert "thrower" in error.stack and "err.js:1:" in error.stack and "err.js:2:" in error.stack
    assert str(error) == error.stack
    assert error.args[0] == "bad value"


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("null.x", "TypeError"),
        ("undefinedVariable", "ReferenceError"),
        ("new Array(-1)", "RangeError"),
        ("decodeURIComponent('%')", "URIError"),
        ("eval('1 +')", "SyntaxError"),
        ("throw new EvalError('e')", "EvalError"),
        ("throw new Error('plain')", "Error"),
    ],
)
def test_js_error_names(context: ivm.Context, code: str, name: str) -> None:
    with pytest.raises(ivm.JSError) as raised:
        context.eval(code)
    assert raised.value.name == name
    assert raised.value.message


def test_js_error_custom_name(context: ivm.Context) -> None:
    with pytest.raises(ivm.JSError) as raised:
        context.eval("class MyError extends Error { constructor(m) { super(m); this.name = 'MyError' } }; throw new MyError('mine')")
    assert raised.value.name == "MyError"
    assert raised.value.message == "mine"


def test_js_error_without_message(context: ivm.Context) -> None:
    with pytest.raises(ivm.JSError) as raised:
        context.eval("throw new RangeError()")
    assert raised.value.name == "RangeError"
    assert raised.value.message == ""


@pytest.mark.parametrize(
    ("code", "value", "message"),
    [
        ("throw 42", 42, "42"),
        ("throw 'text'", "text", "text"),
        ("throw true", True, "true"),
        ("throw 1.5", 1.5, "1.5"),
        ("throw 2n ** 70n", 2**70, str(2**70)),
        ("throw null", None, "null"),
    ],
)
def test_js_error_for_thrown_primitive(context: ivm.Context, code: str, value: Any, message: str) -> None:
    with pytest.raises(ivm.JSError) as raised:
        context.eval(code)
    error = raised.value
    assert error.name == ""
    assert error.value == value
    assert type(error.value) is type(value)
    assert error.message == message
    assert str(error) == f"Uncaught {message}"


def test_js_error_for_thrown_undefined(context: ivm.Context) -> None:
    with pytest.raises(ivm.JSError) as raised:
        context.eval("throw undefined")
    assert raised.value.name == ""
    assert raised.value.value is None
    assert raised.value.message == "undefined"


def test_js_error_for_thrown_object(context: ivm.Context) -> None:
    # An object that is not an error says so, in isolated-vm's words.
    with pytest.raises(ivm.JSError) as raised:
        context.eval("throw {code: 7}")
    assert raised.value.name == "Error"
    assert raised.value.message == (
        "An object was thrown from supplied code within isolated-vm, but that object was not an instance of `Error`."
    )
    # One with a message stands for the error it describes.
    with pytest.raises(ivm.JSError) as raised:
        context.eval("throw {message: 'hi', name: 'Named'}")
    assert (raised.value.name, raised.value.message) == ("Named", "hi")


def test_syntax_error_on_compile(isolate: ivm.Isolate, context: ivm.Context) -> None:
    with pytest.raises(ivm.JSError) as raised:
        isolate.compile_script("function (", filename="syntax.js")
    assert raised.value.name == "SyntaxError"
    assert "syntax.js:1" in (raised.value.stack or "")
    with pytest.raises(ivm.JSError) as raised:
        context.eval("\n}", filename="eval.js")
    assert raised.value.name == "SyntaxError"
    assert "eval.js:2" in (raised.value.stack or "")
    with pytest.raises(ivm.JSError) as raised:
        context.eval_closure("return (")
    assert raised.value.name == "SyntaxError"


def test_js_error_constructed_in_python() -> None:
    error = ivm.JSError("message", "TypeError", "TypeError: message\n    at x.js:1:1")
    assert (error.name, error.message, error.value) == ("TypeError", "message", None)
    assert str(error) == "TypeError: message\n    at x.js:1:1"
    assert str(ivm.JSError("m", "RangeError")) == "RangeError: m"
    assert str(ivm.JSError("", "RangeError")) == "RangeError"
    assert str(ivm.JSError("5", "", value=5)) == "Uncaught 5"


def test_js_error_is_catchable_as_ivm_error(context: ivm.Context) -> None:
    with pytest.raises(ivm.IvmError):
        context.eval("throw new Error('x')")


@pytest.mark.parametrize(
    "call",
    [
        lambda c, i: c.eval("1", bogus=1),
        lambda c, i: c.eval("1", accessors=True),
        lambda c, i: c.eval_closure("return 1", bogus=1),
        lambda c, i: c.eval_ignored("1", bogus=1),
        lambda c, i: c.eval_closure_ignored("1", bogus=1),
        lambda c, i: i.compile_script("1", timeout=1),
        lambda c, i: i.compile_script("1", copy=True),
        lambda c, i: i.compile_script("1").run(c, filename="x.js"),
        lambda c, i: i.compile_script("1").run_ignored(c, line_offset=1),
        lambda c, i: c.global_.get("x", filename="x.js"),
        lambda c, i: c.global_.set("x", 1, accessors=True),
        lambda c, i: c.global_.delete("x", column_offset=1),
        lambda c, i: c.global_.set_ignored("x", 1, bogus=1),
        lambda c, i: c.global_.delete_ignored("x", bogus=1),
        lambda c, i: c.eval("(() => 1)").apply(bogus=1),
        lambda c, i: c.eval("(() => 1)").apply_ignored(bogus=1),
        lambda c, i: ivm.ExternalCopy(1).copy(bogus=1),  # type: ignore[call-arg]
        lambda c, i: ivm.Isolate(bogus=1),  # type: ignore[call-arg]
    ],
)
def test_unknown_keyword_options_are_type_errors(
    context: ivm.Context, isolate: ivm.Isolate, call: Any
) -> None:
    with pytest.raises(TypeError) as raised:
        call(context, isolate)
    assert not isinstance(raised.value, ivm.IvmError)
    assert "keyword" in str(raised.value)


def test_unknown_keyword_in_async_forms(context: ivm.Context, isolate: ivm.Isolate) -> None:
    import asyncio

    async def main() -> None:
        with pytest.raises(TypeError):
            context.eval_async("1", bogus=1)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            isolate.compile_script_async("1", timeout=1)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            context.global_.get_async("x", bogus=1)  # type: ignore[call-arg]

    asyncio.run(main())


@pytest.mark.parametrize(
    "modes",
    [
        {"copy": True, "reference": True},
        {"copy": True, "external_copy": True},
        {"reference": True, "external_copy": True},
        {"copy": True, "reference": True, "external_copy": True},
    ],
)
def test_conflicting_result_modes_are_value_errors(context: ivm.Context, modes: dict[str, bool]) -> None:
    with pytest.raises(ValueError):
        context.eval("1", **modes)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        context.global_.get("Object", **modes)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        context.eval("(() => 1)").apply(**modes)  # type: ignore[arg-type]


def test_options_checked_before_running(context: ivm.Context) -> None:
    with pytest.raises(TypeError):
        context.eval("globalThis.ran = true", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        context.eval("globalThis.ran = true", copy=True, reference=True)
    assert context.eval("globalThis.ran") is None


def test_error_messages_are_informative(context: ivm.Context) -> None:
    with pytest.raises(TypeError, match="bogus"):
        context.eval("1", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(ivm.TransferError, match="Reference"):
        context.eval_closure("return 1", object())
    with pytest.raises(ivm.ReleasedError, match="released"):
        reference = context.eval("({})")
        reference.release()
        reference.copy()


def test_an_unhandled_rejection_fails_the_call(context: ivm.Context) -> None:
    with pytest.raises(ivm.JSError) as raised:
        context.eval("globalThis.y = 0; Promise.reject(new RangeError('x')); y = 5; 1")
    assert (raised.value.name, raised.value.message) == ("RangeError", "x")
    assert context.eval("y") == 5
    assert context.eval("const p = Promise.reject(1); p.catch(() => {}); 2") == 2
