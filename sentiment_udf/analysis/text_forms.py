"""One form of text for matching and keys: Unicode NFC with soft hyphens dropped, mapped back to
the original characters, so that `café` typed in NFC finds `café` written in NFD (and back), a
soft hyphen splits no word, and positions still point at the text as it was given."""

from __future__ import annotations

import unicodedata

SOFT_HYPHEN = "\u00ad"


def matching_form(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`text` in NFC without soft hyphens, and for each of its characters the span (start, end)
    of the original characters it came from."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = start + 1
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1  # a base character with its combining marks: composed together
        piece = unicodedata.normalize("NFC", text[start:end].replace(SOFT_HYPHEN, ""))
        for character in piece:
            out.append(character)
            spans.append((start, end))
        start = end
    return "".join(out), spans


def original_span(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The original characters of matching_form's characters start..end (end exclusive)."""
    return spans[start][0], spans[end - 1][1]


def key_form(text: str) -> str:
    """NFKC without soft hyphens: the form keys are made from."""
    return unicodedata.normalize("NFKC", text.replace(SOFT_HYPHEN, ""))


def with_combining_marks(text: str, end: int) -> int:
    """`end` moved past the combining marks that follow it (a span must not split a letter from
    its accent, as a tokenizer's offsets in NFD text do)."""
    while end < len(text) and unicodedata.combining(text[end]):
        end += 1
    return end
