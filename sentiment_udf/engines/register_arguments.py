"""register()'s own arguments checked before anything is registered: each bad value fails with
its name, and no function disappears behind another name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

FUNCTION_ROLES = (
    "classify_sentiment",
    "sentiment_score",
    "sentiment",
    "sentiment_sentences",
    "sentiment_overall",
    "sentiment_stars",
    "sentiment_aspects",
    "sentiment_opinions",
    "detect_language",
)
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def function_names(prefix: Any, names: Any, macros: Any) -> dict[str, str]:
    """The SQL name of each role: `prefix` + role, or `names`' choice. Refuses a name that is
    not an identifier, two roles on one name, a DuckDB built-in, and macros=True with names of
    its own (the macros call the default names)."""
    if not isinstance(prefix, str):
        raise TypeError(f"register(): prefix must be a str, not {prefix!r}")
    if names is not None and not isinstance(names, Mapping):
        raise TypeError(f"register(): names must map roles to SQL names, not {names!r}")
    if not isinstance(macros, bool):
        raise TypeError(f"register(): macros must be True or False, not {macros!r}")
    unknown = set(names or {}) - set(FUNCTION_ROLES)
    if unknown:
        raise ValueError(f"names= takes the roles {FUNCTION_ROLES}, not {sorted(unknown)}")
    chosen = {role: prefix + role for role in FUNCTION_ROLES}
    chosen.update(names or {})
    for role, name in chosen.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ValueError(f"register(): {role} would be named {name!r}, not a SQL identifier")
    taken: dict[str, str] = {}
    for role, name in chosen.items():
        if name.lower() in taken:
            raise ValueError(
                f"register(): {role} and {taken[name.lower()]} would both be named {name!r}"
            )
        taken[name.lower()] = role
    builtins = _builtin_functions()
    clash = sorted(name for name in chosen.values() if name.lower() in builtins)
    if clash:
        raise ValueError(f"register(): {', '.join(clash)} would hide DuckDB's own function")
    if macros and any(chosen[r] != r for r in ("sentiment_score", "sentiment")):
        raise ValueError("macros=True needs the default function names (the macros call them)")
    return chosen


def check_register_arguments(
    model: Any, positive_label: Any, cache: Any, caller: str = "register"
) -> None:
    """TypeError naming the argument for a value of the wrong type."""
    if model is not None and not isinstance(model, (str, Path)) and not hasattr(model, "predict_proba"):
        raise TypeError(f"{caller}(): model must be a name, a folder or a model, not {model!r}")
    if positive_label is not None and (not isinstance(positive_label, str) or not positive_label):
        raise TypeError(f"{caller}(): positive_label must be a label name, not {positive_label!r}")
    if cache is not None and not isinstance(cache, (bool, str, Path)):
        raise TypeError(
            f"{caller}(): cache must be True, False, None or a file path, not {cache!r}"
        )
    if isinstance(cache, str) and not cache.strip():
        raise ValueError(f"{caller}(): cache must name a file, not an empty string")


def check_spark_arguments(
    spark: Any, prefix: Any, check_executors: Any, check_timeout: Any
) -> None:
    """register_spark()'s own arguments: TypeError or ValueError naming the one that is wrong."""
    if not (hasattr(spark, "udf") and hasattr(spark, "sparkContext")):
        raise TypeError(f"register_spark(): spark must be a SparkSession, not {spark!r}")
    if not isinstance(prefix, str):
        raise TypeError(f"register_spark(): prefix must be a str, not {prefix!r}")
    if not isinstance(check_executors, bool):
        raise TypeError(
            f"register_spark(): check_executors must be True or False, not {check_executors!r}"
        )
    number = isinstance(check_timeout, (int, float)) and not isinstance(check_timeout, bool)
    if not number or not 0 < check_timeout < float("inf"):
        raise ValueError(
            f"register_spark(): check_timeout must be a number of seconds > 0, not "
            f"{check_timeout!r}"
        )


def _builtin_functions() -> set[str]:
    rows = duckdb.connect().execute(
        "SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE internal"
    ).fetchall()
    return {r[0] for r in rows}
