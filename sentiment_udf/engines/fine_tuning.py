"""`train --fine-tune`: the labelled rows train a Hugging Face checkpoint whole (torch), and the
best epoch is exported to int8 ONNX as a model folder in our layout, measured on the held-out
rows through our own runtime. The state lives beside the output (a stopped run resumes there)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import duckdb
import numpy as np

from ..runtime.encoder_tuning import TuningPlan, encode, tune_encoder
from ..runtime.export import export_checkpoint
from ..runtime.head_fit import measure
from ..runtime.model import SentimentModel
from ..runtime.model_files import config_positions
from .sql_names import Source, SourceError
from .trained_folder import place_model_folder
from .training import Progress, TrainingResult, checkpoint_folder, open_state
from .training_options import TrainingOptions
from .training_rows import LabelledRows


def fine_tune_source(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    out: str | Path,
    options: TrainingOptions,
    plan: TuningPlan | None = None,
    progress: Progress | None = None,
    command: str | None = None,
) -> TrainingResult:
    """Fine-tune the checkpoint folder `options.base` on the labelled rows of `source`; write
    the model folder `out` and return what was measured on the held-out rows."""
    started = time.perf_counter()
    plan = plan or TuningPlan()
    if plan.epochs < 1:
        raise SourceError(f"--epochs must be 1 or more, not {plan.epochs}")
    target = options.target(out)
    checkpoint = _checkpoint(options.base)
    max_length, positions = options.max_length, _positions(checkpoint)
    if not 2 <= max_length <= positions:
        raise SourceError(
            f"--max-length must be 2..{positions} for {checkpoint.name} "
            f"(its max_position_embeddings, at most 512), not {max_length}"
        )
    rows = options.rows(con, source)
    state = checkpoint_folder(target)
    record = {
        "base": str(checkpoint),
        "base_weights": _weights_digest(checkpoint),
        "max_length": max_length,
        "rows": rows.digest(),
        "plan": repr(plan),
    }
    open_state(state, record, options.resume)
    examples = encode(
        checkpoint / "tokenizer.json", rows.texts, rows.pairs, rows.targets.tolist(), max_length
    )
    tuned = tune_encoder(
        checkpoint,
        rows.labels,
        [e for e, part in zip(examples, rows.parts) if part == 0],
        [e for e, part in zip(examples, rows.parts) if part == 1],
        state,
        plan,
        progress,
    )
    if rows.pairs is not None:
        _mark_pair_model(tuned.checkpoint / "config.json", options)
    figures: dict[str, float] = {}

    def fill(building: Path) -> None:
        export_checkpoint(tuned.checkpoint, building, int8=True)
        figures.update(_holdout_figures(building, rows))

    training = options.record(str(checkpoint), "fine-tune", rows, command)
    training["fine_tune"] = {
        "epochs": plan.epochs,
        "learning_rate": plan.learning_rate,
        "head_rate": plan.head_rate,
        "best_epoch": tuned.epoch,
        "validation_accuracy": round(tuned.validation_accuracy, 4),
    }
    training["holdout_figures"] = figures
    training["seconds"] = round(time.perf_counter() - started, 1)
    place_model_folder(target, training, options.replace, fill)
    shutil.rmtree(state, ignore_errors=True)
    return TrainingResult(
        target, rows.labels, len(rows.texts), rows.skipped, figures, time.perf_counter() - started
    )


def _positions(checkpoint: Path) -> int:
    """The longest input the checkpoint takes (config.json's max_position_embeddings), at most
    512; 512 where the config does not say."""
    return min(config_positions(checkpoint / "config.json") or 512, 512)


def _checkpoint(base: str | Path | None) -> Path:
    """The base as a checkpoint folder torch can train; one line where it is none."""
    folder = None if base is None else Path(base).expanduser()
    if folder is None or folder.is_symlink() or not folder.is_dir():
        raise SourceError(
            "--fine-tune needs --base CHECKPOINT_DIR, a Hugging Face checkpoint folder "
            "(config.json, tokenizer.json, model.safetensors), such as "
            "../shared/models/sentiment-en-reviews-v2/checkpoint: the embedded models are int8 "
            "ONNX, which cannot be trained"
        )
    missing = [n for n in ("config.json", "tokenizer.json") if not (folder / n).is_file()]
    if missing or not any(folder.glob("*.safetensors")):
        raise SourceError(
            f"{folder}: not a checkpoint folder --fine-tune can train (needs config.json, "
            "tokenizer.json and .safetensors weights)"
        )
    return folder.absolute()


def _mark_pair_model(config_file: Path, options: TrainingOptions) -> None:
    """A model trained on (text, pair) rows reads pairs: config.json says so ("input_pair"),
    so that it loads as an aspect model (aspect_model=) and scores pairs."""
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.setdefault("input_pair", [options.text_column, options.pair_column])
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _weights_digest(folder: Path) -> str:
    hasher = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")) + [folder / "config.json"]:
        hasher.update(path.name.encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


def _holdout_figures(folder: Path, rows: LabelledRows) -> dict[str, float]:
    """The exported model, through our runtime, on the held-out rows."""
    model = SentimentModel(folder, languages="any")
    held = np.flatnonzero(rows.parts == 2)
    texts = [rows.texts[i] for i in held]
    if rows.pairs is None:
        probs = model.predict_proba(texts, guard=False)
    else:
        probs = model.predict_proba_pairs(texts, [rows.pairs[i] for i in held], guard=False)
    return measure(probs, rows.targets[held], len(rows.labels))
