"""The driver of the standalone-cluster test, run in its own process (one SparkContext each):
first without the pack (register_spark must refuse, naming the fix), then with it (score).

usage: spark_cluster_driver.py MASTER_URL BARE_PYTHON PACK_DIR REVIEWS_CSV OUT_JSON CACHE_FILE
"""

from __future__ import annotations

import json
import sys
import time

from pyspark.sql import SparkSession

from sentiment_udf.engines import spark_check
from sentiment_udf.engines.spark_pack import ENV_ALIAS, ENV_ARCHIVE
from sentiment_udf.errors import ModelError
from sentiment_udf.spark import register_spark

master, bare_python, pack_dir, reviews, out, cache_file = sys.argv[1:7]
report: dict = {}


def session(executor_cores: str | None = "1", **conf: str) -> SparkSession:
    builder = (
        SparkSession.builder.master(master)
        .appName("sentiment-udf-cluster-test")
        .config("spark.pyspark.python", bare_python)  # executors: a Python without our package
        .config("spark.executor.memory", "1g")
        .config("spark.ui.enabled", "false")
        .config("spark.task.maxFailures", "1")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "256")
    )
    if executor_cores is not None:
        builder = builder.config("spark.executor.cores", executor_cores)
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


spark = session()
started = time.perf_counter()
try:
    register_spark(spark)
    report["without_pack"] = "registered"
except ModelError as exc:
    report["without_pack"] = str(exc)
report["without_pack_seconds"] = time.perf_counter() - started
spark.stop()

# Executors of two cores with tasks of two cpus on one-core workers: no executor ever starts, so
# no task is ever scheduled, and Spark itself says nothing.
spark = session(executor_cores="2", **{"spark.task.cpus": "2"})
started = time.perf_counter()
try:
    register_spark(spark, check_timeout=6)
    report["unschedulable"] = "registered"
except ModelError as exc:
    report["unschedulable"] = str(exc)
report["unschedulable_seconds"] = time.perf_counter() - started
spark.stop()

spark = session(
    **{
        "spark.archives": f"{pack_dir}/{ENV_ARCHIVE}#{ENV_ALIAS}",
        "spark.executorEnv.PYTHONPATH": ENV_ALIAS,
        "spark.executorEnv.SENTIMENT_UDF_CACHE": cache_file,  # one fixed file for every executor
    }
)
started = time.perf_counter()
names = register_spark(spark)
report["register_seconds"] = time.perf_counter() - started
report["probes"] = spark_check.last_probes
frame = spark.read.option("header", True).option("multiLine", True).option("escape", '"')
frame = frame.csv(reviews).repartition(2)
frame.createOrReplaceTempView("reviews")
started = time.perf_counter()
rows = spark.sql(
    "SELECT review_id, classify_sentiment(title, text) AS label, "
    "sentiment_score(title, text) AS score, sentiment_opinions(text) AS opinions FROM reviews"
).collect()
report["score_seconds"] = time.perf_counter() - started
report["rows"] = [
    {
        "review_id": r["review_id"],
        "label": r["label"],
        "score": r["score"],
        "opinions": None if r["opinions"] is None else [o.asDict() for o in r["opinions"]],
    }
    for r in rows
]
probe = (
    spark.sparkContext.parallelize(range(2), 2)
    .map(lambda _: __import__("sentiment_udf").__file__)
    .collect()
)
report["executor_package"] = probe
spark.stop()
with open(out, "w", encoding="utf-8") as f:
    json.dump(report, f)
