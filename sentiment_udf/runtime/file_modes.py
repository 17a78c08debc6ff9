"""The mode a file or folder we build privately (mkstemp, mkdtemp: 0600, 0700) gets once it is
in place: what the user's umask gives a new one, so other users and services can read it."""

from __future__ import annotations

import os
from pathlib import Path


def as_umask_makes(path: Path, folder: bool) -> None:
    """Set `path` (not followed if a link) to the umask's mode for a new folder or file."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if folder else 0o666) & ~mask, follow_symlinks=False)
