"""The labelled rows `train` learns from: read from a table, file or query, checked (one clear
line for what cannot train), and split by a seeded hash of the text into the part a head is
fitted on, the part that chooses its settings, and the held-out part its card reports."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import duckdb
import numpy as np

from ..runtime.model_files import label_name
from .sql_names import Source, SourceError, check_columns, first_few, quote_identifier

MIN_ROWS_PER_CLASS = 5
VALIDATION_SHARE = 0.15
_FLOAT_TYPES = ("FLOAT", "DOUBLE", "REAL", "DECIMAL")
_WHOLE_NUMBER_TYPES = {
    f"{sign}{size}INT" for sign in ("", "U") for size in ("TINY", "SMALL", "", "BIG", "HUGE")
} | {"INTEGER", "UINTEGER"}


@dataclass(frozen=True)
class LabelledRows:
    """Texts (with their pair texts for a pair model), class indices into `labels`, and the part
    of each row: 0 fit, 1 validation, 2 held out."""

    texts: list[str]
    pairs: list[str] | None
    targets: np.ndarray
    labels: tuple[str, ...]
    parts: np.ndarray
    skipped: int

    def digest(self) -> str:
        """What these rows are, for a resume's check."""
        hasher = hashlib.sha256()
        for text, pair, target in zip(
            self.texts, self.pairs or [""] * len(self.texts), self.targets
        ):
            hasher.update(f"{len(text)}:{text}{len(pair)}:{pair}{target};".encode())
        hasher.update(repr(self.labels).encode())
        return hasher.hexdigest()

    def summary(self) -> dict:
        """How many rows each part and each class holds, and how many were skipped."""
        return {
            "fit": int(np.sum(self.parts == 0)),
            "validation": int(np.sum(self.parts == 1)),
            "holdout": int(np.sum(self.parts == 2)),
            "skipped": self.skipped,
            "per_class": {
                label: int(np.sum(self.targets == k)) for k, label in enumerate(self.labels)
            },
        }


def read_rows(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    text_column: str,
    label_column: str,
    pair_column: str | None,
    holdout: float,
) -> LabelledRows:
    """The usable rows of `source`; SourceError naming what cannot train."""
    if not 0.0 < holdout < 0.9:
        raise SourceError(
            f"--holdout must be between 0 and 0.9 (a share of the rows), not {holdout}"
        )
    columns: dict[str, str | None] = {"--text-column": text_column, "--label-column": label_column}
    if pair_column:
        columns["--pair-column"] = pair_column
    types = check_columns(con, source, columns, text_columns=("--text-column", "--pair-column"))
    label = quote_identifier(label_column)
    if not _whole_number_labels(label_column, types[label_column].upper()):
        label = f"{label}::VARCHAR"  # named as SQL shows it: true/false, an ENUM's value
    pair = f"{quote_identifier(pair_column)}::VARCHAR" if pair_column else "''"
    raw = con.execute(
        f"SELECT {quote_identifier(text_column)}::VARCHAR, {label}, {pair} FROM {source.sql}",
        list(source.params),
    ).fetchall()
    kept = [
        (text, label, second)
        for text, label, second in raw
        if not _blank(text) and not _blank(label) and not (pair_column and _blank(second))
    ]
    labels = _label_names([row[1] for row in kept])
    targets = np.array([labels.index(label_name(row[1])) for row in kept], dtype=np.int64)
    _check_classes(labels, targets, len(raw), len(raw) - len(kept))
    texts = [row[0] for row in kept]
    pairs = [row[2] for row in kept] if pair_column else None
    parts = _parts(texts, pairs, targets, holdout)
    return LabelledRows(texts, pairs, targets, labels, parts, len(raw) - len(kept))


def _whole_number_labels(label_column: str, label_type: str) -> bool:
    """Whether the labels are whole numbers (read as numbers: stars sort 1-5); text, booleans
    and an ENUM's values are the others taken; SourceError for any other type."""
    if label_type in _WHOLE_NUMBER_TYPES:
        return True
    if label_type in ("VARCHAR", "BOOLEAN") or label_type.startswith("ENUM("):
        return False
    if label_type.startswith(_FLOAT_TYPES):
        raise SourceError(
            f"--label-column {label_column!r} is {label_type}: labels are classes, not numbers "
            f"to fit; cast them in a query (CAST({label_column} AS INTEGER)) or use text labels"
        )
    raise SourceError(
        f"--label-column {label_column!r} is {label_type}: labels are text, whole numbers, "
        f"booleans or ENUM values; cast them in a query (CAST({label_column} AS VARCHAR))"
    )


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _label_names(values: list[object]) -> tuple[str, ...]:
    """The classes in order: numbers by value (stars 1-5), else text as sorted."""
    names = {label_name(v) for v in values}
    if values and all(isinstance(v, (int, np.integer)) for v in values):  # booleans come as text
        return tuple(sorted(names, key=int))
    return tuple(sorted(names))


def _check_classes(labels: tuple[str, ...], targets: np.ndarray, total: int, skipped: int) -> None:
    skipped_note = (
        f" ({skipped:,} of {total:,} rows skipped: NULL or blank text or label)" if skipped else ""
    )
    if total == 0:
        raise SourceError("no labelled rows to train on: the source is empty")
    if len(labels) < 2:
        found = f"only {labels[0]!r}" if labels else "none"
        raise SourceError(
            f"training needs two classes or more; the labels hold {found}{skipped_note}"
        )
    folded: dict[str, str] = {}
    for label in labels:
        if label.casefold() in folded:
            raise SourceError(
                f"labels {folded[label.casefold()][:40]!r} and {label[:40]!r} differ only in case "
                "(labels are matched case-insensitively): write them one way, e.g. lower(label) "
                "in a query"
            )
        folded[label.casefold()] = label
    counts = np.bincount(targets, minlength=len(labels))
    few = [
        f"{labels[k][:40]!r} ({counts[k]})"
        for k in range(len(labels))
        if counts[k] < MIN_ROWS_PER_CLASS
    ]
    if few:
        which = f"{len(few):,} of {len(labels):,} classes: " if len(few) > 5 else "class "
        raise SourceError(
            f"too few rows for {which}{first_few(few)}: each class needs {MIN_ROWS_PER_CLASS} or "
            f"more{skipped_note}"
        )


def _parts(
    texts: list[str], pairs: list[str] | None, targets: np.ndarray, holdout: float
) -> np.ndarray:
    """Per class, rows ordered by a hash of their text: the first `holdout` share held out, the
    next VALIDATION_SHARE of the rest validation, at least one row each; the same rows always
    land in the same part."""
    keys = [
        hashlib.blake2b(f"{t}\x00{p}".encode(), digest_size=8).hexdigest()
        for t, p in zip(texts, pairs or [""] * len(texts))
    ]
    parts = np.zeros(len(texts), dtype=np.int8)
    for k in np.unique(targets):
        rows = sorted(np.flatnonzero(targets == k), key=lambda i: keys[i])
        held = max(1, round(len(rows) * holdout))
        checked = max(1, round((len(rows) - held) * VALIDATION_SHARE))
        parts[rows[:held]] = 2
        parts[rows[held : held + checked]] = 1
    return parts
