"""Sentiment per aspect of a review: lexical matching finds the mentions, the aspect model labels
each one from the pair (its sentence or clause, the matched words).

An aspect is one or more alternatives separated by '|' ("battery|charge|charging"), each matched
case-insensitively on word boundaries, its last word also in the plural ("battery" matches
"batteries", "charger" matches "chargers"). Each mention is labelled by the pair classifier; an
aspect's label is that of its mentions (`mixed` when some are positive and some negative,
`unknown` when it is not mentioned), its score the mean of P(positive) - P(negative) over them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..runtime.language import is_other_language
from ..runtime.model import SentimentModel
from ..runtime.result_cache import ResultCache
from .sentences import Span, split_sentences
from .text_forms import key_form, matching_form, original_span

# What the pair classifier is shown around a mention: "sentence" or "clause" (BENCHMARKS.md
# measured both on the SemEval holdout rows; the winner is the default).
CONTEXTS = ("sentence", "clause")
DEFAULT_CONTEXT = "sentence"
# A run of whitespace is tried from its first character only (the lookbehind): from every one
# of them, a long run was read again at each (quadratic: 40,000 spaces took 52 s).
CLAUSE_BREAK = re.compile(
    r"[,;:]\s+|(?<!\s)\s+(?:but|although|though|however|whereas|while|yet|except)\s+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AspectResult:
    aspect: str
    label: str  # positive, negative, neutral, mixed or unknown
    score: float | None  # mean of P(positive) - P(negative) over the mentions; None: unknown
    mentions: int
    evidence: list[tuple[int, int]] = field(default_factory=list)  # (1-based position, length)


CACHED_ASPECT_CHARS = 512  # longer aspects are compiled per call: the cache's memory is bounded


def aspect_pattern(aspect: str) -> re.Pattern[str]:
    """The regular expression that finds an aspect's mentions (alternatives, plurals); kept for
    reuse when short (at most 4,096 of them), compiled anew when long."""
    if len(aspect) > CACHED_ASPECT_CHARS:
        return _compile_aspect(aspect)
    return _cached_aspect_pattern(aspect)


@lru_cache(maxsize=4096)
def _cached_aspect_pattern(aspect: str) -> re.Pattern[str]:
    return _compile_aspect(aspect)


def _compile_aspect(aspect: str) -> re.Pattern[str]:
    alternatives = sorted(
        {a.strip() for a in aspect.split("|") if a.strip()}, key=len, reverse=True
    )
    if not alternatives:
        raise ValueError(f"aspect {aspect!r} names no words")
    return re.compile("|".join(f"(?<!\\w){_plural(a)}(?!\\w)" for a in alternatives), re.IGNORECASE)


def _plural(alternative: str) -> str:
    words = [re.escape(w) for w in alternative.split()]
    last = alternative.split()[-1]
    if re.fullmatch(r"\w*[^aeiou]y", last, re.IGNORECASE):
        words[-1] = re.escape(last[:-1]) + "(?:y|ies)"
    elif re.fullmatch(r"\w*(?:s|x|z|ch|sh)", last, re.IGNORECASE):
        words[-1] += "(?:es)?"
    elif re.fullmatch(r"\w+", last):
        words[-1] += "s?"
    return r"\s+".join(words)


def clause_of(sentence: str, start: int, end: int) -> str:
    """The clause of `sentence` that holds characters start..end (split at , ; : and but, ...)."""
    left = 0
    for match in CLAUSE_BREAK.finditer(sentence):
        if match.end() <= start:
            left = match.end()
        elif match.start() >= end:
            return sentence[left : match.start()]
    return sentence[left:]


def score_aspects(
    model: SentimentModel,
    texts: Sequence[str | None],
    aspects: Sequence[Sequence[str | None] | None],
    context: str = DEFAULT_CONTEXT,
    cache: ResultCache | None = None,
) -> list[list[AspectResult] | None]:
    """For each text, one result per requested aspect, in the order given (None for a NULL or
    blank text or a NULL aspect list). `model` is a pair classifier (sentence, aspect)."""
    if context not in CONTEXTS:
        raise ValueError(f"context must be one of {CONTEXTS}, not {context!r}")
    firsts: list[str] = []
    seconds: list[str] = []
    found: list[list[tuple[str, list[tuple[int, int]]]] | None] = []
    for text, wanted in zip(texts, aspects):
        if wanted is None or text is None or model.encoder.is_blank(text):
            found.append(None)
            continue
        if model.english_only and is_other_language(text):  # the guard, on the whole text
            found.append(None)
            continue
        sentences = split_sentences(text)
        starts = [s.start for s in sentences]
        form, positions = matching_form(text)  # NFC, no soft hyphens; spans map back
        row = []
        for aspect in wanted:
            if aspect is None:
                raise ValueError("an aspect in the list is NULL; give words or leave it out")
            spans = [
                original_span(positions, m.start(), m.end())
                for m in aspect_pattern(key_form(aspect)).finditer(form)
                if m.end() > m.start()
            ]
            for start, end in spans:
                sentence = _sentence_at(sentences, starts, start, len(text))
                piece = text[sentence.start : sentence.end]
                if context == "clause":
                    piece = clause_of(piece, start - sentence.start, end - sentence.start)
                firsts.append(piece)
                seconds.append(text[start:end])
            row.append((aspect, spans))
        found.append(row)
    probs = (
        model.predict_proba_pairs(firsts, seconds, cache, guard=False)  # judged on the text
        if firsts
        else np.empty((0, len(model.labels)))
    )
    return _assemble(model, found, probs)


def _sentence_at(sentences: list[Span], starts: list[int], position: int, length: int) -> Span:
    """The sentence holding `position` (`starts`: the sentences' starts, in text order)."""
    index = bisect.bisect_right(starts, position) - 1
    if index >= 0 and sentences[index].start <= position < sentences[index].end:
        return sentences[index]
    return Span(0, length)


def _assemble(
    model: SentimentModel,
    found: list[list[tuple[str, list[tuple[int, int]]]] | None],
    probs: np.ndarray,
) -> list[list[AspectResult] | None]:
    labels = model.labels
    positive, negative = labels.index("positive"), labels.index("negative")
    out: list[list[AspectResult] | None] = []
    index = 0
    for row in found:
        if row is None:
            out.append(None)
            continue
        results = []
        for aspect, spans in row:
            mention_probs = probs[index : index + len(spans)]
            index += len(spans)
            mention_probs = mention_probs[~np.isnan(mention_probs).any(axis=1)]  # no NaN to SQL
            evidence = [(start + 1, end - start) for start, end in spans]
            if not len(mention_probs):
                results.append(AspectResult(aspect, "unknown", None, 0, []))
                continue
            mention_labels = {labels[i] for i in mention_probs.argmax(axis=1)}
            polar = mention_labels - {"neutral"}
            label = "mixed" if len(polar) > 1 else (polar.pop() if polar else "neutral")
            score = float(np.mean(mention_probs[:, positive] - mention_probs[:, negative]))
            results.append(AspectResult(aspect, label, score, len(spans), evidence))
        out.append(results)
    return out
