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
