"""The opinion-target extractor: a BIO token tagger (an ONNX token classifier, labels O, B-..., I-...)
that finds the words a sentence gives an opinion about, as character spans. Knows nothing of SQL.

A span is a run of tokens tagged B then I (an I after O also opens one), widened to whole words
(a tagger that stops inside "batteries" still answers "batteries"); runs that only whitespace
separates are one target. One sequence per run, as for
the classifiers; answers are memoized (and kept in the persistent cache when one is given).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .activity import Counter
from .batching import pad
from .cancellation import check_cancelled, work_begun
from .encoding import TextEncoder
from .model_files import (
    EMBEDDED_MODELS_DIR,
    EMBEDDED_TAGGER_MODEL_NAME,
    ModelFiles,
    locate,
    used_file_checksums,
    verify_manifest,
)
from .onnx_session import ForkSafeSession, check_inputs
from .recall import recalled_or_computed
from .result_cache import ResultCache, entry_key, model_fingerprint
from .worker_threads import quiet_worker

# Sentences (or windows of one) the tagger has tagged: tests count them to prove a run happened.
SENTENCES_TAGGED = Counter()
TAGGER_MAX_LENGTH = 512

TRAILING_PUNCTUATION = ".,;:!?"  # never the first or last character of a target

Spans = list[tuple[int, int]]


class TermTagger:
    """A loaded token tagger: sentences in, target spans (start, end; 0-based) out. Thread-safe."""

    def __init__(self, model: str | Path | None = None, *, threads: int | None = None) -> None:
        folder = EMBEDDED_MODELS_DIR / EMBEDDED_TAGGER_MODEL_NAME if model is None else model
        self.files: ModelFiles = locate(folder)
        self.checksums_verified = verify_manifest(self.files.folder)
        self.begin, self.inside = _tag_ids(self.files)
        positions = self.files.max_positions or TAGGER_MAX_LENGTH
        self.encoder = TextEncoder(self.files.tokenizer, min(TAGGER_MAX_LENGTH, positions))
        self.threads = threads or os.cpu_count() or 1
        self.session = ForkSafeSession(self.files.onnx)
        self._inputs = check_inputs(self.session.get(), self.files.onnx)
        self.fingerprint = model_fingerprint(
            used_file_checksums(self.files), {"task": "tag"}, self.files.labels
        )
        _LIVE_TAGGERS.add(self)
        self._probe()

    @property
    def name(self) -> str:
        return self.files.name

    def tag(self, sentences: Sequence[str], cache: ResultCache | None = None) -> list[Spans]:
        """The target spans of each sentence (each at most the tagger's max length in tokens;
        longer ones are read as far as that). Identical sentences are tagged once; a Ctrl-C
        (cancellation.py) stops the work at the next sentence."""
        unique = list(dict.fromkeys(sentences))
        keys = [entry_key(self.fingerprint, (s,)) for s in unique]
        begun = work_begun()  # on the caller's thread: its query vector's start

        def tag_one(sentence: str) -> Spans:
            check_cancelled(begun)
            spans = self._tag_one(sentence)
            SENTENCES_TAGGED.add(1)
            return spans

        def tag_many(part: list[str]) -> list[Spans]:
            with ThreadPoolExecutor(min(self.threads, len(part)), initializer=quiet_worker) as pool:
                return list(pool.map(tag_one, part))

        answers = recalled_or_computed(
            unique, keys, tag_many, _spans_bytes, _spans_from, cache
        )
        by_sentence = dict(zip(unique, answers))
        return [by_sentence[s] or [] for s in sentences]

    def _tag_one(self, sentence: str) -> Spans:
        encoder = self.encoder
        encoding = encoder.tokenizer.encode(sentence, add_special_tokens=False)
        body = encoder.body_length
        ids, offsets = encoding.ids[:body], encoding.offsets[:body]
        if not ids:
            return []
        logits = self._logits([encoder.prefix + ids + encoder.suffix])[0]
        tags = logits[len(encoder.prefix) : len(encoder.prefix) + len(ids)].argmax(axis=1)
        return decode_spans(sentence, offsets, tags.tolist(), self.begin, self.inside)

    def _logits(self, sequences: list[list[int]]) -> np.ndarray:
        ids, mask = pad(sequences)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (logits,) = self.session.get().run(None, {n: feed[n] for n in self._inputs})[:1]
        return logits

    def _probe(self) -> None:
        """One probe before any query: a tagger gives one row of tag logits per token."""
        sequence = self.encoder.truncated(["The battery lasts all day."])[0]
        try:
            logits = self._logits([sequence])
        except Exception as exc:
            raise ModelError(
                f"{self.files.onnx}: fails on a probe sentence ({str(exc).splitlines()[0][:200]})"
            ) from None
        if logits.shape != (1, len(sequence), len(self.files.labels)):
            raise ModelError(
                f"{self.files.onnx}: output shape {list(logits.shape)} is not a token tagger's "
                f"[1, {len(sequence)}, {len(self.files.labels)}] (one row of tag logits per token)"
            )
        if not np.isfinite(logits).all():
            raise ModelError(f"{self.files.onnx}: gives non-finite logits on a probe sentence")


def _tag_ids(files: ModelFiles) -> tuple[set[int], set[int]]:
    """The ids of the B- and I- tags of config.json's id2label (the rest are O)."""
    begin = {i for i, label in enumerate(files.labels) if label.startswith("b-")}
    inside = {i for i, label in enumerate(files.labels) if label.startswith("i-")}
    if not begin or not inside:
        raise ModelError(
            f"{files.config}: a term tagger needs BIO labels in id2label (O, B-TERM, I-TERM), "
            f"not {list(files.labels)}"
        )
    return begin, inside


