"""Paths a user names (a database file, an output file), checked before any work is done: one
definition for the CLI's commands and the bulk path."""

from __future__ import annotations

from pathlib import Path

from .sql_names import SourceError


def check_database(db: str | Path | None, must_exist: bool) -> None:
    """A database file to open: it must exist when only read, and its folder must exist."""
    if db is None:
        return
    path = Path(db).absolute()
    if must_exist and not path.exists():
        raise SourceError(f"{db}: database file not found")
    if not path.parent.is_dir():
        raise SourceError(f"{db}: folder {path.parent} does not exist")


def check_output_file(output: str | Path | None, what: str = "a file") -> None:
    """A file to write: not a folder, in a folder that exists."""
    if output is None:
        return
    path = Path(output).absolute()
    if path.is_dir():
        raise SourceError(f"{output}: is a folder, not {what}")
    if not path.parent.is_dir():
        raise SourceError(f"{output}: folder {path.parent} does not exist")
