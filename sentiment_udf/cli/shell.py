"""An interactive SQL prompt over a connection: statements end in ';', .quit or Ctrl-D leaves."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import duckdb

from ..engines.catalog_guard import StoredCallError
from ..engines.sql_names import SourceError
from ..engines.user_paths import check_not_read, check_output_file, files_a_query_may_read
from .sql_session import run_each, terminal_width, write

PROMPT, CONTINUATION = "sentiment> ", "       ...> "
HELP = """\
Statements end in ';' (outside quotes and comments) and may span lines; the sentiment
functions and macros are registered.
.tables              the tables and views
.schema [TABLE]      the CREATE statements (of one table or view)
.timer on|off        show each statement's run time
.mode table|csv|json how results are shown
.read FILE           run the statements of a file
.output [FILE]       send results to FILE (no FILE: back to the screen)
.help                this text
.quit / .exit        leave (also Ctrl-D)
"""
HISTORY_NAME = ".sentiment_udf_history"
CANCELLED = "\x03"  # what _read returns for Ctrl-C at a prompt (compared by identity)
MODES = ("table", "csv", "json")


def _history() -> Path:
    return Path.home() / HISTORY_NAME


@dataclass
class ShellState:
    """What dot commands change: how results are shown and where they go."""

    stdout: IO[str]
    stderr: IO[str]
    mode: str = "table"
    timer: bool = False
    output_path: Path | None = None  # named by .output; opened (emptied) at its first result
    output: IO[str] | None = None
    width: int | None = None

    @property
    def results(self) -> IO[str]:
        if self.output_path is not None and self.output is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
            self.output = open(os.open(self.output_path, flags, 0o644), "w", encoding="utf-8")  # noqa: SIM115
        return self.output or self.stdout

    def close_output(self) -> None:
        if self.output is not None:
            self.output.close()
        self.output, self.output_path = None, None


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
    state = ShellState(stdout, stderr, width=terminal_width() if stdout is sys.stdout else None)
    if interactive:
        _load_history()
        stderr.write("sentiment-udf shell: .help for help, .quit to leave\n")
    failed = False
    buffer: list[str] = []
    while True:
        line = _read(stdin, CONTINUATION if buffer else PROMPT, interactive)
        if line is None:
            break
        if line is CANCELLED:  # Ctrl-C at a prompt: the pending text is dropped, as in duckdb
            if buffer:
                stderr.write("(pending statement dropped)\n")
            buffer = []
            continue
        stripped = line.strip()
        if not buffer and stripped.startswith("."):
            if stripped in (".quit", ".exit"):
                break
            failed |= not _dot_command(con, stripped, state)
            continue
        if stripped or buffer:
            buffer.append(line)
        if not statement_complete("\n".join(buffer)):
            continue
        failed |= not _execute(con, "\n".join(buffer), state)
        buffer = []
    if buffer and any(b.strip() for b in buffer):
        failed |= not _execute(con, "\n".join(buffer), state)
    state.close_output()
    if interactive:
        _save_history()
    return 1 if failed and not interactive else 0


def _dot_command(con: duckdb.DuckDBPyConnection, line: str, state: ShellState) -> bool:
    """Run one dot command; False (and one line on stderr) when it fails or is unknown."""
    command, _, argument = line.partition(" ")
    argument = argument.strip()
    if "\x00" in argument:
        return _error(state, f"{command}: a file name cannot hold a NUL byte")
    if command == ".help":
        state.stdout.write(HELP)
    elif command == ".tables":
        return _execute(con, "SHOW TABLES", state)
    elif command == ".schema":
        where = "WHERE lower(name) = lower(?)" if argument else ""
        sql = (
            "SELECT sql FROM (SELECT table_name AS name, sql FROM duckdb_tables() UNION ALL "
            f"SELECT view_name, sql FROM duckdb_views() WHERE NOT internal) {where} ORDER BY name"
        )
        rows = con.execute(sql, [argument] if argument else []).fetchall()
        try:
            state.results.write("".join(f"{row[0]}\n" for row in rows))
        except OSError as exc:
            return _error(state, f"cannot write {state.output_path}: {exc.strerror}")
    elif command == ".timer" and argument in ("on", "off"):
        state.timer = argument == "on"
    elif command == ".mode" and argument in MODES:
        state.mode = argument
    elif command == ".read" and argument:
        try:
            path = Path(argument).expanduser()
            if path.exists() and not path.is_file():
                return _error(state, f"cannot read {argument}: not a regular file")
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            return _error(state, f"cannot read {argument}: {exc.strerror}")
        except UnicodeDecodeError as exc:
            return _error(state, f"cannot read {argument}: not UTF-8 text (byte {exc.start})")
        return _execute(con, text, state)
    elif command == ".output":
        state.close_output()
        if argument:
            return _name_output(con, Path(argument).expanduser(), state)
    else:
        return _error(state, f"unknown or incomplete command {line!r} (.help lists them)")
    return True


def _name_output(con: duckdb.DuckDBPyConnection, path: Path, state: ShellState) -> bool:
    """Send results to `path` from the next statement on: never the database, its log, a file a
    view or macro reads, or a link (each one line of error, the file untouched)."""
    try:
        check_output_file(path, in_place=True)
        if path.is_symlink():
            raise SourceError(f"{path} is a link: name the file itself")
    except SourceError as exc:
        return _error(state, f".output {exc}")
    state.output_path = path
    if _reads_output(con, "", state, ""):  # the database, its log, a file a view reads
        state.output_path = None
        return False
    return True


def _warn(state: ShellState, message: str) -> None:
    state.stderr.write(message + "\n")


def _error(state: ShellState, message: str) -> bool:
    state.stderr.write(f"Error: {message}\n")
    return False


def _execute(con: duckdb.DuckDBPyConnection, sql: str, state: ShellState) -> bool:
    started = time.perf_counter()
    if _reads_output(con, sql, state, ""):  # a statement never reads the file results go to
        return False
    try:
        tables = run_each(con, sql, warn=lambda message: _warn(state, message))
    except (duckdb.Error, StoredCallError) as exc:
        return _error(state, str(exc))
    except KeyboardInterrupt:
        state.stderr.write("Interrupted.\n")
        return False
    if tables and _reads_output(con, sql, state, " (its results were not written)"):
        return False  # checked again: a database the SQL attached holds views of its own
    try:
        for table in tables:
            width = state.width if state.output_path is None else None
            write(table, state.mode, stream=state.results, max_width=width)
    except OSError as exc:
        return _error(state, f"cannot write {state.output_path}: {exc.strerror}")
    if state.timer:
        state.stderr.write(f"Run Time: {time.perf_counter() - started:.3f} s\n")
    return True


def _reads_output(
    con: duckdb.DuckDBPyConnection, sql: str, state: ShellState, note: str
) -> bool:
    """Whether `sql` may read the .output file (then one line of error, ending in `note`)."""
    if state.output_path is None:
        return False
    try:
        check_not_read(state.output_path, files_a_query_may_read(con, sql), ".output")
    except SourceError as exc:
        _error(state, f"{exc}{note}")
        return True
    return False


def _read(stdin: IO[str], prompt: str, interactive: bool) -> str | None:
    if interactive:
        try:
            return input(prompt)
        except EOFError:
            return None
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return CANCELLED
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
