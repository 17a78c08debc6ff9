"""A DuckDB connection with our functions on it, statements run on it, and results written out:
the library under the `query` and `shell` commands."""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import math
import os
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..engines.catalog_guard import (
    StoredCallError,
    check_new_calls,
    function_names,
    guarded,
    stored_calls,
)
from ..engines.duckdb_functions import register
from ..engines.file_lock import fresh_file, output_lock, remove_killed_temporaries
from ..engines.sql_names import SourceError
from ..engines.user_paths import check_database
from ..runtime.cancellation import cancelling
from ..runtime.worker_threads import quiet_worker
from .progress import ActivityLine

FORMATS = ("table", "csv", "json", "parquet")


def open_connection(
    db: str | None = None,
    model: str | None = None,
    *,
    read_only: bool = False,
    cache: bool | str | None = None,
    **model_options: Any,
) -> duckdb.DuckDBPyConnection:
    """Open `db` (in memory when None) and register the SQL functions on it."""
    check_database(db, must_exist=read_only)
    con = duckdb.connect(db or ":memory:", read_only=read_only)
    register(con, model, macros=True, cache=cache, **model_options)
    return con


def run(
    con: duckdb.DuckDBPyConnection, sql: str, warn: Callable[[str], None] | None = None
) -> pa.Table | None:
    """Run one or more statements; the last one's result as Arrow (None when it returns none).

    DDL runs in a transaction that is rolled back if it would store a call to the sentiment
    functions in the database file (a view that does only gets a warning; catalog_guard).
    """
    names = function_names()
    checked = guarded(sql)
    own_transaction = False
    if checked:
        before = stored_calls(con, names)
        try:
            con.execute("BEGIN TRANSACTION")
            own_transaction = True
        except duckdb.TransactionException:  # the user's transaction is open: warn, not refuse
            pass
    try:
        table = _run_interruptibly(con, sql)
        if checked:
            try:
                messages = check_new_calls(before, stored_calls(con, names))
            except StoredCallError as refused:
                if not own_transaction:
                    messages = [f"warning: {refused} (inside your transaction: roll it back)"]
                else:
                    raise
            if own_transaction:
                con.execute("COMMIT")
            for message in messages:
                (warn or _to_stderr)(message)
    except BaseException:
        if own_transaction:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
        raise
    return table


def statements(sql: str) -> list[str]:
    """The statements of `sql`, as DuckDB's parser splits them (quotes and comments respected)."""
    return [s.query for s in duckdb.extract_statements(sql)] or [sql]


