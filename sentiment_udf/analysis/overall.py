"""One label for a whole review: positive, negative, neutral or mixed.

English reviews (star_document_label): a model trained on star ratings reads the whole review;
its 1-2 star probability against its 4-5 and its 3 star ones decides negative, positive or the
middle, and a middle review is `mixed` when it has a clearly positive and a clearly negative
sentence, else `neutral` (BENCHMARKS.md, "Document label").

Other reviews (document_label, the rule before the star model): the whole review's score decides
first (P(positive) of the title and text read together, as the
model was trained): at most LOW_SCORE is `negative`, at least HIGH_SCORE is `positive`. A review
between the two is `mixed` when it has a clearly positive and a clearly negative sentence (score
at least 0.5 + band, at most 0.5 - band), else `neutral`. LOW_SCORE and HIGH_SCORE were chosen by
cross-validated measurement on 5,000 star-rated reviews (BENCHMARKS.md, "Document label").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_NEUTRAL_BAND = 0.4
LOW_SCORE = 0.15
HIGH_SCORE = 0.8
OVERALL_LABELS = ("positive", "negative", "neutral", "mixed")


def document_label(
    score: float | None,
    sentence_scores: Sequence[float | None] | None,
    low: float = LOW_SCORE,
    high: float = HIGH_SCORE,
    neutral_band: float = DEFAULT_NEUTRAL_BAND,
) -> str | None:
    """The review's label from its whole score and its sentences' scores (None: NULL, blank or
    refused text)."""
    if score is None or score != score or sentence_scores is None:
        return None
    check_band(neutral_band)
    return score_side(score, low, high) or middle_label(sentence_scores, neutral_band)


def star_document_label(
    star_probs: np.ndarray | None,
    sentence_scores: Sequence[float | None] | None,
    neutral_band: float = DEFAULT_NEUTRAL_BAND,
) -> str | None:
    """The review's label from a star model's probabilities of 1-5 stars and its sentences'
    scores (None: NULL, blank or refused text)."""
    if star_probs is None or np.isnan(star_probs).any() or sentence_scores is None:
        return None
    check_band(neutral_band)
    return star_side(star_probs) or middle_label(sentence_scores, neutral_band)


def score_side(score: float, low: float = LOW_SCORE, high: float = HIGH_SCORE) -> str | None:
    """`negative` or `positive` where the whole review's score decides; None: the middle."""
    return "negative" if score <= low else "positive" if score >= high else None


def star_side(star_probs: np.ndarray) -> str | None:
    """`negative` or `positive` where the star model's 1-2 or 4-5 stars outweigh the rest;
    None: the middle (3 stars likelier, or a tie)."""
    negative, middle, positive = star_probs[:2].sum(), star_probs[2], star_probs[3:].sum()
    if negative > middle and negative >= positive:
        return "negative"
    if positive > middle and positive > negative:
        return "positive"
    return None


def middle_label(sentence_scores: Sequence[float | None], neutral_band: float) -> str:
    """A middle review: `mixed` when one sentence is clearly positive and another clearly
    negative, else `neutral`."""
    return "mixed" if all(_clear_sides(sentence_scores, neutral_band)) else "neutral"


def expected_stars(star_probs: np.ndarray) -> float | None:
    """The expected star rating (1 to 5) of a star model's probabilities; None for a NaN row."""
    if np.isnan(star_probs).any():
        return None
    return float(star_probs @ np.arange(1, len(star_probs) + 1))


def azure_sentence_rule(
    sentence_scores: Sequence[float | None] | None, neutral_band: float = DEFAULT_NEUTRAL_BAND
) -> str | None:
    """The earlier rule, kept to measure against (BENCHMARKS.md): any clearly positive and any
    clearly negative sentence make `mixed`; else the clear sentences decide; none: `neutral`."""
    if sentence_scores is None:
        return None
    if all(s is None for s in sentence_scores):
        return None
    positive, negative = _clear_sides(sentence_scores, neutral_band)
    if positive and negative:
        return "mixed"
    return "positive" if positive else "negative" if negative else "neutral"


def _clear_sides(
    sentence_scores: Sequence[float | None], neutral_band: float
) -> tuple[bool, bool]:
    """Whether some sentence is clearly positive (score >= 0.5 + band), and whether some is
    clearly negative (<= 0.5 - band); unscored sentences count for neither."""
    clear = [s for s in sentence_scores if s is not None]
    positive = any(s >= 0.5 + neutral_band and s > 0.5 for s in clear)
    negative = any(s <= 0.5 - neutral_band and s < 0.5 for s in clear)
    return positive, negative


def check_band(neutral_band: float) -> None:
    if not 0.0 <= neutral_band < 0.5:
        raise ValueError(f"neutral_band must be in [0, 0.5), not {neutral_band!r}")
