"""The type stubs: mypy --strict accepts well-typed code and catches misuse;
every public name is documented."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ivm

pytestmark = pytest.mark.timeout(120)

WELL_TYPED = '''
from __future__ import annotations

import asyncio
from typing import Any

import ivm


def double(value: int) -> int:
    return value * 2


def run() -> int:
    with ivm.Isolate(memory_limit=32) as isolate:
        with isolate.create_context() as context:
            total: Any = context.eval("1 + 2", timeout=1.0, filename="sample.js")
            context.global_.set("double", ivm.Callback(double))
            context.global_.set("triple", lambda x: x * 3)
            add = context.eval("(a, b) => a + b", reference=True)
            assert isinstance(add, ivm.Reference)
            kind: str = add.typeof
            result: Any = add.apply(None, [1, 2], copy=True)
            add.apply_ignored(arguments=(1, 2), timeout=None)
            script = isolate.compile_script("globalThis.x = 5", filename="x.js", line_offset=1, column_offset=0)
            script.run(context, cpu_limit=0.5)
            script.run_ignored(context)
            found: Any = context.global_.get("x", accessors=True)
            deleted: bool = context.global_.delete("x")
            was_set: bool = context.global_.set("y", [1, 2], timeout=0.5)
            closure: Any = context.eval_closure("return $0 + $1", 1, 2, copy=True)
            context.eval_closure_ignored("globalThis.z = $0", {"a": 1})
            stats = isolate.heap_statistics()
            used: int = stats["used_heap_size"]
            zap: bool = stats["does_zap_garbage"]
            seconds: float = isolate.cpu_time + isolate.wall_time
            count: int = isolate.reference_count
            disposed: bool = isolate.is_disposed
            copy = ivm.ExternalCopy({"a": [1, 2]})
            into: ivm.CopyInto = copy.copy_into(release=True)
            size: int = copy.size + ivm.total_external_size()
            released: bool = copy.is_released
            shared = ivm.SharedArrayBuffer(8)
            view = memoryview(shared)
            view[0] = 1
            length: int = len(shared) + shared.byte_length
            host = ivm.Reference({"k": 1})
            target: Any = host.deref()
            try:
                context.eval("throw new Error('x')")
            except ivm.JSError as error:
                name: str = error.name
                stack: str | None = error.stack
                thrown: Any = error.value
                del name, stack, thrown
            except (ivm.TimeoutError, ivm.CpuLimitError, ivm.MemoryLimitError) as limit:
                print(limit)
            version: str = ivm.__version__
            del kind, deleted, was_set, closure, used, zap, seconds, count, disposed
            del into, size, released, length, target, version
            return int(total) + int(result) + int(found)


async def run_async() -> Any:
    with ivm.Isolate() as isolate:
        context = await isolate.create_context_async()
        script = await isolate.compile_script_async("1", filename="a.js")
        one: Any = await script.run_async(context, timeout=1)
        value: Any = await context.eval_async("40 + 2", promise=True)
        await context.eval_closure_async("return $0", 1)
        context.eval_ignored("1")
        stats = await isolate.heap_statistics_async()
        limit: int = stats["heap_size_limit"]
        reference = context.global_
        set_ok: bool = await reference.set_async("k", 1)
        got: Any = await reference.get_async("k", copy=True)
        gone: bool = await reference.delete_async("k")
        copied: Any = await context.eval("({a: 1})").copy_async()
        applied: Any = await context.eval("() => 1").apply_async()
        del one, limit, set_ok, got, gone, copied, applied
        return value


async def callback(value: int) -> int:
    await asyncio.sleep(0)
    return value


if __name__ == "__main__":
    print(run(), asyncio.run(run_async()), ivm.Callback(callback))
'''

MISUSED = """
import ivm

isolate = ivm.Isolate(memory_limit="64")
context = isolate.create_context()
context.eval("1", bogus=1)
isolate.compile_script("1", timeout=1)
context.global_.set("x", 1, accessors=True)
context.eval("1", timeout="soon")
ivm.SharedArrayBuffer("8")
"""


def run_mypy(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=tmp_path,
    )


def test_well_typed_program_passes_mypy_strict(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent(WELL_TYPED))
    result = run_mypy(sample, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_well_typed_program_runs(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent(WELL_TYPED))
    result = subprocess.run([sys.executable, str(sample)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("11 42 <ivm.Callback>")


def test_mypy_catches_misuse(tmp_path: Path) -> None:
    sample = tmp_path / "misused.py"
    sample.write_text(textwrap.dedent(MISUSED))
    result = run_mypy(sample, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    flagged = {int(line.split(":")[1]) for line in result.stdout.splitlines() if ": error:" in line}
    assert flagged >= {4, 6, 7, 8, 9, 10}, result.stdout


def test_every_public_name_is_documented() -> None:
    undocumented = []
    for name in ivm.__all__:
        value = getattr(ivm, name)
        if not (inspect.isclass(value) or callable(value)):
            continue  # a constant such as __version__
        if not (value.__doc__ or "").strip():
            undocumented.append(name)
    assert undocumented == []


def test_all_names_exist() -> None:
    for name in ivm.__all__:
        assert hasattr(ivm, name), name
    assert isinstance(ivm.__version__, str) and ivm.__version__
    assert ivm.__doc__


def test_stubs_match_the_compiled_module(tmp_path: Path) -> None:
    allowlist = Path(__file__).with_name("stubtest-allowlist.txt")
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ivm", "--allowlist", str(allowlist)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
