"""A Ctrl-C that cannot be lost between batches.

Python turns SIGINT into KeyboardInterrupt at its next check, but a C extension that checks for
signals itself may consume it without raising (seen with `sentiment-udf score`: now and then an
interrupted run went on to the end). The signal module's wakeup fd records every signal at the
C level, before anyone can consume it; `check()` reads it between batches.
"""

from __future__ import annotations

import os
import signal
from types import TracebackType


class InterruptWatch:
    """Context manager (main thread only): `check()` raises KeyboardInterrupt after a SIGINT."""

    def __enter__(self) -> InterruptWatch:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        return self

    def check(self) -> None:
        try:
            received = os.read(self._read, 1024)
        except BlockingIOError:
            return
        if signal.SIGINT in received:
            raise KeyboardInterrupt

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        signal.set_wakeup_fd(self._previous)
        os.close(self._read)
        os.close(self._write)
