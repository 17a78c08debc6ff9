"""Sentences of a review with their positions, scored one by one by the model.

Splitting: sentencex (measured best on review text: BENCHMARKS.md), plus three rules reviews need:
a fragment that opens with a closing bracket ("(it broke...)." cut after "...") stays with the
sentence before it; any other fragment without letters ("2.", "*", "!!!") joins the sentence
after it; and "!" followed by a space starts a new sentence even before a lower-case word
("great!!! would buy again").
A sentence longer than the model's maximum becomes several windows of at most that many tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from sentencex import get_sentence_boundaries

from ..runtime.encoding import TextEncoder
from ..runtime.language import is_other_language
from ..runtime.model import SentimentModel
from ..runtime.result_cache import ResultCache

LETTER = re.compile(r"[^\W\d_]")
AFTER_EXCLAMATION = re.compile(r"(?<=!)\s+(?=\w)")
CLOSING = re.compile(r"[)\]}]|-R[RSC]B-")  # a closing bracket (or its Penn Treebank token)
CLOSING_ONLY = re.compile(r"^(?:\s|[)\]}]|-R[RSC]B-|[^\w\s])*$")  # brackets and punctuation


@dataclass(frozen=True)
class Span:
    """Characters start..end (0-based, end exclusive, in code points) of a text."""

    start: int
    end: int


@dataclass(frozen=True)
class ScoredSentence:
    position: int  # 1-based, in characters: substring(text, position, length) = sentence
    length: int
    sentence: str
    label: str | None
    score: float | None  # P(positive) (of the last label for models without one)


def split_sentences(text: str) -> list[Span]:
    """The sentences of `text` in order, whitespace trimmed, none empty."""
    spans = []
    cursor = 0
    for boundary in get_sentence_boundaries("en", text):
        start, end = boundary["start_index"], boundary["end_index"]
        if text[start:end] != boundary["text"]:  # offsets not in code points: find the text
            start = text.find(boundary["text"], cursor)
            end = start + len(boundary["text"])
            if start < 0:
                continue
        cursor = end
        spans += _split_after_exclamations(text, start, end)
    return _join_fragments(text, [s for s in (_trim(text, s) for s in spans) if s])


def _split_after_exclamations(text: str, start: int, end: int) -> list[Span]:
    cuts = [m.end() for m in AFTER_EXCLAMATION.finditer(text, start, end)]
    edges = [start, *cuts, end]
    return [Span(a, b) for a, b in zip(edges, edges[1:])]


def _trim(text: str, span: Span) -> Span | None:
    piece = text[span.start : span.end]
    stripped = piece.strip()
    if not stripped:
        return None
    start = span.start + (len(piece) - len(piece.lstrip()))
    return Span(start, start + len(stripped))


def _join_fragments(text: str, spans: list[Span]) -> list[Span]:
    """A span that opens with a closing bracket (")", "]", "-RRB-") belongs to the sentence
    before it; any other span without letters joins the next one (the previous one when it is
    the last). Linear: each span's own characters are looked at once."""
    out: list[Span] = []
    pending: Span | None = None
    for span in spans:
        piece = text[span.start : span.end]
        has_letters = LETTER.search(piece) is not None and not CLOSING_ONLY.match(piece)
        if out and pending is None and CLOSING.match(piece):
            out[-1] = Span(out[-1].start, span.end)
            continue
        if pending is not None:
            span, pending = Span(pending.start, span.end), None
        if not has_letters:
            pending = span
            continue
        out.append(span)
    if pending is not None:
        if out:
            out[-1] = Span(out[-1].start, pending.end)
        else:
            out.append(pending)
    return out


def sentence_spans(encoder: TextEncoder, text: str) -> list[Span]:
    """The sentences of `text`, each cut into windows of at most the encoder's max_length tokens."""
    out: list[Span] = []
    for span in split_sentences(text):
        for start, end in encoder.window_spans(text[span.start : span.end]):
            out.append(Span(span.start + start, span.start + end))
    return out


def score_sentences(
    model: SentimentModel, texts: list[str | None], cache: ResultCache | None = None
) -> list[list[ScoredSentence] | None]:
    """Each text's sentences with their labels and scores (None for a NULL or blank text). All
    sentences of all texts go through the model in one call (identical sentences once)."""
    spans_of: list[list[Span] | None] = [
        None if text is None or model.encoder.is_blank(text) else sentence_spans(model.encoder, text)
        for text in texts
    ]
    # The English-only guard judges the whole text (a short sentence alone is often unclear);
    # the sentences of a guarded text are not scored at all.
    guarded = [model.english_only and t is not None and is_other_language(t) for t in texts]
    pieces = [
        [text[s.start : s.end] for s in spans] if text is not None and spans is not None else []
        for text, spans in zip(texts, spans_of)
    ]
    to_score = [p for ps, skip in zip(pieces, guarded) if not skip for p in ps]
    # guard=False: a sentence of an English review is scored whatever its own language looks like
    probs = iter(model.predict_proba(to_score, cache, guard=False) if to_score else [])
    out: list[list[ScoredSentence] | None] = []
    for spans, sentences, skip in zip(spans_of, pieces, guarded):
        if spans is None or skip:  # NULL or blank text, or a review in another language
            out.append(None)
            continue
        row = []
        for span, sentence in zip(spans, sentences):
            p = next(probs)
            unscored = p is None or np.isnan(p[0])
            row.append(
                ScoredSentence(
                    position=span.start + 1,
                    length=span.end - span.start,
                    sentence=sentence,
                    label=None if unscored else model.labels[int(np.argmax(p))],
                    score=None if unscored else float(p[model.score_index]),
                )
            )
        out.append(row or None)
    return out
