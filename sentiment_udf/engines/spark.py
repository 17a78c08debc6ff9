"""The SQL functions in Spark: vectorized Arrow UDFs (pyspark >= 4.1 `arrow_udf`) over the same
engine-neutral functions as DuckDB's.

    from sentiment_udf.spark import register_spark
    register_spark(spark)                       # classify_sentiment, sentiment_score, sentiment
    spark.sql("SELECT classify_sentiment(review) FROM reviews")

Each Python worker process loads the model once (the process-wide registry of load_model) and
reuses it for every batch and task; only the model's name or folder and the options travel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..runtime.options import check_model_options
from ..runtime.registry import load_aspect_model, load_model
from ..runtime.result_cache import open_cache
from . import result_types
from .analysis_functions import AnalysisFunctions
from .arrow_functions import FunctionSet, check_positive_label, language_function
from .result_types import SENTIMENT_TYPE
from .result_types import spark_type as spark_ddl

STRUCT_TYPE = spark_ddl(SENTIMENT_TYPE)
SENTENCES_TYPE = spark_ddl(result_types.SENTENCES_TYPE)
ASPECTS_TYPE = spark_ddl(result_types.ASPECTS_TYPE)


def register_spark(
    spark: Any,
    model: str | Path | None = None,
    *,
    prefix: str = "",
    positive_label: str = "positive",
    aspect_model: str | Path | None = None,
    cache: bool | str | Path | None = None,
    **model_options: Any,
) -> dict[str, str]:
    """Register the sentiment functions on `spark` as in DuckDB; returns their names by role."""
    try:
        from pyspark.sql.functions import arrow_udf
    except ImportError:
        raise ModelError(
            "register_spark needs pyspark >= 4.1 (arrow_udf): pip install '.[spark]'"
        ) from None
    check_model_options(model_options, "register_spark")
    model_ref = None if model is None else str(model)
    loaded = load_model(model_ref, **model_options)  # fail here, on the driver, not in a task
    check_positive_label(loaded, positive_label)
    aspect_ref = None if aspect_model is None else str(aspect_model)
    threads = model_options.get("threads")
    english_only = model_options.get("english_only", True)
    load_aspect_model(aspect_ref, threads, english_only)  # fail on the driver too

    def worker_model():  # runs in the Python worker: its own process-wide model
        return load_model(model_ref, **model_options)

    def worker_aspect_model():
        return load_aspect_model(aspect_ref, threads, english_only)

    cache_ref = cache if cache in (None, True, False) else str(cache)

    def worker_cache():  # a local file on each executor host (refused on network filesystems)
        return open_cache(cache_ref)

    hint = "cast it to STRING"
    functions = FunctionSet(worker_model, positive_label, cast_hint=hint, cache=worker_cache)
    analysis = AnalysisFunctions(
        worker_model, worker_aspect_model, cast_hint=hint, cache=worker_cache
    )
    names = {}
    for build, role, spark_type in (
        (functions.label, "classify_sentiment", "string"),
        (functions.score, "sentiment_score", "double"),
        (functions.struct, "sentiment", STRUCT_TYPE),
        (analysis.sentences, "sentiment_sentences", SENTENCES_TYPE),
        (analysis.overall, "sentiment_overall", "string"),
        (analysis.aspects, "sentiment_aspects", ASPECTS_TYPE),
        (lambda name: language_function(name, hint), "detect_language", "string"),
    ):
        name = prefix + role
        spark.udf.register(name, arrow_udf(build(name), spark_type))
        names[role] = name
    return names
