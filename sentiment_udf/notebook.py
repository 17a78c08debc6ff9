"""A progress display for Python and Jupyter: how many texts have been scored while a long
query runs (DuckDB's own progress bar does not show for Python functions).

    with sentiment_udf.show_progress():
        df = duckdb.sql("SELECT sentiment(review) FROM reviews").df()
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO

from .runtime.model import TEXTS_ANSWERED


@contextlib.contextmanager
def show_progress(every: float = 1.0, stream: IO[str] | None = None) -> Iterator[None]:
    """Within the block, redraw one line every `every` seconds: texts scored so far, per second
    and the time taken (in Jupyter the line updates in place under the cell)."""
    out = stream or sys.stderr
    first, started = TEXTS_ANSWERED.value, time.perf_counter()
    done = threading.Event()

    def draw(final: bool = False) -> None:
        elapsed = max(time.perf_counter() - started, 1e-9)
        count = TEXTS_ANSWERED.value - first
        end = "\n" if final else ""
        out.write(f"\r{count:,} texts scored  {count / elapsed:,.1f}/s  {elapsed:.0f} s{end}")
        out.flush()

    def loop() -> None:
        while not done.wait(every):
            draw()

    thread = threading.Thread(target=loop, name="sentiment-udf-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        draw(final=True)
