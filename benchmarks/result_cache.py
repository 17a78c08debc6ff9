"""The result cache, measured side by side (issue 12).

    python benchmarks/result_cache.py [--rows 1000] [--rounds 3] [--full]

- cold rows/s with the persistent cache on vs off (memo emptied, a new cache file each round);
- `classify_sentiment(x), sentiment_score(x)` in one query vs `sentiment(x)` alone (the memo);
- with --full: all 20,214 reviews of reviews_bench.parquet cold into a cache, then re-run warm in
  a new process (an empty memo: every answer from the file);
- bytes per entry, and one lookup of a 2,048-text vector in a cache of 1,000,000 entries;
- a dbt `build --full-refresh` of the example project, twice, with `cache:` in its profile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

import sentiment_udf
from sentiment_udf.runtime.result_cache import MEMO, ResultCache

ROOT = Path(__file__).resolve().parents[1]


def _rate(con, sql: str, rows: int) -> float:
    started = time.perf_counter()
    con.execute(sql).fetchall()
    return rows / (time.perf_counter() - started)


def cold_overhead(bench: str, rows: int, rounds: int, scratch: Path) -> dict:
    off, on = duckdb.connect(), duckdb.connect()
    sentiment_udf.register(off, cache=False)
    for con in (off, on):
        con.execute("CREATE TABLE r AS SELECT review FROM read_parquet(?) LIMIT ?", [bench, rows])
    sql = "SELECT count(sentiment_score(review)) FROM r"
    rates: dict[str, list[float]] = {"off": [], "on": []}
    for n in range(rounds):
        MEMO.clear()
        rates["off"].append(_rate(off, sql, rows))
        sentiment_udf.register(on, cache=scratch / f"cold-{n}.sqlite")
        MEMO.clear()
        rates["on"].append(_rate(on, sql, rows))
    ratio = statistics.median(b / a for a, b in zip(rates["off"], rates["on"]))
    return {
        "rows": rows,
        "rows_per_s_off": round(statistics.median(rates["off"]), 1),
        "rows_per_s_on": round(statistics.median(rates["on"]), 1),
        "on_over_off": round(ratio, 4),
    }


def two_functions(bench: str, rows: int, rounds: int) -> dict:
    con = duckdb.connect()
    sentiment_udf.register(con, cache=False)
    con.execute("CREATE TABLE r AS SELECT review FROM read_parquet(?) LIMIT ?", [bench, rows])
    times: dict[str, list[float]] = {"both": [], "sentiment": []}
    queries = {
        "both": "SELECT count(classify_sentiment(review)), count(sentiment_score(review)) FROM r",
        "sentiment": "SELECT count(sentiment(review)) FROM r",
    }
    for _ in range(rounds):
        for name, sql in queries.items():
            MEMO.clear()
            started = time.perf_counter()
            con.execute(sql).fetchall()
            times[name].append(time.perf_counter() - started)
    return {
        "rows": rows,
        "seconds_both": round(statistics.median(times["both"]), 2),
        "seconds_sentiment": round(statistics.median(times["sentiment"]), 2),
        "both_over_sentiment": round(
            statistics.median(a / b for a, b in zip(times["both"], times["sentiment"])), 3
        ),
    }


WARM = """
import json, sys, time, duckdb, sentiment_udf
con = duckdb.connect()
sentiment_udf.register(con, cache=sys.argv[2])
started = time.perf_counter()
n = con.execute("SELECT count(sentiment_score(review)) FROM read_parquet(?)", [sys.argv[1]]).fetchall()[0][0]
print(json.dumps({"rows": n, "seconds": time.perf_counter() - started}))
"""


def full_cold_warm(bench: str, scratch: Path) -> dict:
    path = scratch / "full.sqlite"
    runs = []
    for _ in range(3):  # cold (fills the file), then two warm runs, each in a new process
        out = subprocess.run(
            [sys.executable, "-c", WARM, bench, str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    cold, warm = runs[0], runs[1:]
    cold_rate = cold["rows"] / cold["seconds"]
    warm_rate = statistics.median(r["rows"] / r["seconds"] for r in warm)
    stats = ResultCache(path).stats()
    return {
        "rows": cold["rows"],
        "cold_rows_per_s": round(cold_rate, 1),
        "warm_rows_per_s": round(warm_rate, 1),
        "warm_over_cold": round(warm_rate / cold_rate, 1),
        "entries": stats["entries"],
        "bytes_per_entry": round(stats["bytes"] / stats["entries"], 1),
    }


def lookup_at_a_million(scratch: Path) -> dict:
    path = scratch / "million.sqlite"
    cache = ResultCache(path, max_entries=2_000_000)
    rng = np.random.default_rng(0)
    keys = [bytes(k) for k in rng.integers(0, 256, size=(1_000_000, 16), dtype=np.uint8)]
    value = np.array([0.25, 0.75]).tobytes()
    for start in range(0, len(keys), 50_000):
        cache.put_many({k: value for k in keys[start : start + 50_000]})
    stats = cache.stats()
    probe = keys[:1024] + [bytes(k) for k in rng.integers(0, 256, size=(1024, 16), dtype=np.uint8)]
    times = []
    for _ in range(7):
        cache.close()
        started = time.perf_counter()
        found = cache.get_many(probe)
        times.append(time.perf_counter() - started)
    return {
        "entries": stats["entries"],
        "bytes_per_entry": round(stats["bytes"] / stats["entries"], 1),
        "lookup_ms_per_2048_vector": round(statistics.median(times) * 1000, 2),
        "hits": len(found),
        "note": "connection reopened before each lookup (cold page cache of SQLite, warm OS cache)",
    }


def dbt_full_refresh(scratch: Path) -> dict:
    dbt = Path(sys.executable).parent / "dbt"
    project = scratch / "dbt_reviews"
    shutil.copytree(
        ROOT / "examples" / "dbt_reviews", project, ignore=shutil.ignore_patterns("target", "logs")
    )
    cache = scratch / "dbt.sqlite"
    profile = project / "profiles.yml"
    profile.write_text(
        profile.read_text().replace("macros: true", f"macros: true\n            cache: {cache}")
    )
    env = {
        **os.environ,
        "REVIEWS_DUCKDB": str(scratch / "r.duckdb"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        subprocess.run(
            [str(dbt), "build", "--full-refresh", "--project-dir", str(project), "--profiles-dir", str(project)],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        seconds.append(time.perf_counter() - started)
    return {
        "first_seconds": round(seconds[0], 1),
        "second_seconds": round(seconds[1], 1),
        "second_over_first": round(seconds[1] / seconds[0], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default="../shared/data/reviews_bench.parquet")
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also the 20,214-review cold/warm run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        report = {
            "cold_cache_on_vs_off": cold_overhead(args.bench, args.rows, args.rounds, scratch),
            "classify_and_score_vs_sentiment": two_functions(args.bench, args.rows, args.rounds),
            "lookup_at_1M_entries": lookup_at_a_million(scratch),
            "dbt_full_refresh_twice": dbt_full_refresh(scratch),
        }
        if args.full:
            report["full_bench_cold_then_warm"] = full_cold_warm(args.bench, scratch)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
