"""Truncation against chunking on reviews_long.parquet (IMDB reviews, many over 512 tokens):
how many texts are long, how often the label changes, and the cost. These were training data,
so no accuracy is reported.

    python benchmarks/long_text.py [--rows 400]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import duckdb
import numpy as np

from sentiment_udf import SentimentModel
from sentiment_udf.runtime.result_cache import MEMO

LONG = Path(__file__).resolve().parents[2] / "shared" / "data" / "reviews_long.parquet"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    texts = [
        r[0]
        for r in duckdb.execute(
            "SELECT review FROM read_parquet(?) LIMIT ?", [str(LONG), args.rows]
        ).fetchall()
    ]
    truncate, chunk = SentimentModel(), SentimentModel(long_text="chunk")
    tokens = np.array([len(e.ids) for e in truncate.encoder.tokenizer.encode_batch(texts)])
    long = tokens > 512
    runs: dict[str, list[float]] = {"truncate": [], "chunk": []}
    probs = {}
    for _ in range(args.rounds):  # rounds interleave the modes; medians below
        for name, model in (("truncate", truncate), ("chunk", chunk)):
            MEMO.clear()  # score afresh each time
            started = time.perf_counter()
            probs[name] = model.predict_proba(texts)[:, 1]
            runs[name].append(time.perf_counter() - started)
    timings = {name: statistics.median(r) for name, r in runs.items()}
    changed = (probs["truncate"] >= 0.5) != (probs["chunk"] >= 0.5)
    print(
        f"rows {len(texts)}, mean tokens {tokens.mean():.0f}, over 512 tokens: {long.sum()} "
        f"({long.mean():.0%})"
    )
    print(
        f"label differs between truncate and chunk: {changed.sum()} rows "
        f"({changed[long].mean():.1%} of the long ones); mean |score difference| on long "
        f"rows {np.abs(probs['truncate'] - probs['chunk'])[long].mean():.3f}"
    )
    print(
        f"time: truncate {timings['truncate']:.1f} s ({len(texts) / timings['truncate']:.1f} "
        f"rows/s), chunk {timings['chunk']:.1f} s ({len(texts) / timings['chunk']:.1f} rows/s)"
    )


if __name__ == "__main__":
    main()
