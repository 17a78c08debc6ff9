"""The SQL functions on a real DuckDB, over a tiny real ONNX model built by the tests."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pytest

import sentiment_udf
from sentiment_udf import ModelError, load_model
from tests.tiny_model import build_tiny_model

WORDS = ["good", "bad", "great", "awful", "fine", "broken", "love", "hate", "cheap", "solid"]


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 40))) + f" #{i}" for i in range(n)]


def test_null_empty_and_whitespace_give_null(con):
    rows = con.execute(
        "SELECT classify_sentiment(t), sentiment_score(t), sentiment(t) "
        "FROM (VALUES (NULL), (''), ('   '), (e'\\t\\n'), ('fine')) v(t)"
    ).fetchall()
    assert rows[:4] == [(None, None, None)] * 4
    label, score, everything = rows[4]
    assert label in ("negative", "positive") and 0 <= score <= 1
    assert everything["label"] == label and everything["score"] == pytest.approx(score)
    assert sum(everything["probabilities"].values()) == pytest.approx(1.0)


def test_title_form_joins_title_and_text_and_tolerates_a_null_title(con, tiny_model, no_memo):
    model = load_model(tiny_model)
    got = con.execute(
        "SELECT sentiment_score('Great', 'it broke'), sentiment_score(NULL, 'it broke'), "
        "sentiment_score('Great', NULL), classify_sentiment('', 'it broke')"
    ).fetchone()
    runs = no_memo()
    expected = model.predict_proba(["Great. it broke", "it broke"])[:, 1]
    assert no_memo() == runs + 2  # the model scored both again: not SQL's answers remembered
    assert got[0] == pytest.approx(expected[0]) and got[1] == pytest.approx(expected[1])
    assert got[2] is None
    assert got[3] == model.predict(["it broke"])[0]


def test_count_and_order_preserved_over_many_vectors(con, tiny_model, no_memo):
    texts = _texts(12_000)
    texts[5] = None
    texts[7_777] = ""
    table = duckdb.sql("SELECT 1").arrow()  # noqa: F841 - warm duckdb's arrow path
    import pyarrow as pa

    reviews = pa.table({"id": list(range(len(texts))), "review": texts})
    con.register("reviews", reviews)
    rows = con.execute("SELECT id, sentiment_score(review) FROM reviews ORDER BY id").fetchall()
    assert [r[0] for r in rows] == list(range(len(texts)))
    in_sql = no_memo()
    expected = load_model(tiny_model).predict_proba(texts)[:, 1]
    assert in_sql >= len(set(texts)) - 3 and no_memo() >= in_sql + len(set(texts)) - 3  # both ran
    got = np.array([np.nan if r[1] is None else r[1] for r in rows])
    assert np.isnan(got[5]) and np.isnan(got[7_777])
    assert np.allclose(got, expected, equal_nan=True, atol=1e-6)
    # without ORDER BY, the function must not reorder or drop rows of the scan either
    unordered = con.execute("SELECT id, classify_sentiment(review) FROM reviews").fetchall()
    assert sorted(r[0] for r in unordered) == list(range(len(texts)))


def test_four_threads_give_the_same_results_as_one(con, no_memo):
    con.execute(
        "CREATE TABLE r AS SELECT i AS id, t AS review FROM "
        "(SELECT unnest(range(20000)) AS i) JOIN "
        "(SELECT unnest(?) AS t, generate_subscripts(?, 1) - 1 AS j) ON i % 500 = j",
        [_texts(500), _texts(500)],
    )
    query = "SELECT id, sentiment_score(review) FROM r ORDER BY id"
    con.execute("SET threads = 1")
    single = con.execute(query).fetchall()
    one_thread_runs = no_memo()
    con.execute("SET threads = 4")
    multi = con.execute(query).fetchall()
    assert one_thread_runs >= 500 and no_memo() >= 2 * one_thread_runs - 100  # both ran
    assert len(single) == 20_000 and single == multi


def test_cursors_see_the_functions(con):
    cursor = con.cursor()
    assert cursor.execute("SELECT classify_sentiment('good')").fetchone()[0] in (
        "negative",
        "positive",
    )


def test_two_models_side_by_side(con, tmp_path):
    other = build_tiny_model(tmp_path / "other", labels=("neg", "positive"), seed=7)
    registration = sentiment_udf.register(con, other, prefix="m2_")
    assert registration.functions["classify_sentiment"] == "m2_classify_sentiment"
    a, b, c = con.execute(
        "SELECT sentiment_score('good bad'), m2_sentiment_score('good bad'), "
        "m2_classify_sentiment('good bad')"
    ).fetchall()[0]
    assert a != pytest.approx(b)
    assert c in ("neg", "positive")
    named = sentiment_udf.register(con, other, names={"classify_sentiment": "label_of"})
    assert con.execute("SELECT label_of('good')").fetchone()[0] in ("neg", "positive")
    assert named.functions["sentiment"] == "sentiment"


def test_registering_another_model_under_the_same_names_replaces_the_functions(
    con, tiny_model, tmp_path
):
    texts = ["good value", "broke at once", "fine"]
    query = "SELECT sentiment_score(t) FROM unnest(?) u(t)"
    before = [r[0] for r in con.execute(query, [texts]).fetchall()]
    other = build_tiny_model(tmp_path / "other", seed=11)
    sentiment_udf.register(con, other)
    after = [r[0] for r in con.execute(query, [texts]).fetchall()]
    expected = load_model(other).predict_proba(texts)[:, 1]
    assert after == pytest.approx(list(expected), abs=1e-12)
    assert after != pytest.approx(before, abs=1e-6)  # model B's scores, not model A's


def test_non_text_arguments_are_a_clear_error(con):
    with pytest.raises(duckdb.Error, match=r"argument 1 is INTEGER, not text; cast it"):
        con.execute("SELECT classify_sentiment(42)").fetchall()
    for sql_value, name in [
        ("1.25::DECIMAL(3,2)", "DECIMAL(3,2)"),
        ("['a']::VARCHAR[]", "VARCHAR[]"),
        ("'\\x41'::BLOB", "BLOB"),
    ]:
        with pytest.raises(duckdb.Error, match=rf"argument 2 is {re.escape(name)}, not text"):
            con.execute(f"SELECT sentiment_score('t', {sql_value})").fetchall()
    with pytest.raises(duckdb.Error, match=r"takes \(text\) or \(title, text\), not 3"):
        con.execute("SELECT sentiment('a', 'b', 'c')").fetchall()
    assert con.execute("SELECT classify_sentiment(42::VARCHAR)").fetchone()[0] is not None


def test_model_without_positive_label_scores_its_last_label_or_the_one_named(tmp_path):
    folder = build_tiny_model(tmp_path / "stars", labels=("1 star", "5 stars"))
    con = duckdb.connect()
    sentiment_udf.register(con, folder)  # no `positive` label: the last label's probability
    probs = sentiment_udf.load_model(folder).predict_proba(["good"])[0]
    assert con.execute("SELECT sentiment_score('good')").fetchall()[0][0] == pytest.approx(probs[1])
    sentiment_udf.register(con, folder, positive_label="1 star")
    assert con.execute("SELECT sentiment_score('good')").fetchall()[0][0] == pytest.approx(probs[0])
    with pytest.raises(ModelError, match="no 'positive' label"):
        sentiment_udf.register(con, folder, positive_label="positive")


def test_nothing_registered_persists_in_the_database_file(tiny_model, tmp_path):
    path = str(tmp_path / "user.duckdb")
    con = duckdb.connect(path)
    sentiment_udf.register(con, tiny_model)
    con.execute("CREATE TABLE scored AS SELECT classify_sentiment('good') AS label")
    con.close()
    reopened = duckdb.connect(path)
    assert reopened.execute("SELECT count(*) FROM scored").fetchone() == (1,)
    names = {
        r[0] for r in reopened.execute("SELECT function_name FROM duckdb_functions()").fetchall()
    }
    assert not names & {"classify_sentiment", "sentiment_score", "sentiment"}
    with pytest.raises(duckdb.CatalogException):
        reopened.execute("SELECT classify_sentiment('good')")


def test_title_joining_in_sql_matches_the_model_card_rule(con, tiny_model, no_memo):
    """The model card's rule, written out: a period after a title that lacks end punctuation;
    a blank title scores the text alone."""
    pairs = [("Nice", "it works"), ("Why?", "it broke"), ("  ", "meh"), ("Wow!", "ok")]
    joined = ["Nice. it works", "Why? it broke", "meh", "Wow! ok"]
    got = [con.execute("SELECT sentiment_score(?, ?)", list(p)).fetchone()[0] for p in pairs]
    expected = load_model(tiny_model).predict_proba(joined)[:, 1]
    assert no_memo() == 2 * len(pairs)
    assert np.allclose(got, expected, atol=1e-12)
    assert got[0] != pytest.approx(
        load_model(tiny_model).predict_proba(["Nice it works"])[0, 1], abs=1e-9
    )  # the period matters


OVERALL_REVIEWS = [
    "The screen is gorgeous. The battery died after a day. It is a phone.",
    "Great sound, clear and loud. Sadly the cable broke within a week.",
    "Das Essen war wunderbar, der Service aber leider sehr unfreundlich.",
    "Works as described. Nothing special.",
]


def test_overall_stays_sentiment_with_a_model_of_other_labels(tmp_path):
    """sentiment_overall with a model trained on other labels (topics, stars) reads sentiment
    with the embedded models, as the README says: it used to take the topic model's sentence
    scores as positivity (mixed or neutral by topic) and its whole score for other languages."""
    from sentiment_udf.runtime.result_cache import MEMO

    folder = build_tiny_model(tmp_path / "topics", labels=("books", "dvd", "kitchen"))
    topics, default = duckdb.connect(), duckdb.connect()
    sentiment_udf.register(topics, folder)
    sentiment_udf.register(default)
    query = "SELECT sentiment_overall(t) FROM unnest(?) u(t)"
    MEMO.clear()
    expected = default.execute(query, [OVERALL_REVIEWS]).fetchall()
    MEMO.clear()
    assert topics.execute(query, [OVERALL_REVIEWS]).fetchall() == expected
    assert None not in [row[0] for row in expected]  # the German review is read too
