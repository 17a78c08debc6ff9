"""Score a Parquet folder of reviews with Spark SQL and write the result as Parquet.

    python examples/spark/score_reviews.py INPUT_PARQUET OUTPUT_DIR [--master local[2]]
        [--text-column review] [--title-column title] [--model PATH] [--limit N]

On a cluster, install the sentiment-udf wheel on every node, or ship what
`sentiment-udf spark pack OUT` writes (the README's "On a cluster" section), and run this with
spark-submit; the models are inside the package, or pass --model a folder every executor can
read.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from pyspark.sql import SparkSession

from sentiment_udf.spark import register_spark


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--text-column", default="review")
    parser.add_argument("--title-column", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N rows")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local workers: this environment
    spark = (
        SparkSession.builder.master(args.master)
        .appName("sentiment-udf")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "2048")
        .getOrCreate()
    )
    register_spark(spark, args.model, threads=1)  # one onnxruntime thread per Spark task slot
    reviews = spark.read.parquet(args.input)
    if args.limit is not None:
        reviews = reviews.limit(args.limit)
    slots = spark.sparkContext.defaultParallelism
    if (
        reviews.rdd.getNumPartitions() < slots
    ):  # small inputs arrive as one partition: use every core
        reviews = reviews.repartition(slots)
    reviews.createOrReplaceTempView("reviews")
    title = f"`{args.title_column}`, " if args.title_column else ""
    started = time.perf_counter()
    scored = spark.sql(
        f"SELECT *, sentiment({title}`{args.text_column}`) AS sentiment FROM reviews"
    )
    scored.write.mode("overwrite").parquet(args.output)
    rows = spark.read.parquet(args.output).count()
    seconds = time.perf_counter() - started
    print(
        f"scored {rows:,} rows into {args.output} in {seconds:.1f} s ({rows / seconds:,.1f} rows/s)"
    )
    spark.stop()


if __name__ == "__main__":
    main()
