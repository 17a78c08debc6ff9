"""The SQL functions in Spark: vectorized pandas UDFs over the same model runtime.

    from sentiment_udf.spark import register_spark
    register_spark(spark)                       # classify_sentiment, sentiment_score, sentiment
    spark.sql("SELECT classify_sentiment(review) FROM reviews")

Each Python worker process loads the model once (the process-wide cache of load_model) and
reuses it for every batch and task; only the model's name or folder and the options travel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .encoding import join_title
from .model_cache import load_model
from .runtime import SentimentModel

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
    from pyspark.sql.functions import pandas_udf

    model_ref = None if model is None else str(model)
    loaded = load_model(model_ref, **model_options)  # fail here, on the driver, not in a task
    if positive_label.lower() not in loaded.labels:
        from .errors import ModelError

        raise ModelError(
            f"{loaded.files.config}: model labels are {list(loaded.labels)}, with "
            f"no {positive_label!r} label for sentiment_score"
        )
    positive = loaded.labels.index(positive_label.lower())

    def probabilities(columns: tuple[pd.Series, ...]) -> tuple[np.ndarray, SentimentModel]:
        worker_model = load_model(model_ref, **model_options)
        return worker_model.predict_proba(_texts(columns)), worker_model

    @pandas_udf("string")
    def classify_sentiment(*columns: pd.Series) -> pd.Series:
        probs, worker_model = probabilities(columns)
        return pd.Series(worker_model.labels_of(probs))

    @pandas_udf("double")
    def sentiment_score(*columns: pd.Series) -> pd.Series:
        probs, _ = probabilities(columns)
        return pd.Series(probs[:, positive])

    @pandas_udf(STRUCT_TYPE)
    def sentiment(*columns: pd.Series) -> pd.DataFrame:
        probs, worker_model = probabilities(columns)
        labels = list(worker_model.labels)
        blank = np.isnan(probs[:, 0])
        return pd.DataFrame(
            {
                "label": worker_model.labels_of(probs),
                "score": probs[:, positive],
                "probabilities": [
                    None if b else dict(zip(labels, map(float, p))) for b, p in zip(blank, probs)
                ],
            }
        )

    names = {}
    for function in (classify_sentiment, sentiment_score, sentiment):
        name = prefix + function.__name__
        spark.udf.register(name, function)
        names[function.__name__] = name
    return names


def _texts(columns: tuple[pd.Series, ...]) -> list[str | None]:
    if len(columns) not in (1, 2):
        raise TypeError(f"takes (text) or (title, text), not {len(columns)} arguments")
    values = [c.astype(object).where(c.notna(), None).tolist() for c in columns]
    for position, column in enumerate(values, start=1):
        if any(v is not None and not isinstance(v, str) for v in column):
            raise TypeError(f"argument {position} is not text; cast it to STRING")
    if len(values) == 1:
        return values[0]
    return [join_title(title, text) for title, text in zip(*values)]
