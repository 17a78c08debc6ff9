"""Spark local[2] against DuckDB on the same reviews_bench rows, side by side, each run in its own
process (rounds alternate the two; medians). Spark's figure counts its start-up, the Arrow
hand-off to Python workers and the Parquet write, as a user's job would.

    python benchmarks/spark_throughput.py [--rows 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
DUCKDB_JOB = """
import sys, time, duckdb, sentiment_udf
con = duckdb.connect()
sentiment_udf.register(con)
con.execute("SET enable_progress_bar = false")
started = time.perf_counter()
n = con.execute("SELECT count(sentiment(title, review)) FROM read_parquet(?)", [sys.argv[1]]).fetchall()[0][0]
print(n / (time.perf_counter() - started))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default="../shared/data/reviews_bench.parquet")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    rates: dict[str, list[float]] = {"duckdb": [], "spark": []}
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in"
        duckdb.execute(
            f"COPY (SELECT review_id, title, review FROM read_parquet('{args.bench}') "
            f"LIMIT {args.rows}) TO '{source}' (FORMAT parquet, PER_THREAD_OUTPUT)"
        )
        for n in range(args.rounds):
            out = subprocess.run(
                [sys.executable, "-c", DUCKDB_JOB, f"{source}/*.parquet"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            rates["duckdb"].append(float(out.stdout.strip().splitlines()[-1]))
            started = time.perf_counter()
            job = subprocess.run(
                [sys.executable, str(ROOT / "examples" / "spark" / "score_reviews.py"),
                 str(source), str(Path(folder) / f"out{n}"), "--title-column", "title"],
                capture_output=True, text=True, env=env, check=True,
            )  # fmt: skip
            said = re.search(r"\(([\d,.]+) rows/s\)", job.stdout)
            rates["spark"].append(float(said.group(1).replace(",", "")))
            print(f"round {n + 1}: {rates['duckdb'][-1]:.1f} / {rates['spark'][-1]:.1f} rows/s "
                  f"({time.perf_counter() - started:.0f} s with the JVM)", file=sys.stderr)  # fmt: skip
    report = {
        "rows": args.rows,
        "rounds": args.rounds,
        "duckdb_rows_per_s": round(statistics.median(rates["duckdb"]), 1),
        "spark_local2_rows_per_s": round(statistics.median(rates["spark"]), 1),
        "spark_over_duckdb": round(
            statistics.median(s / d for s, d in zip(rates["spark"], rates["duckdb"])), 3
        ),
        "runs": rates,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
