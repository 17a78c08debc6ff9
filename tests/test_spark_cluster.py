"""A real standalone Spark cluster (a Master and two one-core Workers, separate JVMs on 127.0.0.1)
whose executors run a bare Python without our package or its dependencies, as on a cluster where
only the driver has them: `sentiment-udf spark pack` ships what they need, register_spark checks
it, and the answers equal DuckDB's row for row."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import sentiment_udf
from sentiment_udf.cli.main import main
from sentiment_udf.runtime.result_cache import ResultCache
from tests.conftest import shared_file

ROOT = Path(__file__).resolve().parents[1]
ROWS = 60


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    pytest.importorskip("pyspark", reason="pyspark missing: pip install -e '.[test]'")
    if shutil.which("java") is None:
        pytest.skip("no java on PATH: Spark needs a JRE (.ci/run installs one)")
    from tests.spark_cluster import standalone_cluster

    folder = tmp_path_factory.mktemp("cluster")
    reviews = folder / "reviews.csv"
    duckdb.execute(
        f"COPY (SELECT row_number() OVER () AS review_id, title, text FROM read_csv(?) "
        f"LIMIT {ROWS}) TO '{reviews}' (HEADER)",
        [str(shared_file("reviews_dev.csv"))],
    )
    packed = CliRunner().invoke(main, ["spark", "pack", str(folder / "pack")])
    assert packed.exit_code == 0, packed.output
    bare = folder / "bare"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    missing = subprocess.run(
        [str(bare / "bin" / "python"), "-c", "import numpy"], capture_output=True
    )
    assert missing.returncode != 0  # the executors' Python really lacks the dependencies
    out, cache = folder / "report.json", folder / "executor-cache.sqlite"
    with standalone_cluster(folder, workers=2, cores=1) as url:
        driver = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "spark_cluster_driver.py"), url,
             str(bare / "bin" / "python"), str(folder / "pack"), str(reviews), str(out),
             str(cache)],
            capture_output=True, text=True, timeout=400, env=_without_python_choice(),
        )  # fmt: skip
    assert driver.returncode == 0, driver.stderr[-4000:]
    return {
        "report": json.loads(out.read_text()),
        "reviews": reviews,
        "cache": cache,
        "pack": packed.output,
    }


def _without_python_choice() -> dict[str, str]:
    """This environment minus PYSPARK_PYTHON / PYSPARK_DRIVER_PYTHON: pyspark prefers them to
    spark.pyspark.python, and the executors must run the bare Python the driver names."""
    return {
        k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")
    }


def test_pack_prints_the_settings_it_was_tested_with(cluster_run):
    assert "spark.archives=" in cluster_run["pack"]
    assert "spark.executorEnv.PYTHONPATH=sentiment_udf_env" in cluster_run["pack"]
    assert "--py-files" in cluster_run["pack"]


def test_register_spark_without_the_pack_fails_at_registration_naming_the_fix(cluster_run):
    message = cluster_run["report"]["without_pack"]
    assert message.startswith("register_spark: executors cannot import sentiment_udf")
    assert "No module named 'sentiment_udf'" in message
    assert "sentiment-udf spark pack" in message
    assert "\n" not in message


def test_a_task_no_worker_can_take_fails_registration_after_the_timeout(cluster_run):
    report = cluster_run["report"]
    message = report["unschedulable"]
    assert message.startswith("register_spark: the executor check did not run within 6 s")
    assert "spark.task.cpus=2" in message and "\n" not in message
    # It waited the whole timeout; a hang instead of the error ends in the driver's 400 s limit
    # above (no upper bound on a shared machine's clock here).
    assert report["unschedulable_seconds"] >= 6


def test_executors_import_the_shipped_package_and_run_one_thread_per_task(cluster_run):
    report = cluster_run["report"]
    assert all("sentiment_udf_env" in path for path in report["executor_package"])
    probes = report["probes"]
    assert probes and all(p["problem"] is None for p in probes)
    assert {p["threads"] for p in probes} == {1}  # spark.task.cpus, not the host's cores
    assert {p["cache_file"] for p in probes} == {str(cluster_run["cache"])}


def test_cluster_answers_equal_duckdb_row_for_row(cluster_run, no_memo):
    rows = {r["review_id"]: r for r in cluster_run["report"]["rows"]}
    assert len(rows) == ROWS
    con = duckdb.connect()
    sentiment_udf.register(con)
    local = con.execute(
        "SELECT review_id::VARCHAR, classify_sentiment(title, text), sentiment_score(title, text), "
        "sentiment_opinions(text) FROM read_csv(?)",
        [str(cluster_run["reviews"])],
    ).fetchall()
    assert no_memo() >= ROWS  # DuckDB's side ran the model too
    assert len(local) == ROWS
    for review_id, label, score, opinions in local:
        remote = rows[review_id]
        assert remote["label"] == label
        assert remote["score"] == pytest.approx(score, abs=1e-9)
        assert [(o["target"], o["label"], o["position"]) for o in remote["opinions"]] == [
            (o["target"], o["label"], o["position"]) for o in opinions
        ]


def test_executors_wrote_the_cache_file_a_second_run_answers_from(cluster_run, no_memo):
    cache = ResultCache(cluster_run["cache"])
    assert cache.stats()["entries"] >= ROWS
    con = duckdb.connect()
    sentiment_udf.register(con, cache=str(cluster_run["cache"]))
    con.execute(
        "SELECT classify_sentiment(title, text) FROM read_csv(?)", [str(cluster_run["reviews"])]
    ).fetchall()
    assert no_memo() == 0  # every answer came from the executors' file
