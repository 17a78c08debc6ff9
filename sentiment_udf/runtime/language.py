"""Which language a text is in (pycld2: Google's Compact Language Detector 2, offline), and the
English-only guard: the models read English, so text reliably detected as another language is
not scored (NULL) unless the guard is turned off. Chosen by measurement (BENCHMARKS.md)."""

from __future__ import annotations

import pycld2

# Characters read from the head of a text: ample to tell its language, and a 20 MB text costs
# no more than a review.
DETECT_CHARS = 4096


def _detect(text: str) -> tuple[bool, str]:
    try:
        reliable, _, details = pycld2.detect(text[:DETECT_CHARS])
    except pycld2.error:  # text that is not valid UTF-8 inside (lone surrogates)
        return False, "un"
    return reliable, details[0][1]


def detect_language(text: str | None) -> str | None:
    """The ISO 639-1 code of the text's language (`en`, `de`, `zh`, ...); None for NULL, blank or
    text whose language cannot be told."""
    if text is None or not text.strip():
        return None
    _, code = _detect(text)
    return None if code in ("un", "xxx") else code.split("-")[0].lower()


def is_other_language(text: str) -> bool:
    """Whether `text` is reliably detected as a language other than English (undetermined text,
    emoji, numbers and very short text are not)."""
    return reliable_language(text) not in (None, "en")


def reliable_language(text: str) -> str | None:
    """The ISO 639-1 code of `text`'s language when it is reliably detected, else None (short,
    mixed or undetermined text)."""
    reliable, code = _detect(text)
    if not reliable or code in ("un", "xxx"):
        return None
    return code.split("-")[0].lower()
