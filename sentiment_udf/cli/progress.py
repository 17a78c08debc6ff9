"""Progress displays on stderr: `score`'s line (rows, rows/s, ETA) and a spinner-free line of
texts answered for `query`, `eval` and `shell` statements that take a while."""

from __future__ import annotations

import sys
import time
from typing import IO

from ..runtime.model import TEXTS_ANSWERED


class Progress:
    """score's progress line; remembers how many rows are saved for an interrupted run."""

    def __init__(self, stream: IO[str] | None = None, show: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.show = show
        self.started = time.perf_counter()
        self.saved = 0
        self._drawn = 0.0

    def __call__(self, done: int, total: int, saved: int) -> None:
        self.saved = saved
        now = time.perf_counter()
        if not self.show or (now - self._drawn < 0.5 and done < total):
            return
        self._drawn = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate else 0.0
        self.stream.write(
            f"\r{done:,}/{total:,} rows  {rate:,.1f} rows/s  "
            f"ETA {int(left // 60)}m{int(left % 60):02d}s "
        )
        self.stream.flush()

    def finish(self) -> None:
        if self.show and self._drawn:
            self.stream.write("\n")


class ActivityLine:
    """While a statement runs: texts answered so far and per second, from the runtime's counter,
    drawn after the first second and erased at the end. Only on a terminal."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.started = time.perf_counter()
        self.first = TEXTS_ANSWERED.value
        self._drawn = False

    def tick(self) -> None:
        elapsed = time.perf_counter() - self.started
        if not self.enabled or elapsed < 1.0:
            return
        done = TEXTS_ANSWERED.value - self.first
        self.stream.write(f"\r{done:,} texts scored  {done / elapsed:,.1f}/s  {elapsed:.0f} s ")
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
