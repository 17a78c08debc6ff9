"""Run the installed `sentiment-udf` console script in a subprocess."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def script() -> str:
    beside_python = Path(sys.executable).parent / "sentiment-udf"
    found = str(beside_python) if beside_python.exists() else shutil.which("sentiment-udf")
    assert found, "the sentiment-udf console script is not installed (pip install -e .)"
    return found


def with_default_sigint(command: list[str]) -> list[str]:
    """`command`, started with SIGINT at its default disposition. A test run launched in the
    background (`pytest &` in a script) has SIGINT ignored, and its children inherit that: a
    Python CLI then never sees Ctrl-C, which is right for it and wrong for a test that sends one."""
    reset = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", reset, *command]


def cli(
    *args: str, stdin: str | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [script(), *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 or lines[0].startswith("Usage:"), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
