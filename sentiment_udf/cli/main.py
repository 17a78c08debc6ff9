"""The `sentiment-udf` command: each command parses its options and calls the library."""

from __future__ import annotations

import functools
import json
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import duckdb

from .. import __version__
from ..engines.sql_names import (
    ROW_NUMBER_COLUMN,
    SourceError,
    file_source,
    first_few,
    materialised,
    numbered,
    query_source,
    table_source,
)
from ..engines.user_paths import (
    check_database,
    check_not_read,
    check_output_file,
    files_a_query_may_read,
)
from ..errors import ModelError
from ..runtime.registry import load_model
from ..runtime.result_cache import open_cache

USER_ERRORS = (ModelError, SourceError, duckdb.Error, ValueError, OSError)


def user_errors(command: Callable) -> Callable:
    """Report a user's mistake as one line on stderr with exit code 1, Ctrl-C with 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as exc:
            raise click.ClickException(_one_line(str(exc))) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.stdout.flush()
            sys.stderr.flush()
            # Leave at once: DuckDB's threads may still be finishing a call into Python, and
            # an ordinary interpreter shutdown under them aborts the process.
            os._exit(130)

    return wrapper


def _one_line(message: str) -> str:
    """The first line of an error, with DuckDB's hint line (candidates, did you mean) kept."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    hints = [line for line in lines[1:] if line.startswith(("Candidate bindings", "Did you mean"))]
    # DuckDB's CSV reader puts the reason on a line of its own ("... not utf-8 encoded.") and
    # the fix after it ("Possible Solution: Set the correct encoding ...")
    reasons = [line for line in lines[1:] if "not utf-8 encoded" in line.lower()]
    if reasons:
        hints = [reasons[0], "read it with read_csv(..., encoding = 'latin-1') in --query"]
    return lines[0] + (f" ({'; '.join(hints)})" if hints else "") if lines else "error"


def model_options(command: Callable) -> Callable:
    options = [
        click.option(
            "--model", "-m", default=None, help="Model name or folder (default: embedded)."
        ),
        click.option(
            "--max-length",
            type=click.IntRange(2),
            default=None,
            help="Tokens per text, longer texts are truncated (default: 512, or the model's "
            "max_position_embeddings where fewer).",
        ),
        click.option(
            "--threads",
            type=click.IntRange(1),
            default=None,
            help="onnxruntime threads (default: all cores).",
        ),
        click.option(
            "--any-language",
            is_flag=True,
            help="The model reads text in any language (--languages any).",
        ),
        click.option(
            "--languages",
            type=click.Choice(["auto", "model", "any"]),
            default=None,
            help="Which model reads a text: auto (default): English by the English model, German, "
            "Spanish, French, Japanese and Chinese by the multilingual one, others NULL; model: "
            "only the model's own languages, others NULL; any: the model reads every text.",
        ),
        click.option(
            "--long-text",
            type=click.Choice(["truncate", "chunk"]),
            default="truncate",
            show_default=True,
            help="Texts over --max-length: score the first tokens, or every window (mean).",
        ),
        click.option(
            "--cache",
            is_flag=False,
            flag_value=DEFAULT_CACHE,
            default=None,
            metavar="[PATH]",
            help="Reuse answers from a persistent result cache (SQLite), adding new ones; a "
            "bare --cache uses ~/.cache/sentiment-udf/results.sqlite. Default: "
            "$SENTIMENT_UDF_CACHE when set, else none.",
        ),
    ]

    @functools.wraps(command)
    def with_scoring(*args: Any, **kwargs: Any) -> Any:
        names = ("model", "max_length", "threads", "any_language", "languages", "long_text", "cache")
        scoring = ScoringOptions(*(kwargs.pop(name) for name in names))
        return command(*args, scoring=scoring, **kwargs)

    for option in reversed(options):
        with_scoring = option(with_scoring)
    return with_scoring


DEFAULT_CACHE = "\x00default"


