"""Catch SQL that would store a call to our functions in a database file.

The functions live in the Python process. A view, column DEFAULT, generated column, CHECK
constraint or index expression that calls one is stored in the file, and any process that has
not registered the functions then fails on it (for a DEFAULT, generated column, CHECK or index:
on every read of that table). Views and stored macros get a warning; the others are refused
(rolled back).
"""

from __future__ import annotations

import re

import duckdb

from .duckdb_functions import MACROS_FILE
from .register_arguments import FUNCTION_ROLES

MACRO_NAMES = tuple(
    re.findall(r"CREATE OR REPLACE TEMP MACRO (\w+)", MACROS_FILE.read_text(encoding="utf-8"))
)
CHECKED_TYPES = ("CREATE", "CREATE_FUNC", "ALTER", "MULTI")  # MULTI: ALTER ... ADD COLUMN, say  # statements that can store a call (by the parser's type)


class StoredCallError(ValueError):
    """A statement would store a call to the sentiment functions in the database file."""


def stored_calls(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> set[tuple[str, str]]:
    """(kind, description) of each persistent object whose SQL calls one of `names`."""
    if not names:
        return set()
    names = _with_macros_calling(con, names)
    pattern = _call_pattern(names)
    found: set[tuple[str, str]] = set()
    stored = "database_name <> 'temp'"
    queries = {
        "view": f"SELECT view_name, sql FROM duckdb_views() WHERE {stored} AND NOT internal",
        "column": "SELECT table_name || '.' || column_name, "
        "coalesce(column_default, '') || ' ' || coalesce(generation_expression, '') "
        f"FROM duckdb_columns() WHERE {stored} AND NOT internal",
        "check": f"SELECT table_name, expression FROM duckdb_constraints() WHERE {stored}",
        "index": "SELECT index_name || ' on ' || table_name, sql FROM duckdb_indexes() "
        f"WHERE {stored}",
        "macro": "SELECT function_name, macro_definition FROM duckdb_functions() "
        f"WHERE {stored} AND function_type IN ('macro', 'table_macro') AND NOT internal",
    }
    for kind, query in queries.items():
        for name, sql in con.execute(query).fetchall():
            if sql and re.search(pattern, sql):
                found.add((kind, name))
    return found


def _call_pattern(names: tuple[str, ...]) -> str:
    return r"(?i)\b(" + "|".join(re.escape(n) for n in names) + r")\s*\("


def _with_macros_calling(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` and every macro (stored or temporary) that calls one of them, through any chain
    of macros: a column calling such a macro calls our function all the same."""
    macros = con.execute(
        "SELECT function_name, macro_definition FROM duckdb_functions() "
        "WHERE function_type IN ('macro', 'table_macro') AND NOT internal"
    ).fetchall()
    found = set(names)
    while True:
        pattern = _call_pattern(tuple(found))
        more = {name for name, sql in macros if sql and name not in found and re.search(pattern, sql)}
        if not more:
            return tuple(sorted(found))
        found |= more


def guarded(sql: str) -> bool:
    """Whether to run `sql` inside a checked transaction: decided on the parsed statements (every
    one a CREATE or ALTER), never on words in its text, which may sit in a comment or a string.
    SQL the parser refuses is not guarded: DuckDB reports its error when it runs."""
    try:
        parsed = duckdb.extract_statements(sql)
    except duckdb.Error:
        return False
    return bool(parsed) and all(s.type.name in CHECKED_TYPES for s in parsed)


def check_new_calls(before: set[tuple[str, str]], after: set[tuple[str, str]]) -> list[str]:
    """Warnings for new views; StoredCallError for anything else that now stores a call."""
    new = sorted(after - before)
    refused = [f"{kind} {name}" for kind, name in new if kind not in ("view", "macro")]
    if refused:
        raise StoredCallError(
            f"refused: {', '.join(refused)} would store a call to a sentiment function in the "
            "database file, and the table would fail to read wherever the functions are not "
            "registered; store the scores instead (CREATE TABLE ... AS SELECT ...)"
        )
    return [
        f"warning: {kind} {name} calls a sentiment function; it works only where sentiment-udf "
        "has registered them (store scores in a table to use them elsewhere)"
        for kind, name in new
    ]


def function_names() -> tuple[str, ...]:
    return FUNCTION_ROLES + MACRO_NAMES
