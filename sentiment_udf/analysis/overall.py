"""One label for a whole review from its sentences: positive, negative, neutral or mixed.

A sentence is clearly positive when its score (P(positive)) is at least 0.5 + band, clearly
negative when at most 0.5 - band. Any clearly positive and any clearly negative sentence make the
review `mixed` (Azure AI Language's rule); otherwise the clear sentences decide; a review with no
clear sentence is `neutral`. DEFAULT_NEUTRAL_BAND was chosen by measurement (BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from .sentences import ScoredSentence

DEFAULT_NEUTRAL_BAND = 0.4
OVERALL_LABELS = ("positive", "negative", "neutral", "mixed")


def overall_label(
    sentences: Sequence[ScoredSentence] | None, neutral_band: float = DEFAULT_NEUTRAL_BAND
) -> str | None:
    """The review's label from its scored sentences (None for a NULL or blank review)."""
    if sentences is None:
        return None
    if not 0.0 <= neutral_band < 0.5:
        raise ValueError(f"neutral_band must be in [0, 0.5), not {neutral_band!r}")
    scores = [s.score for s in sentences if s.score is not None]
    positive = any(score >= 0.5 + neutral_band and score > 0.5 for score in scores)
    negative = any(score <= 0.5 - neutral_band and score < 0.5 for score in scores)
    if positive and negative:
        return "mixed"
    if positive:
        return "positive"
    if negative:
        return "negative"
    return "neutral"