@dataclass(frozen=True)
class ScoringOptions:
    """The options every scoring command takes (--model, --max-length, ... --cache)."""

    model: str | None
    max_length: int | None
    threads: int | None
    any_language: bool
    languages: str | None
    long_text: str
    cache: str | None

    @property
    def model_kwargs(self) -> dict:
        return {
            "max_length": self.max_length,
            "threads": self.threads,
            "long_text": self.long_text,
            "languages": self._languages(),
        }

    def _languages(self) -> str:
        if self.any_language and self.languages not in (None, "any"):
            raise click.UsageError(f"--any-language and --languages {self.languages} disagree")
        return "any" if self.any_language else self.languages or "auto"

    @property
    def cache_arg(self) -> bool | str | None:
        """--cache's value as register() and open_cache() take it (bare --cache: True)."""
        return True if self.cache == DEFAULT_CACHE else self.cache


def _open_source(
    db: str | None, table: str | None, input_file: str | None, read_only: bool, glob: bool
):
    """The connection and the rows named by --db/--table or --input (exactly one of the two)."""
    if (table is None) == (input_file is None):
        raise click.UsageError("give exactly one of --table (with --db) or --input")
    if table and db is None:
        raise click.UsageError("--table needs --db")
    if glob and input_file is None:
        raise click.UsageError("--glob goes with --input")
    check_database(db, must_exist=bool(table))
    con = duckdb.connect(db or ":memory:", read_only=read_only and db is not None)
    if table:
        return con, table_source(con, table)
    if input_file is None:
        raise click.UsageError("give --table (with --db) or --input")
    return con, file_source(input_file, glob=glob)


def _labelled_source(
    query: str | None, db: str | None, table: str | None, input_file: str | None, glob: bool
):
    """eval's and train's rows, read-only: one --query (run once), or --table/--input."""
    if query is None:
        return _open_source(db if table else None, table, input_file, True, glob)
    if table or input_file:
        raise click.UsageError("give one of --table, --input or --query")
    check_database(db, must_exist=True)
    con = duckdb.connect(db or ":memory:", read_only=db is not None)
    return con, materialised(con, query_source(query))


def _check_output(output: str | None, fmt: str | None = None) -> None:
    """Refuse, before any work, an output that cannot be written."""
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    check_output_file(output)


def _resume_command() -> str:
    """This command line with --resume instead of --replace."""
    args = [a for a in sys.argv[1:] if a != "--replace"]
    return shlex.join(["sentiment-udf", *args, *([] if "--resume" in args else ["--resume"])])


def _label_map(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        value, equals, label = pair.partition("=")
        if not equals or not value.strip() or not label.strip():
            raise click.UsageError(f"--label-map takes VALUE=LABEL, not {pair!r}")
        mapping[value.strip()] = label.strip()
    return mapping


glob_option = click.option(
    "--glob",
    is_flag=True,
    help="Read --input as a DuckDB glob pattern (*, ?, [abc], **) instead of one file's name.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sentiment-udf")
def main() -> None:
    """Sentiment classification in SQL: DuckDB with classify_sentiment, sentiment_score and
    sentiment registered, on an embedded ONNX model, offline."""


@main.command()
@click.argument("sql")
@click.option(
    "--db", type=click.Path(dir_okay=False), help="DuckDB database file (default: in memory)."
)
@click.option("--read-only", is_flag=True, help="Open --db read-only.")
@model_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "parquet"]),
    default="table",
    show_default=True,
    help="json is one object per line. table shows every statement's result; csv, json and "
    "parquet write the last one.",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Write here instead of stdout."
)
@click.option(
    "--max-width",
    type=click.IntRange(0),
    default=None,
    help="Narrow a table to this many characters, cutting long values (default: the "
    "terminal's width on a terminal, unlimited otherwise; 0: unlimited).",
)
@user_errors
def query(
    sql: str,
    db: str | None,
    read_only: bool,
    scoring: ScoringOptions,
    fmt: str,
    output: str | None,
    max_width: int | None,
) -> None:
    """Run SQL with the sentiment functions registered and print or write the results."""
    from .sql_session import open_connection, run_each, terminal_width, write

    _check_output(output, fmt)
    con = open_connection(
        db,
        scoring.model,
        read_only=read_only,
        cache=scoring.cache_arg,
        **scoring.model_kwargs,
    )
    if output is not None:
        check_not_read(output, files_a_query_may_read(con, sql))
    results = run_each(con, sql)
    if output is not None:  # again: a database the SQL attached holds views of its own
        check_not_read(output, files_a_query_may_read(con, sql))
    if fmt == "table" and output is None:
        width = terminal_width() if max_width is None else max_width
        for table in results:
            write(table, fmt, max_width=width or None)
    elif results:
        if len(results) > 1:
            click.echo(f"note: {len(results)} statements returned rows; --format {fmt} writes "
                       "the last", err=True)  # fmt: skip
        write(results[-1], fmt, output)
    con.close()


