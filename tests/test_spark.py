"""The same functions in Spark SQL (local[2], a real JVM) agree with DuckDB row for row."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

import sentiment_udf
from tests.conftest import shared_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="pyspark missing: pip install -e '.[test]'")
    if shutil.which("java") is None:
        pytest.skip("no java on PATH: Spark needs a JRE (.ci/run installs one)")
    from pyspark.sql import SparkSession

    before = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers need this environment's packages
    session = (
        SparkSession.builder.master("local[2]")
        .appName("sentiment-udf-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "512")
        .getOrCreate()
    )
    from sentiment_udf.spark import register_spark

    register_spark(session, threads=1)
    yield session
    session.stop()
    # Left set, it would reach later tests' Spark drivers in this process (pyspark reads it
    # before spark.pyspark.python): the bare-executor cluster test would run this Python.
    if before is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = before


def test_spark_matches_duckdb_on_every_ninth_dev_review(spark):
    path = str(shared_file("reviews_dev.csv"))
    con = duckdb.connect()
    sentiment_udf.register(con)
    # one read of the file, ids fixed in a table: both engines see the same id for each row
    # Every ninth row (180, all four domains): the CI time budget; Spark's workers score them all
    con.execute(
        "CREATE TABLE dev AS SELECT * FROM (SELECT row_number() OVER () AS id, * "
        "FROM read_csv(?)) WHERE id % 9 = 0",
        [path],
    )
    expected = {
        row[0]: row[1:]
        for row in con.execute(
            "SELECT id, classify_sentiment(title, text), sentiment_score(text) FROM dev"
        ).fetchall()
    }
    rows = con.execute("SELECT id, title, text FROM dev").fetchdf()
    frame = spark.createDataFrame(rows).repartition(7)
    frame.createOrReplaceTempView("dev")
    got = spark.sql(
        "SELECT id, classify_sentiment(title, text) AS label, "
        "sentiment_score(text) AS score FROM dev"
    ).collect()
    assert len(got) == len(expected) == 180
    for row in got:
        label, score = expected[row["id"]]
        assert row["label"] == label
        if score is None:  # a review in another language (the guard): NULL in both engines
            assert row["score"] is None
        else:
            assert abs(row["score"] - score) <= 1e-5


def test_null_and_empty_text_like_duckdb(spark):
    frame = spark.createDataFrame(
        [(1, None), (2, ""), (3, "   "), (4, "Works great")], "id int, t string"
    )
    frame.createOrReplaceTempView("edge")
    rows = {
        r["id"]: r
        for r in spark.sql(
            "SELECT id, classify_sentiment(t) AS l, sentiment_score(t) AS s, sentiment(t) AS x "
            "FROM edge"
        ).collect()
    }
    for key in (1, 2, 3):
        assert rows[key]["l"] is None and rows[key]["s"] is None
        assert rows[key]["x"] is None  # the whole struct, as in DuckDB
    assert rows[4]["l"] == "positive" and rows[4]["x"]["label"] == "positive"
    assert abs(sum(rows[4]["x"]["probabilities"].values()) - 1.0) < 1e-9


def test_dataframe_api_and_row_count_across_partitions(spark):
    from pyspark.sql import functions as F

    frame = spark.range(0, 5000, numPartitions=9).select(
        F.col("id"), F.concat(F.lit("review "), F.col("id").cast("string")).alias("t")
    )
    scored = frame.select("id", F.call_function("classify_sentiment", F.col("t")).alias("l"))
    assert scored.count() == 5000
    assert scored.filter(F.col("l").isNull()).count() == 0


def test_example_job_writes_parquet(spark, tmp_path):
    source = tmp_path / "in"
    duckdb.execute(
        f"COPY (SELECT review_id, title, review FROM read_parquet('"
        f"{shared_file('reviews_bench.parquet')}') LIMIT 100) TO '{source}' "
        "(FORMAT parquet, PER_THREAD_OUTPUT)"
    )
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "spark" / "score_reviews.py"),
            str(source),
            str(tmp_path / "out"),
            "--title-column",
            "title",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "scored 100 rows" in result.stdout
    count = duckdb.execute(
        f"SELECT count(*), count(sentiment.label) FROM read_parquet('{tmp_path / 'out'}/*.parquet')"
    ).fetchall()[0]
    assert count == (100, 100)


def test_model_prefix_and_non_text_arguments(spark, tiny_model):
    from sentiment_udf.spark import register_spark

    names = register_spark(spark, tiny_model, prefix="tiny_", threads=1)
    roles = ["classify_sentiment", "sentiment_score", "sentiment", "sentiment_sentences",
             "sentiment_overall", "sentiment_stars", "sentiment_aspects",
             "sentiment_opinions", "detect_language"]  # fmt: skip
    assert names == {role: "tiny_" + role for role in roles}
    texts = ["good value", "broke at once", "fine"]
    frame = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id int, t string")
    frame.createOrReplaceTempView("tiny_input")
    got = {
        r["id"]: r["s"]
        for r in spark.sql("SELECT id, tiny_sentiment_score(t) AS s FROM tiny_input").collect()
    }
    expected = sentiment_udf.load_model(tiny_model).predict_proba(texts)[:, 1]
    assert [got[i] for i in range(3)] == pytest.approx(list(expected), abs=1e-9)
    with pytest.raises(Exception, match="argument 1 is INTEGER, not text; cast it to STRING"):
        spark.sql("SELECT tiny_sentiment_score(id) FROM tiny_input").collect()


def test_sentences_overall_aspects_and_opinions_match_duckdb(spark, no_memo):
    texts = [
        "The screen is gorgeous. The batteries die within an hour!!! would not buy",
        "Great value.",
        None,
        "  ",
    ]
    aspects = ["battery|charging", "screen", "price"]
    frame = spark.createDataFrame(list(enumerate(texts)), "id int, t string")
    frame.createOrReplaceTempView("analysis_input")
    got = {
        r["id"]: r
        for r in spark.sql(
            "SELECT id, sentiment_sentences(t) AS s, sentiment_overall(t) AS o, "
            "sentiment_aspects(t, array('battery|charging', 'screen', 'price')) AS a, "
            "sentiment_opinions(t) AS p FROM analysis_input"
        ).collect()
    }
    con = duckdb.connect()
    sentiment_udf.register(con)
    for i, text in enumerate(texts):
        s, o, a, p = con.execute(
            "SELECT sentiment_sentences(?), sentiment_overall(?), sentiment_aspects(?, ?), "
            "sentiment_opinions(?)",
            [text, text, text, aspects, text],
        ).fetchall()[0]
        row = got[i]
        assert row["o"] == o
        if s is None:
            assert row["s"] is None and row["a"] is None and row["p"] is None and p is None
            continue
        assert [x.asDict() for x in row["p"]] == p
        assert len(p) >= 2 or i > 0  # the first review: screen, batteries
        assert [x.asDict() for x in row["s"]] == s  # the same runtime: equal, not close
        spark_aspects = [
            {**x.asDict(), "evidence": [e.asDict() for e in x["evidence"]]} for x in row["a"]
        ]
        assert spark_aspects == a
    assert no_memo() > 0  # DuckDB's side ran the models (Spark's workers are other processes)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"cache": 2}, "cache must be"),
        ({"cache": 3.5}, "cache must be"),
        ({"positive_label": 3}, "positive_label must be"),
        ({"model": 3}, "model must be"),
        ({"prefix": None}, "prefix must be"),
        ({"check_timeout": "10"}, "check_timeout must be"),
        ({"check_timeout": float("nan")}, "check_timeout must be"),
        ({"check_timeout": -1}, "check_timeout must be"),
        ({"check_executors": "no"}, "check_executors must be"),
    ],
)
def test_register_spark_names_an_argument_of_the_wrong_type(spark, tmp_path, options, fragment):
    """Item 21 on Spark: cache=2 became a cache file named "2", a str or NaN timeout failed
    late or waited for nothing. One error naming the argument, nothing registered."""
    from sentiment_udf.spark import register_spark

    before = {f.name for f in spark.catalog.listFunctions()}
    with pytest.raises((TypeError, ValueError), match=f"register_spark\\(\\): {fragment}"):
        register_spark(spark, **{"prefix": "bad_", "check_executors": False, **options})
    assert {f.name for f in spark.catalog.listFunctions()} == before
    with pytest.raises(TypeError, match="register_spark\\(\\): spark must be a SparkSession"):
        register_spark(3)


def test_register_spark_with_a_result_cache(spark, tmp_path):
    from sentiment_udf.runtime.result_cache import ResultCache
    from sentiment_udf.spark import register_spark

    path = tmp_path / "results.sqlite"
    register_spark(spark, prefix="cached_", threads=1, cache=path)
    frame = spark.createDataFrame(
        [(i, f"cached review {i} good") for i in range(40)], "id int, t string"
    )
    frame.createOrReplaceTempView("cached_input")
    first = spark.sql("SELECT id, cached_sentiment_score(t) AS s FROM cached_input").collect()
    stats = ResultCache(path).stats()
    assert len(first) == 40 and stats["entries"] == 40 and stats["writes"] == 40
    from sentiment_udf.runtime.result_cache import MEMO

    MEMO.clear()  # in local mode a worker may share nothing with the driver; be sure anyway
    again = spark.sql("SELECT id, cached_sentiment_score(t) AS s FROM cached_input").collect()
    assert sorted(first) == sorted(again)
    after = ResultCache(path).stats()
    # Nothing scored twice: a miss would have been scored and written. (A reused Python worker
    # answers from its memo, a new one from the file: either way no new miss, no new write.)
    assert after["writes"] == 40 and after["misses"] == stats["misses"] == 40


def test_register_spark_with_the_fast_model_matches_duckdb(spark):
    from sentiment_udf.spark import register_spark

    register_spark(spark, "fast", prefix="fast_", threads=1)
    texts = ["Love it, works great.", "Broke after a day.", "It is fine I guess.", None]
    frame = spark.createDataFrame(list(enumerate(texts)), "id int, t string")
    frame.createOrReplaceTempView("fast_input")
    got = spark.sql("SELECT id, fast_sentiment_score(t) AS s FROM fast_input ORDER BY id").collect()
    con = duckdb.connect()
    sentiment_udf.register(con, "fast")
    expected = con.execute("SELECT sentiment_score(t) FROM unnest(?) u(t)", [texts]).fetchall()
    assert [r["s"] for r in got] == [e[0] for e in expected]


def test_executor_threads_default_to_spark_task_cpus_not_the_host_cores(spark):
    from sentiment_udf.engines import spark_check
    from sentiment_udf.spark import register_spark

    assert spark.conf.get("spark.task.cpus", "1") == "1"
    register_spark(spark, prefix="auto_")  # no threads given
    assert spark_check.last_probes and {p["threads"] for p in spark_check.last_probes} == {1}
    register_spark(spark, prefix="two_", threads=2)  # asked for: kept
    assert {p["threads"] for p in spark_check.last_probes} == {2}
    assert all(p["problem"] is None and p["model"] for p in spark_check.last_probes)


def test_a_failed_executor_check_is_one_line_naming_the_python_fix():
    from sentiment_udf.engines.spark_check import _reason

    error = RuntimeError(
        "An error occurred while calling o41.collect.\n: org.apache.spark.SparkException: Job "
        "aborted\n  pyspark.errors.exceptions.base.PySparkRuntimeError: [PYTHON_VERSION_MISMATCH] "
        "Python in worker has different version (3, 10) than that in driver 3.11\n\tat org..."
    )
    reason = _reason(error)
    assert "PYTHON_VERSION_MISMATCH" in reason and "spark.pyspark.python" in reason
    assert "\n" not in reason


def test_document_label_and_stars_forms_match_duckdb(spark, no_memo):
    rows = [
        ("Great blender", "Crushes ice in seconds. The lid is a bit loose, but I love it.", 0.3),
        ("Returned it", "The motor died after a week and support never answered.", 0.1),
        ("OK", "It works. The colour is not what the photo shows, the price was fair.", 0.4),
        (None, "   ", 0.2),
        ("Fine", None, None),
    ]
    frame = spark.createDataFrame(rows, "title string, t string, band double")
    frame.createOrReplaceTempView("overall_input")
    got = spark.sql(
        "SELECT sentiment_overall(t) AS a, sentiment_overall(title, t) AS b, "
        "sentiment_overall(t, band) AS c, sentiment_overall(title, t, band) AS d, "
        "sentiment_stars(t) AS e, sentiment_stars(title, t) AS f FROM overall_input"
    ).collect()
    con = duckdb.connect()
    sentiment_udf.register(con)
    expected = con.execute(
        "SELECT sentiment_overall(t), sentiment_overall(title, t), sentiment_overall(t, band), "
        "sentiment_overall(title, t, band), sentiment_stars(t), sentiment_stars(title, t) "
        "FROM (SELECT unnest(?) AS title, unnest(?) AS t, unnest(?)::DOUBLE AS band)",
        [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
    ).fetchall()
    for row, want in zip(got, expected):
        assert tuple(row)[:4] == want[:4]
        for stars, wanted in zip(tuple(row)[4:], want[4:]):
            assert (stars is None) == (wanted is None)
            assert stars is None or abs(stars - wanted) <= 1e-5
    assert {e[1] for e in expected[:3]} <= {"positive", "negative", "neutral", "mixed"}
    assert expected[0][4] > 3.5 and expected[1][4] < 2  # the star model read them
    assert expected[3] == (None,) * 6 and expected[4] == (None,) * 6
    assert no_memo() > 0  # DuckDB's side ran the model (Spark's workers are other processes)


def test_mixed_languages_follow_the_same_rule_as_duckdb(spark, no_memo):
    """English by the English model, German and Chinese by the multilingual one, Russian NULL:
    Spark's workers apply the rule DuckDB does (issue 27)."""
    texts = [
        "The battery died after two days and support never answered.",
        "Das Produkt ist nach zwei Tagen kaputt gegangen. Nie wieder, absolut enttäuscht!",
        "电池两天就没电了，客服也一直没有回复。但是外观很好看，屏幕也很清楚！",
        "Этот товар сломался через два дня. Больше никогда не куплю, очень разочарован.",
    ]
    frame = spark.createDataFrame(list(enumerate(texts)), "id int, t string")
    frame.createOrReplaceTempView("mixed_input")
    got = spark.sql(
        "SELECT id, classify_sentiment(t) AS l, sentiment_score(t) AS s, "
        "sentiment_sentences(t) AS ss, sentiment_overall(t) AS o FROM mixed_input ORDER BY id"
    ).collect()
    con = duckdb.connect()
    sentiment_udf.register(con)
    for row, text in zip(got, texts):
        label, score, sentences, overall = con.execute(
            "SELECT classify_sentiment(?), sentiment_score(?), sentiment_sentences(?), "
            "sentiment_overall(?)",
            [text] * 4,
        ).fetchall()[0]
        assert (row["l"], row["s"], row["o"]) == (label, score, overall)
        assert (None if row["ss"] is None else [x.asDict() for x in row["ss"]]) == sentences
    assert [r["l"] is None for r in got] == [False, False, False, True]
    assert no_memo() > 0


