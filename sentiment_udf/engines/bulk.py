"""The bulk path: score a whole table or file in large Arrow batches, committed batch by batch.

An interrupted run leaves the target holding whole batches only; `resume=True` scores the rows
whose ids are not in the target yet. The source is only read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..analysis.opinions import find_opinions
from ..analysis.sentences import score_sentences
from ..runtime.model import SentimentModel
from ..runtime.registry import load_aspect_model, load_tagger
from ..runtime.result_cache import ResultCache
from ..runtime.term_tagger import TermTagger
from .file_lock import fresh_file, output_lock, refuse_link, remove_killed_temporaries
from .run_record import RECORD_KEY, check_same_run, extending, parse_record, run_record
from .sql_names import (
    Source,
    SourceError,
    check_columns,
    escape_glob,
    materialised,
    qualified,
    quote_identifier,
    source_types,
    split_table,
    table_exists,
    table_identity,
    tables_read,
)
from .user_paths import check_not_read, check_output_file, files_a_query_may_read

DEFAULT_BATCH_ROWS = 8192
RUN_METADATA_KEY = b"sentiment_udf.run"  # Parquet metadata: the run that wrote the output
PROGRESS_ROWS = 128  # rows scored between progress calls (about 0.7 s of the embedded model)
# What each mode writes after the id column: (name, DuckDB type, Arrow type).
REVIEW_COLUMNS = (("label", "VARCHAR", pa.string()), ("score", "DOUBLE", pa.float64()))
SENTENCE_COLUMNS = (
    ("position", "INTEGER", pa.int32()),
    ("length", "INTEGER", pa.int32()),
    ("sentence", "VARCHAR", pa.string()),
    *REVIEW_COLUMNS,
)
OPINION_COLUMNS = (
    ("target", "VARCHAR", pa.string()),
    ("target_key", "VARCHAR", pa.string()),
    *REVIEW_COLUMNS,
    ("position", "INTEGER", pa.int32()),
    ("length", "INTEGER", pa.int32()),
    ("sentence_position", "INTEGER", pa.int32()),
)


Scored = tuple[pa.Table, "pa.Array | None"]  # output rows, and the source row of each (None: 1:1)


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
    progress: Callable[[int, int, int], None] | None = None,
    sentences: bool = False,
    cache: ResultCache | None = None,
    opinions: bool = False,
    aspect_model: SentimentModel | None = None,
    tagger: TermTagger | None = None,
    keep: Sequence[str] = (),
    probabilities: bool = False,
) -> ScoreResult:
    """Score `source` into `target_table` (in `con`'s database) or a Parquet `output` file.

    Writes the id column, `label` and `score` (P(positive) or of the model's last label); with
    `sentences=True` one row per sentence, with `opinions=True` one row per opinion target
    (found by `tagger`, labelled by `aspect_model`; defaults: the embedded ones). A review with
    no sentence or no opinion keeps one row of NULLs, so every id is in the target.
    `keep` names source columns to carry into the output after the id (`["*"]`: all of them);
    `probabilities=True` adds one column per label, `p_<label>` (reviews only). An `output`
    ending in .csv is written as CSV (with a header), else as Parquet.
    `progress(scored, total, saved)` is called every PROGRESS_ROWS rows scored (`saved`: the
    rows committed in the target so far, earlier runs' included). The source is only read: a
    target that is the source, or that the source would read, is refused before anything is
    written.
    """
    if (target_table is None) == (output is None):
        raise ValueError("give exactly one of target_table= or output=")
    if replace and resume:
        raise ValueError("--replace and --resume exclude each other")
    if sentences and opinions:
        raise ValueError("sentences=True and opinions=True exclude each other")
    if (sentences or opinions) and title_column:  # positions point into the text
        raise ValueError("sentences and opinions read the text alone: leave out title_column")
    if probabilities and (sentences or opinions):
        raise ValueError("probabilities=True goes with one row per review (no sentences/opinions)")
    columns_out = SENTENCE_COLUMNS if sentences else OPINION_COLUMNS if opinions else REVIEW_COLUMNS
    if probabilities:
        columns_out = (
            *columns_out,
            *((f"p_{label}", "DOUBLE", pa.float64()) for label in model.labels),
        )
    names_out = tuple(name for name, _, _ in columns_out)
    if id_column in names_out:
        raise SourceError(f"id column {id_column!r} clashes with an output column {names_out}")
    all_types = source_types(con, source) if keep else {}
    kept = _kept_columns(all_types, keep, id_column, names_out)
    started = time.perf_counter()
    written = (*((name, all_types[name], None) for name in kept), *columns_out)
    sink: _Sink = (
        _TableSink(
            con, target_table, id_column, written, one_row_per_id=not (sentences or opinions)
        )
        if target_table
        else _ParquetSink(con, Path(str(output)), id_column, written)
    )
    sink.check_source(source)  # first: a target that is the source is refused before all else
    described = source
    source = materialised(con, source)  # a query runs once, whatever it calls
    columns = {
        "--id-column": id_column,
        "--text-column": text_column,
        "--title-column": title_column,
    }
    types = check_columns(con, source, columns, text_columns=("--text-column", "--title-column"))
    _check_ids(con, source, id_column)
    # a piece of the batch -> its output rows, and which row of the piece each one is of
    build: Callable[[pa.RecordBatch], Scored]
    if opinions:
        pair_model = aspect_model or load_aspect_model(None, model.threads, model.english_only)
        found_by = tagger or load_tagger(None, model.threads)

        def build(piece: pa.RecordBatch) -> Scored:
            return _opinion_batch(found_by, pair_model, piece, id_column, cache)
    elif sentences:

        def build(piece: pa.RecordBatch) -> Scored:
            return _sentence_batch(model, piece, id_column, cache)
    else:

        def build(piece: pa.RecordBatch) -> Scored:
            return _scored_batch(model, piece, id_column, cache, probabilities), None

    mode = "opinions" if opinions else "sentences" if sentences else "reviews"
    record = run_record(
        model,
        described,
        {"id_column": id_column, "text_column": text_column, "title_column": title_column},
        mode + (" with probabilities" if probabilities else ""),
        kept,
        [pair_model, found_by] if opinions else (),
    )
    try:
        done_before = sink.open(
            replace=replace, resume=resume, id_type=types[id_column], record=record
        )
        if sink.finished:
            return ScoreResult(0, done_before, time.perf_counter() - started, sink.name)
        query, params = _pending_rows(source, sink, id_column, text_column, title_column, kept)
        total = con.execute(f"SELECT count(*) FROM ({query})", params).fetchall()[0][0]
        scored = 0
        for batch in _record_batches(con.sql(query, params=params), batch_rows):
            parts = []
            for start in range(0, batch.num_rows, PROGRESS_ROWS):  # progress within a batch
                piece = batch.slice(start, PROGRESS_ROWS)
                parts.append(_with_kept(*build(piece), piece, kept))
                if progress:
                    progress(scored + start + piece.num_rows, total, done_before + scored)
            sink.write(pa.concat_tables(parts))
            scored += batch.num_rows
            if progress:
                progress(scored, total, done_before + scored)
        sink.close()
    finally:
        sink.release()
    return ScoreResult(scored, done_before, time.perf_counter() - started, sink.name)


def _scored_batch(
    model: SentimentModel,
    batch: pa.RecordBatch,
    id_column: str,
    cache: ResultCache | None,
    probabilities: bool = False,
) -> pa.Table:
    """The id column, `label` and `score` (P(positive), else of the model's last label); with
    `probabilities`, `p_<label>` for every label."""
    probs = model.predict_proba(model.inputs(*_columns(batch)), cache)
    missing = np.isnan(probs[:, 0])
    columns = {
        id_column: batch.column(0),
        "label": pa.array(model.labels_of(probs), type=pa.string()),
        "score": pa.array(probs[:, model.score_index], type=pa.float64(), mask=missing),
    }
    if probabilities:
        for index, label in enumerate(model.labels):
            columns[f"p_{label}"] = pa.array(probs[:, index], type=pa.float64(), mask=missing)
    return pa.table(columns)


def _sentence_batch(
    model: SentimentModel, batch: pa.RecordBatch, id_column: str, cache: ResultCache | None
) -> Scored:
    """One row per sentence: the id, position, length, sentence, label and score."""
    found = score_sentences(model, model.inputs(*_columns(batch)), cache)
    return _rows_per_item(batch, id_column, found, SENTENCE_COLUMNS)


def _opinion_batch(
    tagger: TermTagger,
    aspect_model: SentimentModel,
    batch: pa.RecordBatch,
    id_column: str,
    cache: ResultCache | None,
) -> Scored:
    """One row per opinion target: the id, target, target_key, label, score and positions."""
    found = find_opinions(tagger, aspect_model, batch.column(2).to_pylist(), cache)
    return _rows_per_item(batch, id_column, found, OPINION_COLUMNS)


def _rows_per_item(
    batch: pa.RecordBatch, id_column: str, found: Sequence[Sequence | None], columns: tuple
) -> Scored:
    """One row per item (sentence, opinion) of each review, its fields in `columns`; a review
    with none (or NULL, blank, refused) gets one row of NULLs, so every id is in the target."""
    rows: dict[str, list] = {name: [] for name, _, _ in columns}
    owners = []
    for index, items in enumerate(found):
        for item in items or [None]:
            owners.append(index)
            for name in rows:
                rows[name].append(None if item is None else getattr(item, name))
    owner_rows = pa.array(owners, type=pa.int64())
    table = pa.table(
        {
            id_column: batch.column(0).take(owner_rows),
            **{name: pa.array(rows[name], type=t) for name, _, t in columns},
        }
    )
    return table, owner_rows


def _with_kept(
    table: pa.Table, owners: pa.Array | None, batch: pa.RecordBatch, kept: Sequence[str]
) -> pa.Table:
    """`table` with the kept source columns (batch columns 3...) after its id, repeated for
    every output row of a source row (`owners`: which row each is of; None: one each)."""
    if owners is None:
        owners = pa.array(range(table.num_rows), type=pa.int64())
    for offset, name in enumerate(kept):
        table = table.add_column(1 + offset, name, batch.column(3 + offset).take(owners))
    return table


def _kept_columns(
    types: dict[str, str], keep: Sequence[str], id_column: str, names_out: tuple[str, ...]
) -> list[str]:
    """The source columns (`types`: all of them) to carry into the output: those named, or all
    but the id for "*"."""
    if not keep:
        return []
    chosen = [c for c in types if c != id_column] if list(keep) == ["*"] else list(keep)
    for name in chosen:
        if name not in types:
            raise SourceError(f"--keep {name!r}: no such column (columns: {', '.join(types)})")
        if name == id_column:
            raise SourceError(f"--keep {name!r}: the id column is always written")
        if name in names_out:
            raise SourceError(
                f"--keep {name!r} clashes with an output column {names_out}: rename it in --query"
            )
    if len(set(chosen)) != len(chosen):
        raise SourceError(f"--keep names a column twice: {', '.join(chosen)}")
    return chosen


def _literal(files: Sequence[Path]) -> list[str]:
    """Our own files as DuckDB reads them: each name taken literally, never as a glob pattern."""
    return [escape_glob(str(f)) for f in files]


def _sql_text(path: Path) -> str:
    """A path as the inside of a SQL string literal (COPY ... TO takes no parameter)."""
    return str(path).replace("'", "''")


def _record_batches(relation: duckdb.DuckDBPyRelation, rows: int) -> pa.RecordBatchReader:
    if hasattr(relation, "to_arrow_reader"):  # duckdb >= 1.4
        return relation.to_arrow_reader(rows)
    return relation.fetch_arrow_reader(rows)


def _columns(batch: pa.RecordBatch) -> tuple[list[str | None], list[str | None]]:
    return batch.column(1).to_pylist(), batch.column(2).to_pylist()


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
    source: Source,
    sink: _Sink,
    id_column: str,
    text_column: str,
    title_column: str | None,
    kept: Sequence[str] = (),
) -> tuple[str, list]:
    ident = quote_identifier(id_column)
    title = quote_identifier(title_column) if title_column else "NULL::VARCHAR"
    done_sql, done_params = sink.done_ids_sql()
    extra = "".join(f", s.{quote_identifier(name)}" for name in kept)
    query = (
        f"SELECT s.{ident}, {title}, s.{quote_identifier(text_column)}{extra} "
        f"FROM {source.sql} AS s"
    )
    params = list(source.params)
    if done_sql:
        query += f" WHERE NOT EXISTS (SELECT 1 FROM {done_sql} AS d WHERE d.{ident} = s.{ident})"
        params += done_params
    return query, params


def _run_file(path: Path) -> dict:
    """A parts folder's RUN.json ({} where unreadable)."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _check_resumed_columns(found: list[str], id_column: str, columns: tuple, target: str) -> None:
    expected = [id_column, *(name for name, _, _ in columns)]
    if list(found) != expected:
        raise SourceError(
            f"--resume: {target} has columns {', '.join(found)}, this run writes "
            f"{', '.join(expected)} (--sentences, --opinions, --keep or --probabilities "
            "differ?); use --replace to start over"
        )


class _Sink:
    name: str
    finished = False  # the target is a finished run's whole output: nothing is left to do

    def check_source(self, source: Source) -> None: ...
    def open(self, *, replace: bool, resume: bool, id_type: str, record: dict) -> int:
        """Make the target ready; the rows it holds already (a resume's). `record` describes
        this run: a resume of a run recorded with other settings is refused."""
        raise NotImplementedError

    def done_ids_sql(self) -> tuple[str | None, list]:
        raise NotImplementedError

    def write(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...
    def release(self) -> None: ...


class _TableSink(_Sink):
    """Rows go into a new table, one transaction per batch."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        name: str,
        id_column: str,
        columns: tuple,
        one_row_per_id: bool,
    ):
        self.con, self.name, self.id_column, self.columns = con, name, id_column, columns
        self.one_row_per_id = one_row_per_id  # else many (sentences, opinions): no primary key
        self.writer = con.cursor()
        self.schema, self.table = split_table(con, name)
        self.sql = qualified(self.schema, self.table)

    def check_source(self, source: Source) -> None:
        if not table_exists(self.con, self.schema, self.table):
            return
        identity = table_identity(self.con, self.name)
        full = ".".join(identity)
        for read in tables_read(self.con, source):
            if read == full or read == identity[2] or read.endswith("." + identity[2]):
                raise SourceError(
                    f"target table {self.name!r} is the source (or a table the source reads): "
                    "choose another --target-table; the source is only ever read"
                )

    def open(self, *, replace: bool, resume: bool, id_type: str, record: dict) -> int:
        exists = table_exists(self.con, self.schema, self.table)
        if exists and not (replace or resume):
            raise SourceError(
                f"table {self.name!r} exists: add --replace to overwrite it or "
                "--resume to finish an interrupted run"
            )
        if exists and resume:
            names = [r[0] for r in self.con.execute(f"DESCRIBE {self.sql}").fetchall()]
            _check_resumed_columns(names, self.id_column, self.columns, self.name)
            check_same_run(parse_record(self._comment()), record, self.name, extending(record))
            ident = quote_identifier(self.id_column)
            return self.con.execute(f"SELECT count(DISTINCT {ident}) FROM {self.sql}").fetchall()[
                0
            ][0]
        self.writer.begin()
        if exists:
            self.writer.execute(f"DROP TABLE {self.sql}")
        key = " PRIMARY KEY" if self.one_row_per_id else ""
        rest = ", ".join(
            f"{quote_identifier(name)} {sql_type}" for name, sql_type, _ in self.columns
        )
        self.writer.execute(
            f"CREATE TABLE {self.sql} ({quote_identifier(self.id_column)} {id_type}{key}, {rest})"
        )
        described = json.dumps(record, ensure_ascii=False).replace("'", "''")
        self.writer.execute(f"COMMENT ON TABLE {self.sql} IS '{described}'")
        self.writer.commit()
        return 0

    def _comment(self) -> str | None:
        database, schema, table = table_identity(self.con, self.name)
        found = self.con.execute(
            "SELECT comment FROM duckdb_tables() WHERE lower(database_name) = ? "
            "AND lower(schema_name) = ? AND lower(table_name) = ?",
            [database, schema, table],
        ).fetchall()
        return found[0][0] if found else None

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

    def release(self) -> None:
        pass


class _ParquetSink(_Sink):
    """Batches go to numbered part files in `<output>.parts/`; the last step writes the output
    anew (a finished output being resumed, then the parts) and moves it into place atomically.

    A finished output is never moved or removed before its replacement is complete. One writer
    at a time: `<output>.lock` is held for the whole run. `RUN.json` in the parts folder says
    whether the run replaces the output (its rows are then not reused by --resume).
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, output: Path, id_column: str, columns: tuple
    ):
        self.con, self.name, self.columns = con, str(output), columns
        self.output = output.absolute()
        self.parts = self.output.with_name(self.output.name + ".parts")
        self.id_column = id_column
        self.reuse_output = False
        self.run_id = ""
        self.record: dict = {}
        self._locked = False
        self._lock = output_lock(self.output)
        self.csv = self.output.suffix.lower() == ".csv"
        check_output_file(output, "a CSV file" if self.csv else "a Parquet file")

    def check_source(self, source: Source) -> None:
        written = [self.output, self.parts / "part-000000.parquet"]
        real = {Path(os.path.realpath(p)) for p in written}
        clash = real & set(source.files)
        if not clash and source.pattern:
            clash = {
                p
                for p in real
                if duckdb.execute("SELECT ? GLOB ?", [str(p), source.pattern]).fetchall()[0][0]
            }
        if clash:
            raise SourceError(
                f"--output {self.name} is (or would be read as) the source: choose another "
                "output file; the source is only ever read"
            )
        read = files_a_query_may_read(self.con, source.sql)
        for path in written:
            check_not_read(path, read, "--output" if path == self.output else "--output's parts")

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet"))

    def _done_files(self) -> list[Path]:
        return ([self.output] if self.reuse_output else []) + self._part_files()

    def open(self, *, replace: bool, resume: bool, id_type: str, record: dict) -> int:
        refuse_link(self.parts, "parts folder")
        self.record = record
        self._lock.__enter__()
        self._locked = True
        remove_killed_temporaries(self.output)
        run_file = self.parts / "RUN.json"
        if self.output.exists() and not (replace or resume):
            raise SourceError(
                f"{self.name} exists: add --replace to overwrite it or "
                "--resume to add the rows it lacks"
            )
        if self.csv and resume and self.output.exists() and not self.parts.exists():
            raise SourceError(
                f"{self.name} is a finished CSV file: --resume finishes an interrupted run but "
                "does not extend a finished CSV (write Parquet to add rows later); use --replace"
            )
        if self.parts.exists() and not (replace or resume):
            raise SourceError(
                f"{self.parts} holds an interrupted run's rows: add --resume to finish it "
                "or --replace to start over"
            )
        if self.parts.exists() and not (self.parts.is_dir() and run_file.is_file()):
            raise SourceError(
                f"{self.parts} exists but is not a parts folder sentiment-udf made (no RUN.json); "
                "move it away"
            )
        if self.parts.exists() and self._merged_already(run_file):
            shutil.rmtree(self.parts)  # a run killed after its output was whole: nothing to add
            if self.csv:  # a CSV output is not extended: that run is the whole answer
                self.finished = True
                ident = quote_identifier(self.id_column)
                return self.con.execute(
                    f"SELECT count(DISTINCT {ident}) FROM read_csv(?, header = true)",
                    [escape_glob(str(self.output))],
                ).fetchall()[0][0]
        if resume and self.parts.exists():  # an interrupted run: finish it as it was begun
            check_same_run(_run_file(run_file).get("options"), record, self.name)
        if replace and self.parts.exists():
            shutil.rmtree(self.parts)
        if not self.parts.exists():
            self._make_parts(replace)
        run = json.loads(run_file.read_text())
        self.run_id = str(run.get("run", ""))
        self.reuse_output = (
            resume and self.output.is_file() and not run.get("replaces_output") and not self.csv
        )
        if self.reuse_output:
            metadata = pq.read_schema(self.output).metadata or {}
            # a finished output takes new rows from any input (ids say which are new)
            check_same_run(
                parse_record(metadata.get(RECORD_KEY.encode())), record, self.name, extending(record)
            )
        done = self._done_files()
        if not done:
            return 0
        files = _literal(done)
        _check_resumed_columns(pq.read_schema(done[0]).names, self.id_column, self.columns, self.name)
        self._check_id_type(id_type)
        ident = quote_identifier(self.id_column)
        return self.con.execute(
            f"SELECT count(DISTINCT {ident}) FROM read_parquet(?)", [files]
        ).fetchall()[0][0]

    def _make_parts(self, replace: bool) -> None:
        """The parts folder with its RUN.json, made whole in a fresh private folder and renamed
        into place (never half made, never through a link)."""
        fresh = Path(tempfile.mkdtemp(prefix=f".{self.output.name}.", dir=self.output.parent))
        try:
            run = {"replaces_output": replace, "run": uuid.uuid4().hex, "options": self.record}
            (fresh / "RUN.json").write_text(json.dumps(run))
            os.rename(fresh, self.parts)  # fails, rather than following, if parts appeared
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise

    def _merged_already(self, run_file: Path) -> bool:
        """Whether the output is this parts folder's finished merge (the run died after renaming
        the output into place and before removing its parts): its metadata names the run (for
        CSV, RUN.json names the output's inode)."""
        if not self.output.is_file():
            return False
        if self.csv:
            try:
                inode = json.loads(run_file.read_text()).get("merged_inode")
            except (OSError, ValueError):
                return False
            return inode is not None and os.stat(self.output).st_ino == inode
        try:
            run = json.loads(run_file.read_text()).get("run")
            meta = pq.read_schema(self.output).metadata or {}
        except (OSError, ValueError, pa.ArrowException):
            return False
        return bool(run) and meta.get(RUN_METADATA_KEY) == str(run).encode()

    def _check_id_type(self, id_type: str) -> None:
        """Refuse, before scoring, a resume whose earlier rows have ids of another type."""
        files = _literal(self._done_files())
        if not files:
            return
        column = quote_identifier(self.id_column)
        described = self.con.execute(
            f"DESCRIBE SELECT {column} FROM read_parquet(?)", [files]
        ).fetchall()
        if described[0][1] not in (id_type, '"NULL"', "NULL"):
            raise SourceError(
                f"--resume: the rows already written have {self.id_column} of type "
                f"{described[0][1]}, the source has {id_type}; use --replace to start over"
            )

    def done_ids_sql(self) -> tuple[str | None, list]:
        files = _literal(self._done_files())
        return ("read_parquet(?)", [files]) if files else (None, [])

    def write(self, table: pa.Table) -> None:
        index = len(self._part_files())
        final = self.parts / f"part-{index:06d}.parquet"
        with fresh_file(self.parts, ".part-") as temporary:
            pq.write_table(table, temporary)
            os.replace(temporary, final)

    def close(self) -> None:
        files = self._done_files()
        schema = (
            pq.read_schema(files[0])
            if files
            else pa.schema(
                [
                    (self.id_column, pa.null()),
                    *((name, t or pa.null()) for name, _, t in self.columns),
                ]
            )
        )
        # The run's id in the output's metadata: a resume after a kill between the rename and
        # the removal of the parts sees that the parts are in the output already.
        schema = schema.with_metadata(
            {
                **(schema.metadata or {}),
                RUN_METADATA_KEY: self.run_id,
                RECORD_KEY.encode(): json.dumps(self.record, ensure_ascii=False),
            }
        )
        with fresh_file(self.output.parent, f".{self.output.name}.") as temporary:
            if self.csv:
                self._write_csv(files, temporary)
            else:
                with pq.ParquetWriter(temporary, schema) as writer:
                    for part in files:
                        writer.write_table(pq.read_table(part).cast(schema))
            os.replace(temporary, self.output)
        shutil.rmtree(self.parts)

    def _write_csv(self, files: list[Path], temporary: Path) -> None:
        """The parts as one CSV file with a header; RUN.json then records the file's inode, which
        the rename keeps: a resume after a kill between the rename and the removal of the parts
        sees that the output is this run's (CSV has no metadata to carry the run id)."""
        names = [self.id_column, *(name for name, _, _ in self.columns)]
        if files:
            self.con.execute(
                f"COPY (SELECT * FROM read_parquet(?)) TO '{_sql_text(temporary)}' "
                "(FORMAT csv, HEADER true)",
                [_literal(files)],
            )
        else:
            temporary.write_text(",".join(names) + "\n", encoding="utf-8")
        run_file = self.parts / "RUN.json"
        run = json.loads(run_file.read_text())
        run["merged_inode"] = os.stat(temporary).st_ino
        with fresh_file(self.parts, ".run-") as staged:
            staged.write_text(json.dumps(run))
            os.replace(staged, run_file)

    def release(self) -> None:
        if self._locked:
            self._lock.__exit__(None, None, None)
