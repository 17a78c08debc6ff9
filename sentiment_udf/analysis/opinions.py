"""Opinion mining: the targets a review gives opinions about, found by the term tagger, each
labelled by the aspect model from the pair (its sentence, the target as written).

No list of aspects is needed: the tagger (a token classifier) finds the targets; the aspect model
gives each one its label and score, as sentiment_aspects does for a named aspect, so a target that
is also asked for by name gets the same answer from both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..runtime.language import is_other_language
from ..runtime.model import SentimentModel
from ..runtime.result_cache import ResultCache
from ..runtime.term_tagger import TermTagger
from .sentences import Span, sentence_spans
from .text_forms import key_form, with_combining_marks

ARTICLES = {"the", "a", "an"}
# The trailing run is tried from its first character only (quadratic before: 40,000 "!" 13 s).
EDGE_PUNCTUATION = re.compile(r"^[\W_]+|(?<![\W_])[\W_]+$")
PLURAL_RULES = (  # (ending, replacement), the first that fits the last word wins
    ("ies", "y"),
    ("sses", "ss"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("xes", "x"),
    ("zes", "z"),
    ("ss", "ss"),
    ("is", "is"),
    ("s", ""),
)
# Plurals in -ies whose singular ends in -ie, not -y (the rule above would make "movy").
IE_NOUNS = {
    "brownies",
    "calories",
    "cookies",
    "goalies",
    "lies",
    "movies",
    "newbies",
    "pies",
    "rookies",
    "selfies",
    "smoothies",
    "ties",
    "zombies",
    "veggies",
    "hoodies",
    "freebies",
}


@dataclass(frozen=True)
class Opinion:
    target: str  # the words as written: substring(text, position, length) = target
    target_key: str  # the form to group by (target_key())
    label: str  # negative, neutral or positive (the aspect model's labels)
    score: float  # P(positive) - P(negative)
    position: int  # 1-based, in characters
    length: int
    sentence_position: int  # the position of its sentence, as sentiment_sentences gives it


def target_key(target: str) -> str:
    """The grouping form of a target: case folded, whitespace collapsed, punctuation and the
    articles a/an/the at either end dropped, the last word made singular ("The Batteries" and
    "battery" share the key "battery")."""
    words = EDGE_PUNCTUATION.sub("", " ".join(key_form(target).casefold().split())).split()
    while len(words) > 1 and words[0] in ARTICLES:
        words = words[1:]
    while len(words) > 1 and words[-1] in ARTICLES:
        words = words[:-1]
    if words and words[-1] in IE_NOUNS:
        words[-1] = words[-1][:-1]
    elif words and len(words[-1]) > 3:
        last = words[-1]
        for ending, replacement in PLURAL_RULES:
            if last.endswith(ending):
                words[-1] = last[: len(last) - len(ending)] + replacement
                break
    return " ".join(words)


def find_opinions(
    tagger: TermTagger,
    aspect_model: SentimentModel,
    texts: Sequence[str | None],
    cache: ResultCache | None = None,
) -> list[list[Opinion] | None]:
    """Each text's opinions in text order: None for a NULL or blank text and for text the
    English-only guard refuses, [] for a text with no target."""
    found: list[list[tuple[Span, int, int]] | None] = []  # (sentence, start, end) per target
    pieces: list[str] = []
    owners: list[tuple[int, Span]] = []
    for row, text in enumerate(texts):
        if text is None or aspect_model.encoder.is_blank(text):
            found.append(None)
        elif aspect_model.english_only and is_other_language(text):  # noqa: SIM114
            found.append(None)  # the English-only guard judges the whole text
        else:
            found.append([])
            for span in sentence_spans(tagger.encoder, text):
                pieces.append(text[span.start : span.end])
                owners.append((row, span))
    for (row, span), spans in zip(owners, tagger.tag(pieces, cache)):
        row_found = found[row]
        assert row_found is not None
        text = texts[row]
        assert text is not None
        row_found += [
            (span, span.start + start, with_combining_marks(text, span.start + end))
            for start, end in spans
        ]
    firsts, seconds = [], []
    for text, targets in zip(texts, found):
        sentence_text: dict[Span, str] = {}  # one string per sentence, shared by its targets
        for sentence, start, end in targets or []:
            assert text is not None
            if sentence not in sentence_text:
                sentence_text[sentence] = text[sentence.start : sentence.end]
            firsts.append(sentence_text[sentence])
            seconds.append(text[start:end])
    probs = (
        aspect_model.predict_proba_pairs(firsts, seconds, cache, guard=False)
        if firsts
        else np.empty((0, len(aspect_model.labels)))
    )
    return _assemble(aspect_model, texts, found, probs)


def _assemble(
    model: SentimentModel,
    texts: Sequence[str | None],
    found: list[list[tuple[Span, int, int]] | None],
    probs: np.ndarray,
) -> list[list[Opinion] | None]:
    labels = model.labels
    positive, negative = labels.index("positive"), labels.index("negative")
    out: list[list[Opinion] | None] = []
    index = 0
    for text, targets in zip(texts, found):
        if targets is None or text is None:
            out.append(None)
            continue
        row = []
        for sentence, start, end in targets:
            p = probs[index]
            index += 1
            if np.isnan(p).any():  # the pair had no tokens: no opinion to report
                continue
            target = text[start:end]
            row.append(
                Opinion(
                    target=target,
                    target_key=target_key(target),
                    label=labels[int(np.argmax(p))],
                    score=float(p[positive] - p[negative]),
                    position=start + 1,
                    length=end - start,
                    sentence_position=sentence.start + 1,
                )
            )
        out.append(row)
    return out
