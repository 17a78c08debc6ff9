"""Rows/s of `sentiment(title, review)` on the same reviews_bench.parquet rows in DuckDB, Spark
local[2], and a real standalone cluster (Master + Workers on 127.0.0.1) of one and of two one-core
workers; rounds interleave the engines, each round a fresh driver process; medians.

    python benchmarks/spark_scale.py [--rows 2000] [--rounds 3]

The cluster's executors get the package from `sentiment-udf spark pack`'s archive, as users ship
it. Timed: the scoring query alone, after register_spark (whose executor check has loaded the model
in the executors' Python workers), written to a noop sink; DuckDB's the same query in-process,
with `threads=2` (two cores). Start-up of JVMs and sessions is reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE: list[str] = []  # the environment archive of `sentiment-udf spark pack`, made once
sys.path.insert(0, str(ROOT))

DRIVER = r"""
import sys, time
from pyspark.sql import SparkSession
from sentiment_udf.spark import register_spark
master, bench, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
builder = (SparkSession.builder.master(master).appName("scale").config("spark.ui.enabled", "false")
           .config("spark.sql.execution.arrow.maxRecordsPerBatch", "512"))
if master.startswith("spark://"):  # one core each; the package shipped as users ship it
    builder = (builder.config("spark.executor.cores", "1").config("spark.executor.memory", "1g")
               .config("spark.archives", sys.argv[4] + "#sentiment_udf_env")
               .config("spark.executorEnv.PYTHONPATH", "sentiment_udf_env"))
spark = builder.getOrCreate()
register_spark(spark)
frame = spark.read.parquet(bench).limit(rows).repartition(8).cache()
frame.count()
frame.createOrReplaceTempView("r")
ready = time.perf_counter() - t0
t1 = time.perf_counter()
spark.sql("SELECT sentiment(title, review) AS s FROM r").write.format("noop").mode("overwrite").save()
print(ready, time.perf_counter() - t1)
spark.stop()
"""


def duckdb_seconds(bench: str, rows: int) -> float:
    code = (
        "import duckdb, sentiment_udf, time, sys\n"
        "con = duckdb.connect(); sentiment_udf.register(con, threads=2)\n"
        "con.execute('CREATE TABLE r AS SELECT title, review FROM read_parquet(?) LIMIT ?', "
        "[sys.argv[1], int(sys.argv[2])])\n"
        "t = time.perf_counter(); con.execute('SELECT count(sentiment(title, review)) FROM r')"
        ".fetchall(); print(time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, bench, str(rows)], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return float(out.stdout.split()[-1])


def spark_seconds(master: str, bench: str, rows: int) -> tuple[float, float]:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}  # as the tests run local mode
    out = subprocess.run([sys.executable, "-c", DRIVER, master, bench, str(rows), ARCHIVE[0]],
                         capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())  # fmt: skip
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    ready, seconds = map(float, out.stdout.split()[-2:])
    return ready, seconds


def main() -> None:
    from tests.spark_cluster import standalone_cluster

    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default="../shared/data/reviews_bench.parquet")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bench = str(Path(args.bench).resolve())
    from sentiment_udf.engines.spark_pack import pack

    packed = pack(Path(tempfile.mkdtemp()) / "pack")
    ARCHIVE.append(str(packed.env_archive))
    seconds: dict[str, list[float]] = {}
    startup: dict[str, list[float]] = {}
    with (
        tempfile.TemporaryDirectory() as one_dir,
        tempfile.TemporaryDirectory() as two_dir,
        standalone_cluster(Path(one_dir), workers=1) as one,
        standalone_cluster(Path(two_dir), workers=2) as two,
    ):
        engines = {"duckdb (2 threads)": None, "spark local[2]": "local[2]",
                   "standalone, 1 worker x 1 core": one, "standalone, 2 workers x 1 core": two}  # fmt: skip
        for _ in range(args.rounds):
            for name, master in engines.items():
                if master is None:
                    seconds.setdefault(name, []).append(duckdb_seconds(bench, args.rows))
                    continue
                ready, took = spark_seconds(master, bench, args.rows)
                seconds.setdefault(name, []).append(took)
                startup.setdefault(name, []).append(ready)
                time.sleep(1)
    rates = {name: args.rows / statistics.median(s) for name, s in seconds.items()}
    report = {
        "rows": args.rows,
        "rounds": args.rounds,
        "rows_per_s": {k: round(v, 1) for k, v in rates.items()},
        "per_core_rows_per_s_one_worker": round(rates["standalone, 1 worker x 1 core"], 1),
        "two_workers_vs_one": round(
            rates["standalone, 2 workers x 1 core"] / rates["standalone, 1 worker x 1 core"], 2
        ),
        "startup_s_median": {k: round(statistics.median(v), 1) for k, v in startup.items()},
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
