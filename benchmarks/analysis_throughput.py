"""Rows per second of sentiment_sentences, sentiment_overall and sentiment_aspects beside
sentiment, measured side by side in one process (rounds interleave the functions, so a slow
spell of this shared machine hits all of them alike; medians of the rounds).

    python benchmarks/analysis_throughput.py [--rows 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import duckdb

import sentiment_udf
from sentiment_udf.runtime.result_cache import MEMO

QUERIES = {
    "sentiment(review)": "SELECT count(sentiment(review)) FROM r",
    "sentiment_sentences(review)": "SELECT count(sentiment_sentences(review)) FROM r",
    "sentiment_overall(review)": "SELECT count(sentiment_overall(review)) FROM r",
    "sentiment_aspects(review, 4 aspects)": (
        "SELECT count(sentiment_aspects(review, ['price|cost', 'quality', "
        "'battery|charge|charging', 'screen|display'])) FROM r"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default="../shared/data/reviews_bench.parquet")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    con = duckdb.connect()
    sentiment_udf.register(con)
    con.execute(
        "CREATE TABLE r AS SELECT review FROM read_parquet(?) LIMIT ?", [args.bench, args.rows]
    )
    sentences, mentions = con.execute(
        "SELECT sum(len(sentiment_sentences(review))), sum(list_sum(list_transform("
        "sentiment_aspects(review, ['price|cost', 'quality', 'battery|charge|charging', "
        "'screen|display']), lambda a: a.mentions))) FROM r"
    ).fetchall()[0]
    rates: dict[str, list[float]] = {name: [] for name in QUERIES}
    for _ in range(args.rounds):
        for name, query in QUERIES.items():
            MEMO.clear()  # each function scores afresh: no answers remembered from another
            started = time.perf_counter()
            con.execute(query).fetchall()
            rates[name].append(args.rows / (time.perf_counter() - started))
    base = rates["sentiment(review)"]
    report = {
        "rows": args.rows,
        "sentences": sentences,
        "aspect_mentions": mentions,
        "rounds": args.rounds,
        "rows_per_s_median": {n: round(statistics.median(r), 1) for n, r in rates.items()},
        "ratio_to_sentiment_median": {
            n: round(statistics.median(x / y for x, y in zip(r, base)), 3) for n, r in rates.items()
        },
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
