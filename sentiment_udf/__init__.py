"""Transformer sentiment classification as DuckDB SQL functions.

import duckdb, sentiment_udf
con = duckdb.connect()
sentiment_udf.register(con)
con.sql("SELECT classify_sentiment('Works great!')")
"""

from __future__ import annotations

import os

# onnxruntime (1.32 on Linux) records telemetry events and a device id under
# $XDG_CACHE_HOME/Microsoft/DeveloperTools/ unless this is set before it is first imported.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from typing import TYPE_CHECKING, Any  # noqa: E402

from .errors import ModelError  # noqa: E402
from .notebook import show_progress  # noqa: E402
from .runtime.model import SentimentModel  # noqa: E402
from .runtime.registry import load_model  # noqa: E402
from .runtime.result_cache import ResultCacheWarning  # noqa: E402

if TYPE_CHECKING:
    from .engines.duckdb_functions import Registration, register
    from .engines.training import train

__all__ = [
    "ModelError",
    "Registration",
    "ResultCacheWarning",
    "SentimentModel",
    "load_model",
    "register",
    "show_progress",
    "train",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # DuckDB is imported on first use of register, so the model runtime works without it.
    if name in ("register", "Registration"):
        from .engines import duckdb_functions

        return getattr(duckdb_functions, name)
    if name == "train":
        from .engines import training

        return training.train
    raise AttributeError(f"module 'sentiment_udf' has no attribute {name!r}")
