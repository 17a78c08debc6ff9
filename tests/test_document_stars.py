"""sentiment_stars and the trained document label (sentiment_overall on the embedded star model,
sentiment-en-stars-v1) through SQL: what they answer, that the star model really decides, NULLs
and other languages, and accuracy on star-rated reviews it never trained on."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

import sentiment_udf
from sentiment_udf.analysis.overall import star_document_label
from tests.conftest import shared_file

ONE_STAR = "Broke after two days and support never answered. Complete waste of money."
FIVE_STARS = "Absolutely love it. Best purchase I have made this year, works perfectly."
SHORT_CHINESE = "蒙牛混蛋！"  # "Mengniu, scoundrels!": no detector verdict, Chinese by its script
GERMAN = "Das Produkt ist nach zwei Tagen kaputt gegangen. Der Kundendienst hat nie geantwortet."


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    sentiment_udf.register(connection)
    sentiment_udf.register(connection, model="stars", prefix="star_model_")
    yield connection
    connection.close()


def test_stars_order_clear_reviews_and_stay_in_one_to_five(con):
    low, high, middling = con.execute(
        "SELECT sentiment_stars(?), sentiment_stars(?), sentiment_stars(?)",
        [ONE_STAR, FIVE_STARS, "It is okay. Does the job, nothing special, a bit flimsy."],
    ).fetchall()[0]
    assert 1 <= low < 1.8 and 4.2 < high <= 5
    assert low < middling < high and 2 < middling < 4


def test_stars_null_blank_other_language_and_title_form(con):
    rows = con.execute(
        "SELECT sentiment_stars(t) FROM (VALUES (NULL), (''), ('   '), (?), (?)) v(t)",
        [GERMAN, SHORT_CHINESE],
    ).fetchall()
    assert rows == [(None,)] * 5  # the star model reads English reviews only
    titled = con.execute("SELECT sentiment_stars('Do not buy', 'It stopped after a week.')")
    assert titled.fetchall()[0][0] < 2
    with pytest.raises(duckdb.Error, match=r"takes \(text\) or \(title, text\)"):
        con.execute("SELECT sentiment_stars('a', 'b', 'c')").fetchall()
    with pytest.raises(duckdb.Error, match="not text"):
        con.execute("SELECT sentiment_stars(42)").fetchall()


def test_overall_is_decided_by_the_star_model(con, no_memo):
    """The label is star_document_label() of the star model's own probabilities (read through
    its own SQL functions, the model run on both sides) and the sentences' scores."""
    reviews = [
        ONE_STAR,
        FIVE_STARS,
        "Great camera, lovely screen. The battery is terrible though, and it died in a day.",
        "It is okay. Does the job, nothing special.",
        "The sound is great but the headband broke after a month. Three stars.",
    ]
    for review in reviews:
        overall = con.execute("SELECT sentiment_overall(?)", [review]).fetchall()[0][0]
        runs = no_memo()
        probs, sentences = con.execute(
            "SELECT star_model_sentiment(?).probabilities, "
            "[s.score FOR s IN sentiment_sentences(?)]",
            [review, review],
        ).fetchall()[0]
        assert no_memo() > runs  # the model ran again, not the memo
        star_probs = np.array([probs[str(s)] for s in range(1, 6)])
        assert overall == star_document_label(star_probs, sentences)
    labels = [con.execute("SELECT sentiment_overall(?)", [r]).fetchall()[0][0] for r in reviews]
    assert labels[:2] == ["negative", "positive"]
    assert set(labels[2:]) <= {"mixed", "neutral"} and "mixed" in labels[2:]


def test_overall_reads_sentences_only_where_the_star_model_leaves_the_middle(con, no_memo):
    """A review the star model calls 1-2 or 4-5 stars is labelled from that one pass; only a
    middle one has its sentences scored (each was scored for every review before: over half of
    sentiment_overall's time). Counted in model runs."""
    middle = "The sound is great but the headband broke after a month. Three stars."
    runs = no_memo()
    assert con.execute("SELECT sentiment_overall(?)", [FIVE_STARS]).fetchone()[0] == "positive"
    assert no_memo() - runs == 1  # the star model's pass; FIVE_STARS has two sentences
    runs = no_memo()
    assert con.execute("SELECT sentiment_overall(?)", [middle]).fetchone()[0] in (
        "mixed",
        "neutral",
    )
    assert no_memo() - runs == 1 + 2  # the star pass, then its two sentences


def test_other_languages_keep_a_document_label(con):
    """The star model reads English only; a German review, and a Chinese one too short for the
    language detector (told by its script, as the review model's rule does), get the
    multilingual model's rule."""
    assert con.execute("SELECT sentiment_overall(?)", [GERMAN]).fetchall()[0][0] == "negative"
    overall, label = con.execute(
        "SELECT sentiment_overall(?), classify_sentiment(?)", [SHORT_CHINESE] * 2
    ).fetchall()[0]
    assert label == "negative" and overall == "negative"


@pytest.mark.slow
def test_accuracy_on_star_rated_reviews_never_trained_on(con):
    """100 reviews per star of reviews_stars_dev.csv (the benchmark reads all 5,000): three-class
    agreement with stars weighted equally, and sentiment_stars' mean absolute error. Measured
    0.800 and 0.466 on these rows (0.814 and 0.471 on all 5,000: BENCHMARKS.md)."""
    rows = con.execute(
        "SELECT stars, sentiment_overall(title, text), sentiment_stars(title, text) FROM "
        "(SELECT *, row_number() OVER (PARTITION BY stars ORDER BY review_id) AS n "
        " FROM read_csv(?)) WHERE n <= 100",
        [str(shared_file("reviews_stars_dev.csv"))],
    ).fetchall()
    assert len(rows) == 500
    want = {1: {"negative"}, 2: {"negative"}, 3: {"neutral", "mixed"}, 4: {"positive"},
            5: {"positive"}}  # fmt: skip
    per_star = [np.mean([label in want[s] for stars, label, _ in rows if stars == s])
                for s in range(1, 6)]  # fmt: skip
    mae = np.mean([abs(expected - stars) for stars, _, expected in rows])
    assert np.mean(per_star) >= 0.77 and mae <= 0.55, (per_star, mae)