def decode_spans(
    text: str,
    offsets: Sequence[tuple[int, int]],
    tags: Sequence[int],
    begin: set[int],
    inside: set[int],
) -> Spans:
    """Character spans of the B/I runs of `tags` (one tag per token of `offsets`), each widened
    to whole words and stripped of . , ; : ! ? at its ends; a span that overlaps the one before
    it is dropped, and spans with only whitespace between them are one target (a B tag inside
    "500gb hard drive" does not cut it in two: measured on the training sentences held back)."""
    runs: Spans = []
    start = end = -1
    for (a, b), tag in zip(offsets, tags):
        if a == b:
            continue
        if tag in begin or (tag in inside and start < 0):
            if start >= 0:
                runs.append((start, end))
            start, end = a, b
        elif tag in inside:
            end = b
        elif start >= 0:
            runs.append((start, end))
            start = -1
    if start >= 0:
        runs.append((start, end))
    widened: Spans = []
    for s, e in runs:
        while s > 0 and text[s - 1].isalnum():
            s -= 1
        while e < len(text) and text[e].isalnum():
            e += 1
        while e > s and (text[e - 1].isspace() or text[e - 1] in TRAILING_PUNCTUATION):
            e -= 1
        while s < e and (text[s].isspace() or text[s] in TRAILING_PUNCTUATION):
            s += 1
        if e <= s or (widened and s < widened[-1][1]):
            continue
        if widened and not text[widened[-1][1] : s].strip():  # "500gb" "hard drive": one target
            widened[-1] = (widened[-1][0], e)
        else:
            widened.append((s, e))
    return widened


def _spans_bytes(spans: Spans) -> bytes:
    return np.asarray(spans, dtype="<i4").reshape(-1).tobytes()


def _spans_from(data: bytes) -> Spans:
    flat = np.frombuffer(data, dtype="<i4").tolist()
    return list(zip(flat[::2], flat[1::2]))


_LIVE_TAGGERS: weakref.WeakSet[TermTagger] = weakref.WeakSet()
def _after_fork_in_child() -> None:
    SENTENCES_TAGGED._after_fork_in_child()
    for tagger in list(_LIVE_TAGGERS):
        tagger.session.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
