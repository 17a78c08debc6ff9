"""Safe SQL building blocks: quoted identifiers and user-named tables and files as FROM clauses."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

FILE_READERS = {
    ".parquet": "read_parquet",
    ".csv": "read_csv",
    ".tsv": "read_csv",
    ".json": "read_json_auto",
    ".jsonl": "read_json_auto",
    ".ndjson": "read_json_auto",
}


class SourceError(ValueError):
    """A table, column or file the user named does not exist or does not fit."""


def first_few(items: list[str], shown: int = 5) -> str:
    """Up to `shown` of `items`, comma-joined, then "and N more": an error stays one short line."""
    rest = len(items) - shown
    return ", ".join(items[:shown]) + (f" and {rest:,} more" if rest > 0 else "")


@dataclass(frozen=True)
class Source:
    """Rows to read: a FROM clause (table, view or file reader) with its parameters, and what it
    reads: the resolved files of a file source, or a glob's pattern (made absolute)."""

    sql: str
    params: tuple = ()
    files: tuple[Path, ...] = ()
    pattern: str | None = None
    numbered: bool = False  # rows numbered in file order (see numbered())
    query: bool = False  # a user's SELECT (see query_source()): run once, then read as rows


def quote_identifier(name: str) -> str:
    """`name` as a DuckDB identifier: double-quoted, inner quotes doubled, NUL refused."""
    if not name or "\x00" in name:
        raise SourceError(f"not a usable SQL name: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def table_exists(con: duckdb.DuckDBPyConnection, schema: str | None, name: str) -> bool:
    """Whether the table exists (names compared case-insensitively, as DuckDB does)."""
    query = "SELECT count(*) FROM duckdb_tables() WHERE lower(table_name) = lower(?)"
    params = [name]
    if schema is not None:
        query += " AND lower(schema_name) = lower(?)"
        params.append(schema)
    else:
        query += " AND schema_name = current_schema() AND database_name = current_database()"
    return con.execute(query, params).fetchall()[0][0] > 0


def split_table(con: duckdb.DuckDBPyConnection, name: str) -> tuple[str | None, str]:
    """(schema, table) for a name as a user typed it: a literal table name first, else
    `schema.table` where that table or schema exists."""
    if table_exists(con, None, name):
        return None, name
    schema, dot, table = name.partition(".")
    if dot and table and (table_exists(con, schema, table) or _schema_exists(con, schema)):
        return schema, table
    return None, name


def _schema_exists(con: duckdb.DuckDBPyConnection, schema: str) -> bool:
    query = "SELECT count(*) FROM duckdb_schemas() WHERE lower(schema_name) = lower(?)"
    return con.execute(query, [schema]).fetchall()[0][0] > 0


def qualified(schema: str | None, table: str) -> str:
    return (
        quote_identifier(table)
        if schema is None
        else (f"{quote_identifier(schema)}.{quote_identifier(table)}")
    )


def table_source(con: duckdb.DuckDBPyConnection, name: str) -> Source:
    """An existing table or view; SourceError when there is none."""
    schema, table = split_table(con, name)
    if not table_exists(con, schema, table) and not _view_exists(con, schema, table):
        raise SourceError(f"no table named {name!r} in the database")
    return Source(qualified(schema, table))


def _view_exists(con: duckdb.DuckDBPyConnection, schema: str | None, name: str) -> bool:
    query = "SELECT count(*) FROM duckdb_views() WHERE lower(view_name) = lower(?)"
    params = [name] + ([schema] if schema else [])
    if schema:
        query += " AND lower(schema_name) = lower(?)"
    return con.execute(query, params).fetchall()[0][0] > 0


def file_source(path: str | Path, glob: bool = False) -> Source:
    """A Parquet, CSV or JSON file, read as the file it names (characters such as `[` or `*` are
    taken literally); with `glob=True`, every file the DuckDB glob pattern matches."""
    reader = FILE_READERS.get(Path(path).suffix.lower())
    if reader is None:
        raise SourceError(f"{path}: unknown file type (use .parquet, .csv, .tsv, .json or .jsonl)")
    if glob:
        pattern = os.path.abspath(os.path.expanduser(str(path)))
        matched = duckdb.connect().execute("SELECT file FROM glob(?)", [pattern]).fetchall()
        if not matched:
            raise SourceError(f"{path}: no file matches this pattern")
        files = tuple(Path(os.path.realpath(row[0])) for row in matched)
        return Source(f"{reader}(?)", (pattern,), files, pattern)
    file = Path(path).expanduser()
    if not file.exists():
        raise SourceError(f"{path}: file not found")
    if not file.is_file():
        raise SourceError(f"{path}: not a file (to read several files, pass --glob with a pattern)")
    resolved = Path(os.path.realpath(file))
    return Source(f"{reader}(?)", (escape_glob(str(resolved)),), (resolved,))


def query_source(sql: str) -> Source:
    """The rows of one SELECT statement (run on the connection of --db, or in memory)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SourceError(f"--query does not parse: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise SourceError("--query takes one SELECT statement (it is only read, never run twice)")
    # the closing parenthesis on a line of its own: a trailing `-- comment` cannot swallow it
    return Source(f"({sql.strip().rstrip(';')}\n)", query=True)


ROW_NUMBER_COLUMN = "row_number"


QUERY_ROWS = "__sentiment_udf_query_rows"


def materialised(con: duckdb.DuckDBPyConnection, source: Source) -> Source:
    """The rows of a query source, run once into a temporary table (a query with nextval(),
    random() or now() would give other rows on each read); other sources as they are."""
    if not source.query:
        return source
    table = f"temp.main.{quote_identifier(QUERY_ROWS)}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {quote_identifier(QUERY_ROWS)} AS SELECT * FROM {source.sql}",
        list(source.params),
    )
    return Source(table)


def numbered(source: Source) -> Source:
    """A file source with its rows numbered 1, 2, ... in file order, as column `row_number`
    (the id of rows that have none; the same numbers on every read of the same file)."""
    if not source.files and source.pattern is None:
        raise SourceError("rows of a table or query have no fixed order: give --id-column")
    sql = (
        f"(SELECT ordinality AS {ROW_NUMBER_COLUMN}, * EXCLUDE (ordinality) "
        f"FROM {source.sql} WITH ORDINALITY)"
    )
    return Source(sql, source.params, source.files, source.pattern, numbered=True)


def escape_glob(path: str) -> str:
    """`path` with DuckDB's glob characters bracketed, so that it names exactly one file."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def table_identity(con: duckdb.DuckDBPyConnection, name: str) -> tuple[str, str, str]:
    """(database, schema, table) a user's table name refers to, lower-cased (DuckDB's names are
    case-insensitive)."""
    schema, table = split_table(con, name)
    database, current = con.execute("SELECT current_database(), current_schema()").fetchall()[0]
    return (database.lower(), (schema or current).lower(), table.lower())


def tables_read(con: duckdb.DuckDBPyConnection, source: Source) -> set[str]:
    """Lower-cased names of the base tables a query over `source` scans (through views too)."""
    plan = con.execute(
        f"EXPLAIN (FORMAT json) SELECT * FROM {source.sql}", list(source.params)
    ).fetchall()[0][1]
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            table = (node.get("extra_info") or {}).get("Table") if "extra_info" in node else None
            if isinstance(table, str):
                names.add(table.lower())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(plan))
    return names


def source_types(con: duckdb.DuckDBPyConnection, source: Source) -> dict[str, str]:
    """The columns of `source` and their DuckDB types, in order."""
    described = con.execute(f"DESCRIBE SELECT * FROM {source.sql}", list(source.params)).fetchall()
    return {row[0]: row[1] for row in described}


def check_columns(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    columns: dict[str, str | None],
    text_columns: tuple[str, ...] = (),
) -> dict[str, str]:
    """Check the named columns exist in `source` (and that text ones are VARCHAR); the types
    of all its columns."""
    types = source_types(con, source)
    for option, column in columns.items():
        if column is None:
            continue
        if column not in types:
            raise SourceError(f"{option} {column!r}: no such column (columns: {', '.join(types)})")
        if option in text_columns and types[column] != "VARCHAR":
            raise SourceError(f"{option} {column!r} is {types[column]}, not text (VARCHAR)")
    return types