@main.command()
@click.option(
    "--db", type=click.Path(dir_okay=False), help="DuckDB database file (default: in memory)."
)
@click.option("--read-only", is_flag=True, help="Open --db read-only.")
@model_options
@user_errors
def shell(
    db: str | None,
    read_only: bool,
    scoring: ScoringOptions,
) -> None:
    """An interactive SQL prompt with the sentiment functions (reads piped statements too)."""
    from ..runtime.worker_threads import sigint_to_main_thread
    from .shell import run_shell
    from .sql_session import open_connection

    with sigint_to_main_thread():  # DuckDB's threads start here: Ctrl-C must reach the prompt
        con = open_connection(
            db,
            scoring.model,
            read_only=read_only,
            cache=scoring.cache_arg,
            **scoring.model_kwargs,
        )
    code = run_shell(con)
    con.close()
    sys.exit(code)


@main.command()
@click.option(
    "--db", type=click.Path(dir_okay=False), help="DuckDB database of --table and --target-table."
)
@click.option("--table", help="Source table or view in --db.")
@click.option(
    "--input",
    "input_file",
    type=click.Path(dir_okay=False),
    help="Source file instead: .parquet, .csv, .tsv, .json or .jsonl (one file; see --glob).",
)
@glob_option
@click.option("--text-column", required=True, help="Column holding the review text.")
@click.option("--title-column", help="Column holding the title (scored as '<title>. <text>').")
@click.option(
    "--id-column",
    help="Column that identifies rows (used by --resume). Optional for a file source: rows are "
    "then numbered in file order, as column row_number.",
)
@click.option("--target-table", help="New table in --db to write id, label, score into.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    help="File to write instead: Parquet, or CSV when it ends in .csv.",
)
@click.option("--replace", is_flag=True, help="Overwrite an existing target.")
@click.option("--resume", is_flag=True, help="Score only the rows the target lacks.")
@click.option(
    "--batch-rows",
    type=click.IntRange(1),
    default=8192,
    show_default=True,
    help="Rows read, sorted and committed together.",
)
@click.option(
    "--sentences",
    is_flag=True,
    help="One row per sentence (id, position, length, sentence, label, score) instead of per row.",
)
@click.option(
    "--opinions",
    is_flag=True,
    help="One row per opinion target found in the text (id, target, target_key, label, score, "
    "position, length, sentence_position); a review without any keeps one row of NULLs.",
)
@click.option(
    "--keep",
    help="Source columns to copy into the output after the id: col1,col2 or * for all.",
)
@click.option(
    "--probabilities",
    is_flag=True,
    help="Also write every class probability, one column p_<label> each (per-review rows).",
)
@click.option(
    "--query",
    help="Read the rows of this SELECT instead of --table/--input (on --db, or in memory; "
    "it can read files: FROM 'reviews.parquet'). Needs --id-column.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@model_options
@user_errors
def score(
    db: str | None,
    table: str | None,
    input_file: str | None,
    glob: bool,
    text_column: str,
    title_column: str | None,
    id_column: str | None,
    target_table: str | None,
    output: str | None,
    replace: bool,
    resume: bool,
    batch_rows: int,
    sentences: bool,
    opinions: bool,
    keep: str | None,
    probabilities: bool,
    query: str | None,
    quiet: bool,
    scoring: ScoringOptions,
) -> None:
    """Bulk-score a table, file or query into a new table or a Parquet or CSV file, resumably."""
    from ..engines import bulk
    from .progress import Progress

    if (target_table is None) == (output is None):
        raise click.UsageError("give exactly one of --target-table or --output")
    if target_table and db is None:
        raise click.UsageError("--target-table needs --db")
    if replace and resume:
        raise click.UsageError("--replace and --resume exclude each other")
    if sentences and opinions:
        raise click.UsageError("--sentences and --opinions exclude each other")
    if (sentences or opinions) and title_column:
        raise click.UsageError(
            f"--{'sentences' if sentences else 'opinions'} reads the text alone: leave out "
            "--title-column"
        )
    if probabilities and (sentences or opinions):
        raise click.UsageError("--probabilities goes with one row per review")
    _check_output(output)
    if query is not None:
        if table or input_file:
            raise click.UsageError("give one of --table, --input or --query")
        if id_column is None:
            raise click.UsageError("--query needs --id-column (rows of a query have no fixed order)")
        check_database(db, must_exist=False)
        # A --db that does not exist holds nothing to read: when the rows go to a file, the
        # query runs in memory and no empty database file is left behind by a failing query.
        reads_db = db is not None and (target_table is not None or Path(db).exists())
        con = duckdb.connect(db if reads_db and db is not None else ":memory:")
        source = query_source(query)
    else:
        con, source = _open_source(db, table, input_file, read_only=False, glob=glob)
    if id_column is None:
        if table:
            raise click.UsageError("--id-column is needed for a table source (rows of a table "
                                   "have no fixed order)")  # fmt: skip
        source, id_column = numbered(source), ROW_NUMBER_COLUMN
    loaded = load_model(scoring.model, **scoring.model_kwargs)
    progress = Progress(show=not quiet and sys.stderr.isatty())
    try:
        result = bulk.score(
            con,
            source,
            loaded,
            id_column=id_column,
            text_column=text_column,
            title_column=title_column,
            target_table=target_table,
            output=output,
            replace=replace,
            resume=resume,
            batch_rows=batch_rows,
            progress=progress,
            sentences=sentences,
            opinions=opinions,
            cache=open_cache(scoring.cache_arg),
            keep=[c.strip() for c in keep.split(",") if c.strip()] if keep else (),
            probabilities=probabilities,
        )
    except KeyboardInterrupt:
        progress.finish()
        click.echo(
            f"Interrupted: {progress.saved:,} rows are saved in {target_table or output}; "
            f"continue with: {_resume_command()}",
            err=True,
        )
        raise
    progress.finish()
    con.close()
    rate = result.rows_scored / result.seconds if result.seconds else 0.0
    click.echo(
        f"scored {result.rows_scored:,} rows into {result.target} in {result.seconds:.1f} s "
        f"({rate:,.1f} rows/s); {result.rows_already_done:,} were already there",
        err=True,
    )


@main.command("eval")
@click.option(
    "--input", "input_file", type=click.Path(dir_okay=False), help="Labelled file (see --glob)."
)
@glob_option
@click.option("--db", type=click.Path(dir_okay=False), help="DuckDB database of --table.")
@click.option("--table", help="Labelled table or view in --db.")
@click.option("--text-column", required=True, help="Column holding the review text.")
@click.option("--label-column", required=True, help="Column holding the true label of each row.")
@click.option("--title-column", help="Column holding the title (scored as '<title>. <text>').")
@click.option(
    "--label-map",
    multiple=True,
    metavar="VALUE=LABEL",
    help="Map a label value of the data to a model label (repeatable): --label-map POS=positive.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: a table like scikit-learn's classification_report; json: the same as JSON.",
)
@click.option(
    "--query",
    help="Read the labelled rows of this SELECT instead of --table/--input (on --db, or in "
    "memory; it can read files: FROM 'labelled.parquet').",
)
@model_options
@user_errors
def evaluate(
    input_file: str | None,
    glob: bool,
    db: str | None,
    table: str | None,
    text_column: str,
    label_column: str,
    title_column: str | None,
    label_map: tuple[str, ...],
    fmt: str,
    query: str | None,
    scoring: ScoringOptions,
) -> None:
    """Accuracy report (precision, recall, F1 per label) on labelled rows."""
    from ..engines.evaluation import evaluate as run_evaluation

    con, source = _labelled_source(query, db, table, input_file, glob)
    loaded = load_model(scoring.model, **scoring.model_kwargs)
    report = run_evaluation(
        con,
        source,
        loaded,
        text_column=text_column,
        label_column=label_column,
        title_column=title_column,
        cache=open_cache(scoring.cache_arg),
        label_map=_label_map(label_map),
    )
    click.echo(report.to_json() if fmt == "json" else report.to_text())


@main.command("train")
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--query",
    help="The labelled rows: one SELECT (on --db, or in memory; it can read files: "
    "FROM 'labelled.parquet').",
)
@click.option("--input", "input_file", type=click.Path(dir_okay=False), help="Labelled file.")
@glob_option
@click.option("--db", type=click.Path(dir_okay=False), help="DuckDB database of --table/--query.")
@click.option("--table", help="Labelled table or view in --db.")
@click.option("--text-column", default="text", show_default=True, help="Column of the texts.")
@click.option("--label-column", default="label", show_default=True, help="Column of the labels.")
@click.option(
    "--pair-column", help="Column of the second text, for a base that reads pairs (an aspect)."
)
@click.option(
    "--base",
    help="Model whose encoder is kept: a name (sentiment-en-reviews-v2, the default; "
    "sentiment-multi-reviews-v1; sentiment-en-aspects-v1 with --pair-column) or a folder.",
)
@click.option(
    "--holdout",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of each class held out, never fitted on: the card's figures.",
)
@click.option(
    "--max-length", type=int, default=256, show_default=True, help="Tokens read per text."
)
@click.option(
    "--fine-tune",
    is_flag=True,
    help="Train the whole encoder (torch) of --base, a checkpoint folder, not only a last layer.",
)
@click.option(
    "--epochs", type=int, default=2, show_default=True, help="Passes over the rows (--fine-tune)."
)
@click.option("--replace", is_flag=True, help="Replace OUT, a folder an earlier train wrote.")
@click.option("--resume", is_flag=True, help="Continue a stopped run from its checkpoint.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@user_errors
def train(
    out: Path,
    query: str | None,
    input_file: str | None,
    glob: bool,
    db: str | None,
    table: str | None,
    text_column: str,
    label_column: str,
    pair_column: str | None,
    base: str | None,
    holdout: float,
    max_length: int,
    fine_tune: bool,
    epochs: int,
    replace: bool,
    resume: bool,
    quiet: bool,
) -> None:
    """Train a model on labelled rows into the new model folder OUT (for --model OUT)."""
    from ..engines.training import checkpoint_folder, train_source
    from ..engines.training_options import TrainingOptions
    from .progress import Progress

    if query is None and table is None and input_file is None:
        raise click.UsageError("give the labelled rows: --query, --table (with --db) or --input")
    con, source = _labelled_source(query, db, table, input_file, glob)
    progress = Progress(
        show=not quiet and sys.stderr.isatty(), verb="trained" if fine_tune else "read"
    )
    options = TrainingOptions(
        text_column, label_column, pair_column, base, holdout, max_length, replace, resume
    )
    command = shlex.join(["sentiment-udf", *sys.argv[1:]])

    def show(done: int, total: int) -> None:
        progress(done, total, done)

    try:
        if fine_tune:
            from ..engines.fine_tuning import fine_tune_source
            from ..runtime.encoder_tuning import TuningPlan

            plan = TuningPlan(epochs)
            result = fine_tune_source(con, source, out, options, plan, show, command)
        else:
            result = train_source(con, source, out, options, show, command)
    except KeyboardInterrupt:
        progress.finish()
        kept = "the training state is" if fine_tune else f"{progress.saved:,} rows' features are"
        click.echo(
            f"Stopped: {kept} kept in {checkpoint_folder(out.absolute())}; continue with: "
            f"{_resume_command()}",
            err=True,
        )
        raise
    progress.finish()
    figures = result.holdout
    click.echo(
        f"trained {result.folder} on {result.rows:,} rows ({len(result.labels)} classes: "
        f"{first_few([_shown_label(label) for label in result.labels], 10)}; "
        f"{result.skipped:,} skipped) in {result.seconds:.1f} s\n"
        f"held out: accuracy {figures['accuracy']:.3f}, macro-F1 {figures['macro_f1']:.3f}, "
        f"calibration error {figures['calibration_error']:.3f} "
        f"({result.folder / 'MODEL_CARD.md'})\n"
        f"use it: sentiment_udf.register(con, model={str(result.folder)!r}) or --model "
        f"{shlex.quote(str(result.folder))}"
    )


def _shown_label(label: str) -> str:
    """A label as the one-line summary shows it: as is, or quoted and cut to 40 characters when
    it is long or holds a newline or other unprintable character."""
    return label if label.isprintable() and len(label) <= 40 else repr(label[:40])


@main.group()
def models() -> None:
    """List, inspect, verify, download and export models."""


models_dir_option = click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Local models folder (default: $SENTIMENT_UDF_MODELS or ~/.cache/sentiment-udf/models).",
)


