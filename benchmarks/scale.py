"""One scale measurement in its own process (so peak RSS is its own): score an N-row table,
built by repeating and shuffling reviews_bench.parquet, through SELECT classify_sentiment(...).

    python benchmarks/scale.py --rows 100000 [--model PATH]   # prints one JSON line
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import duckdb

import sentiment_udf

BENCH = "../shared/data/reviews_bench.parquet"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--bench", default=BENCH)
    args = parser.parse_args()
    con = duckdb.connect()
    started = time.perf_counter()
    registration = sentiment_udf.register(con, args.model)
    load_seconds = time.perf_counter() - started
    con.execute(
        "CREATE TABLE reviews AS SELECT review FROM read_parquet(?), range(?) AS copies(i) "
        "ORDER BY hash(review_id, i) LIMIT ?",
        [args.bench, args.rows // 20_214 + 1, args.rows],
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    scored, labelled = con.execute(
        "SELECT count(*), count(classify_sentiment(review)) FROM reviews"
    ).fetchall()[0]
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "rows": scored,
                "labelled": labelled,
                "seconds": seconds,
                "rows_per_s": scored / seconds,
                "load_seconds": load_seconds,
                "model": registration.model.name,
                "peak_rss_mb_before_scoring": rss_before / 1024,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
