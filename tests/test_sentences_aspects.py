"""sentiment_sentences, sentiment_overall and sentiment_aspects through SQL (issue 11): positions
that SQL's substring() agrees with, NULLs, windows, aspects and their alternatives, plurals,
unknowns and mixed mentions, the aspect model on the SemEval holdout, and `score --sentences`."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sentiment_udf
from sentiment_udf import ModelError, load_model
from sentiment_udf.analysis.aspects import aspect_pattern
from sentiment_udf.runtime.language import is_other_language
from tests.cli_helpers import assert_one_line_error, cli
from tests.conftest import shared_file
from tests.tiny_model import build_tiny_model

SENTENCES = (
    "SELECT x.position, x.length, x.sentence, x.label, x.score "
    "FROM (SELECT unnest(sentiment_sentences(?)) AS x) ORDER BY x.position"
)


@pytest.fixture(scope="module")
def aspect_con():
    """The embedded review and aspect models (module-wide: loading them once)."""
    con = duckdb.connect()
    sentiment_udf.register(con)
    yield con
    con.close()


# --- sentences ---------------------------------------------------------------------------------

pieces = st.sampled_from(
    [
        "Great value.",
        "great product!!! would buy again",
        "Café 😀 was grea\u0300t.",
        "这个产品非常好。",
        "Mr. Jones sold it.\r\n",
        "2. The lid leaks.",
        "It broke...",
        "e.g. the lid",
        "👍🏽👍🏽",
        " \t",
        "5.5 inches!",
        "\u202eRTL\u202c text?",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parts=st.lists(pieces, min_size=1, max_size=8), glue=st.sampled_from([" ", "", "\n", "\r\n"])
)
def test_substring_of_each_position_is_the_sentence(con, parts, glue):
    text = glue.join(parts)
    con.register("t", pa.table({"text": [text]}))
    sentences, by_sql = con.execute(
        "SELECT s, list_transform(s, lambda x: substring(text, x.position, x.length)) "
        "FROM (SELECT text, sentiment_sentences(text) AS s FROM t)"
    ).fetchall()[0]
    con.unregister("t")
    if not text.strip():
        assert sentences is None
        return
    if sentences is None:  # the English-only guard refuses the whole text (a documented NULL)
        assert is_other_language(text)
        return
    rows = [(x["position"], x["length"], x["sentence"]) for x in sentences]
    positions = [r[0] for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert by_sql == [r[2] for r in rows]  # SQL's substring(text, position, length)
    for _, length, sentence in rows:
        assert length == len(sentence) and sentence.strip() == sentence
    # every letter of the text lies in some sentence: nothing dropped
    covered = set()
    for position, length, _ in rows:
        covered.update(range(position - 1, position - 1 + length))
    assert all(i in covered for i, c in enumerate(text) if c.isalnum())


def test_null_blank_and_one_sentence(con, no_memo):
    for blank in (None, "", "   ", "\x01\x02"):
        assert con.execute("SELECT sentiment_sentences(?)", [blank]).fetchall()[0][0] is None
        assert con.execute("SELECT sentiment_overall(?)", [blank]).fetchall()[0][0] is None
    (one,) = con.execute("SELECT sentiment_sentences('works fine')").fetchall()[0]
    assert len(one) == 1 and one[0]["position"] == 1 and one[0]["sentence"] == "works fine"
    runs = no_memo()
    score = con.execute("SELECT sentiment_score('works fine')").fetchall()[0][0]
    assert no_memo() == runs + 1  # scored again by the model: the same answer
    assert one[0]["score"] == score  # a sentence is a text: the same model pass
    with pytest.raises(duckdb.Error, match=r"takes \(text\), not 2 arguments"):
        con.execute("SELECT sentiment_sentences('title', 'text')").fetchall()


def test_a_sentence_longer_than_the_model_is_cut_into_windows(con, tiny_model, no_memo):
    words = [f"word{i}" for i in range(1300)]
    text = " ".join(words) + "."
    rows = con.execute(SENTENCES, [text]).fetchall()
    model = load_model(tiny_model)
    tokens = len(model.encoder.tokenizer.encode(text, add_special_tokens=False).ids)
    assert len(rows) >= tokens / model.encoder.body_length > 1
    in_sql = no_memo()
    for _, _, sentence, _, score in rows:
        # the window fits the model whole (truncated() would always be within the limit: a
        # window of 550 tokens would lose its tail there unseen)
        body = model.encoder.tokenizer.encode(sentence, add_special_tokens=False).ids
        assert len(body) <= 512 - 2  # max_length less [CLS] and [SEP], written out
        assert score == pytest.approx(model.predict_proba([sentence])[0, 1], abs=1e-12)
    assert in_sql == len(rows) and no_memo() == 2 * len(rows)
    assert " ".join(r[2] for r in rows).split() == text.split()  # every word in one window


def test_overall_mixed_positive_negative_and_band(aspect_con):
    """The document label's meaning, on reviews a user can check: a review the star model puts
    in the middle (3 stars likelier than 1-2 or 4-5) that praises one thing and faults another is
    mixed; a plainly
    negative review with one kind sentence is not; the band only splits mixed from neutral."""
    con = aspect_con
    mixed = "Great camera, lovely screen. The battery is terrible though."
    kind = "Broke after a week and support never answered. Total waste of money. The box was nice."
    rows = con.execute(
        "SELECT sentiment_overall(?), sentiment_overall(?), sentiment_overall(?), "
        "sentiment_overall(?), sentiment_overall(?, 0.49), sentiment_overall('Mixed bag', ?)",
        [
            mixed,
            "Love it. Works perfectly.",
            "Broke at once. Total waste of money.",
            kind,
            mixed,
            mixed,
        ],
    ).fetchall()[0]
    assert rows == ("mixed", "positive", "negative", "negative", "neutral", "mixed")
    stars = con.execute("SELECT sentiment_stars(?)", [mixed]).fetchall()[0][0]
    assert 2 < stars < 4  # why it is mixed: the star model puts the whole review in the middle
    with pytest.raises(duckdb.Error, match=r"neutral_band must be a number in \[0, 0.5\)"):
        con.execute("SELECT sentiment_overall('ok', 0.7)").fetchall()
    with pytest.raises(duckdb.Error, match="not 4 arguments"):
        con.execute("SELECT sentiment_overall('a', 'b', 0.3, 1)").fetchall()
    assert con.execute("SELECT sentiment_overall('Love it.', NULL::DOUBLE)").fetchall() == [
        (None,)
    ]  # a NULL band: NULL, not an error


# --- aspects -----------------------------------------------------------------------------------


def test_aspect_matching_alternatives_plurals_case_and_word_boundaries():
    pattern = aspect_pattern("battery|charge|charging")
    text = "Batteries die. The BATTERY is weak; charging is slow, a charger helps, recharge."
    assert [m.group(0) for m in pattern.finditer(text)] == ["Batteries", "BATTERY", "charging"]
    assert [m.group(0) for m in aspect_pattern("screen").finditer("screenshot screens")] == [
        "screens"
    ]
    assert [m.group(0) for m in aspect_pattern("battery life").finditer("Battery  life")] == [
        "Battery  life"
    ]
    assert [m.group(0) for m in aspect_pattern("glass").finditer("glasses")] == ["glasses"]


def test_aspects_in_order_with_unknown_and_evidence(aspect_con):
    text = "The screen is gorgeous. The batteries die within an hour, and charging is slow."
    (results,) = aspect_con.execute(
        "SELECT sentiment_aspects(?, ['price', 'battery|charging', 'Screen'])", [text]
    ).fetchall()[0]
    assert [r["aspect"] for r in results] == ["price", "battery|charging", "Screen"]
    price, battery, screen = results
    assert price == {
        "aspect": "price",
        "label": "unknown",
        "score": None,
        "mentions": 0,
        "evidence": [],
    }
    assert battery["label"] == "negative" and battery["mentions"] == 2 and battery["score"] < -0.5
    assert screen["label"] == "positive" and screen["score"] > 0.5
    for result in (battery, screen):
        for span in result["evidence"]:
            found = text[span["position"] - 1 : span["position"] - 1 + span["length"]]
            assert aspect_pattern(result["aspect"]).fullmatch(found)


def test_mentions_that_disagree_make_mixed(aspect_con, no_memo):
    text = "The battery is fantastic, it lasts all day. Sadly the battery charger broke at once."
    (results,) = aspect_con.execute("SELECT sentiment_aspects(?, ['battery'])", [text]).fetchall()[
        0
    ]
    model = load_model(sentiment_udf.engines.duckdb_functions.load_aspect_model(None).files.folder)
    per_mention = model.predict_proba_pairs(
        ["The battery is fantastic, it lasts all day.", "Sadly the battery charger broke at once."],
        ["battery", "battery"],
    )
    labels = {model.labels[i] for i in per_mention.argmax(axis=1)}
    assert no_memo() == 4  # two mentions in SQL, the same two pairs again here
    assert labels == {"positive", "negative"}
    assert results[0]["label"] == "mixed" and results[0]["mentions"] == 2
    assert results[0]["score"] == pytest.approx(
        float((per_mention[:, 2] - per_mention[:, 0]).mean()), abs=1e-12
    )


def test_aspects_null_inputs_and_errors(aspect_con):
    con = aspect_con
    assert con.execute("SELECT sentiment_aspects(NULL, ['x'])").fetchall()[0][0] is None
    assert con.execute("SELECT sentiment_aspects('good', NULL)").fetchall()[0][0] is None
    assert con.execute("SELECT sentiment_aspects('good', [])").fetchall()[0][0] == []
    with pytest.raises(duckdb.Error, match="argument 2 is VARCHAR, not a list of aspects"):
        con.execute("SELECT sentiment_aspects('good', 'price')").fetchall()
    with pytest.raises(duckdb.Error, match="names no words"):
        con.execute("SELECT sentiment_aspects('good', [' | '])").fetchall()


def test_aspect_model_must_be_a_pair_classifier(tiny_model, tmp_path, no_memo):
    with pytest.raises(ModelError, match="aspect_model= needs a pair classifier"):
        sentiment_udf.register(duckdb.connect(), tiny_model, aspect_model=tiny_model)
    pair = build_tiny_model(tmp_path / "pair", labels=("negative", "neutral", "positive"))
    config = json.loads((pair / "config.json").read_text())
    (pair / "config.json").write_text(json.dumps({**config, "input_pair": ["sentence", "aspect"]}))
    con = duckdb.connect()
    sentiment_udf.register(con, tiny_model, aspect_model=pair)
    (results,) = con.execute("SELECT sentiment_aspects('Nice lid. Bad lid.', ['lid'])").fetchall()[
        0
    ]
    expected = load_model(pair).predict_proba_pairs(["Nice lid.", "Bad lid."], ["lid", "lid"])
    assert no_memo() >= 4  # both sides ran the pair model (the probes count too)
    assert results[0]["mentions"] == 2
    assert results[0]["score"] == pytest.approx(float((expected[:, 2] - expected[:, 0]).mean()))


@pytest.mark.slow
def test_aspect_model_beats_whole_sentence_labels_on_the_holdout(aspect_con):
    path = str(shared_file("aspects_dev.csv"))
    rows = aspect_con.execute(
        "SELECT domain, avg((sentiment_aspects(sentence, [aspect])[1].label = polarity)::INT), "
        "avg((classify_sentiment(sentence) = polarity)::INT) "
        "FROM read_csv(?) WHERE split = 'holdout' GROUP BY domain ORDER BY domain",
        [path],
    ).fetchall()
    accuracy = {domain: (aspects, whole) for domain, aspects, whole in rows}
    # The model card measured 0.7788 / 0.8419 on the holdout rows. The aspects_dev.csv laid in
    # ../shared has changed under us: the copy of 2026-12-04 gave 0.7699 / 0.8326, that of
    # 2026-12-05 the card's figures again (same model, same code). Floors below both: a broken
    # model or pairing falls far under them (whole-sentence labels score 0.668 / 0.726).
    assert accuracy["laptops"][0] >= 0.76
    assert accuracy["restaurants"][0] >= 0.82
    for aspects, whole in accuracy.values():
        assert aspects > whole + 0.1


# --- score --sentences -------------------------------------------------------------------------


def test_score_sentences_writes_one_row_per_sentence_and_resumes(tiny_model, tmp_path):
    source = tmp_path / "in.parquet"
    texts = ["Good lid. Bad handle!!! would not buy", None, "One sentence only", "   "]
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "review": texts}), source)
    out = tmp_path / "out.parquet"
    args = ["score", "--input", str(source), "--text-column", "review", "--id-column", "id",
            "--output", str(out), "--model", str(tiny_model), "--sentences"]  # fmt: skip
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    rows = duckdb.execute(f"SELECT * FROM '{out}' ORDER BY id, position").fetchall()
    con = duckdb.connect()
    sentiment_udf.register(con, tiny_model)
    expected = [
        (i, *s.values())
        for i, t in zip([1, 2, 3, 4], texts)
        for s in (con.execute("SELECT sentiment_sentences(?)", [t]).fetchall()[0][0] or [None])
        if s is not None
    ]
    assert [r for r in rows if r[1] is not None] == expected
    assert [r for r in rows if r[1] is None] == [(2, None, None, None, None, None), (4, None, None, None, None, None)]  # fmt: skip
    assert duckdb.execute(f"DESCRIBE SELECT * FROM '{out}'").fetchall()[1][:2] == ("position", "INTEGER")  # fmt: skip
    resumed = cli(*args, "--resume")
    assert resumed.returncode == 0 and "scored 0 rows" in resumed.stderr
    assert "4 were already there" in resumed.stderr
    mixed_up = cli(*args[:-1], "--resume")  # a review-level run onto a sentence-level target
    assert_one_line_error(mixed_up, "--sentences")
    with_title = cli(*args, "--title-column", "review", "--replace")
    assert with_title.returncode == 2 and "leave out --title-column" in with_title.stderr
    from sentiment_udf.engines import bulk
    from sentiment_udf.engines.sql_names import file_source

    with pytest.raises(ValueError, match="leave out title_column"):  # the library refuses too
        bulk.score(duckdb.connect(), file_source(source), load_model(tiny_model), id_column="id",
                   text_column="review", title_column="review", output=out, replace=True,
                   sentences=True)  # fmt: skip


# --- issue 18: one language rule, no NaN, linear splitting, whole sentences ---------------------

GERMAN = "Das Produkt ist nach zwei Tagen kaputt gegangen. Die Batterie ist schlecht. Nie wieder!"


def test_english_only_false_reaches_the_aspect_model_and_guarded_text_is_null_everywhere():
    guarded, anything, routed = duckdb.connect(), duckdb.connect(), duckdb.connect()
    sentiment_udf.register(guarded, english_only=True)
    sentiment_udf.register(anything, english_only=False)
    sentiment_udf.register(routed)
    query = (
        "SELECT sentiment_aspects(?, ['batterie']), sentiment_overall(?), "
        "sentiment_sentences(?), sentiment_score(?)"
    )
    assert guarded.execute(query, [GERMAN] * 4).fetchall()[0] == (None, None, None, None)
    # by default the multilingual model reads it; aspects stay English-only (NULL)
    aspects, overall, sentences, score = routed.execute(query, [GERMAN] * 4).fetchall()[0]
    assert aspects is None and overall is not None and len(sentences) == 3 and score < 0.5
    aspects, overall, sentences, score = anything.execute(query, [GERMAN] * 4).fetchall()[0]
    assert aspects[0]["mentions"] == 1 and aspects[0]["label"] in (
        "negative",
        "neutral",
        "positive",
    )
    assert overall in ("negative", "positive", "neutral", "mixed") and len(sentences) == 3
    assert score is not None


def test_a_mention_in_a_sentence_that_looks_foreign_gets_a_label_and_a_finite_score(aspect_con):
    """The whole review is English; one sentence, alone, reads as Spanish to the detector. It
    once got label 'negative' with score NaN, and a NULL label in sentiment_sentences."""
    text = (
        "The battery is great and lasts all day, I love this phone. "
        "La batería es excelente, muy buena batería, me encanta. "
        "Honestly the battery is the best part of it."
    )
    (results,) = aspect_con.execute(
        "SELECT sentiment_aspects(?, ['battery|batería'])", [text]
    ).fetchall()[0]
    assert results[0]["mentions"] == 4 and results[0]["score"] == results[0]["score"]  # not NaN
    assert results[0]["label"] in ("positive", "mixed", "neutral")
    sentences = aspect_con.execute("SELECT sentiment_sentences(?)", [text]).fetchall()[0][0]
    assert all(s["label"] is not None and s["score"] == s["score"] for s in sentences)


@pytest.mark.parametrize(
    "text",
    [
        "The food here does a great service to the name (Cantonese that is...).",
        "Great romantic place for a date (try to get the corner booth table!).",
        "I really like both the scallops and the mahi mahi -LRB- on saffron risotto-yum! -RRB-.",
    ],
)
def test_a_closing_bracket_stays_with_its_sentence(con, text):
    (rows,) = con.execute("SELECT sentiment_sentences(?)", [text]).fetchall()[0]
    assert [r["sentence"] for r in rows] == [text]


@pytest.mark.slow
def test_sql_aspects_of_the_holdout_sentences_equal_the_model_on_the_whole_sentence(aspect_con):
    """Each holdout row is one review sentence: splitting it must not cut the aspect's context.
    8 of the SemEval test aspects once got another label through SQL than from the model on
    their whole sentence (cut at '...' before a closing bracket)."""
    path = str(shared_file("aspects_dev.csv"))
    rows = aspect_con.execute(
        "SELECT sentence, aspect, sentiment_aspects(sentence, [aspect])[1].label "
        "FROM read_csv(?) WHERE split = 'holdout'",
        [path],
    ).fetchall()
    model = sentiment_udf.engines.duckdb_functions.load_aspect_model(None)
    probs = model.predict_proba_pairs([r[0] for r in rows], [r[1] for r in rows])
    whole = model.labels_of(probs)
    differ = [(r[0], r[1]) for r, label in zip(rows, whole) if r[2] not in (label, "mixed")]
    assert len(rows) == 656 and len(differ) <= 3, differ


ASPECT_LABEL = "SELECT a.label FROM (SELECT unnest(sentiment_aspects(?, [?])) AS a)"


@pytest.mark.parametrize(
    ("sentence", "aspect", "label"),
    [
        ("The packaging wasn't great.", "packaging", "negative"),
        ("Condition wasn't great.", "condition", "negative"),
        ("The screen isn't bad at all.", "screen", "positive"),
    ],
)
def test_negated_praise_and_negated_fault_a_new_user_checked(aspect_con, sentence, aspect, label):
    """Issue 28: a new user saw "wasn't great" labelled positive by an earlier aspect model."""
    assert aspect_con.execute(ASPECT_LABEL, [sentence, aspect]).fetchall() == [(label,)]


@pytest.mark.xfail(
    strict=True,
    reason="a known error of sentiment-en-aspects-v1 (issue 28): the low rating in the same "
    "sentence outweighs 'working properly' for the CD player; a strict xfail, so a model that "
    "gets it right makes this test fail until the mark is removed",
)
def test_praise_of_one_part_inside_a_low_rating_sentence(aspect_con):
    sentence = "2 stars for the CD player and remote working properly."
    assert aspect_con.execute(ASPECT_LABEL, [sentence, "CD player"]).fetchall() == [("positive",)]