def test_a_model_trained_on_other_labels_scores_in_spark(spark, tmp_path):
    from sentiment_udf.spark import register_spark
    from tests.test_training import labelled_rows
    from tests.tiny_model import build_tiny_model

    base = build_tiny_model(tmp_path / "base", seed=3)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (text VARCHAR, label VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", labelled_rows(60))
    out = tmp_path / "topics"
    sentiment_udf.train("FROM t", out, con=con, base=base)
    register_spark(spark, out, prefix="topic_", threads=1)
    texts = ["hammer drill wrench", "melon peach banana", "storm hail rain"]
    frame = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id int, t string")
    frame.createOrReplaceTempView("topic_input")
    got = spark.sql("SELECT id, topic_classify_sentiment(t) AS l FROM topic_input").collect()
    assert [r["l"] for r in sorted(got, key=lambda r: r["id"])] == ["tool", "fruit", "weather"]


def test_english_only_false_reaches_the_aspect_model_and_the_check_can_be_skipped(spark):
    """register_spark(english_only=False): the aspect model reads a German review too (NULL
    under the default rule, as in DuckDB); check_executors=False runs no Spark job at
    registration, where the default runs the executor check as one."""
    from sentiment_udf.spark import register_spark

    context = spark.sparkContext
    tracker = context.statusTracker()

    def jobs_run_by(register: Callable[[], object], mark: str) -> int:
        """Spark jobs started by `register` (job ids are sequential: one marker job each side)."""
        ids = []
        for side in ("before", "after"):
            context.setJobGroup(f"{mark}-{side}", "marker")
            context.parallelize([1]).count()
            ids.append(max(tracker.getJobIdsForGroup(f"{mark}-{side}")))
            if side == "before":
                context.setLocalProperty("spark.jobGroup.id", None)
                register()
        context.setLocalProperty("spark.jobGroup.id", None)
        return ids[1] - ids[0] - 1

    unchecked = jobs_run_by(
        lambda: register_spark(spark, prefix="anylang_", threads=1, english_only=False,
                               check_executors=False),  # fmt: skip
        "unchecked",
    )
    checked = jobs_run_by(lambda: register_spark(spark, prefix="checked_", threads=1), "checked")
    assert (unchecked, checked) == (0, 1)  # the check is one job
    german = "Der Akku ist schrecklich, aber der Bildschirm ist gut."
    spark.createDataFrame([(german,)], "t string").createOrReplaceTempView("german_review")
    row = spark.sql(
        "SELECT sentiment_aspects(t, array('Akku')) AS guarded, "
        "anylang_sentiment_aspects(t, array('Akku')) AS read FROM german_review"
    ).collect()[0]
    assert row["guarded"] is None
    assert row["read"][0]["aspect"] == "Akku" and row["read"][0]["mentions"] == 1
