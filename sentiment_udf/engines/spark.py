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
from ..runtime.registry import load_model
from .arrow_functions import FunctionSet, check_positive_label

STRUCT_TYPE = "struct<label:string,score:double,probabilities:map<string,double>>"


def register_spark(
    spark: Any,
    model: str | Path | None = None,
    *,
    prefix: str = "",
    positive_label: str = "positive",
    **model_options: Any,
) -> dict[str, str]:
    """Register the three functions (text) or (title, text) on `spark`; returns their names."""
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

    def worker_model():  # runs in the Python worker: its own process-wide model
        return load_model(model_ref, **model_options)

    functions = FunctionSet(worker_model, positive_label, cast_hint="cast it to STRING")
    names = {}
    for build, role, spark_type in (
        (functions.label, "classify_sentiment", "string"),
        (functions.score, "sentiment_score", "double"),
        (functions.struct, "sentiment", STRUCT_TYPE),
    ):
        name = prefix + role
        spark.udf.register(name, arrow_udf(build(name), spark_type))
        names[role] = name
    return names
