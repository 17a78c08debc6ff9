"""Helper files beside a user's output, made without following links: an exclusive lock file
(one writer at a time, released by the kernel if the writer dies: flock, so a crash never leaves
a stale lock) and fresh temporary files (O_EXCL, new random names)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path


class LockedError(OSError):
    """Another process holds the lock."""


class LinkError(OSError):
    """A link (or something else than a plain file) stands where a helper file is created."""


def refuse_link(path: Path, what: str = "helper file") -> None:
    """LinkError if `path` is a symbolic link: nothing we create is written through one."""
    if os.path.islink(path):
        raise LinkError(f"{path} is a symbolic link where sentiment-udf writes its {what}; "
                        "remove it")


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold `path` locked for the block; LockedError at once (no waiting) if another process
    holds it. The lock file is removed on release. A link where the lock goes (symbolic, or a
    hard link to another file) is refused: the lock is never written through one."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if os.path.islink(path):
                raise LinkError(f"{path} is a symbolic link; remove it (a lock is never "
                                "written through a link)") from None
            raise LockedError(f"{path}: cannot create the lock ({exc.strerror})") from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            os.close(fd)
            raise LinkError(f"{path} is not a plain file of its own (a hard link or a device); "
                            "remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"{what} is being written by another process (pid {holder}, lock {path}); "
                "wait for it to finish or stop it"
            ) from None
        # The file may have been removed by its previous holder between our open and our lock.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


@contextlib.contextmanager
def fresh_file(folder: Path, prefix: str) -> Iterator[Path]:
    """A new empty file of a fresh name in `folder` (O_EXCL | O_NOFOLLOW: never an existing
    file, never through a link), removed on leaving unless it was renamed away."""
    name = folder / f"{prefix}{uuid.uuid4().hex}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    os.close(os.open(name, flags, 0o666))  # the umask applies, as to any file the user writes
    try:
        yield name
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def output_lock(output: Path) -> contextlib.AbstractContextManager[None]:
    """The lock every writer of `output` holds (score and query -o): `<output>.lock` beside it."""
    return exclusive_lock(output.with_name(output.name + ".lock"), str(output))


def remove_killed_temporaries(output: Path) -> None:
    """Remove the copies a run killed while writing `output` left beside it (ours by name: the
    fresh_file() names `.<output>.<32 hex>.tmp`, plain files only). Call it holding
    output_lock(output), so no run of ours is writing one."""
    pattern = re.compile(re.escape(f".{output.name}.") + r"[0-9a-f]{32}\.tmp")
    for path in output.parent.iterdir():
        if pattern.fullmatch(path.name):
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(path).st_mode):
                    path.unlink()
