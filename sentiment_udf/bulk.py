"""The bulk path: score a whole table or file in large Arrow batches, committed batch by batch.

An interrupted run leaves the target holding whole batches only; `resume=True` scores the rows
whose ids are not in the target yet. The source is only read.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .encoding import join_title
from .runtime import SentimentModel
from .sql_names import (
    Source,
    SourceError,
    check_columns,
    qualified,
    quote_identifier,
    split_table,
    table_exists,
)

DEFAULT_BATCH_ROWS = 8192
OUTPUT_COLUMNS = ("label", "score")


@dataclass(frozen=True)
class ScoreResult:
    rows_scored: int
    rows_already_done: int
    seconds: float
    target: str


def score(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    model: SentimentModel,
    *,
    id_column: str,
    text_column: str,
    title_column: str | None = None,
    target_table: str | None = None,
    output: str | Path | None = None,
    replace: bool = False,
    resume: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> ScoreResult:
    """Score `source` into `target_table` (in `con`'s database) or a Parquet `output` file.

    Writes the id column, `label` and `score` (P(positive) or of the model's last label).
    `progress(done, total)` is called after each committed batch.
    """
    if (target_table is None) == (output is None):
        raise ValueError("give exactly one of target_table= or output=")
    if replace and resume:
        raise ValueError("--replace and --resume exclude each other")
    if id_column in OUTPUT_COLUMNS:
        raise SourceError(f"id column {id_column!r} clashes with an output column {OUTPUT_COLUMNS}")
    started = time.perf_counter()
    columns = {
        "--id-column": id_column,
        "--text-column": text_column,
        "--title-column": title_column,
    }
    types = check_columns(
        con,
        source,
        columns,
        text_columns=("--text-column", "--title-column"),
    )
    _check_ids(con, source, id_column)
    sink: _Sink = (
        _TableSink(con, target_table, id_column, types[id_column])
        if target_table
        else _ParquetSink(con, Path(output), id_column)
    )
    done_before = sink.open(replace=replace, resume=resume)
    query, params = _pending_rows(source, sink, id_column, text_column, title_column)
    total = con.execute(f"SELECT count(*) FROM ({query})", params).fetchall()[0][0]
    reader = _record_batches(con.sql(query, params=params), batch_rows)
    score_index = model.labels.index("positive") if "positive" in model.labels else -1
    scored = 0
    for batch in reader:
        probs = model.predict_proba(_texts(batch))
        table = pa.table(
            {
                id_column: batch.column(0),
                "label": pa.array(model.labels_of(probs), type=pa.string()),
                "score": pa.array(
                    probs[:, score_index], type=pa.float64(), mask=np.isnan(probs[:, 0])
                ),
            }
        )
        sink.write(table)
        scored += len(table)
        if progress:
            progress(scored, total)
    sink.close()
    return ScoreResult(scored, done_before, time.perf_counter() - started, sink.name)


def _record_batches(relation: duckdb.DuckDBPyRelation, rows: int) -> pa.RecordBatchReader:
    if hasattr(relation, "to_arrow_reader"):  # duckdb >= 1.4
        return relation.to_arrow_reader(rows)
    return relation.fetch_arrow_reader(rows)


def _texts(batch: pa.RecordBatch) -> list[str | None]:
    titles, texts = batch.column(1).to_pylist(), batch.column(2).to_pylist()
    return [join_title(title, text) for title, text in zip(titles, texts)]


def _check_ids(con: duckdb.DuckDBPyConnection, source: Source, id_column: str) -> None:
    column = quote_identifier(id_column)
    repeated, missing = con.execute(
        f"SELECT count({column}) - count(DISTINCT {column}), count(*) - count({column}) "
        f"FROM {source.sql}",
        list(source.params),
    ).fetchall()[0]
    if repeated or missing:
        raise SourceError(
            f"--id-column {id_column!r} must identify rows: {repeated} repeated "
            f"and {missing} NULL ids"
        )


def _pending_rows(
    source: Source, sink: _Sink, id_column: str, text_column: str, title_column: str | None
) -> tuple[str, list]:
    ident = quote_identifier(id_column)
    title = quote_identifier(title_column) if title_column else "NULL::VARCHAR"
    done_sql, done_params = sink.done_ids_sql()
    query = f"SELECT s.{ident}, {title}, s.{quote_identifier(text_column)} FROM {source.sql} AS s"
    params = list(source.params)
    if done_sql:
        query += f" WHERE NOT EXISTS (SELECT 1 FROM {done_sql} AS d WHERE d.{ident} = s.{ident})"
        params += done_params
    return query, params


class _Sink:
    name: str

    def open(self, *, replace: bool, resume: bool) -> int: ...
    def done_ids_sql(self) -> tuple[str | None, list]: ...
    def write(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...


class _TableSink(_Sink):
    """Rows go into a new table, one transaction per batch."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, id_column: str, id_type: str):
        self.con, self.name = con, name
        self.writer = con.cursor()
        self.schema, self.table = split_table(con, name)
        self.sql = qualified(self.schema, self.table)
        self.create = (
            f"CREATE TABLE {self.sql} ({quote_identifier(id_column)} {id_type} "
            "PRIMARY KEY, label VARCHAR, score DOUBLE)"
        )

    def open(self, *, replace: bool, resume: bool) -> int:
        exists = table_exists(self.con, self.schema, self.table)
        if exists and not (replace or resume):
            raise SourceError(
                f"table {self.name!r} exists: add --replace to overwrite it or "
                "--resume to finish an interrupted run"
            )
        if exists and resume:
            return self.con.execute(f"SELECT count(*) FROM {self.sql}").fetchall()[0][0]
        self.writer.begin()
        if exists:
            self.writer.execute(f"DROP TABLE {self.sql}")
        self.writer.execute(self.create)
        self.writer.commit()
        return 0

    def done_ids_sql(self) -> tuple[str | None, list]:
        return self.sql, []

    def write(self, table: pa.Table) -> None:
        self.writer.begin()
        try:
            self.writer.register("_sentiment_udf_batch", table)
            self.writer.execute(f"INSERT INTO {self.sql} SELECT * FROM _sentiment_udf_batch")
            self.writer.unregister("_sentiment_udf_batch")
            self.writer.commit()
        except BaseException:
            self.writer.rollback()
            raise

    def close(self) -> None:
        self.writer.close()


class _ParquetSink(_Sink):
    """Batches go to numbered part files beside the output; the last step joins them into it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, output: Path, id_column: str):
        self.con, self.output, self.name = con, output, str(output)
        self.parts = output.with_name(output.name + ".parts")
        self.id_column = id_column

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet"))

    def open(self, *, replace: bool, resume: bool) -> int:
        if self.output.exists() and not (replace or resume):
            raise SourceError(
                f"{self.output} exists: add --replace to overwrite it or "
                "--resume to add the rows it lacks"
            )
        if not resume and self.parts.exists():
            shutil.rmtree(self.parts)
        self.parts.mkdir(parents=True, exist_ok=True)
        if resume and self.output.exists() and not self._part_files():
            os.replace(self.output, self.parts / "part-000000.parquet")  # a finished run
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self._part_files())

    def done_ids_sql(self) -> tuple[str | None, list]:
        files = [str(f) for f in self._part_files()]
        return ("read_parquet(?)", [files]) if files else (None, [])

    def write(self, table: pa.Table) -> None:
        index = len(self._part_files())
        final = self.parts / f"part-{index:06d}.parquet"
        temporary = final.with_suffix(".tmp")
        pq.write_table(table, temporary)
        os.replace(temporary, final)

    def close(self) -> None:
        files = self._part_files()
        temporary = self.output.with_name(self.output.name + ".tmp")
        schema = (
            pq.read_schema(files[0])
            if files
            else pa.schema(
                [(self.id_column, pa.null()), ("label", pa.string()), ("score", pa.float64())]
            )
        )
        with pq.ParquetWriter(temporary, schema) as writer:
            for part in files:
                writer.write_table(pq.read_table(part, schema=schema))
        os.replace(temporary, self.output)
        shutil.rmtree(self.parts)
