"""Progress displays on stderr: `score`'s line (rows, rows/s, ETA) and a spinner-free line of
texts answered for `query`, `eval` and `shell` statements that take a while."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO

from ..engines.bulk import PROGRESS_ROWS
from ..runtime.activity import TEXTS_ANSWERED, activity_text
from ..runtime.worker_threads import quiet_worker


class Progress:
    """score's progress line: rows answered and saved, rows/s, ETA. Redrawn every half second by
    a timer thread (between the bulk path's calls it adds the texts answered since the last
    one, at most a call's worth of rows); remembers the rows saved for an interrupted run."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        show: bool = True,
        every: float = 0.5,
        verb: str = "scored",
    ):
        self.stream = stream or sys.stderr
        self.verb = verb
        self.show = show
        self.every = every
        self.started = time.perf_counter()
        self.saved = 0
        self._done = self._total = 0
        self._answered_at_call = TEXTS_ANSWERED.value
        self._drawn = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def __call__(self, done: int, total: int, saved: int) -> None:
        with self._lock:
            self._done, self._total, self.saved = done, total, saved
            self._answered_at_call = TEXTS_ANSWERED.value
        if self.show and self._timer is None:
            self._timer = threading.Thread(target=self._loop, name="sentiment-udf-progress",
                                           daemon=True)
            self._timer.start()
        if done >= total:
            self.draw()

    def _loop(self) -> None:
        quiet_worker()  # Ctrl-C belongs to the main thread
        while not self._stop.wait(self.every):
            self.draw()

    def draw(self) -> None:
        if not self.show:
            return
        with self._lock:
            in_flight = min(TEXTS_ANSWERED.value - self._answered_at_call, PROGRESS_ROWS)
            done = min(self._done + max(in_flight, 0), self._total)
            total, saved = self._total, self.saved
            elapsed = max(time.perf_counter() - self.started, 1e-9)
            rate = done / elapsed
            left = (total - done) / rate if rate else 0.0
            self.stream.write(
                f"\r{done:,}/{total:,} rows {self.verb}, {saved:,} saved in all  {rate:,.1f} rows/s  "
                f"ETA {int(left // 60)}m{int(left % 60):02d}s\033[K"
            )
            self.stream.flush()
            self._drawn = True

    def finish(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
        if self.show and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


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
        text = activity_text(TEXTS_ANSWERED.value - self.first, elapsed)
        self.stream.write(f"\r{text}\033[K")
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
