"""Which model reads a text: one language rule for every function and every path.

`languages="auto"` (the default): text in one of the model's own languages (config.json
"languages"; English for the English models), or whose language cannot be told reliably (short
text, numbers, emoji), is read by the model; text reliably detected as a language the embedded
multilingual model reads goes to that model; any other text gives NULL.
`languages="model"`: only the model's own languages, the rest NULL (what `english_only=True` did).
`languages="any"`: the model reads every text (what `english_only=False` did).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .language import reliable_language

LANGUAGE_MODES = ("auto", "model", "any")
KANA = re.compile(r"[\u3040-\u30ff]")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LETTER = re.compile(r"[^\W\d_]")
OWN, OTHER, NONE = 0, 1, -1  # route(): read by the model, by the multilingual model, by neither


def language_mode(languages: Any = None, english_only: Any = None) -> str:
    """The mode for the `languages=` option, or for the older `english_only=` (True: "model",
    False: "any"); ValueError for a bad value or for both given and disagreeing."""
    if english_only is not None and not isinstance(english_only, bool):
        raise ValueError(f"english_only must be True or False, not {english_only!r}")
    if languages is not None and languages not in LANGUAGE_MODES:
        raise ValueError(
            f"languages must be one of {', '.join(map(repr, LANGUAGE_MODES))}, not {languages!r}"
        )
    if english_only is None:
        return languages or "auto"
    old = "model" if english_only else "any"
    if languages is not None and languages != old:
        raise ValueError(
            f"english_only={english_only} and languages={languages!r} disagree: give languages= "
            "alone (english_only=True is languages='model', False is 'any')"
        )
    return old


def route(
    texts: Sequence[str], mode: str, own: Sequence[str], other: Sequence[str] | None
) -> list[int]:
    """OWN, OTHER or NONE for each text under `mode`, given the model's own languages and the
    multilingual model's (None: no multilingual model to send text to)."""
    if mode == "any":
        return [OWN] * len(texts)
    out = []
    for text in texts:
        code = reliable_language(text)
        if code is None and mode == "auto":  # "model" keeps the old rule exactly
            code = _script_language(text)
        if code is None or code in own:
            out.append(OWN)
        elif mode == "auto" and other is not None and code in other:
            out.append(OTHER)
        else:
            out.append(NONE)
    return out


def _script_language(text: str) -> str | None:
    """`ja` or `zh` for text written mostly in Japanese or Chinese script that the detector could
    not place (short reviews: "蒙牛混蛋！"); a model for Latin script cannot read it at all."""
    head = text[:512]
    letters = len(LETTER.findall(head))
    han, kana = len(HAN.findall(head)), len(KANA.findall(head))
    if not letters or (han + kana) * 2 < letters:
        return None
    return "ja" if kana else "zh"
