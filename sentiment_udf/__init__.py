"""Transformer sentiment classification as DuckDB SQL functions.

import duckdb, sentiment_udf
con = duckdb.connect()
sentiment_udf.register(con)
con.sql("SELECT classify_sentiment('Works great!')")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ModelError
from .notebook import show_progress
from .runtime.model import SentimentModel
from .runtime.registry import load_model
from .runtime.result_cache import ResultCacheWarning

if TYPE_CHECKING:
    from .engines.duckdb_functions import Registration, register

__all__ = [
    "ModelError",
    "Registration",
    "ResultCacheWarning",
    "SentimentModel",
    "load_model",
    "register",
    "show_progress",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # DuckDB is imported on first use of register, so the model runtime works without it.
    if name in ("register", "Registration"):
        from .engines import duckdb_functions

        return getattr(duckdb_functions, name)
    raise AttributeError(f"module 'sentiment_udf' has no attribute {name!r}")
