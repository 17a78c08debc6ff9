"""Paths a user names (a database file, an output file), checked before any work is done: one
definition for the CLI's commands and the bulk path."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import duckdb

from ..runtime.registry import loaded_model_folders
from ..runtime.result_cache import open_cache_files
from .sql_names import SourceError


def check_database(db: str | Path | None, must_exist: bool) -> None:
    """A database file to open: it must exist when only read, and its folder must exist."""
    if db is None:
        return
    path = Path(db).absolute()
    if must_exist and not path.exists():
        raise SourceError(f"{db}: database file not found")
    if path.exists() and not stat.S_ISREG(path.stat().st_mode):
        raise SourceError(f"{db}: not a regular file (a FIFO, device or folder is refused)")
    if not path.parent.is_dir():
        raise SourceError(f"{db}: folder {path.parent} does not exist")


def check_output_file(
    output: str | Path | None, what: str = "a file", in_place: bool = False
) -> None:
    """A file to write: not a folder, in a folder that exists, and not a FIFO, device or socket
    (a file written beside it and renamed into place would replace the node; a writer that
    writes `in_place` takes a character device such as /dev/null)."""
    if output is None:
        return
    path = Path(output).absolute()
    if path.is_dir():
        raise SourceError(f"{output}: is a folder, not {what}")
    try:
        kind = os.stat(path).st_mode
    except (OSError, ValueError):
        kind = stat.S_IFREG  # absent (or a dangling link): a new file
    if not (stat.S_ISREG(kind) or (in_place and stat.S_ISCHR(kind))):
        node = "a FIFO" if stat.S_ISFIFO(kind) else "a device or socket"
        why = (
            "results go to a file or a character device such as /dev/null"
            if in_place
            else "the output is written beside it and renamed into place, which would replace "
            "it; leave the output out to print the results"
        )
        raise SourceError(f"{output}: is {node}, not {what} ({why})")
    if not path.parent.is_dir():
        raise SourceError(f"{output}: folder {path.parent} does not exist")


def _quoted_words(sql: str) -> list[str]:
    """The string constants ('...') and quoted names ("...") of `sql`, as DuckDB's tokenizer
    finds them: a file is read as FROM 'x.csv' or FROM "x.csv", and DuckDB keeps a view's
    FROM 'x.csv' as FROM "x.csv"."""
    try:
        tokens = duckdb.tokenize(sql)
    except duckdb.Error:
        return []
    found = []
    for position, kind in tokens:
        quote = sql[position]
        if (kind, quote) not in (
            (duckdb.token_type.string_const, "'"),
            (duckdb.token_type.identifier, '"'),
        ):
            continue
        end, text = position + 1, []
        while end < len(sql):
            if sql[end] == quote:
                if sql[end + 1 : end + 2] == quote:
                    text.append(quote)
                    end += 2
                    continue
                break
            text.append(sql[end])
            end += 1
        found.append("".join(text))
    return found


def _stored_sql(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The SQL of every view and macro in the connection's databases (what a query can reach)."""
    views = con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()
    macros = con.execute(
        "SELECT macro_definition FROM duckdb_functions() "
        "WHERE function_type LIKE '%macro%' AND NOT internal AND macro_definition IS NOT NULL"
    ).fetchall()
    return [row[0] for row in (*views, *macros) if row[0]]


def files_a_query_may_read(con: duckdb.DuckDBPyConnection, sql: str) -> dict[Path, str]:
    """Every file `sql` may read or hold, resolved, with its role: the connection's database
    files (and their write-ahead logs), the result caches and model files this process opened,
    and each file a string constant or quoted name names, in `sql` or in any view or macro, a
    glob pattern expanded. Wider than the truth on purpose: an output is checked against it."""
    found: dict[Path, str] = {}
    for text in (sql, *_stored_sql(con)):
        for literal in _quoted_words(text):
            if not literal or "\x00" in literal or len(literal) > 4096:
                continue
            path = os.path.expanduser(literal)
            found[Path(os.path.realpath(path))] = "a file the query reads"
            if any(c in path for c in "*?["):
                with contextlib.suppress(duckdb.Error):
                    matched = duckdb.execute("SELECT file FROM glob(?)", [path]).fetchall()
                    found |= {Path(os.path.realpath(r[0])): "a file the query reads" for r in matched}
    databases = con.execute("SELECT path FROM duckdb_databases() WHERE path IS NOT NULL").fetchall()
    for (path,) in databases:
        found[Path(os.path.realpath(path))] = "the database"
        found[Path(os.path.realpath(path + ".wal"))] = "the database's log"
    for cache_file in open_cache_files():
        found[Path(os.path.realpath(cache_file))] = "the result cache in use"
    for folder in loaded_model_folders():
        with contextlib.suppress(OSError):
            for model_file in folder.iterdir():
                found[Path(os.path.realpath(model_file))] = "a file of a model in use"
    return found


def check_not_read(output: str | Path, read: dict[Path, str], what: str = "--output") -> None:
    """Refuse an `output` that is (the same file as) one of the files in `read`."""
    target = Path(os.path.realpath(Path(output).expanduser()))
    role = read.get(target)
    if role is None and target.exists():
        role = next((r for p, r in read.items() if p.exists() and os.path.samefile(p, target)), None)
    if role is not None:
        raise SourceError(
            f"{what} {output} is {role} (a source): choose another output file; the source is "
            "only ever read"
        )
