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
from ..runtime.registry import load_aspect_model, load_model, load_stars_model, load_tagger
from ..runtime.result_cache import open_cache
from . import result_types
from .analysis_functions import AnalysisFunctions
from .arrow_functions import FunctionSet, check_positive_label, language_function
from .register_arguments import check_register_arguments, check_spark_arguments
from .result_types import SENTIMENT_TYPE
from .result_types import spark_type as spark_ddl
from .spark_check import DEFAULT_CHECK_SECONDS
from .spark_check import check_executors as run_executor_check

STRUCT_TYPE = spark_ddl(SENTIMENT_TYPE)
SENTENCES_TYPE = spark_ddl(result_types.SENTENCES_TYPE)
ASPECTS_TYPE = spark_ddl(result_types.ASPECTS_TYPE)
OPINIONS_TYPE = spark_ddl(result_types.OPINIONS_TYPE)


def register_spark(
    spark: Any,
    model: str | Path | None = None,
    *,
    prefix: str = "",
    positive_label: str | None = None,
    aspect_model: str | Path | None = None,
    opinion_model: str | Path | None = None,
    cache: bool | str | Path | None = None,
    check_executors: bool = True,
    check_timeout: float = DEFAULT_CHECK_SECONDS,
    **model_options: Any,
) -> dict[str, str]:
    """Register the sentiment functions on `spark` as in DuckDB; returns their names by role.

    Scoring threads per task default to `spark.task.cpus` (1 unless set), never the host's core
    count. `check_executors` runs one tiny job first that imports the package and loads the
    models on the executors: a missing package, a model that does not load, another Python or a
    task no executor can take is a ModelError here, naming the fix."""
    try:
        from pyspark.sql.functions import arrow_udf
    except ImportError:
        raise ModelError(
            "register_spark needs pyspark >= 4.1 (arrow_udf): pip install '.[spark]'"
        ) from None
    check_spark_arguments(spark, prefix, check_executors, check_timeout)
    check_register_arguments(model, positive_label, cache, "register_spark")
    for role, ref in (("aspect_model", aspect_model), ("opinion_model", opinion_model)):
        if ref is not None and not isinstance(ref, (str, Path)):
            raise TypeError(f"register_spark(): {role} must be a name or a folder, not {ref!r}")
    check_model_options(model_options, "register_spark")
    if model_options.get("threads") is None:  # a task's share of an executor, not the host's
        model_options["threads"] = _task_cpus(spark)
    model_ref = None if model is None else str(model)
    loaded = load_model(model_ref, **model_options)  # fail here, on the driver, not in a task
    check_positive_label(loaded, positive_label)
    aspect_ref = None if aspect_model is None else str(aspect_model)
    threads = model_options.get("threads")
    english_only = loaded.english_only  # aspects read the model's own languages unless "any"
    load_aspect_model(aspect_ref, threads, english_only)  # fail on the driver too
    tagger_ref = None if opinion_model is None else str(opinion_model)
    load_tagger(tagger_ref, threads)

    def worker_model():  # runs in the Python worker: its own process-wide model
        return load_model(model_ref, **model_options)

    def worker_aspect_model():
        return load_aspect_model(aspect_ref, threads, english_only)

    def worker_tagger():
        return load_tagger(tagger_ref, threads)

    def worker_stars_model():
        return load_stars_model(threads)

    cache_ref = cache if cache in (None, True, False) else str(cache)
    if check_executors:
        refs = {"model": model_ref, "options": model_options, "aspect_model": aspect_ref,
                "opinion_model": tagger_ref, "cache": cache_ref}  # fmt: skip
        run_executor_check(spark, refs, check_timeout)

    def worker_cache():  # a local file on each executor host (refused on network filesystems)
        return open_cache(cache_ref)

    hint = "cast it to STRING"
    functions = FunctionSet(worker_model, positive_label, cast_hint=hint, cache=worker_cache)
    analysis = AnalysisFunctions(
        worker_model,
        worker_aspect_model,
        cast_hint=hint,
        cache=worker_cache,
        tagger=worker_tagger,
        stars_model=worker_stars_model,
    )
    names = {}
    for build, role, spark_type in (
        (functions.label, "classify_sentiment", "string"),
        (functions.score, "sentiment_score", "double"),
        (functions.struct, "sentiment", STRUCT_TYPE),
        (analysis.sentences, "sentiment_sentences", SENTENCES_TYPE),
        (analysis.overall, "sentiment_overall", "string"),
        (analysis.stars, "sentiment_stars", "double"),
        (analysis.aspects, "sentiment_aspects", ASPECTS_TYPE),
        (analysis.opinions, "sentiment_opinions", OPINIONS_TYPE),
        (lambda name: language_function(name, hint), "detect_language", "string"),
    ):
        name = prefix + role
        spark.udf.register(name, arrow_udf(build(name), spark_type))
        names[role] = name
    return names


def _task_cpus(spark: Any) -> int:
    value = spark.conf.get("spark.task.cpus", "1")
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        raise ModelError(f"spark.task.cpus is {value!r}, not a whole number") from None
