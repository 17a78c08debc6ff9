"""What every `train` run takes besides its rows and its output folder (both modes, the CLI and
Python build it once), and the checks of the output folder they share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..runtime.model_files import MANIFEST_NAME
from .sql_names import Source, SourceError, first_few
from .trained_folder import TRAINING_FILE
from .training_rows import LabelledRows, read_rows

_OWN_FILES = {MANIFEST_NAME, TRAINING_FILE}


def check_train_arguments(query: object, out: object, **arguments: object) -> None:
    """TypeError naming the first argument of `train()` whose value has the wrong type."""
    expected: dict[str, tuple[type, ...]] = {
        "query": (str,), "out": (str, Path), "text_column": (str,), "label_column": (str,),
        "pair_column": (str, type(None)), "base": (str, Path, type(None)),
        "holdout": (float, int), "max_length": (int,), "epochs": (int,),
        "replace": (bool,), "resume": (bool,), "fine_tune": (bool,),
        "con": (duckdb.DuckDBPyConnection, type(None)),
    }  # fmt: skip
    for name, value in {"query": query, "out": out, **arguments}.items():
        kinds = expected[name]
        numeric_bool = isinstance(value, bool) and bool not in kinds
        if numeric_bool or not isinstance(value, kinds):
            wanted = " or ".join("None" if k is type(None) else k.__name__ for k in kinds)
            raise TypeError(f"train(): {name} must be {wanted}, not {value!r}")


@dataclass(frozen=True)
class TrainingOptions:
    """The columns of the labelled rows, the base model, the share held out, the tokens read per
    text, and whether an earlier folder may be replaced or a stopped run resumed."""

    text_column: str = "text"
    label_column: str = "label"
    pair_column: str | None = None
    base: str | Path | None = None
    holdout: float = 0.2
    max_length: int = 256
    replace: bool = False
    resume: bool = False

    def target(self, out: str | Path) -> Path:
        """The output folder, absolute; SourceError where it may not be written."""
        if self.replace and self.resume:
            raise SourceError("--replace and --resume exclude each other")
        target = Path(out).expanduser().absolute()
        if target.is_symlink():
            raise SourceError(f"{target} is a link: give the model folder's real path")
        if target.exists() and not target.is_dir():
            raise SourceError(f"{target} exists and is not a folder")
        if target.exists() and not self.replace:
            raise SourceError(f"{target} exists: choose a new folder, or --replace a trained one")
        if target.exists() and not (target / TRAINING_FILE).is_file():
            raise SourceError(
                f"{target} is not a folder train made (no {TRAINING_FILE}): --replace only "
                "replaces those; choose a new folder"
            )
        if target.exists():
            _check_only_trained_files(target)
        if not target.parent.is_dir():
            raise SourceError(f"{target.parent}: no such folder")
        return target

    def rows(self, con: duckdb.DuckDBPyConnection, source: Source) -> LabelledRows:
        """The usable labelled rows of `source`, split."""
        return read_rows(
            con,
            source,
            text_column=self.text_column,
            label_column=self.label_column,
            pair_column=self.pair_column,
            holdout=self.holdout,
        )

    def record(self, base: str, mode: str, rows: LabelledRows, command: str | None) -> dict:
        """What a model's TRAINING.json says in both modes: base, mode, labels, columns, rows,
        the share held out, tokens per text and the command."""
        return {
            "base": base,
            "mode": mode,
            "labels": list(rows.labels),
            "columns": {
                "text": self.text_column, "label": self.label_column, "pair": self.pair_column
            },
            "rows": rows.summary(),
            "holdout_share": self.holdout,
            "max_length": self.max_length,
            "command": command,
        }


def _check_only_trained_files(target: Path) -> None:
    """SourceError where the folder to replace holds anything train did not write (its manifest's
    files, the manifest, TRAINING.json): a labelled source kept there, notes, a database."""
    try:
        written = set(json.loads((target / MANIFEST_NAME).read_text("utf-8")))
    except (OSError, ValueError):
        written = set()
    others = sorted(p.name for p in target.iterdir() if p.name not in written | _OWN_FILES)
    if others:
        raise SourceError(
            f"{target} holds files train did not write ({first_few(others)}): --replace would remove them; "
            "move them out or choose a new folder"
        )
