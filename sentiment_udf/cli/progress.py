"""A one-line progress display on stderr: rows done, rows/s and time left."""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate else 0.0
        self.stream.write(
            f"\r{done:,}/{total:,} rows  {rate:,.1f} rows/s  "
            f"ETA {int(left // 60)}m{int(left % 60):02d}s "
        )
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
