"""One scale measurement in its own process, so that its peak RSS is its own: score an N-row
Parquet file (built beforehand by `--build`, in another process, by repeating and shuffling
reviews_bench.parquet) through SELECT classify_sentiment(...).

    python benchmarks/scale.py --build /tmp/r100k.parquet --rows 100000
    python benchmarks/scale.py --input /tmp/r100k.parquet [--model PATH]   # one JSON line
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import duckdb

import sentiment_udf

BENCH = "../shared/data/reviews_bench.parquet"


def build(path: str, rows: int, bench: str) -> None:
    duckdb.execute(
        "COPY (SELECT review FROM read_parquet(?), range(?) AS copies(i) "
        f"ORDER BY hash(review_id, i) LIMIT ?) TO '{path.replace(chr(39), chr(39) * 2)}'",
        [bench, rows // 20_214 + 1, rows],
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory. /proc's VmHWM starts afresh at exec, unlike
    getrusage's ru_maxrss, which a child inherits from the parent it was forked from."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: str, model: str | None) -> dict:
    con = duckdb.connect()
    started = time.perf_counter()
    registration = sentiment_udf.register(con, model)
    # The multilingual model is loaded on the first text routed to it (bench holds 3 Spanish
    # reviews): load it here, with the rest, so the peak below is scoring's own.
    registration.model.readers(["Das Produkt ist nach zwei Tagen kaputt gegangen. Nie wieder!"])
    load_seconds = time.perf_counter() - started
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    scored, labelled = con.execute(
        "SELECT count(*), count(classify_sentiment(review)) FROM read_parquet(?)", [path]
    ).fetchall()[0]
    seconds = time.perf_counter() - started
    return {
        "rows": scored,
        "labelled": labelled,
        "seconds": seconds,
        "rows_per_s": scored / seconds,
        "load_seconds": load_seconds,
        "model": registration.model.name,
        "peak_rss_mb_before_scoring": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", help="write an N-row Parquet file here, then stop")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--input", help="the Parquet file to score")
    parser.add_argument("--model", default=None)
    parser.add_argument("--bench", default=BENCH)
    args = parser.parse_args()
    if args.build:
        build(args.build, args.rows, args.bench)
    else:
        print(json.dumps(measure(args.input, args.model)))


if __name__ == "__main__":
    main()
