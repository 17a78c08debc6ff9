"""The registry of loaded models: one SentimentModel per (folder, options) and one TermTagger
per (folder, threads), shared by every connection and thread of the process."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .model import SentimentModel
from .model_files import (
    EMBEDDED_ASPECT_MODEL_NAME,
    EMBEDDED_MODELS_DIR,
    EMBEDDED_MULTILINGUAL_MODEL_NAME,
    EMBEDDED_STARS_MODEL_NAME,
    EMBEDDED_TAGGER_MODEL_NAME,
    locate,
    resolve_folder,
)
from .options import check_model_options
from .term_tagger import TermTagger

_models: dict[tuple, SentimentModel] = {}
_taggers: dict[tuple, TermTagger] = {}
_lock = threading.Lock()


def load_model(model: str | Path | SentimentModel | None = None, **options: Any) -> SentimentModel:
    """The shared SentimentModel for `model` (None: the embedded default) with these options."""
    if isinstance(model, SentimentModel):
        return model
    check_model_options(options, "load_model")
    key = (str(resolve_folder(model).resolve()), tuple(sorted(options.items())))
    with _lock:
        if key not in _models:
            _models[key] = SentimentModel(model, **options)
        return _models[key]


def loaded_model_folders() -> list[Path]:
    """The folders of every model and tagger this process loaded: what an output must never
    replace."""
    with _lock:
        return sorted({Path(key[0]) for key in (*_models, *_taggers)})


def load_aspect_model(
    model: str | Path | SentimentModel | None,
    threads: int | None = None,
    english_only: bool = True,
) -> SentimentModel:
    """The pair classifier behind sentiment_aspects (None: the embedded aspect model), with the
    review model's threads; it reads its own languages only unless `english_only=False`."""
    loaded = load_model(
        EMBEDDED_MODELS_DIR / EMBEDDED_ASPECT_MODEL_NAME if model is None else model,
        threads=threads,
        languages="model" if english_only else "any",
    )
    if loaded.files.input_pair is None:
        raise ModelError(
            f"{loaded.files.config}: aspect_model= needs a pair classifier (config.json "
            '"input_pair": ["sentence", "aspect"]); this model takes one text'
        )
    for label in ("negative", "positive"):
        if label not in loaded.labels:
            raise ModelError(f"{loaded.files.config}: an aspect model needs a {label!r} label")
    return loaded


STAR_LABELS = ("1", "2", "3", "4", "5")


def load_stars_model(threads: int | None = None) -> SentimentModel:
    """The embedded star-rating model behind sentiment_stars and sentiment_overall (English
    reviews, labels 1-5), with the review model's threads; loaded on first use. The default
    language rule ("auto"): English and text no detector can place read it, other languages and
    Chinese or Japanese script are refused (its labels have no multilingual partner to send
    them to)."""
    loaded = load_model(EMBEDDED_MODELS_DIR / EMBEDDED_STARS_MODEL_NAME, threads=threads)
    if tuple(loaded.labels) != STAR_LABELS:
        raise ModelError(f"{loaded.files.config}: a star model's labels are 1-5 in order")
    return loaded


def sentiment_reader(model: SentimentModel) -> SentimentModel:
    """The model whose scores mean sentiment for sentiment_overall: `model` where its labels
    hold `negative` and `positive`, else (a model trained on other labels: topics, stars) the
    embedded English model with its threads and language rule."""
    if {"negative", "positive"} <= set(model.labels):
        return model
    return load_model(None, threads=model.threads, languages=model.languages)


def multilingual_languages(model: SentimentModel) -> tuple[str, ...] | None:
    """The languages the embedded multilingual model would read for `model` (read from its
    config, nothing loaded), or None where it adds none to `model`'s, gives other labels, or is
    not installed."""
    folder = EMBEDDED_MODELS_DIR / EMBEDDED_MULTILINGUAL_MODEL_NAME
    if not folder.is_dir() or model.files.folder.resolve() == folder.resolve():
        return None
    files = locate(folder)
    adds = set(files.languages) - set(model.files.languages)
    return files.languages if adds and files.labels == model.labels else None


def load_multilingual(model: SentimentModel) -> SentimentModel:
    """The embedded multilingual model with `model`'s threads, length and long-text options (it
    reads what it is sent: the routing is `model`'s)."""
    return load_model(
        EMBEDDED_MODELS_DIR / EMBEDDED_MULTILINGUAL_MODEL_NAME,
        threads=model.threads,
        max_length=min(model.max_length, 512),
        long_text=model.long_text,
        languages="any",
    )


def load_tagger(
    model: str | Path | TermTagger | None = None, threads: int | None = None
) -> TermTagger:
    """The shared TermTagger behind sentiment_opinions for `model` (None: the embedded
    extractor), one per folder and thread count."""
    if isinstance(model, TermTagger):
        return model
    folder = EMBEDDED_MODELS_DIR / EMBEDDED_TAGGER_MODEL_NAME if model is None else model
    key = (str(resolve_folder(folder).resolve()), threads)
    with _lock:
        if key not in _taggers:
            _taggers[key] = TermTagger(folder, threads=threads)
        return _taggers[key]


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # a fork while another thread held it would leave it held forever


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
