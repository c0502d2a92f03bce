"""Shared fixtures for ivm's Python tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator

import pytest

import ivm


@pytest.fixture
def isolate() -> Iterator[ivm.Isolate]:
    """A fresh isolate (64 MiB), disposed after the test."""
    isolate = ivm.Isolate(memory_limit=64)
    try:
        yield isolate
    finally:
        if not isolate.is_disposed:
            isolate.dispose()


@pytest.fixture
def context(isolate: ivm.Isolate) -> ivm.Context:
    """A context of the `isolate` fixture."""
    return isolate.create_context()


@pytest.fixture
def run_python() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs Python code in a fresh interpreter (for checks that could crash
    the interpreter: a crash then fails the test instead of the whole run)."""

    def run(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