@models.command("list")
@models_dir_option
@user_errors
def models_list(models_dir: Path | None) -> None:
    """The embedded model and the models in the local models folder."""
    from ..runtime.model_store import list_models

    for name, path, kind in list_models(models_dir):
        click.echo(f"{name}\t{kind}\t{path}")


@models.command("info")
@click.argument("model", required=False)
@models_dir_option
@user_errors
def models_info(model: str | None, models_dir: Path | None) -> None:
    """Labels, max length, size, checksums, provenance and the data's terms (JSON)."""
    from ..runtime.model_store import model_info

    click.echo(json.dumps(model_info(_in_models_dir(model, models_dir)).to_dict(), indent=2))


@models.command("verify")
@click.argument("model", required=False)
@models_dir_option
@user_errors
def models_verify(model: str | None, models_dir: Path | None) -> None:
    """Load the model, check its files and score two probe reviews."""
    from ..runtime.model_store import verify_model

    click.echo(json.dumps(verify_model(_in_models_dir(model, models_dir)), indent=2))


def _in_models_dir(model: str | None, models_dir: Path | None) -> str | Path | None:
    """A bare model name looked up in --models-dir first."""
    if model is not None and models_dir is not None and (models_dir / model).is_dir():
        return models_dir / model
    return model


@models.command("pull")
@click.argument("repo_id")
@click.option("--revision", default=None, help="Branch, tag or commit (default: main).")
@models_dir_option
@user_errors
def models_pull(repo_id: str, revision: str | None, models_dir: Path | None) -> None:
    """Download a Hugging Face Hub repo's ONNX model, tokenizer and config (needs [hub])."""
    from ..runtime.model_store import pull

    click.echo(str(pull(repo_id, models_dir, revision)))


