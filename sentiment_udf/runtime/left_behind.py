"""Folders a killed run left beside its output (a run that ends or is interrupted removes its own):
`.<name>.<kind>-XXXXXXXX` from mkdtemp, removed by the next run when they hold nothing but the
files such a run writes; anything else of that name, or a link, stays."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
from collections.abc import Collection
from pathlib import Path


def remove_left_folders(target: Path, kinds: Collection[str], files: Collection[str]) -> None:
    """Remove `.{target.name}.{kind}-XXXXXXXX` beside `target` for each of `kinds`, where it is a
    real folder holding only `files` (or one folder named like `target` that does)."""
    names = "|".join(re.escape(kind) for kind in kinds)
    ours = re.compile(rf"\.{re.escape(target.name)}\.({names})-[A-Za-z0-9_]{{8}}")
    for path in target.parent.iterdir():
        if ours.fullmatch(path.name) and _holds_only(path, files, target.name):
            shutil.rmtree(path)


def _holds_only(folder: Path, files: Collection[str], nested: str | None) -> bool:
    try:
        if not stat.S_ISDIR(folder.lstat().st_mode):
            return False
        for entry in folder.iterdir():
            kind = entry.lstat().st_mode
            if stat.S_ISDIR(kind) and entry.name == nested:
                if not _holds_only(entry, files, None):
                    return False
            elif not (stat.S_ISREG(kind) and entry.name in files):
                return False
    except OSError:
        return False
    return True


def hold_folder(folder: Path) -> int:
    """Lock `folder` (flock on it) for as long as the returned descriptor is open: the mark of a
    live run, released by the kernel when the run dies."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    return descriptor


def remove_unheld_folders(parent: Path, pattern: str, entries: Collection[str]) -> None:
    """Remove the folders in `parent` whose names match `pattern` that no live run holds
    (hold_folder), that are not empty (a new one is held at once) and that hold only `entries`."""
    ours = re.compile(pattern)
    for path in parent.iterdir():
        if not ours.fullmatch(path.name):
            continue
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue  # a link, or not a folder
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            found = {entry.name for entry in path.iterdir()}
            if found and found <= set(entries):
                shutil.rmtree(path)
        except OSError:
            continue  # held by a live run, or gone meanwhile
        finally:
            os.close(descriptor)
