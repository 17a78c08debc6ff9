"""One language rule for every function and path (issue 27): English text is read by the English
model, German, Spanish, French, Japanese and Chinese by the embedded multilingual model, any other
language gives NULL; languages="model" (english_only=True) and "any" keep the old behaviours."""

from __future__ import annotations

import duckdb
import pytest

import sentiment_udf
from sentiment_udf.runtime.model_files import EMBEDDED_MODELS_DIR, EMBEDDED_MULTILINGUAL_MODEL_NAME
from sentiment_udf.runtime.registry import load_model
from tests.cli_helpers import cli
from tests.conftest import shared_file

GERMAN = "Das Produkt ist nach zwei Tagen kaputt gegangen. Nie wieder, absolut enttäuscht!"
RUSSIAN = "Этот товар сломался через два дня. Больше никогда не куплю, очень разочарован."
CHINESE = "电池两天就没电了，客服也一直没有回复。但是外观很好看，屏幕也很清楚！"
ENGLISH = "The battery died after two days and support never answered."


@pytest.fixture(scope="module")
def multilingual():
    folder = EMBEDDED_MODELS_DIR / EMBEDDED_MULTILINGUAL_MODEL_NAME
    assert folder.is_dir(), f"the multilingual model is not embedded: {folder}"
    return load_model("multilingual", languages="any")


def _holdout(lang: str, per_class: int) -> list[tuple[str, str]]:
    """(text, label) of the multilingual file's holdout rows: 1-star negative, 5-star positive."""
    rows = duckdb.execute(
        "SELECT text, CASE WHEN stars = 1 THEN 'negative' ELSE 'positive' END FROM read_parquet(?) "
        "WHERE split = 'holdout' AND lang = ? AND stars IN (1, 5) AND length(text) > 40 "
        "ORDER BY hash(text) LIMIT ?",
        [str(shared_file("reviews_multilingual.parquet")), lang, 4 * per_class],
    ).fetchall()
    negative = [r for r in rows if r[1] == "negative"][:per_class]
    positive = [r for r in rows if r[1] == "positive"][:per_class]
    return negative + positive


@pytest.mark.parametrize("lang", ["de", "es", "fr", "ja", "zh"])
def test_a_review_in_each_language_is_scored_by_the_multilingual_model(multilingual, lang, no_memo):
    rows = _holdout(lang, 10)
    texts = [t for t, _ in rows]
    con = duckdb.connect()
    sentiment_udf.register(con)
    found = [
        r[0]
        for r in con.execute(
            "SELECT classify_sentiment(t) FROM unnest(?) WITH ORDINALITY u(t, i) ORDER BY i",
            [texts],
        ).fetchall()
    ]
    runs = no_memo()
    assert found == multilingual.predict(texts)  # the multilingual model read them
    assert runs >= len(set(texts)) and no_memo() >= 2 * runs
    right = sum(f == label for f, (_, label) in zip(found, rows))
    assert right >= 17, (right, found)  # 1 and 5 stars: clear reviews


def test_english_stays_with_the_english_model_and_an_unread_language_is_null(multilingual, no_memo):
    con = duckdb.connect()
    sentiment_udf.register(con)
    english_model = load_model()
    score = con.execute("SELECT sentiment_score(?)", [ENGLISH]).fetchall()[0][0]
    assert score == pytest.approx(english_model.predict_proba([ENGLISH], guard=False)[0][1], abs=1e-9)
    row = con.execute(
        "SELECT classify_sentiment(?), sentiment_score(?), sentiment_sentences(?), "
        "sentiment_overall(?)",
        [RUSSIAN] * 4,
    ).fetchall()[0]
    assert row == (None, None, None, None)


def test_sentences_and_the_overall_label_in_chinese(multilingual, no_memo):
    con = duckdb.connect()
    sentiment_udf.register(con)
    sentences = con.execute("SELECT sentiment_sentences(?)", [CHINESE]).fetchall()[0][0]
    assert [s["sentence"] for s in sentences] == [
        "电池两天就没电了，客服也一直没有回复。",
        "但是外观很好看，屏幕也很清楚！",
    ]
    expected = multilingual.predict([s["sentence"] for s in sentences])
    assert [s["label"] for s in sentences] == expected
    assert con.execute("SELECT sentiment_overall(?)", [CHINESE]).fetchall()[0][0] in (
        "positive", "negative", "neutral", "mixed",
    )  # fmt: skip
    # aspects and opinions stay English-only this round: NULL for other languages
    assert con.execute("SELECT sentiment_aspects(?, ['电池'])", [CHINESE]).fetchall()[0][0] is None
    assert con.execute("SELECT sentiment_opinions(?)", [GERMAN]).fetchall()[0][0] is None


