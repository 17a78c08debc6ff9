"""A process-wide request to stop scoring at once. DuckDB stops an interrupted query only between
its 2,048-row vectors; the CLI sets this on Ctrl-C, so the model's workers drop the rest of the
vector in flight (raising ScoringCancelled into the query) instead of scoring it first."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_CANCEL = threading.Event()


class ScoringCancelled(RuntimeError):
    """Scoring stopped on request (Ctrl-C): the query that asked for it is being interrupted."""


def check_cancelled() -> None:
    if _CANCEL.is_set():
        raise ScoringCancelled("scoring cancelled (Ctrl-C)")


@contextlib.contextmanager
def cancelling() -> Iterator[None]:
    """Every model run in the process stops at its next batch while the block runs."""
    _CANCEL.set()
    try:
        yield
    finally:
        _CANCEL.clear()
