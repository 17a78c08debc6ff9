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

from .runtime.activity import TEXTS_ANSWERED, activity_text

MIN_EVERY = 0.1  # seconds between redraws; less floods a notebook cell


@contextlib.contextmanager
def show_progress(every: float = 1.0, stream: IO[str] | None = None) -> Iterator[None]:
    """Within the block, redraw one line every `every` seconds: texts scored so far, per second
    and the time taken (in Jupyter the line updates in place under the cell)."""
    number = isinstance(every, (int, float)) and not isinstance(every, bool)
    if not number or not MIN_EVERY <= every < float("inf"):
        raise ValueError(
            f"show_progress(): every must be a number of seconds >= {MIN_EVERY}, not {every!r}"
        )
    out = stream or sys.stderr
    first, started = TEXTS_ANSWERED.value, time.perf_counter()
    done = threading.Event()
    width = [0]  # the last line drawn: a shorter one is padded over it

    def draw(final: bool = False) -> None:
        text = activity_text(TEXTS_ANSWERED.value - first, time.perf_counter() - started)
        out.write(f"\r{text.ljust(width[0])}" + ("\n" if final else ""))  # spaces: no escapes
        width[0] = len(text)
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
