"""Answers remembered before they are computed: one path for every model (classifier or tagger).
An item's answer is the memo's, else the persistent cache's, else computed, a slice of items at a
time (so the token ids of thousands of long texts are never all held at once), and every new
answer is stored in both."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from .result_cache import MEMO, ResultCache

Answer = TypeVar("Answer")
Item = TypeVar("Item")

SCORE_SLICE = 1024  # items computed per step


def recalled_or_computed(
    items: Sequence[Item],
    keys: Sequence[bytes],
    compute: Callable[[list[Item]], Iterable[Answer | None]],
    encode: Callable[[Answer], bytes],
    decode: Callable[[bytes], Answer | None],
    cache: ResultCache | None,
    on_missing: Callable[[int], None] = lambda missing: None,
) -> list[Answer | None]:
    """The answer for each item (keys[i] is items[i]'s key). `decode` gives None for a stored
    answer it cannot read (computed again); `compute` may answer None (not stored).
    `on_missing(n)` hears how many items are computed, before they are."""
    found = MEMO.get_many(keys)
    if cache is not None and len(found) < len(keys):
        stored = cache.get_many([k for k in keys if k not in found])
        MEMO.put_many(stored)
        found.update(stored)
    answers = [decode(found[k]) if k in found else None for k in keys]
    missing = [i for i, answer in enumerate(answers) if answer is None]
    on_missing(len(missing))
    for start in range(0, len(missing), SCORE_SLICE):
        part = missing[start : start + SCORE_SLICE]
        new = {}
        for i, answer in zip(part, compute([items[i] for i in part])):
            answers[i] = answer
            if answer is not None:
                new[keys[i]] = encode(answer)
        MEMO.put_many(new)
        if cache is not None:
            cache.put_many(new)
    return answers
