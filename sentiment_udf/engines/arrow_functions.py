"""The three scoring functions on Arrow arrays, engine-neutral: DuckDB and Spark register these.

Each takes `(text)` or `(title, text)` string arrays and returns one array, row for row; a NULL
or blank text gives a NULL (the whole STRUCT for `sentiment`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from ..errors import ModelError
from ..runtime.language import detect_language as language_of
from ..runtime.model import SentimentModel
from ..runtime.result_cache import ResultCache

ArrowFunction = Callable[..., pa.Array]
ModelSource = Callable[[], SentimentModel]
CacheSource = Callable[[], "ResultCache | None"]


def no_cache() -> ResultCache | None:
    return None


_SQL_TYPES = {
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "uint8": "UTINYINT",
    "uint16": "USMALLINT",
    "uint32": "UINTEGER",
    "uint64": "UBIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "bool": "BOOLEAN",
    "binary": "BLOB",
    "large_binary": "BLOB",
    "binary_view": "BLOB",
    "date32[day]": "DATE",
}


def sql_type_name(arrow_type: pa.DataType) -> str:
    """The SQL name of the type an argument arrived as (INTEGER, DECIMAL(3,2), VARCHAR[], ...)."""
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return sql_type_name(arrow_type.value_type) + "[]"
    if pa.types.is_fixed_size_list(arrow_type):
        return f"{sql_type_name(arrow_type.value_type)}[{arrow_type.list_size}]"
    if pa.types.is_struct(arrow_type):
        return "STRUCT"
    if pa.types.is_map(arrow_type):
        return "MAP"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP" + (" WITH TIME ZONE" if arrow_type.tz else "")
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    return _SQL_TYPES.get(str(arrow_type), str(arrow_type).upper())


def _is_text(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
        or pa.types.is_null(arrow_type)
    )


def model_inputs(
    model: SentimentModel, args: tuple[pa.Array, ...], function: str, cast_hint: str
) -> list[str | None]:
    """The model inputs of one vector: `(text)` or `(title, text)` arrays to Python strings."""
    if len(args) not in (1, 2):
        raise TypeError(f"{function}() takes (text) or (title, text), not {len(args)} arguments")
    if len(args) == 1:
        return text_values(args[0], function, cast_hint)
    titles = text_values(args[0], function, cast_hint)
    return model.inputs(titles, text_values(args[1], function, cast_hint, position=2))


def text_values(
    arg: pa.Array, function: str, cast_hint: str, position: int = 1
) -> list[str | None]:
    """A text argument's values; TypeError in SQL's words when it is not text."""
    if not _is_text(arg.type):
        raise TypeError(
            f"{function}(): argument {position} is {sql_type_name(arg.type)}, not text; {cast_hint}"
        )
    return arg.to_pylist()


def check_positive_label(model: SentimentModel, label: str | None) -> None:
    """ModelError unless `label` is None (the model's own: `positive`, else its last label) or
    one of the model's labels (sentiment_score's probability)."""
    if label is not None and label.lower() not in model.labels:
        raise ModelError(
            f"{model.files.config}: model labels are {list(model.labels)}, with no "
            f"{label!r} label for sentiment_score; pass positive_label= one of them"
        )


def language_function(name: str, cast_hint: str = "cast it with ::VARCHAR") -> ArrowFunction:
    """detect_language(text): the ISO 639-1 code, NULL for blank or undetermined text."""

    def detect_language(*args: pa.Array) -> pa.Array:
        if len(args) != 1:
            raise TypeError(f"{name}() takes (text), not {len(args)} arguments")
        texts = text_values(args[0], name, cast_hint)
        return pa.array([language_of(t) for t in texts], type=pa.string())

    return detect_language


class FunctionSet:
    """Builds classify_sentiment, sentiment_score and sentiment over `model()` (called per vector:
    a Spark worker loads its own model, DuckDB hands the one it registered)."""

    def __init__(
        self,
        model: ModelSource,
        positive_label: str | None,
        cast_hint: str = "cast it with ::VARCHAR",
        cache: CacheSource = no_cache,
    ) -> None:
        self.model, self.cast_hint = model, cast_hint
        self.positive_label = None if positive_label is None else positive_label.lower()
        self.cache = cache

    def _probs(self, args: tuple, name: str) -> tuple[SentimentModel, np.ndarray]:
        model = self.model()
        texts = model_inputs(model, args, name, self.cast_hint)
        return model, model.predict_proba(texts, self.cache())

    def label(self, name: str) -> ArrowFunction:
        def classify_sentiment(*args: pa.Array) -> pa.Array:
            model, probs = self._probs(args, name)
            return pa.array(model.labels_of(probs), type=pa.string())

        return classify_sentiment

    def score(self, name: str) -> ArrowFunction:
        def sentiment_score(*args: pa.Array) -> pa.Array:
            model, probs = self._probs(args, name)
            return _scores(model, probs, self.positive_label)

        return sentiment_score

    def struct(self, name: str) -> ArrowFunction:
        def sentiment(*args: pa.Array) -> pa.Array:
            model, probs = self._probs(args, name)
            nulls = np.isnan(probs[:, 0])
            rows, n_labels = probs.shape
            offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * n_labels)
            keys = pa.array(list(model.labels) * rows, type=pa.string())
            values = pa.array(np.nan_to_num(probs).ravel(), type=pa.float64())
            return pa.StructArray.from_arrays(
                [
                    pa.array(model.labels_of(probs), type=pa.string()),
                    _scores(model, probs, self.positive_label),
                    pa.MapArray.from_arrays(offsets, keys, values),
                ],
                names=list(STRUCT_FIELDS),
                mask=pa.array(nulls),
            )

        return sentiment


STRUCT_FIELDS = ("label", "score", "probabilities")


def _scores(model: SentimentModel, probs: np.ndarray, positive_label: str | None) -> pa.Array:
    positive = model.score_index if positive_label is None else model.labels.index(positive_label)
    return pa.array(probs[:, positive], type=pa.float64(), mask=np.isnan(probs[:, 0]))
