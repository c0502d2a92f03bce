"""The Python examples of the READMEs run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
READMES = [ROOT / "README.md", ROOT / "bindings/python/README.md"]


def python_examples() -> list[tuple[str, str]]:
    examples = []
    for readme in READMES:
        blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.DOTALL)
        examples += [(f"{readme.relative_to(ROOT)}#{index}", block) for index, block in enumerate(blocks)]
    return examples


def test_the_readmes_have_python_examples() -> None:
    assert {name.split("#")[0] for name, _ in python_examples()} == {"README.md", "bindings/python/README.md"}


@pytest.mark.parametrize(("name", "code"), python_examples(), ids=[name for name, _ in python_examples()])
def test_example_runs(name: str, code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, name, "exec"), {"__name__": "example"})
    assert "hello from" in capsys.readouterr().out
