"""The SQL functions: vectorized Arrow UDFs on a DuckDB connection, over one shared model."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

try:
    from duckdb.sqltypes import DOUBLE, VARCHAR, DuckDBPyType
except ImportError:  # duckdb < 1.4
    from duckdb.typing import DOUBLE, VARCHAR, DuckDBPyType

from .encoding import join_title
from .errors import ModelError
from .model_cache import load_model
from .runtime import SentimentModel

FUNCTION_ROLES = ("classify_sentiment", "sentiment_score", "sentiment")
MACROS_FILE = Path(__file__).parent / "sql" / "macros.sql"


@dataclass(frozen=True)
class Registration:
    """What `register` put on a connection: SQL function names by role, and the model behind them."""

    model: SentimentModel
    functions: Mapping[str, str] = field(default_factory=dict)


def register(
    con: duckdb.DuckDBPyConnection | None = None,
    model: str | Path | SentimentModel | None = None,
    *,
    prefix: str = "",
    names: Mapping[str, str] | None = None,
    positive_label: str = "positive",
    macros: bool = False,
    **model_options: Any,
) -> Registration:
    """Register classify_sentiment, sentiment_score and sentiment on `con` (default: duckdb's own).

    Each takes `(text)` or `(title, text)`. `prefix` or `names` ({role: name}) rename them, so
    several models can sit side by side. `model_options` go to SentimentModel (max_length,
    long_text, threads, onnx_file, token_budget). Registering a name again replaces it.
    `macros=True` also adds the TEMP macros of sql/macros.sql (sentiment_label, ...).
    """
    con = duckdb.default_connection() if con is None else con
    loaded = load_model(model, **model_options)
    chosen = {role: prefix + role for role in FUNCTION_ROLES}
    unknown = set(names or {}) - set(FUNCTION_ROLES)
    if unknown:
        raise ValueError(f"names= takes the roles {FUNCTION_ROLES}, not {sorted(unknown)}")
    chosen.update(names or {})
    positive = _label_index(loaded, positive_label)
    udfs = {
        "classify_sentiment": (_label_udf(loaded, chosen["classify_sentiment"]), VARCHAR),
        "sentiment_score": (_score_udf(loaded, chosen["sentiment_score"], positive), DOUBLE),
        "sentiment": (_struct_udf(loaded, chosen["sentiment"], positive), _struct_type()),
    }
    for role, (udf, return_type) in udfs.items():
        _create(con, chosen[role], udf, return_type)
    if macros:
        if chosen["sentiment_score"] != "sentiment_score" or chosen["sentiment"] != "sentiment":
            raise ValueError("macros=True needs the default function names (the macros call them)")
        load_macros(con)
    return Registration(model=loaded, functions=chosen)


def load_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Add the TEMP macros of sql/macros.sql to this connection (not to its cursors)."""
    con.execute(MACROS_FILE.read_text(encoding="utf-8"))


def _create(con: duckdb.DuckDBPyConnection, name: str, udf: Any, return_type: Any) -> None:
    with contextlib.suppress(duckdb.InvalidInputException):  # not registered yet
        con.remove_function(name)
    con.create_function(
        name, udf, None, return_type, type="arrow", null_handling="special", side_effects=False
    )


def _label_index(model: SentimentModel, label: str) -> int:
    try:
        return model.labels.index(label.lower())
    except ValueError:
        raise ModelError(
            f"{model.files.config}: model labels are {list(model.labels)}, with no "
            f"{label!r} label for sentiment_score; pass positive_label= one of them"
        ) from None


def _texts(args: tuple, function: str) -> list[str | None]:
    """The model inputs of one vector: `(text)` or `(title, text)` Arrow arrays to Python strings."""
    if len(args) not in (1, 2):
        raise TypeError(f"{function}() takes (text) or (title, text), not {len(args)} arguments")
    for position, arg in enumerate(args, start=1):
        if not (
            pa.types.is_string(arg.type)
            or pa.types.is_large_string(arg.type)
            or pa.types.is_string_view(arg.type)
            or pa.types.is_null(arg.type)
        ):
            raise TypeError(
                f"{function}(): argument {position} is {arg.type}, not text; cast it with ::VARCHAR"
            )
    if len(args) == 1:
        return args[0].to_pylist()
    return [join_title(t, x) for t, x in zip(args[0].to_pylist(), args[1].to_pylist())]


def _nulls(probs: np.ndarray) -> np.ndarray:
    return np.isnan(probs[:, 0])


def _labels_array(model: SentimentModel, probs: np.ndarray) -> pa.Array:
    return pa.array(model.labels_of(probs), type=pa.string())


def _label_udf(model: SentimentModel, name: str):
    def classify_sentiment(*args: pa.Array) -> pa.Array:
        return _labels_array(model, model.predict_proba(_texts(args, name)))

    return classify_sentiment


def _score_udf(model: SentimentModel, name: str, positive: int):
    def sentiment_score(*args: pa.Array) -> pa.Array:
        probs = model.predict_proba(_texts(args, name))
        return pa.array(probs[:, positive], type=pa.float64(), mask=_nulls(probs))

    return sentiment_score


def _struct_udf(model: SentimentModel, name: str, positive: int):
    n_labels = len(model.labels)

    def sentiment(*args: pa.Array) -> pa.Array:
        probs = model.predict_proba(_texts(args, name))
        nulls = _nulls(probs)
        scores = pa.array(probs[:, positive], type=pa.float64(), mask=nulls)
        rows = len(probs)
        offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * n_labels)
        keys = pa.array(list(model.labels) * rows, type=pa.string())
        values = pa.array(np.nan_to_num(probs).ravel(), type=pa.float64())
        maps = pa.MapArray.from_arrays(offsets, keys, values)
        return pa.StructArray.from_arrays(
            [_labels_array(model, probs), scores, maps],
            names=["label", "score", "probabilities"],
            mask=pa.array(nulls),
        )

    return sentiment


def _struct_type() -> DuckDBPyType:
    return duckdb.struct_type(
        {"label": VARCHAR, "score": DOUBLE, "probabilities": duckdb.map_type(VARCHAR, DOUBLE)}
    )
