"""What a bulk run is: its model, options, columns and input, recorded with its output so that a
`--resume` that would mix models, options or sources is refused, naming what changed."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence

from ..runtime.model import SentimentModel
from ..runtime.model_files import used_file_checksums
from .sql_names import Source, SourceError

RECORD_KEY = "sentiment_udf.options"  # Parquet metadata key; also RUN.json's "options"
OPTION_NAMES = {  # what a user typed, for the message
    "model": "--model",
    "model_files": "--model (its files)",
    "max_length": "--max-length",
    "long_text": "--long-text",
    "languages": "--languages",
    "source": "the input",
    "input_files": "the input files",
    "id_column": "--id-column",
    "text_column": "--text-column",
    "title_column": "--title-column",
    "mode": "--sentences/--opinions/--probabilities",
    "keep": "--keep",
    "other_models": "the aspect and opinion models",
}



def model_record(model: SentimentModel) -> dict[str, object]:
    """The model and the options that shape its answers."""
    checksums = json.dumps(used_file_checksums(model.files), sort_keys=True)
    return {
        "model": model.name,
        "model_files": hashlib.sha256(checksums.encode()).hexdigest()[:16],
        "max_length": model.max_length,
        "long_text": model.long_text,
        "languages": model.languages,
    }


def source_record(source: Source) -> dict[str, object]:
    """The input: its FROM clause and parameters, the files it matched; for rows numbered in
    file order, each file's size and modification time too (a changed file renumbers rows)."""
    files = []
    for path in source.files:
        if source.numbered:
            info = os.stat(path)
            files.append(f"{path} ({info.st_size} bytes, modified {info.st_mtime_ns})")
        else:
            files.append(str(path))
    return {
        "source": [source.sql, *map(str, source.params)],
        "input_files": files,
        "numbered": source.numbered,
    }


def run_record(
    model: SentimentModel,
    source: Source,
    columns: Mapping[str, str | None],
    mode: str,
    kept: Sequence[str],
    extra_models: Sequence[SentimentModel | object] = (),
) -> dict[str, object]:
    """Everything a resumed run must share with the run it finishes."""
    return {
        **model_record(model),
        **source_record(source),
        **columns,
        "mode": mode,
        "keep": list(kept),
        "other_models": [getattr(m, "name", type(m).__name__) for m in extra_models],
    }


def extending(record: Mapping[str, object]) -> tuple[str, ...]:
    """What may differ when new rows extend a finished target: the input, where ids identify rows
    (not where rows are numbered in file order: another input renumbers them)."""
    return () if record.get("numbered") else ("source", "input_files")


def check_same_run(
    recorded: object, current: Mapping[str, object], target: str, may_differ: Sequence[str] = ()
) -> None:
    """SourceError naming what differs between the run that wrote `target` and this one (but for
    `may_differ`). A target written before runs were recorded (no record) is accepted as it was."""
    if not isinstance(recorded, dict):
        return
    changed = [
        f"{OPTION_NAMES.get(name, name)} ({_shown(recorded.get(name))} -> {_shown(value)})"
        for name, value in current.items()
        if name in recorded and recorded[name] != value and name not in may_differ
    ]
    if changed:
        raise SourceError(
            f"--resume: {target} was written by a run with other settings: {'; '.join(changed)}; "
            "resume with the same model, options, columns and input, or use --replace"
        )


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_record(raw: str | bytes | None) -> object:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
