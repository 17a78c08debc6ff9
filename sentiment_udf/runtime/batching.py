"""Group token sequences into length-sorted batches under a token budget, and pad them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def plan_batches(lengths: Sequence[int], token_budget: int, max_rows: int) -> list[np.ndarray]:
    """Indices of the sequences in each batch: shortest first, so each batch pads little.

    A batch holds at most `max_rows` rows and at most `token_budget` padded tokens (a single
    sequence longer than the budget still gets a batch of its own).
    """
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        if end == len(order):
            batches.append(order[start:end])
            break
        rows = end + 1 - start
        if rows > max_rows or rows * lengths[order[end]] > token_budget:
            batches.append(order[start:end])
            start = end
    return batches


def pad(sequences: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`input_ids` and `attention_mask` (int64), padded on the right to the longest sequence."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    width = int(lengths.max()) if len(sequences) else 0
    mask = np.arange(width)[None, :] < lengths[:, None]
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    ids[mask] = np.fromiter(
        (t for s in sequences for t in s), dtype=np.int64, count=int(lengths.sum())
    )
    return ids, mask.astype(np.int64)
