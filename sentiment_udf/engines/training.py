"""`train`: labelled rows in, a model folder out, in our layout, that every engine loads as it
loads ours. The base model's encoder stays frozen: its features (what its last layer reads) are
computed once per row, kept in a checkpoint folder beside the output as they come (a stopped
run resumes there), and a new last layer is fitted on them with numpy."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from ..errors import ModelError
from ..runtime.features import FeatureReader
from ..runtime.head_fit import fit_head, measure
from ..runtime.model_files import ModelFiles, locate, used_file_checksums, verify_manifest
from .sql_names import Source, SourceError, query_source
from .trained_folder import write_model_folder
from .training_options import TrainingOptions, check_train_arguments
from .training_rows import LabelledRows

CHUNK_ROWS = 256
STATE_FILE = "state.json"
DEFAULT_BASE = "sentiment-en-reviews-v2"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TrainingResult:
    """The model folder written, its labels, the rows used and skipped, and the figures
    measured on the held-out rows (accuracy, macro_f1, calibration_error, log_loss)."""

    folder: Path
    labels: tuple[str, ...]
    rows: int
    skipped: int
    holdout: dict[str, float]
    seconds: float


def checkpoint_folder(out: Path) -> Path:
    return out.with_name(out.name + ".training")


def train(
    query: str,
    out: str | Path,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
    text_column: str = "text",
    label_column: str = "label",
    pair_column: str | None = None,
    base: str | Path | None = None,
    holdout: float = 0.2,
    max_length: int = 256,
    replace: bool = False,
    resume: bool = False,
    fine_tune: bool = False,
    epochs: int = 2,
) -> TrainingResult:
    """Train a classifier on the labelled rows of `query` (one SELECT, run on `con` or in memory:
    `"SELECT review AS text, label FROM labelled"`, `"FROM 'labelled.parquet'"`) and write it
    as the model folder `out`, which `register(con, model=out)` loads. The base model's
    encoder (default: the English model) stays frozen; a new last layer is fitted on its
    features. `fine_tune=True` trains a checkpoint folder `base` whole for `epochs` instead
    (torch). A stopped run continues with `resume=True`; `replace=True` replaces a folder an
    earlier train wrote. Returns the held-out figures (also in the folder's MODEL_CARD.md)."""
    check_train_arguments(
        query, out, con=con, text_column=text_column, label_column=label_column, pair_column=pair_column,
        base=base, holdout=holdout, max_length=max_length, replace=replace, resume=resume,
        fine_tune=fine_tune, epochs=epochs,
    )  # fmt: skip
    options = TrainingOptions(
        text_column, label_column, pair_column, base, holdout, max_length, replace, resume
    )
    command = f"sentiment_udf.train({query!r}, {str(out)!r}, ...)"
    source, con = query_source(query), con or duckdb.connect()
    if fine_tune:
        from ..runtime.encoder_tuning import TuningPlan
        from .fine_tuning import fine_tune_source  # torch, on first use

        plan = TuningPlan(epochs=epochs)
        return fine_tune_source(con, source, out, options, plan, command=command)
    return train_source(con, source, out, options, command=command)


def train_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    out: str | Path,
    options: TrainingOptions | None = None,
    progress: Progress | None = None,
    command: str | None = None,
) -> TrainingResult:
    """Fit a head for the labelled rows of `source` on the base's frozen features; write the
    model folder `out` (with its card) and return what was measured on the held-out rows."""
    started = time.perf_counter()
    options = options or TrainingOptions()
    target = options.target(out)
    files = locate(options.base or DEFAULT_BASE)
    verify_manifest(files.folder)
    _check_base(files, options.pair_column)
    max_length = options.max_length
    if files.max_positions is not None and not 2 <= max_length <= files.max_positions:
        raise ModelError(f"--max-length must be 2..{files.max_positions} for {files.name}")
    rows = options.rows(con, source)
    reader = FeatureReader(files, max_length)
    record = {
        "base": files.name,
        "base_files": used_file_checksums(files),
        "max_length": max_length,
        "rows": rows.digest(),
    }
    state = checkpoint_folder(target)
    features = _features(reader, rows, state, record, options.resume, progress)
    head = fit_head(
        features[rows.parts != 2],
        rows.targets[rows.parts != 2],
        len(rows.labels),
        rows.parts[rows.parts != 2] == 1,
    )
    held = rows.parts == 2
    figures = measure(head.probabilities(features[held]), rows.targets[held], len(rows.labels))
    training = {
        **options.record(files.name, "head", rows, command),
        "base_files": record["base_files"],
        "head": {"strength": head.strength, "temperature": head.temperature},
        "holdout_figures": figures,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_model_folder(target, files, reader, head, training, options.replace)
    shutil.rmtree(state, ignore_errors=True)
    return TrainingResult(
        target,
        rows.labels,
        len(rows.texts),
        rows.skipped,
        figures,
        time.perf_counter() - started,
    )


def _check_base(files: ModelFiles, pair_column: str | None) -> None:
    if files.input_pair is not None and pair_column is None:
        first, second = files.input_pair
        raise SourceError(
            f"{files.name} reads pairs ({first}, {second}): give --pair-column with the {second}"
        )
    if files.input_pair is None and pair_column is not None:
        raise SourceError(
            f"--pair-column needs a base that reads pairs (such as sentiment-en-aspects-v1); "
            f"{files.name} reads one text"
        )


def _features(
    reader: FeatureReader,
    rows: LabelledRows,
    state: Path,
    record: dict,
    resume: bool,
    progress: Progress | None,
) -> np.ndarray:
    """Every row's features, from the checkpoint where it has them, the rest computed in chunks
    of CHUNK_ROWS, each saved as it finishes."""
    open_state(state, record, resume)
    total = len(rows.texts)
    chunks = []
    for number, start in enumerate(range(0, total, CHUNK_ROWS)):
        path = state / f"features-{number:06d}.npy"
        end = min(start + CHUNK_ROWS, total)
        if path.is_file() and not path.is_symlink():
            chunk = np.load(path, allow_pickle=False)
        else:
            seconds = None if rows.pairs is None else rows.pairs[start:end]
            chunk = reader.read(rows.texts[start:end], seconds)
            scratch = path.with_suffix(".partial.npy")
            np.save(scratch, chunk, allow_pickle=False)
            scratch.replace(path)
        if chunk.shape[0] != end - start:
            raise ModelError(
                f"{path}: holds {chunk.shape[0]} rows, not {end - start}: remove {state}"
            )
        chunks.append(chunk)
        if progress is not None:
            progress(end, total)
    return np.concatenate(chunks)


def open_state(state: Path, record: dict, resume: bool) -> None:
    """Make the checkpoint folder, or check the one a stopped run left matches this run."""
    marker = state / STATE_FILE
    if state.is_symlink() or (state.exists() and not state.is_dir()):
        raise SourceError(f"{state} is not a folder train made: move it away")
    if state.exists():
        if not marker.is_file():
            raise SourceError(f"{state} is not a folder train made (no {STATE_FILE}): move it away")
        if not resume:
            raise SourceError(
                f"a stopped training run left {state}: add --resume to continue it, or remove "
                "that folder to start again"
            )
        found = json.loads(marker.read_text(encoding="utf-8"))
        changed = [key for key in record if found.get(key) != record[key]]
        if changed:
            raise SourceError(
                f"--resume: this run differs from the stopped one in {', '.join(changed)}; "
                f"remove {state} to start again"
            )
        return
    state.mkdir()
    marker.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