@models.command("export")
@click.argument("checkpoint_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--int8", is_flag=True, help="Dynamic int8, per-channel weights: the embedded model's recipe."
)
@user_errors
def models_export(checkpoint_dir: Path, out_dir: Path, int8: bool) -> None:
    """Export a Hugging Face PyTorch checkpoint to a model folder (needs [export])."""
    from ..runtime.model_store import export

    click.echo(str(export(checkpoint_dir, out_dir, int8=int8)))


@main.group("spark")
def spark_group() -> None:
    """Ship the package to a Spark cluster."""


@spark_group.command("pack")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--no-dependencies",
    is_flag=True,
    help="Only the package zip (for executors that have the dependencies installed).",
)
@user_errors
def spark_pack(out_dir: Path, no_dependencies: bool) -> None:
    """Write what executors need (package zip, environment archive) and print the settings."""
    from ..engines.spark_pack import pack

    click.echo(pack(out_dir, dependencies=not no_dependencies).instructions())


@main.group("cache")
def cache_group() -> None:
    """Inspect, prune or clear the persistent result cache."""


cache_path_option = click.option(
    "--path",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The cache file (default: $SENTIMENT_UDF_CACHE, else ~/.cache/sentiment-udf/results.sqlite).",
)


def _cache_at(path: Path | None):
    from ..runtime.result_cache import ResultCache, default_cache_path

    chosen = path or Path(os.environ.get("SENTIMENT_UDF_CACHE") or default_cache_path())
    if chosen.exists() and not chosen.is_file():
        raise SourceError(f"{chosen}: not a file (a result cache is one SQLite file)")
    return ResultCache(chosen)  # no file yet: zero entries, and nothing is made


@cache_group.command("stats")
@cache_path_option
@user_errors
def cache_stats(path: Path | None) -> None:
    """Entries, bytes on disk and limits (JSON)."""
    click.echo(json.dumps(_cache_at(path).stats(), indent=2))


@cache_group.command("prune")
@cache_path_option
@click.option(
    "--max-entries",
    type=click.IntRange(0),
    default=None,
    help="Keep at most this many, newest first (default: the cache's limit, 2,000,000).",
)
@user_errors
def cache_prune(path: Path | None, max_entries: int | None) -> None:
    """Delete the oldest entries beyond the limit."""
    deleted = _cache_at(path).prune(max_entries)
    click.echo(f"deleted {deleted:,} entries", err=True)


@cache_group.command("clear")
@cache_path_option
@user_errors
def cache_clear(path: Path | None) -> None:
    """Delete every entry."""
    deleted = _cache_at(path).clear()
    click.echo(f"deleted {deleted:,} entries", err=True)
