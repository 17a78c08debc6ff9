"""The package ships py.typed: mypy must pass on it, and ruff on the whole repository (CI runs
both through this file, since .ci/run runs the README's test command and nothing else)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_is_clean_on_the_package():
    pytest.importorskip("mypy", reason="mypy missing: pip install -e '.[test]'")
    done = _run(sys.executable, "-m", "mypy", "sentiment_udf")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_ruff_is_clean_on_the_repository():
    pytest.importorskip("ruff", reason="ruff missing: pip install -e '.[test]'")
    done = _run(sys.executable, "-m", "ruff", "check", ".")
    assert done.returncode == 0, done.stdout[-3000:]
