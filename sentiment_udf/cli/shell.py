"""An interactive SQL prompt over a connection: statements end in ';', .quit or Ctrl-D leaves."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

import duckdb

from ..engines.catalog_guard import StoredCallError
from .sql_session import run, write

PROMPT, CONTINUATION = "sentiment> ", "       ...> "
HELP = (
    "Statements end in ';' and may span lines. The sentiment functions are registered.\n"
    ".help  this text    .quit / .exit / Ctrl-D  leave\n"
)
HISTORY_NAME = ".sentiment_udf_history"


def _history() -> Path:
    return Path.home() / HISTORY_NAME


def run_shell(
    con: duckdb.DuckDBPyConnection,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Read statements until .quit or end of input. Returns the exit code: 1 when input was
    piped in and a statement failed, else 0."""
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    interactive = stdin.isatty()
    if interactive:
        _load_history()
        stderr.write("sentiment-udf shell: .help for help, .quit to leave\n")
    failed = False
    buffer: list[str] = []
    while True:
        line = _read(stdin, CONTINUATION if buffer else PROMPT, interactive)
        if line is None:
            break
        stripped = line.strip()
        if not buffer and stripped in (".quit", ".exit"):
            break
        if not buffer and stripped == ".help":
            stdout.write(HELP)
            continue
        if stripped or buffer:
            buffer.append(line)
        if not statement_complete("\n".join(buffer)):
            continue
        failed |= not _execute(con, "\n".join(buffer), stdout, stderr)
        buffer = []
    if buffer and any(b.strip() for b in buffer):
        failed |= not _execute(con, "\n".join(buffer), stdout, stderr)
    if interactive:
        _save_history()
    return 1 if failed and not interactive else 0


def _execute(con: duckdb.DuckDBPyConnection, sql: str, stdout: IO[str], stderr: IO[str]) -> bool:
    try:
        table = run(con, sql, warn=lambda message: stderr.write(message + "\n"))
    except (duckdb.Error, StoredCallError) as exc:
        stderr.write(f"Error: {exc}\n")
        return False
    except KeyboardInterrupt:
        stderr.write("Interrupted.\n")
        return False
    if table is not None:
        write(table, stream=stdout)
    return True


def _read(stdin: IO[str], prompt: str, interactive: bool) -> str | None:
    if interactive:
        try:
            return input(prompt)
        except EOFError:
            return None
        except KeyboardInterrupt:
            return ""
    line = stdin.readline()
    return None if line == "" else line.rstrip("\n")


def _load_history() -> None:
    try:
        import readline

        if _history().exists():
            readline.read_history_file(_history())
    except (ImportError, OSError):
        pass


def _save_history() -> None:
    try:
        import readline

        readline.write_history_file(_history())
    except (ImportError, OSError):
        pass


def statement_complete(sql: str) -> bool:
    """Whether `sql` ends with a `;` that is outside quotes ('...', "...", $$...$$) and comments."""
    i, n, last_end = 0, len(sql), False
    while i < n:
        c = sql[i]
        if c in "'\"":
            close = sql.find(c, i + 1)
            while close != -1 and sql[close + 1 : close + 2] == c:  # a doubled quote inside
                close = sql.find(c, close + 2)
            if close == -1:
                return False
            i, last_end = close + 1, False
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            i = n if newline == -1 else newline + 1
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            if close == -1:
                return False
            i = close + 2
        elif sql.startswith("$$", i):
            close = sql.find("$$", i + 2)
            if close == -1:
                return False
            i, last_end = close + 2, False
        else:
            if not c.isspace():
                last_end = c == ";"
            i += 1
    return last_end
