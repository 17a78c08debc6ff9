"""The SQL functions: vectorized Arrow UDFs on a DuckDB connection, over one shared model."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

try:
    from duckdb.sqltypes import DOUBLE, VARCHAR, DuckDBPyType
except ImportError:  # duckdb < 1.4
    from duckdb.typing import (  # type: ignore[no-redef,import-not-found,unused-ignore]
        DOUBLE,
        VARCHAR,
        DuckDBPyType,
    )

from ..runtime.cancellation import scoring_vector, watch_interrupts
from ..runtime.model import SentimentModel
from ..runtime.options import check_model_options
from ..runtime.registry import load_aspect_model, load_model, load_stars_model, load_tagger
from ..runtime.result_cache import ResultCache, open_cache
from ..runtime.term_tagger import TermTagger
from .analysis_functions import AnalysisFunctions
from .arrow_functions import FunctionSet, check_positive_label, language_function
from .register_arguments import check_register_arguments, function_names
from .result_types import (
    ASPECTS_TYPE,
    OPINIONS_TYPE,
    SENTENCES_TYPE,
    SENTIMENT_TYPE,
    sql_type,
)

MACROS_FILE = Path(__file__).parents[1] / "sql" / "macros.sql"


@dataclass(frozen=True)
class Registration:
    """What `register` put on a connection: SQL function names by role, and the model behind them."""

    model: SentimentModel
    functions: Mapping[str, str] = field(default_factory=dict)
    aspect_model: SentimentModel | None = None
    cache: ResultCache | None = None
    opinion_model: TermTagger | None = None


def register(
    con: duckdb.DuckDBPyConnection | None = None,
    model: str | Path | SentimentModel | None = None,
    *,
    prefix: str = "",
    names: Mapping[str, str] | None = None,
    positive_label: str | None = None,
    macros: bool = False,
    aspect_model: str | Path | SentimentModel | None = None,
    opinion_model: str | Path | TermTagger | None = None,
    cache: bool | str | Path | None = None,
    **model_options: Any,
) -> Registration:
    """Register the sentiment functions on `con` (default: duckdb's own connection).

    classify_sentiment, sentiment_score, sentiment and sentiment_sentences take `(text)` or
    `(title, text)`; sentiment_overall `(text [, neutral_band])` and sentiment_stars (the
    expected star rating of an English review, 1-5) read the embedded star model; sentiment_aspects
    `(text, aspects VARCHAR[])`, scored by `aspect_model` (a pair classifier; default: the
    embedded one); sentiment_opinions `(text)` finds the targets with `opinion_model` (a token
    tagger; default: the embedded one) and labels them with the aspect model. Answers are
    memoized in the process; `cache=True` (or a path, or $SENTIMENT_UDF_CACHE) also keeps them
    in a persistent SQLite result cache. `prefix` or `names` ({role: name}) rename them, so
    several models can sit side by side. `model_options` go to SentimentModel (max_length,
    long_text, threads, onnx_file, token_budget). Registering a name again replaces it.
    `macros=True` also adds the TEMP macros of sql/macros.sql (sentiment_label, ...).
    """
    if con is not None and not isinstance(con, duckdb.DuckDBPyConnection):
        raise TypeError(f"register(): con must be a DuckDB connection or None, not {con!r}")
    con = duckdb.default_connection() if con is None else con
    check_model_options(model_options, "register")
    chosen = function_names(prefix, names, macros)
    check_register_arguments(model, positive_label, cache)
    loaded = load_model(model, **model_options)
    check_positive_label(loaded, positive_label)
    aspects = load_aspect_model(aspect_model, model_options.get("threads"), loaded.english_only)
    tagger = load_tagger(opinion_model, model_options.get("threads"))
    result_cache = open_cache(cache)
    functions = FunctionSet(lambda: loaded, positive_label, cache=lambda: result_cache)
    analysis = AnalysisFunctions(
        lambda: loaded,
        lambda: aspects,
        cache=lambda: result_cache,
        tagger=lambda: tagger,
        stars_model=lambda: load_stars_model(model_options.get("threads")),  # on first use
    )
    udfs = {
        "classify_sentiment": (functions.label(chosen["classify_sentiment"]), VARCHAR),
        "sentiment_score": (functions.score(chosen["sentiment_score"]), DOUBLE),
        "sentiment": (functions.struct(chosen["sentiment"]), _struct_type()),
        "sentiment_sentences": (
            analysis.sentences(chosen["sentiment_sentences"]),
            _sentences_type(),
        ),
        "sentiment_overall": (analysis.overall(chosen["sentiment_overall"]), VARCHAR),
        "sentiment_stars": (analysis.stars(chosen["sentiment_stars"]), DOUBLE),
        "sentiment_aspects": (analysis.aspects(chosen["sentiment_aspects"]), _aspects_type()),
        "sentiment_opinions": (
            analysis.opinions(chosen["sentiment_opinions"]),
            _duckdb_type(OPINIONS_TYPE),
        ),
        "detect_language": (language_function(chosen["detect_language"]), VARCHAR),
    }
    try:
        for role, (udf, return_type) in udfs.items():
            _create(con, chosen[role], udf, return_type)
    except duckdb.ResourceInUseException:
        raise duckdb.ResourceInUseException(
            "register(): the connection has an unfinished result from execute(); fetch it "
            "(.fetchall()) before registering, or register first"
        ) from None
    if macros:
        load_macros(con)
    watch_interrupts()  # Ctrl-C stops the vector in flight, not only the next one
    return Registration(
        model=loaded,
        functions=chosen,
        aspect_model=aspects,
        cache=result_cache,
        opinion_model=tagger,
    )


def load_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Add the TEMP macros of sql/macros.sql to this connection (not to its cursors)."""
    con.execute(MACROS_FILE.read_text(encoding="utf-8"))


def _create(con: duckdb.DuckDBPyConnection, name: str, udf: Any, return_type: Any) -> None:
    with contextlib.suppress(duckdb.InvalidInputException):  # not registered yet
        con.remove_function(name)
    con.create_function(  # type: ignore[call-overload]
        name,
        _one_vector(udf),
        None,
        return_type,
        type="arrow",
        null_handling="special",
        side_effects=False,
    )


def _one_vector(udf: Any) -> Any:
    """`udf` marking its thread as scoring one query vector while it runs (a Ctrl-C after the
    vector began drops the rest of it: runtime.cancellation)."""

    @functools.wraps(udf)
    def one_vector(*args: pa.Array) -> pa.Array:
        with scoring_vector():
            return udf(*args)

    return one_vector


def _duckdb_type(kind: pa.DataType) -> DuckDBPyType:
    """The DuckDB type of one of result_types' Arrow types."""
    make = getattr(duckdb, "sqltype", None) or duckdb.type
    return make(sql_type(kind))


def _sentences_type() -> DuckDBPyType:
    return _duckdb_type(SENTENCES_TYPE)


def _aspects_type() -> DuckDBPyType:
    return _duckdb_type(ASPECTS_TYPE)


def _struct_type() -> DuckDBPyType:
    return _duckdb_type(SENTIMENT_TYPE)
