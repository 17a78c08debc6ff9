"""One loaded model per (folder, options), shared by every connection and thread of the process."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .model_files import resolve_folder
from .runtime import SentimentModel

_models: dict[tuple, SentimentModel] = {}
_lock = threading.Lock()


def load_model(model: str | Path | SentimentModel | None = None, **options: Any) -> SentimentModel:
    """The shared SentimentModel for `model` (None: the embedded default) with these options."""
    if isinstance(model, SentimentModel):
        return model
    key = (str(resolve_folder(model).resolve()), tuple(sorted(options.items())))
    with _lock:
        if key not in _models:
            _models[key] = SentimentModel(model, **options)
        return _models[key]
