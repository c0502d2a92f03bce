"""The wheel as users get it: built by maturin (as `cargo xtask dist` builds
it, here with the dev profile), installed into a fresh virtual environment,
and used there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).parents[2]


def test_the_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    env = dict(os.environ)
    # The V8 mirror beside the checkout, as xtask passes it to cargo.
    mirror = ROOT.parent / "shared" / "rusty_v8"
    if "RUSTY_V8_MIRROR" not in env and mirror.exists():
        env["RUSTY_V8_MIRROR"] = str(mirror)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "maturin", "build", "--profile", "dev", "--strip", "--out", str(wheels)]
        + ["--manifest-path", str(ROOT / "bindings" / "python" / "Cargo.toml")],
        check=True,
        capture_output=True,
        env=env,
        cwd=ROOT,
    )
    (wheel,) = wheels.glob("ivm_isolates-*.whl")
    # Tagged for the glibc its binary needs (see README, "Packages").
    assert "manylinux" in wheel.name
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True)
    smoke = (
        "import asyncio, ivm\n"
        "from ivm import vm\n"
        "with ivm.Isolate(memory_limit=32) as isolate:\n"
        "    context = isolate.create_context()\n"
        "    assert context.eval('6 * 7') == 42\n"
        "    assert asyncio.run(context.eval_async('1 + 2')) == 3\n"
        "sandbox = {'x': 1}\n"
        "assert vm.run_in_new_context('x += 1; x', sandbox) == 2 and sandbox == {'x': 2}\n"
        "print('ok')\n"
    )
    result = subprocess.run([str(python), "-c", smoke], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
