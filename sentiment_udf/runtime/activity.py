"""Process-wide counts of the runtime's work, and the one-line text progress displays draw.

TEXTS_ANSWERED counts texts whose answer is known (from the memo, the cache or the model, counted
as each model run completes); TEXTS_SCORED counts texts (or pairs) sent to the model, so a test
can prove that a model run happened rather than a memo hit."""

from __future__ import annotations

import os
import threading


class Counter:
    """A count that threads add to; its lock is made anew in a forked child."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        if n:
            with self._lock:
                self.value += n

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


TEXTS_ANSWERED = Counter()
TEXTS_SCORED = Counter()


def activity_text(count: int, seconds: float) -> str:
    """The line `query`, `shell` and show_progress() draw: texts answered, rate, time."""
    return f"{count:,} texts scored  {count / max(seconds, 1e-9):,.1f}/s  {seconds:.0f} s"


def _after_fork_in_child() -> None:
    for counter in (TEXTS_ANSWERED, TEXTS_SCORED):
        counter._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
