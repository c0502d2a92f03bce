"""The cross-language conformance cases (``tests/conformance/cases.json``,
which the Rust and Node suites run too), through the Python package."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import pytest

import ivm

pytestmark = pytest.mark.timeout(60)

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[1] / "conformance" / "cases.json").read_text(encoding="utf-8")
)


def from_tagged(value: Any) -> Any:
    """A case's input as the Python value that crosses as it."""
    if isinstance(value, list):
        return [from_tagged(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "$bigint" in value:
        return int(value["$bigint"])
    if "$date" in value:
        return datetime.datetime.fromtimestamp(value["$date"] / 1000, datetime.timezone.utc)
    if "$map" in value:
        return {from_tagged(key): from_tagged(item) for key, item in value["$map"]}
    if "$set" in value:
        return {from_tagged(item) for item in value["$set"]}
    if "$arraybuffer" in value:
        return bytes(value["$arraybuffer"])
    return {key: from_tagged(item) for key, item in value.items()}


def matches(actual: Any, expected: Any) -> bool:
    """Whether a result is the Python value an expectation stands for."""
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(matches, actual, expected))
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and not isinstance(actual, bool) and actual == expected
    assert isinstance(expected, dict)
    if "$undefined" in expected:
        return actual is None
    if "$number" in expected:
        special = expected["$number"]
        if special == "NaN":
            return isinstance(actual, float) and math.isnan(actual)
        if special == "-0":
            return isinstance(actual, float) and actual == 0 and math.copysign(1, actual) < 0
        return actual == float(special.replace("Infinity", "inf"))
    if "$bigint" in expected:
        return isinstance(actual, int) and actual == int(expected["$bigint"])
    if "$date" in expected:
        return isinstance(actual, datetime.datetime) and actual.timestamp() * 1000 == expected["$date"]
    if "$map" in expected:
        pairs = expected["$map"]
        return isinstance(actual, dict) and len(actual) == len(pairs) and all(
            key in actual and matches(actual[key], item) for key, item in pairs
        )
    if "$set" in expected:
        return isinstance(actual, set) and actual == {from_tagged(item) for item in expected["$set"]}
    if "$arraybuffer" in expected:
        return isinstance(actual, bytes) and actual == bytes(expected["$arraybuffer"])
    if "$uint8array" in expected:
        return isinstance(actual, memoryview) and actual.tobytes() == bytes(expected["$uint8array"])
    if "$error" in expected:
        error = expected["$error"]
        return isinstance(actual, ivm.JSError) and (actual.name, actual.message) == (error["name"], error["message"])
    return (
        isinstance(actual, dict)
        and list(actual) == list(expected)
        and all(matches(actual[key], item) for key, item in expected.items())
    )


def error_class(name: str) -> type[ivm.IvmError]:
    cls: type[ivm.IvmError] = ivm.JSError if name == "JsError" else getattr(ivm, name)
    return cls


class HostObject:
    """What the cases reach through ``hostObject`` (tests/conformance/README.md)."""

    inherited = "inherited"

    def __init__(self) -> None:
        self.name = "box"
        self.data = {"n": 1}
        self.list = [1, 2]
        self.method = lambda: "method"
        self.generator = (item for item in [1])

    @property
    def secret(self) -> str:
        return "secret"

    def helper(self) -> str:
        return "helper"


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_conformance_case(case: dict[str, Any]) -> None:
    options = case.get("options", {})
    isolate = ivm.Isolate(memory_limit=options.get("memory_limit_mb"))
    try:
        context = isolate.create_context()
        context.global_.set("host", lambda *arguments: f"host:{len(arguments)}")

        def host_throws() -> None:
            raise Exception("from host")

        context.global_.set("hostThrows", host_throws)
        context.global_.set("hostLog", ivm.Reference(lambda *arguments: len(arguments)))
        context.global_.set("hostObject", ivm.Reference(HostObject()))
        keywords: dict[str, Any] = {"copy": bool(options.get("copy")), "promise": bool(options.get("promise"))}
        if "timeout_ms" in options:
            keywords["timeout"] = options["timeout_ms"] / 1000

        def run() -> Any:
            if "input" in case:
                return context.eval_closure(case["code"], from_tagged(case["input"]), **keywords)
            return context.eval(case["code"], **keywords)

        if "throws" in case:
            throws = case["throws"]
            with pytest.raises(error_class(throws["class"])) as raised:
                run()
            error = raised.value
            if "name" in throws:
                assert isinstance(error, ivm.JSError) and error.name == throws["name"], error
            if "message" in throws:
                message = error.message if isinstance(error, ivm.JSError) else str(error)
                assert message == throws["message"]
        else:
            result = run()
            assert matches(result, case["expect"]), f"expected {case['expect']!r}, got {result!r}"

        if case.get("after") == "usable":
            assert context.eval("1 + 1") == 2
        elif case.get("after") == "disposed":
            assert isolate.is_disposed
    finally:
        if not isolate.is_disposed:
            isolate.dispose()
