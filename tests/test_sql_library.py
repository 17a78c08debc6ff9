"""Every macro and example in sql/, run on real reviews with the embedded model."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import sentiment_udf
from tests.cli_helpers import cli
from tests.conftest import shared_file

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
EXAMPLES = sorted((SQL_DIR / "examples").glob("*.sql"))
SAMPLE_ROWS = 120
REVIEWS_VIEW = (
    "CREATE OR REPLACE TEMP TABLE reviews AS SELECT row_number() OVER () AS review_id, title, "
    "text AS review, domain AS category, DATE '2026-01-01' + INTERVAL (row_number() OVER () % 6) "
    "MONTH AS review_date, label FROM read_csv(?) USING SAMPLE {n} ROWS (reservoir, 42)"
)


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    sentiment_udf.register(connection, macros=True)
    connection.execute(REVIEWS_VIEW.format(n=SAMPLE_ROWS), [str(shared_file("reviews_dev.csv"))])
    yield connection
    connection.close()


def _run_file(con: duckdb.DuckDBPyConnection, path: Path) -> list[list[tuple]]:
    statements = [s for s in path.read_text().split(";") if s.strip() and not _comment_only(s)]
    return [con.sql(s).fetchall() for s in statements]


def _comment_only(statement: str) -> bool:
    return all(line.strip().startswith("--") or not line.strip() for line in statement.splitlines())


def test_every_example_runs(con):
    assert [p.name for p in EXAMPLES] == [
        "by_category.sql",
        "complaints_month_over_month.sql",
        "most_negative.sql",
        "over_time.sql",
        "summary_with_neutral_band.sql",
        "top_complaints_by_aspect.sql",
        "top_complaints_no_list.sql",
    ]
    for path in EXAMPLES:
        results = _run_file(con, path)
        assert results and all(results), path.name


def test_by_category(con):
    (rows,) = _run_file(con, SQL_DIR / "examples" / "by_category.sql")
    assert sorted(r[0] for r in rows) == ["books", "dvd", "electronics", "kitchen_&_housewares"]
    assert sum(r[1] for r in rows) == SAMPLE_ROWS
    truth = dict(
        con.sql(
            "SELECT category, avg((label = 'positive')::INT) FROM reviews GROUP BY ALL"
        ).fetchall()
    )
    for category, _, share, mean_score in rows:
        assert abs(share - truth[category]) < 0.2 and 0 < mean_score < 1


def test_most_negative_are_negative(con):
    (rows,) = _run_file(con, SQL_DIR / "examples" / "most_negative.sql")
    scores = [r[2] for r in rows]
    assert len(rows) == 10 and scores == sorted(scores) and max(scores) < 0.2
    labels = con.execute(
        f"SELECT label FROM reviews WHERE review_id IN ({','.join(str(r[0]) for r in rows)})"
    ).fetchall()
    assert sum(label == ("negative",) for label in labels) >= 8


def test_over_time(con):
    (rows,) = _run_file(con, SQL_DIR / "examples" / "over_time.sql")
    assert len(rows) == 6 and sum(r[1] for r in rows) == SAMPLE_ROWS
    assert rows[0][3] is None and all(r[3] is not None for r in rows[1:])


def test_neutral_band_and_summary(con):
    banded, summary = _run_file(con, SQL_DIR / "examples" / "summary_with_neutral_band.sql")
    counts = dict(banded)
    assert (
        set(counts) - {None} <= {"negative", "neutral", "positive"}  # None: another language
        and sum(counts.values()) == SAMPLE_ROWS
    )
    plain = dict(
        con.sql("SELECT sentiment_label(review), count(*) FROM reviews GROUP BY 1").fetchall()
    )
    assert "neutral" not in plain and plain["positive"] >= counts["positive"]
    # NULL label rows (another language, by the English-only guard) are counted apart
    assert [r[0] for r in summary if r[0] is not None] == ["negative", "positive"]
    assert sum(r[1] for r in summary) == SAMPLE_ROWS
    assert sum(r[2] for r in summary if r[0] is not None) == pytest.approx(1.0, abs=1e-3)
    assert summary[0][3] < 0.5 < summary[1][3]


def test_bucket_threshold_and_nulls(con):
    row = con.sql(
        "SELECT sentiment_bucket(0.6), sentiment_bucket(0.6, threshold := 0.7), "
        "sentiment_bucket(0.6, neutral_band := 0.2), sentiment_bucket(NULL), "
        "sentiment_label(''), sentiment_label('Great product, I love it', "
        "threshold := 0.99999)"
    ).fetchall()[0]
    assert row == ("positive", "negative", "neutral", None, None, "negative")


def test_summary_counts_blank_rows_apart(con):
    con.execute(
        "CREATE TEMP TABLE mixed AS SELECT * FROM (VALUES ('Great, love it'), (NULL), "
        "('   '), ('Awful, broke at once')) v(t)"
    )
    rows = con.sql("SELECT * FROM sentiment_summary('mixed', 't')").fetchall()
    scores = dict(con.sql("SELECT classify_sentiment(t), sentiment_score(t) FROM mixed").fetchall())
    assert rows == [
        ("negative", 1, 0.5, round(scores["negative"], 4)),
        ("positive", 1, 0.5, round(scores["positive"], 4)),
        (None, 2, None, None),
    ]


def test_macros_load_plainly_from_the_file_and_from_the_cli(tiny_model):
    plain = duckdb.connect()
    sentiment_udf.register(plain, tiny_model)
    plain.execute((SQL_DIR / "macros.sql").read_text())
    assert plain.sql("SELECT sentiment_bucket(0.9)").fetchall() == [("positive",)]
    result = cli(
        "query",
        "SELECT sentiment_label('good', neutral_band := 1.0) AS l",
        "--model",
        str(tiny_model),
        "--format",
        "csv",
    )
    assert result.returncode == 0 and result.stdout.splitlines()[1] == "neutral", result.stderr


def test_packaged_macros_are_the_sql_folder():
    from sentiment_udf.engines.duckdb_functions import MACROS_FILE

    assert MACROS_FILE.read_text() == (SQL_DIR / "macros.sql").read_text()


def test_top_complaints_by_aspect(con):
    (rows,) = _run_file(con, SQL_DIR / "examples" / "top_complaints_by_aspect.sql")
    assert rows and all(r[1] > 0 and r[2] <= r[1] and -1 <= r[4] <= 1 for r in rows)
    negatives = [r[2] for r in rows]
    assert negatives == sorted(negatives, reverse=True)
    story = {r[0]: r for r in rows}["story|plot|ending"]  # books and DVDs talk about the story
    mentioned = con.sql(
        "SELECT count(*) FROM reviews WHERE regexp_matches(review, "
        "'(?i)\\b(story|stories|plot|plots|ending|endings)\\b')"
    ).fetchall()[0][0]
    assert story[1] == mentioned


def test_top_complaints_without_a_list(con):
    (rows,) = _run_file(con, SQL_DIR / "examples" / "top_complaints_no_list.sql")
    assert 5 <= len(rows) <= 20
    counts = [r[1] for r in rows]
    assert counts == sorted(counts, reverse=True) and all(r[2] <= r[1] for r in rows)
    assert all(-1 <= r[3] < 0 for r in rows)  # negative opinions score below zero
    truth = dict(
        con.sql(
            "SELECT o.target_key, count(*) FROM reviews, unnest(sentiment_opinions(review)) t(o) "
            "WHERE o.label = 'negative' GROUP BY ALL"
        ).fetchall()
    )
    assert all(truth[r[0]] == r[1] for r in rows)


def test_complaints_month_over_month(con):
    (rows,) = _run_file(con, SQL_DIR / "examples" / "complaints_month_over_month.sql")
    assert rows
    for month, key, complaints, previous, change in rows:
        assert change == complaints - previous
        found = con.execute(
            "SELECT count(*) FROM reviews, unnest(sentiment_opinions(review)) t(o) WHERE "
            "o.label = 'negative' AND o.target_key = ? AND date_trunc('month', review_date) = ?",
            [key, month],
        ).fetchall()[0][0]
        assert found == complaints
