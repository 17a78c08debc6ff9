"""The model options every entry point takes (register, load_model, Spark, dbt, CLI), checked in
one place so that a bad value fails where it is given, with the option's name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .language_routing import LANGUAGE_MODES

LONG_TEXT_MODES = ("truncate", "chunk")


def _whole(minimum: int, optional: bool = False):
    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            return f"a whole number >= {minimum}" + (" or None" if optional else "")
        return None

    return check


def _choice(value: Any) -> str | None:
    return None if value in LONG_TEXT_MODES else " or ".join(repr(m) for m in LONG_TEXT_MODES)


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "True or False"


def _flag_or_none(value: Any) -> str | None:
    return None if value is None or isinstance(value, bool) else "True, False or None"


def _language_mode(value: Any) -> str | None:
    if value is None or value in LANGUAGE_MODES:
        return None
    return " or ".join(map(repr, LANGUAGE_MODES)) + " (or None)"


def _text_or_none(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "a file name (str) or None"


CHECKS = {
    "max_length": _whole(2, optional=True),
    "long_text": _choice,
    "threads": _whole(1, optional=True),
    "onnx_file": _text_or_none,
    "token_budget": _whole(1),
    "max_batch_rows": _whole(1),
    "english_only": _flag_or_none,
    "languages": _language_mode,
}
MODEL_OPTIONS = tuple(CHECKS)


def check_model_options(options: Mapping[str, Any], caller: str) -> None:
    """Raise TypeError for an unknown option and ValueError for a bad value, naming both."""
    unknown = sorted(set(options) - set(CHECKS))
    if unknown:
        raise TypeError(
            f"{caller}() got unknown option(s) {', '.join(unknown)}; "
            f"the model options are {', '.join(MODEL_OPTIONS)}"
        )
    for name, value in options.items():
        expected = CHECKS[name](value)
        if expected:
            raise ValueError(f"{caller}(): {name} must be {expected}, not {value!r}")