def test_the_old_options_still_do_what_they_did(multilingual, no_memo):
    old = duckdb.connect()
    sentiment_udf.register(old, english_only=True)
    assert old.execute("SELECT sentiment_score(?)", [GERMAN]).fetchall()[0][0] is None
    model_only = duckdb.connect()
    sentiment_udf.register(model_only, languages="model")
    assert model_only.execute("SELECT sentiment_score(?)", [GERMAN]).fetchall()[0][0] is None
    anything = duckdb.connect()
    sentiment_udf.register(anything, languages="any")
    by_english = anything.execute("SELECT sentiment_score(?)", [GERMAN]).fetchall()[0][0]
    assert by_english == pytest.approx(load_model().predict_proba([GERMAN], guard=False)[0][1], abs=1e-9)
    with pytest.raises(ValueError, match="disagree"):
        sentiment_udf.register(duckdb.connect(), english_only=True, languages="any")
    with pytest.raises(ValueError, match="languages"):
        sentiment_udf.register(duckdb.connect(), languages="german")


def test_a_mixed_language_table_in_one_query_from_the_cli(tmp_path):
    table = tmp_path / "mixed.csv"
    table.write_text(
        "id,review\n"
        f'1,"{ENGLISH}"\n2,"{GERMAN}"\n3,"{CHINESE}"\n4,"{RUSSIAN}"\n'
        '5,"Producto excelente, llegó rápido y funciona perfecto. Muy recomendable."\n',
        encoding="utf-8",
    )
    sql = (
        "SELECT id, detect_language(review) AS lang, classify_sentiment(review) AS label "
        f"FROM read_csv('{table}') ORDER BY id"
    )
    result = cli("query", sql, "--format", "csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[1:]
    assert [line.split(",")[1] for line in lines] == ["en", "de", "zh", "ru", "es"]
    labels = [line.split(",")[2] for line in lines]
    assert labels[0] == "negative" and labels[1] == "negative" and labels[4] == "positive"
    assert labels[3] == ""  # Russian: no model reads it
    old = cli("query", sql, "--format", "csv", "--languages", "model")
    assert [line.split(",")[2] for line in old.stdout.strip().splitlines()[1:]][1:4] == ["", "", ""]
    output = tmp_path / "scored.parquet"
    scored = cli("score", "--input", str(table), "--id-column", "id", "--text-column", "review",
                 "--output", str(output), "--quiet")  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    from_score = duckdb.execute("SELECT label FROM read_parquet(?) ORDER BY id", [str(output)]).fetchall()
    assert [r[0] or "" for r in from_score] == labels


def test_short_chinese_or_japanese_the_detector_cannot_place_goes_to_the_multilingual_model(
    multilingual, no_memo
):
    con = duckdb.connect()
    sentiment_udf.register(con)
    short = ["蒙牛混蛋！", "USBtypeA to D-sub9ピン(オスまたはメス)の表示があるとなおよかった"]
    found = [con.execute("SELECT sentiment_score(?)", [t]).fetchall()[0][0] for t in short]
    expected = multilingual.predict_proba(short)[:, 1]
    assert found == pytest.approx(list(expected), abs=1e-9)
    english = "Great phone, the 华为 logo is nice and the battery lasts"
    by_english = load_model().predict_proba([english], guard=False)[0][1]
    assert con.execute("SELECT sentiment_score(?)", [english]).fetchall()[0][0] == pytest.approx(by_english, abs=1e-9)


def test_the_overall_label_of_a_review_in_another_language_follows_its_reader(multilingual, no_memo):
    """sentiment_overall read the whole review with the English model: a clearly negative German
    review came out `positive`."""
    con = duckdb.connect()
    sentiment_udf.register(con)
    for text in (GERMAN, "届いた時には壊れていました。最悪です。"):
        score, overall = con.execute("SELECT sentiment_score(?), sentiment_overall(?)", [text] * 2).fetchall()[0]
        assert score < 0.15 and overall == "negative", (text, score, overall)
    english = con.execute("SELECT sentiment_overall(?)", [ENGLISH]).fetchall()[0][0]
    assert english == "negative"
