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
from ..runtime.model import SentimentModel
from ..runtime.result_cache import ResultCache

LETTER = re.compile(r"[^\W\d_]")
AFTER_EXCLAMATION = re.compile(r"(?<=!)\s+(?=\w)")
# Spaces other than " " (no-break, ideographic, thin, NEL, ...): read as " " by the splitter, which
# panics on some of them after "<capital> ." (one code point each, so offsets are unchanged).
ODD_SPACES = re.compile(r"[\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
# Sentence ends of scripts written without spaces (Chinese, Japanese), with closing quotes.
CJK_END = re.compile(r"[。！？｡．]+[」』）〕】\"'”’)]*")
CLOSING = re.compile(r"[)\]}]|-R[RSC]B-")  # a closing bracket (or its Penn Treebank token)
# Brackets and punctuation only. No two alternatives may match the same character: with
# "[)\]}]" beside "[^\w\s]", ";-" and 25 ")" in a real review took 149 s (2^n ways to fail).
CLOSING_ONLY = re.compile(r"^(?:\s|-R[RSC]B-|[^\w\s])*$")


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
    plain = ODD_SPACES.sub(" ", text)
    for boundary in _boundaries(plain):
        start, end = boundary["start_index"], boundary["end_index"]
        if plain[start:end] != boundary["text"]:  # offsets not in code points: find the text
            start = plain.find(boundary["text"], cursor)
            end = start + len(boundary["text"])
            if start < 0:
                continue
        cursor = end
        for piece in _split_after_exclamations(text, start, end):
            spans += _split_at(CJK_END, text, piece.start, piece.end)
    return _join_fragments(text, [s for s in (_trim(text, s) for s in spans) if s])


def _boundaries(plain: str) -> list[dict]:
    """sentencex's sentences of `plain` (odd spaces already read as spaces); the whole text as
    one sentence should the splitter fail (no input may fail a query)."""
    try:
        return list(get_sentence_boundaries("en", plain))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # a Rust panic (pyo3's PanicException is a BaseException)
        return [{"start_index": 0, "end_index": len(plain), "text": plain}]


def _split_after_exclamations(text: str, start: int, end: int) -> list[Span]:
    return _split_at(AFTER_EXCLAMATION, text, start, end)


def _split_at(pattern: re.Pattern, text: str, start: int, end: int) -> list[Span]:
    cuts = [m.end() for m in pattern.finditer(text, start, end) if m.end() < end]
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


def review_readers(model: SentimentModel, texts: list[str | None]) -> list[SentimentModel | None]:
    """The model that reads each review under the language rule (None: NULL, blank, or a text no
    model reads), judged on the whole text: a short sentence alone is often unclear."""
    present = [i for i, t in enumerate(texts) if t is not None and not model.encoder.is_blank(t)]
    readers: list[SentimentModel | None] = [None] * len(texts)
    for index, reader in zip(present, model.readers([texts[i] or "" for i in present])):
        readers[index] = reader
    return readers


def score_sentences(
    model: SentimentModel,
    texts: list[str | None],
    cache: ResultCache | None = None,
    readers: list[SentimentModel | None] | None = None,
) -> list[list[ScoredSentence] | None]:
    """Each text's sentences with their labels and scores (None for a NULL or blank text, or a
    text no model reads). Its reader (review_readers(), or `readers` where the caller judged
    them) scores every sentence of a text; all sentences one model reads go through it in one
    call (identical sentences once)."""
    if readers is None:
        readers = review_readers(model, texts)
    spans_of = [
        sentence_spans(reader.encoder, text) if reader is not None and text is not None else None
        for text, reader in zip(texts, readers)
    ]
    pieces = [
        [text[s.start : s.end] for s in spans] if text is not None and spans is not None else []
        for text, spans in zip(texts, spans_of)
    ]
    probs_of: dict[int, list] = {}
    for reader in {id(r): r for r in readers if r is not None}.values():
        mine = [i for i, r in enumerate(readers) if r is reader]
        flat = [p for i in mine for p in pieces[i]]
        # guard=False: a sentence of a review is scored whatever its own language looks like
        scored = iter(reader.predict_proba(flat, cache, guard=False) if flat else [])
        for i in mine:
            probs_of[i] = [next(scored) for _ in pieces[i]]
    out: list[list[ScoredSentence] | None] = []
    for index, (spans, sentences, read_by) in enumerate(zip(spans_of, pieces, readers)):
        if spans is None or read_by is None:  # NULL or blank text, or no model reads it
            out.append(None)
            continue
        row = []
        for span, sentence, p in zip(spans, sentences, probs_of[index]):
            unscored = p is None or np.isnan(p[0])
            row.append(
                ScoredSentence(
                    position=span.start + 1,
                    length=span.end - span.start,
                    sentence=sentence,
                    label=None if unscored else read_by.labels[int(np.argmax(p))],
                    score=None if unscored else float(p[read_by.score_index]),
                )
            )
        out.append(row or None)
    return out
