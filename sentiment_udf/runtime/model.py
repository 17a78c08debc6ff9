"""The model runtime: a tokenizer, an onnxruntime session and numpy. Knows nothing of DuckDB."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ModelError
from .activity import TEXTS_ANSWERED, TEXTS_SCORED
from .batching import pad, plan_batches
from .cancellation import check_cancelled, work_begun
from .encoding import TextEncoder, is_whitespace, join_title
from .language import is_other_language
from .language_routing import OTHER, OWN, language_mode, route
from .model_files import ModelFiles, locate, used_file_checksums, verify_manifest
from .onnx_session import ForkSafeSession, check_inputs, check_signature, softmax
from .options import check_model_options
from .recall import recalled_or_computed
from .result_cache import ResultCache, entry_key, from_bytes, model_fingerprint, to_bytes
from .worker_threads import quiet_worker

LongText = Literal["truncate", "chunk"]
DEFAULT_MAX_LENGTH = 512
DEFAULT_TOKEN_BUDGET = 8192
# One text per onnxruntime run: no padding at all, and a text's score cannot depend on its
# neighbours even for a dynamically quantized model. Parallelism comes from running `threads`
# texts at once. On 2 cores this beat length-sorted batches of 64 for fp32 and int8 alike
# (BENCHMARKS.md); raise it for models or machines where batching pays.
DEFAULT_MAX_BATCH_ROWS = 1


class SentimentModel:
    """A loaded classifier: texts in, class probabilities out. Thread-safe; share one per process."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        max_length: int | None = None,
        long_text: LongText = "truncate",
        threads: int | None = None,
        onnx_file: str | None = None,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
        max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
        english_only: bool | None = None,
        languages: str | None = None,
    ) -> None:
        started = time.perf_counter()
        check_model_options(
            {
                "max_length": max_length,
                "long_text": long_text,
                "threads": threads,
                "onnx_file": onnx_file,
                "token_budget": token_budget,
                "max_batch_rows": max_batch_rows,
                "english_only": english_only,
                "languages": languages,
            },
            "SentimentModel",
        )
        self.languages = language_mode(languages, english_only)
        self.files: ModelFiles = locate(model, onnx_file)
        self.checksums_verified = verify_manifest(self.files.folder)
        positions = self.files.max_positions
        if max_length is None:  # 512, or fewer where the model has fewer positions
            max_length = min(DEFAULT_MAX_LENGTH, positions or DEFAULT_MAX_LENGTH)
        if max_length < 2 or (positions is not None and max_length > positions):
            raise ModelError(
                f"{self.files.config}: max_length={max_length} is outside 2.."
                f"{positions} (max_position_embeddings)"
            )
        self.labels: tuple[str, ...] = self.files.labels
        # What a "score" is: P(positive), or of the last label for a model without one.
        self.score_index = (
            self.labels.index("positive") if "positive" in self.labels else len(self.labels) - 1
        )
        self.max_length = max_length
        self.long_text: LongText = long_text
        self.token_budget = max(token_budget, max_length)
        self.max_batch_rows = max(1, max_batch_rows)
        self.threads = threads or os.cpu_count() or 1
        self.encoder = TextEncoder(self.files.tokenizer, max_length)
        self.session = ForkSafeSession(self.files.onnx)
        self._inputs = check_inputs(self.session.get(), self.files.onnx)
        self._output = check_signature(self.session.get(), self.files.onnx)
        self._workers: ThreadPoolExecutor | None = None
        self._workers_lock = threading.Lock()
        self._others: SentimentModel | None = None  # the multilingual reader, loaded on demand
        self._others_looked_up = False
        self._other_codes: tuple[str, ...] | None = None
        self.fingerprint = model_fingerprint(
            used_file_checksums(self.files),
            {
                "max_length": max_length,
                "long_text": long_text,
                "input_pair": self.files.input_pair,
                "token_budget": self.token_budget,
                "max_batch_rows": self.max_batch_rows,
                "languages": self.languages,
            },
            self.labels,
        )
        _LIVE_MODELS.add(self)
        self._probe()
        self.load_seconds = time.perf_counter() - started

    @property
    def name(self) -> str:
        return self.files.name

    @property
    def english_only(self) -> bool:
        """Whether text outside the model's own languages is refused by this model itself (every
        mode but "any"; in "auto" such text may still go to the multilingual model)."""
        return self.languages != "any"

    def readers(self, texts: Sequence[str]) -> list[SentimentModel | None]:
        """The model that reads each text under the language rule (language_routing), None where
        no model does (NULL)."""
        if self.languages == "any":
            return [self] * len(texts)
        others = self._other_languages() if self.languages == "auto" else None
        routes = route(texts, self.languages, self.files.languages, others)
        other = self._other_reader() if OTHER in routes else None  # loaded on first need
        return [self if r == OWN else other if r == OTHER else None for r in routes]

    def _other_languages(self) -> tuple[str, ...] | None:
        """What the embedded multilingual model adds for this model (its config, read once)."""
        if not self._others_looked_up:
            from .registry import multilingual_languages  # the registry builds on this module

            self._other_codes = (
                None if self.files.input_pair is not None else multilingual_languages(self)
            )
            self._others_looked_up = True
        return self._other_codes

    def _other_reader(self) -> SentimentModel:
        """The embedded multilingual model, with this model's options."""
        if self._others is None:
            from .registry import load_multilingual

            self._others = load_multilingual(self)
        return self._others

    def inputs(
        self, titles: Sequence[str | None] | None, texts: Sequence[str | None]
    ) -> list[str | None]:
        """The model inputs of (title, text) pairs (`"<title>. <text>"`), with one rule for blank
        applied to both: no token after normalisation. A blank title scores the text alone; a
        blank text gives None (NULL), whatever the title."""
        if titles is None:
            return list(texts)
        blank = self.encoder.is_blank
        return [join_title(title, text, blank) for title, text in zip(titles, texts)]

    def predict_proba(
        self,
        texts: Iterable[str | None],
        cache: ResultCache | None = None,
        guard: bool = True,
    ) -> np.ndarray:
        """Probabilities, shape (len(texts), len(labels)); a NaN row for None or blank text, and
        for text the English-only guard refuses.

        Each distinct text is scored once: answers come from the in-process memo, then from
        `cache` (a persistent ResultCache) when given, and only the rest reach the model.
        `guard=False`: the caller judged the language already (on the whole review)."""
        texts = _checked_texts(texts)
        out = np.full((len(texts), len(self.labels)), np.nan)
        unique: dict[str, list[int]] = {}
        for row, text in enumerate(texts):
            if text is not None and not is_whitespace(text):
                unique.setdefault(text, []).append(row)
        if guard and self.languages != "any":  # the language rule: another model, or NULL
            unique = self._send_elsewhere(unique, out, cache)
        if unique:
            answers = self._remembered([(t,) for t in unique], self._score_texts, cache)
            for rows, probs in zip(unique.values(), answers):
                if probs is not None:
                    out[rows] = probs
        return out

    def _send_elsewhere(
        self, unique: dict[str, list[int]], out: np.ndarray, cache: ResultCache | None
    ) -> dict[str, list[int]]:
        """Score the texts another model reads into `out`, leave NaN for those no model reads;
        the texts this model reads."""
        mine: dict[str, list[int]] = {}
        others: dict[SentimentModel, dict[str, list[int]]] = {}
        for (text, rows), reader in zip(unique.items(), self.readers(list(unique))):
            if reader is self:
                mine[text] = rows
            elif reader is not None:
                others.setdefault(reader, {})[text] = rows
        for reader, texts in others.items():
            for rows, probs in zip(texts.values(), reader.predict_proba(list(texts), cache, False)):
                out[rows] = probs
        return mine

    def _remembered(self, items: list[tuple[str, ...]], score, cache: ResultCache | None) -> list:
        """Answers for `items` (texts or pairs): the memo's, the cache's, then `score(missing)`'s,
        a slice at a time (None where a text has no tokens); new answers are stored in both."""

        def count(missing: int) -> None:
            TEXTS_ANSWERED.add(len(items) - missing)
            TEXTS_SCORED.add(missing)

        keys = [entry_key(self.fingerprint, item) for item in items]
        labels = len(self.labels)
        return recalled_or_computed(
            items, keys, score, to_bytes, lambda data: from_bytes(data, labels), cache, count
        )

    def _score_texts(self, items: list[tuple[str, ...]]) -> list[np.ndarray | None]:
        """The model's probabilities for each text (None for a text without tokens)."""
        distinct = [item[0] for item in items]
        results: list[np.ndarray | None] = [None] * len(distinct)
        if self.long_text == "chunk":
            windows = self.encoder.windows(distinct)
        else:
            windows = [[sequence] for sequence in self.encoder.truncated(distinct)]
        # A text that yields no tokens (control characters only, say) is blank too.
        scored = [i for i, w in enumerate(windows) if self.encoder.has_tokens(w[0])]
        if not scored:
            return results
        chosen = [windows[i] for i in scored]
        probs = (
            self._score_chunked(chosen)
            if self.long_text == "chunk"
            else self._score([w[0] for w in chosen])
        )
        for index, p in zip(scored, probs):
            results[index] = p
        TEXTS_ANSWERED.add(len(distinct) - len(scored))  # no tokens: answered (None) at once
        return results

    def predict_proba_pairs(
        self,
        firsts: Sequence[str | None],
        seconds: Sequence[str | None],
        cache: ResultCache | None = None,
        guard: bool = True,
    ) -> np.ndarray:
        """Probabilities of a pair classifier (config.json "input_pair", e.g. sentence and
        aspect), shape (len(firsts), len(labels)); a NaN row where either text is blank or the
        English-only guard refuses the first (`guard=False`: the caller judged it already)."""
        if self.files.input_pair is None:
            raise ModelError(
                f'{self.files.config}: not a pair classifier (no "input_pair" in config.json)'
            )
        firsts, seconds = _checked_texts(firsts), _checked_texts(seconds)
        out = np.full((len(firsts), len(self.labels)), np.nan)
        unique: dict[tuple[str, str], list[int]] = {}
        for row, (first, second) in enumerate(zip(firsts, seconds)):
            if first is None or second is None:
                continue
            if not (self.encoder.is_blank(first) or self.encoder.is_blank(second)):
                unique.setdefault((first, second), []).append(row)
        if self.english_only and guard:
            unique = {p: rows for p, rows in unique.items() if not is_other_language(p[0])}
        if unique:
            answers = self._remembered(list(unique), self._score_pairs, cache)
            for rows, probs in zip(unique.values(), answers):
                out[rows] = probs
        return out

    def _score_pairs(self, pairs: list[tuple[str, ...]]) -> list[np.ndarray]:
        sequences, starts = self.encoder.pairs([p[0] for p in pairs], [p[1] for p in pairs])
        return list(self._score(sequences, starts))

    def predict(self, texts: Iterable[str | None]) -> list[str | None]:
        """The most probable label of each text (None for None or blank text)."""
        return self.labels_of(self.predict_proba(texts))

    def labels_of(self, probs: np.ndarray) -> list[str | None]:
        """The most probable label of each row of predict_proba's output (None for a NaN row)."""
        best = np.argmax(np.nan_to_num(probs, nan=-1.0), axis=1)
        return [None if np.isnan(p[0]) else self.labels[i] for p, i in zip(probs, best)]

    def _score(
        self,
        sequences: list[list[int]],
        second_starts: list[int] | None = None,
        count_answers: bool = True,
    ) -> np.ndarray:
        """Run the batches on the model's `threads` workers, shared by every caller.
        `second_starts`: for pairs, where each sequence's second segment (token type 1) starts.
        `count_answers`: each sequence is one text's answer (progress displays count them)."""
        probs = np.empty((len(sequences), len(self.labels)))
        lengths = [len(s) for s in sequences]
        batches = plan_batches(lengths, self.token_budget, self.max_batch_rows)
        # Interleaved shares (batches are length-sorted), a few per worker: even work, and one
        # task per share rather than per batch keeps the executor's overhead off small texts.
        shares = [
            batches[k :: self.threads * 4] for k in range(min(len(batches), self.threads * 4))
        ]

        begun = work_begun()  # a Ctrl-C after this drops the rest of the vector

        def run_share(share: list[np.ndarray]) -> None:
            for batch in share:
                check_cancelled(begun)
                starts = None if second_starts is None else [second_starts[i] for i in batch]
                probs[batch] = self._run([sequences[i] for i in batch], starts)
                if count_answers:
                    TEXTS_ANSWERED.add(len(batch))

        for _ in self._pool().map(run_share, shares):
            pass
        return probs

    def _pool(self) -> ThreadPoolExecutor:
        with self._workers_lock:  # made on first use; a forked child starts without one
            if self._workers is None:
                self._workers = ThreadPoolExecutor(
                    self.threads, "sentiment-udf", initializer=quiet_worker
                )
            return self._workers

    def _forget_workers(self) -> None:
        """In a forked child: the parent's worker threads do not exist here, nor does the state
        of its lock, nor that of the onnxruntime session (forked in the middle of a run, its
        internal locks may be held): the next score makes new ones."""
        self._workers = None
        self._workers_lock = threading.Lock()
        self.session.after_fork_in_child()

    def _score_chunked(self, windows: list[list[list[int]]]) -> np.ndarray:
        """Score every window of each text; combine by the mean weighted by window token counts."""
        flat = [w for text_windows in windows for w in text_windows]
        window_probs = self._score(flat, count_answers=False)
        TEXTS_ANSWERED.add(len(windows))
        weights = np.array([len(w) for w in flat], dtype=np.float64)
        owner = np.repeat(np.arange(len(windows)), [len(w) for w in windows])
        totals = np.zeros((len(windows), len(self.labels)))
        np.add.at(totals, owner, window_probs * weights[:, None])
        return totals / np.bincount(owner, weights=weights)[:, None]

    def _run(
        self, sequences: list[list[int]], second_starts: list[int] | None = None
    ) -> np.ndarray:
        return softmax(self._logits(sequences, second_starts).astype(np.float64))

    def _logits(
        self, sequences: list[list[int]], second_starts: list[int] | None = None
    ) -> np.ndarray:
        ids, mask = pad(sequences)
        types = np.zeros_like(ids)
        if second_starts is not None:
            types = (np.arange(ids.shape[1])[None, :] >= np.array(second_starts)[:, None]) * mask
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types.astype(np.int64)}
        session = self.session.get()
        (logits,) = session.run([self._output], {n: feed[n] for n in self._inputs})
        return logits

    def _probe(self) -> None:
        """Score probes before any query: the tokenizer's highest token id (a tokenizer that
        does not fit), then two rows of different lengths in one batch (an output whose shape
        depends on the input, or that is not finite, is refused here, not in every query)."""
        encoder = self.encoder
        highest = [encoder.prefix + [encoder.vocab_size - 1] + encoder.suffix]
        try:
            logits = self._logits(highest)
        except Exception as exc:
            raise ModelError(
                f"{self.files.tokenizer}: does not fit {self.files.onnx.name} (token id "
                f"{encoder.vocab_size - 1} of the tokenizer's {encoder.vocab_size} "
                f"failed: {str(exc).splitlines()[0][:200]})"
            ) from None
        self._check_logits(logits, 1)
        texts = ["Works well.", "It arrived late and the box was damaged, " * 3]
        starts: list[int] | None = None
        if self.files.input_pair is None:
            probes = encoder.truncated(texts)
        else:
            probes, starts = encoder.pairs(texts, ["it", "box"])
        for rows in ([0], [1], [0, 1]):
            batch = [probes[i] for i in rows]
            try:
                logits = self._logits(batch, None if starts is None else [starts[i] for i in rows])
            except Exception as exc:
                raise ModelError(
                    f"{self.files.onnx}: fails on a probe of {len(batch)} text(s) of "
                    f"{max(map(len, batch))} tokens ({str(exc).splitlines()[0][:200]})"
                ) from None
            self._check_logits(logits, len(batch))

    def _check_logits(self, logits: np.ndarray, rows: int) -> None:
        if logits.ndim != 2 or logits.shape[1] != len(self.labels):
            raise ModelError(
                f"{self.files.config}: id2label has {len(self.labels)} labels but "
                f"{self.files.onnx.name} outputs {logits.shape[-1]} logits (shape "
                f"{list(logits.shape)})"
            )
        if logits.shape[0] != rows:
            raise ModelError(
                f"{self.files.onnx}: {rows} input row(s) gave {logits.shape[0]} output rows; "
                "a classifier must give one row of logits per text"
            )
        if not np.isfinite(logits).all():
            raise ModelError(
                f"{self.files.onnx}: gives non-finite logits (NaN or infinity) on a probe "
                "review; the model is broken"
            )


_LIVE_MODELS: weakref.WeakSet[SentimentModel] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for model in list(_LIVE_MODELS):
        model._forget_workers()


if hasattr(os, "register_at_fork"):  # POSIX: multiprocessing's fork start method, os.fork
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _checked_texts(texts: Iterable[str | None]) -> Sequence[str | None]:
    """`texts` as a sequence (a generator or other iterable made a list), after checking it
    holds str or None (and is not one string)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(
            "predict_proba() and predict() take a list of texts, not one string: wrap it as [text]"
        )
    if not isinstance(texts, Sequence):
        try:
            texts = list(texts)
        except TypeError:
            raise TypeError(
                f"predict_proba() and predict() take a list of texts, not {type(texts).__name__}"
            ) from None
    for index, text in enumerate(texts):
        if text is not None and not isinstance(text, str):
            raise TypeError(f"texts[{index}] is {type(text).__name__}, not str or None")
    return texts
