"""Worker threads that leave Ctrl-C to the main thread.

A process-directed SIGINT goes to any thread that does not block it. Python runs its handler in
the main thread only when that thread wakes; if the kernel hands the signal to a worker thread
while the main thread waits in input() (the shell's prompt), nothing wakes it and Ctrl-C is lost.
So every thread we start blocks SIGINT, and `sigint_to_main_thread` makes the threads others
start (DuckDB's, when a connection opens) block it too.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

_CAN_MASK = hasattr(signal, "pthread_sigmask")


def quiet_worker() -> None:
    """Block SIGINT in the calling thread (a ThreadPoolExecutor initializer, a thread's start)."""
    if _CAN_MASK:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


@contextlib.contextmanager
def sigint_to_main_thread() -> Iterator[None]:
    """While the body runs, SIGINT is blocked in the calling (main) thread, so that threads
    started meanwhile (a DuckDB connection's) inherit the block; it is unblocked after."""
    if not _CAN_MASK:
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