def run_each(
    con: duckdb.DuckDBPyConnection, sql: str, warn: Callable[[str], None] | None = None
) -> list[pa.Table]:
    """Run the statements of `sql` one by one; the result of each one that returns rows."""
    results = []
    for statement in statements(sql):
        table = run(con, statement, warn)
        if table is not None:
            results.append(table)
    return results


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _run_interruptibly(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table | None:
    """The statements run on a helper thread so that Ctrl-C reaches this one at once: it
    interrupts the query (DuckDB stops at its next vector) and raises KeyboardInterrupt."""
    outcome: dict[str, Any] = {}
    # Set by the worker as it ends. Not Thread.is_alive(): a join interrupted by Ctrl-C can
    # leave a running thread reported as stopped (CPython), and the connection busy with it.
    finished = threading.Event()

    def execute() -> None:
        quiet_worker()  # Ctrl-C belongs to the waiting main thread
        try:
            relation = con.sql(sql)
            outcome["table"] = None if relation is None else relation.to_arrow_table()
        except BaseException as exc:  # handed to the calling thread
            outcome["error"] = exc
        finally:
            finished.set()

    worker = threading.Thread(target=execute, name="sentiment-udf-query", daemon=True)
    activity = ActivityLine()
    worker.start()
    try:
        while not finished.wait(0.1):
            activity.tick()
    except KeyboardInterrupt:
        _stop(con, finished)
        raise
    finally:
        activity.clear()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["table"]


def _stop(con: duckdb.DuckDBPyConnection, finished: threading.Event) -> None:
    """Cancel the running statement and wait until it has stopped, so the connection is free
    for the next one. An interrupt that lands before DuckDB starts executing is lost, so it is
    sent again every half second; further Ctrl-C while waiting are absorbed. Meanwhile the
    model's workers drop the texts of the vector in flight (cancelling())."""
    with cancelling():
        while not finished.is_set():
            try:
                con.interrupt()
                finished.wait(0.5)
            except KeyboardInterrupt:
                continue


def write(
    table: pa.Table,
    fmt: str = "table",
    output: str | None = None,
    stream: IO[str] | None = None,
    max_width: int | None = None,
) -> None:
    """Write `table` as an aligned text table, CSV, JSON lines or Parquet, to `output` or `stream`.

    A file appears whole or not at all (written beside it, then renamed into place).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    if fmt == "parquet" and output is None:
        raise SourceError("--format parquet needs --output FILE")
    if output is None:
        (stream or sys.stdout).write(_render(table, fmt, max_width))
        return
    target = Path(output).absolute()
    with output_lock(target):  # score's lock: one writer; a killed one's copy is removed
        remove_killed_temporaries(target)
        with fresh_file(target.parent, f".{target.name}.") as temporary:  # never through a link
            if fmt == "parquet":
                pq.write_table(table, temporary)
            else:
                temporary.write_text(_render(table, fmt), encoding="utf-8")
            os.replace(temporary, target)


def terminal_width() -> int | None:
    """The terminal's width when stdout is one, else None (piped output is never cut)."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size((120, 24)).columns


def _render(table: pa.Table, fmt: str, max_width: int | None = None) -> str:
    if fmt == "table":
        return render_table(table, max_width)
    return {"csv": _csv, "json": _json_lines}[fmt](table)


def render_table(table: pa.Table, max_width: int | None = None) -> str:
    """A plain aligned table with a header rule, every row shown; NULL shown as NULL. With
    `max_width`, the widest columns are narrowed (values cut with '…') until the table fits."""
    names = table.column_names
    rows = [[_cell(v) for v in row.values()] for row in table.to_pylist()]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    if max_width:
        widths = _fit(widths, max_width)
        names = [_cut(n, w) for n, w in zip(names, widths)]
        rows = [[_cut(c, w) for c, w in zip(r, widths)] for r in rows]
    lines = [
        "  ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"


MIN_COLUMN_WIDTH = 8


def _fit(widths: list[int], max_width: int) -> list[int]:
    """Column widths whose table (two spaces between columns) fits `max_width`, narrowing the
    widest first and none below MIN_COLUMN_WIDTH."""
    widths = list(widths)
    while sum(widths) + 2 * (len(widths) - 1) > max_width:
        widest = max(range(len(widths)), key=widths.__getitem__)
        if widths[widest] <= MIN_COLUMN_WIDTH:
            break
        widths[widest] -= 1
    return widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _plain(value: Any) -> Any:
    """Arrow's Python values made JSON-shaped: a MAP (a list of key-value tuples) becomes a dict,
    NaN and infinities become null (JSON has no such numbers), a BLOB its base64 text."""
    if isinstance(value, list):
        if value and all(isinstance(item, tuple) and len(item) == 2 for item in value):
            return {str(k): _plain(v) for k, v in value}
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(_plain(value), default=str)
    return str(value).replace("\n", " ")


def _csv(table: pa.Table) -> str:
    """RFC 4180 CSV, quoting only where needed; NULL as an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(
            json.dumps(_plain(v), default=str, allow_nan=False)
            if isinstance(v, (dict, list))
            else _plain(v)
            if isinstance(v, (bytes, bytearray, memoryview))
            else v
            for v in row.values()
        )
    return buffer.getvalue()


def _json_lines(table: pa.Table) -> str:
    """One JSON object per row (strict JSON: no NaN or Infinity)."""
    return "".join(
        json.dumps(_plain(row), default=str, allow_nan=False) + "\n" for row in table.to_pylist()
    )
