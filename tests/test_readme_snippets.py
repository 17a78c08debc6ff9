"""Every ```python block of the README runs as printed, from the clone (in order, in one fresh
interpreter per block, from the repository root, ../shared beside it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_file

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_has_python_snippets():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_each_python_snippet_of_the_readme_runs_as_printed(index):
    shared_file("reviews_bench.parquet")
    # A block may continue the one before it (the Jupyter ones do): run it after its
    # predecessors that set up names, the way a reader runs them in one session.
    code = BLOCKS[index]
    if "import " not in code:
        code = BLOCKS[index - 1] + "\n" + code
    # As after `source .venv/bin/activate`, which the README asks for: python3 is this one
    # (Spark's Python workers start `python3` from the PATH).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, (code, done.stderr[-3000:])


def _test_command() -> str:
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("## Installing the extras")]
    commands = re.findall(r"```bash\n(.*?)\n```", head, re.S)
    (command,) = [c for c in commands if "pytest" in c]
    return command


def test_ci_runs_exactly_the_readme_test_command():
    assert _test_command() in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_test_command_installs_the_cpu_torch_before_the_test_extra():
    """From the package index, torch==2.13.0 is a CUDA build of several GB on Linux: the
    command must take the CPU build from PyTorch's CPU index first, then `.[test]` keeps it."""
    command = _test_command()
    cpu = command.find("torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
    assert 0 <= cpu < command.index("'.[test]'"), command
