"""Requests to stop scoring at once. DuckDB stops an interrupted query only between its 2,048-row
vectors, so the model's workers must drop the rest of the vector in flight themselves (raising
ScoringCancelled into the query) instead of scoring it first. Two requests reach them: the CLI's
cancelling() block, and Ctrl-C in any Python program that registered the functions from its main
thread (watch_interrupts(): the time of an interrupt that the program's own SIGINT handler turned
into an exception is kept; work begun before it stops)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

_CANCEL = threading.Event()
_LOCAL = threading.local()  # .begun: when the query vector this thread is scoring began
_INTERRUPTED_AT = [float("-inf")]  # monotonic time of the last Ctrl-C that raised
_MARK = "_sentiment_udf_chained"


class ScoringCancelled(RuntimeError):
    """Scoring stopped on request (Ctrl-C): the query that asked for it is being interrupted."""


def check_cancelled(begun: float | None = None) -> None:
    """Raise ScoringCancelled inside a cancelling() block, or when Ctrl-C came after `begun`."""
    if _CANCEL.is_set() or (begun is not None and _INTERRUPTED_AT[0] >= begun):
        raise ScoringCancelled("scoring cancelled (Ctrl-C)")


def work_begun() -> float:
    """When the calling thread's work began: its query vector's start (scoring_vector()), else now."""
    begun = getattr(_LOCAL, "begun", None)
    return time.monotonic() if begun is None else begun


@contextlib.contextmanager
def scoring_vector() -> Iterator[None]:
    """Mark the calling thread as scoring one query vector from now until the block ends."""
    outer = getattr(_LOCAL, "begun", None)
    _LOCAL.begun = time.monotonic()
    try:
        yield
    finally:
        _LOCAL.begun = outer


@contextlib.contextmanager
def cancelling() -> Iterator[None]:
    """Every model run in the process stops at its next batch while the block runs."""
    _CANCEL.set()
    try:
        yield
    finally:
        _CANCEL.clear()


def watch_interrupts() -> None:
    """Chain a SIGINT handler before the program's own (main thread only; once): when that
    handler raises (KeyboardInterrupt by default), the time is kept for check_cancelled().
    A handler that does not raise, SIG_IGN and SIG_DFL are left alone."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous) or getattr(previous, _MARK, False):
        return

    def on_interrupt(signum: int, frame: Any) -> Any:
        try:
            return previous(signum, frame)
        except BaseException:
            _INTERRUPTED_AT[0] = time.monotonic()
            raise

    setattr(on_interrupt, _MARK, True)
    with contextlib.suppress(ValueError, OSError):  # no signals here (embedded interpreter)
        signal.signal(signal.SIGINT, on_interrupt)
