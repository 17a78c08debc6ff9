"""`dbt build` with the real dbt CLI on the example project, through our dbt-duckdb plugin."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import sentiment_udf

PROJECT = Path(__file__).resolve().parents[1] / "examples" / "dbt_reviews"
DBT = Path(sys.executable).parent / "dbt"
SEED_ROWS = 80


def _dbt_build(project: Path, db: Path, *select: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "REVIEWS_DUCKDB": str(db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    chosen = ["--select", *select] if select else []
    return subprocess.run(
        [str(DBT), "build", "--project-dir", str(project), "--profiles-dir", str(project), *chosen],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


@pytest.fixture()
def project(tmp_path):
    if not DBT.exists():
        pytest.skip(f"{DBT} missing: dbt-core and dbt-duckdb come with pip install -e '.[test]'")
    copy = tmp_path / "dbt_reviews"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs"))
    seed = copy / "seeds" / "raw_reviews.csv"  # its first 80 reviews: the CI time budget
    lines = seed.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) > SEED_ROWS + 1
    seed.write_text("".join(lines[: SEED_ROWS + 1]), encoding="utf-8")
    return copy


def test_dbt_build_scores_the_seed_and_incremental_adds_only_new_rows(project, tmp_path, no_memo):
    db = tmp_path / "reviews.duckdb"
    seed = project / "seeds" / "raw_reviews.csv"
    with seed.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    held_back = rows[-40:]
    with seed.open("w", newline="", encoding="utf-8") as stream:  # first run without 40 rows
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows[:-40])

    first = _dbt_build(project, db)
    assert first.returncode == 0, first.stdout[-3000:]
    assert "ERROR=0" in first.stdout and "PASS=24" in first.stdout
    con = duckdb.connect(str(db), read_only=True)
    scored = con.execute(
        "SELECT count(*), count(sentiment_label), avg((sentiment_label = "
        "true_label)::INT) FROM review_sentiment"
    ).fetchall()[0]
    assert scored[0] == scored[1] == len(rows) - 40
    assert scored[2] >= 0.9
    before = dict(
        con.execute("SELECT review_id, scored_at FROM review_sentiment_incremental").fetchall()
    )
    aspects = con.execute(
        "SELECT count(*), count(DISTINCT review_id), count(*) FILTER (aspect_label <> 'unknown'), "
        "count(*) FILTER (aspect_label = 'unknown' AND aspect_score IS NULL AND mentions = 0) "
        "FROM review_aspects"
    ).fetchall()[0]
    overall = con.execute(
        "SELECT s.review_id, r.title, r.review, s.overall_label FROM review_sentiment s "
        "JOIN stg_reviews r USING (review_id) ORDER BY s.review_id LIMIT 40"
    ).fetchall()
    opinions = con.execute(
        "SELECT count(*), count(DISTINCT review_id), count(DISTINCT target_key), "
        "count(*) FILTER (opinion_label = 'negative') FROM review_opinions"
    ).fetchall()[0]
    con.close()
    assert aspects[0] == 6 * aspects[1] == 6 * (len(rows) - 40)  # every aspect of every review
    assert opinions[0] > opinions[1] > (len(rows) - 40) // 2  # most reviews name targets
    assert opinions[2] > 50 and opinions[3] > 0
    local = duckdb.connect()
    sentiment_udf.register(local)
    no_memo.reset()
    for _, title, review, label in overall:  # dbt's document label is DuckDB's, row for row
        assert (
            local.execute("SELECT sentiment_overall(?, ?)", [title, review]).fetchall()[0][0]
            == label
        )
    assert {label for *_, label in overall} >= {"positive", "negative"}
    assert no_memo() >= len(overall)  # DuckDB's side ran the model, not the memo
    assert aspects[2] > 0 and aspects[0] - aspects[2] == aspects[3]

    with seed.open("a", newline="", encoding="utf-8") as stream:
        csv.DictWriter(stream, fieldnames=list(rows[0])).writerows(held_back)
    # The second run builds what the incremental model needs (the other models are tables,
    # rebuilt whole by any build: nothing to learn from them twice).
    second = _dbt_build(project, db, "raw_reviews", "stg_reviews", "review_sentiment_incremental")
    assert second.returncode == 0, second.stdout[-3000:]
    con = duckdb.connect(str(db), read_only=True)
    after = dict(
        con.execute("SELECT review_id, scored_at FROM review_sentiment_incremental").fetchall()
    )
    functions = {
        r[0] for r in con.execute("SELECT function_name FROM duckdb_functions()").fetchall()
    }
    con.close()
    assert len(after) == len(rows)
    assert all(after[key] == value for key, value in before.items())  # old rows not re-scored
    new = [after[int(r["review_id"])] for r in held_back]
    assert min(new) > max(before.values())
    assert not functions & {"classify_sentiment", "sentiment_score", "sentiment"}


def test_plugin_rejects_unknown_options():
    pytest.importorskip(
        "dbt.adapters.duckdb", reason="dbt-duckdb missing: pip install -e '.[test]'"
    )
    from sentiment_udf.dbt_plugin import Plugin

    with pytest.raises(ValueError, match="unknown config"):
        Plugin("sentiment_udf", {"modle": "x"})
    with pytest.raises(ValueError, match="'macros' must be bool"):
        Plugin("sentiment_udf", {"macros": "yes"})
    with pytest.raises(ValueError, match="threads"):
        Plugin("sentiment_udf", {"threads": -1})
    plugin = Plugin("sentiment_udf", {"model": "fast", "threads": 1, "macros": True})
    assert plugin.config.model == "fast" and plugin.config.model_options == {"threads": 1}


def test_every_plugin_option_reaches_the_connection(tiny_model, tmp_path, no_memo):
    """The options profiles.yml's config block takes, each seen in what the connection answers
    (the plugin class dbt-duckdb loads, on a real DuckDB connection): names and prefix,
    positive_label, max_length, long_text, threads, english_only=False (the aspect model too),
    aspect_model, opinion_model and cache."""
    pytest.importorskip(
        "dbt.adapters.duckdb", reason="dbt-duckdb missing: pip install -e '.[test]'"
    )
    from sentiment_udf.dbt_plugin import Plugin
    from sentiment_udf.runtime.model_files import EMBEDDED_MODELS_DIR

    aspects = EMBEDDED_MODELS_DIR / "sentiment-en-aspects-v1"
    tagger = EMBEDDED_MODELS_DIR / "sentiment-en-targets-v1"
    config = {
        "model": str(tiny_model), "prefix": "s_", "names": {"classify_sentiment": "label_of"},
        "positive_label": "negative", "max_length": 8, "long_text": "chunk", "threads": 1,
        "english_only": False, "aspect_model": str(aspects), "opinion_model": str(tagger),
        "cache": str(tmp_path / "c.sqlite"),
    }  # fmt: skip
    plugin = Plugin("sentiment_udf", config)
    con = duckdb.connect()
    plugin.configure_connection(con)
    assert {"label_of", "s_sentiment_score", "s_sentiment_aspects"} <= set(plugin.function_names)
    text = "good value for money " * 20
    expected = sentiment_udf.SentimentModel(
        tiny_model, max_length=8, long_text="chunk", threads=1, english_only=False
    ).predict_proba([text])[0]
    score = con.execute("SELECT s_sentiment_score(?)", [text]).fetchone()[0]
    assert score == pytest.approx(expected[0], abs=1e-12)  # P(negative), chunks of 8 tokens
    assert con.execute("SELECT label_of(?)", [text]).fetchone()[0] in ("negative", "positive")
    german = "Der Akku ist schrecklich, aber der Bildschirm ist gut."
    found = con.execute("SELECT s_sentiment_aspects(?, ['Akku'])", [german]).fetchone()[0]
    assert found[0]["label"] in ("positive", "negative", "neutral", "mixed")  # read, not NULL
    assert con.execute("SELECT s_sentiment_opinions(?)", [german]).fetchone()[0] is not None
    assert (tmp_path / "c.sqlite").is_file()  # the cache the config named


def test_dbt_with_the_result_cache_scores_nothing_twice(project, tmp_path):
    cache = tmp_path / "results.sqlite"
    profile = project / "profiles.yml"
    profile.write_text(
        profile.read_text().replace("macros: true", f"macros: true\n            cache: {cache}")
    )
    db = tmp_path / "reviews.duckdb"
    first = _dbt_build(project, db)
    assert first.returncode == 0, first.stdout[-3000:]
    con = duckdb.connect(str(db), read_only=True)
    before = con.execute("SELECT * FROM review_sentiment ORDER BY review_id").fetchall()
    con.close()
    from sentiment_udf.runtime.result_cache import ResultCache

    first_stats = ResultCache(cache).stats()
    entries = first_stats["entries"]
    assert entries > SEED_ROWS  # every review, and the sentences that mention an aspect
    assert first_stats["writes"] == entries
    env = {**os.environ, "REVIEWS_DUCKDB": str(db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    second = subprocess.run(
        [str(DBT), "build", "--full-refresh", "--project-dir", str(project),
         "--profiles-dir", str(project)],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert second.returncode == 0, second.stdout[-3000:]
    second_stats = ResultCache(cache).stats()
    assert second_stats["entries"] == entries and second_stats["writes"] == entries
    assert second_stats["hits"] - first_stats["hits"] >= entries  # all came from the cache
    assert second_stats["misses"] == first_stats["misses"]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT * FROM review_sentiment ORDER BY review_id").fetchall() == before
    con.close()


def test_a_scoring_view_is_warned_about_at_build_time(project, tmp_path):
    marts = project / "models" / "marts"
    (marts / "scores_as_view.sql").write_text(
        "{{ config(materialized='view') }}\n"
        "select review_id, classify_sentiment(review) as label from {{ ref('stg_reviews') }}\n"
    )
    (marts / "zz_after.sql").write_text(  # a model after the view: the plugin checks there
        "select count(*) as n from {{ ref('scores_as_view') }}\n"
    )
    # Only the models this needs: the seed, its staging view, the scoring view, one after it.
    result = _dbt_build(
        project, tmp_path / "reviews.duckdb", "raw_reviews", "stg_reviews", "scores_as_view",
        "zz_after",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    said = result.stdout + result.stderr
    assert "WARNING: view scores_as_view calls a sentiment function" in said
    assert said.count("view scores_as_view calls") == 1


MIXED_SEED = [
    ("1", "Great blender", "Crushes ice in seconds and is easy to clean. Love it.", "kitchen", "positive"),
    ("2", "", "Das Gerät ist nach zwei Tagen kaputt gegangen. Nie wieder, absolut enttäuscht!", "kitchen", "negative"),
    ("3", "", "音质非常好，电池也很耐用，物流很快，非常满意！", "electronics", "positive"),
    ("4", "", "La batterie est morte au bout de deux jours et le service client ne répond pas.", "electronics", "negative"),
]  # fmt: skip


def test_dbt_scores_a_mixed_language_seed_like_duckdb(project, tmp_path, no_memo):
    """A seed in four languages through `dbt build`: each row is read by the model the language
    rule picks, as in DuckDB (issue 27)."""
    seed = project / "seeds" / "raw_reviews.csv"
    with seed.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["review_id", "title", "text", "domain", "label"])
        writer.writerows(MIXED_SEED)
    db = tmp_path / "mixed.duckdb"
    built = _dbt_build(project, db, "raw_reviews", "stg_reviews", "review_sentiment")
    assert built.returncode == 0, built.stdout[-3000:]
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT review_id, sentiment_label, sentiment_score, overall_label FROM review_sentiment "
        "ORDER BY review_id"
    ).fetchall()
    con.close()
    local = duckdb.connect()
    sentiment_udf.register(local)
    for (_, title, text, _, label), (_, got_label, got_score, got_overall) in zip(MIXED_SEED, rows):
        expected = local.execute(
            "SELECT classify_sentiment(nullif(?, ''), ?), sentiment_score(nullif(?, ''), ?), "
            "sentiment_overall(nullif(?, ''), ?)",
            [title, text] * 3,
        ).fetchall()[0]
        assert (got_label, got_score, got_overall) == expected
        assert got_label == label
    assert no_memo() >= len(MIXED_SEED)
