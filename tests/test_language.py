"""The English-only guard and detect_language (issue 13, point 2)."""

from __future__ import annotations

import json

import duckdb
import pytest

import sentiment_udf
from sentiment_udf.runtime.language import detect_language, is_other_language
from tests.cli_helpers import cli
from tests.conftest import shared_file


def test_detect_language_in_sql(con):
    rows = con.execute(
        "SELECT detect_language(t) FROM unnest(?) WITH ORDINALITY u(t, i) ORDER BY i",
        [
            [
                "This blender is great, it crushes ice in seconds.",
                "Das Produkt ist nach zwei Tagen kaputt gegangen. Nie wieder!",
                "Produit cassé à la livraison, très déçu.",
                "届いた時には壊れていました。最悪です。",
                None,
                "   ",
                "😀😀",
            ]
        ],
    ).fetchall()
    assert [r[0] for r in rows] == ["en", "de", "fr", "ja", None, None, None]
    with pytest.raises(duckdb.Error, match="argument 1 is INTEGER, not text"):
        con.execute("SELECT detect_language(42)").fetchall()


def test_the_guard_is_kept_by_english_only_and_can_be_turned_off(tiny_model):
    german = "Das Produkt ist nach zwei Tagen kaputt gegangen. Nie wieder!"
    guarded = duckdb.connect()
    sentiment_udf.register(guarded, tiny_model, english_only=True)
    row = guarded.execute(
        "SELECT classify_sentiment(?), sentiment_score(?), sentiment(?), sentiment_sentences(?)",
        [german] * 4,
    ).fetchall()[0]
    assert row[:3] == (None, None, None)
    assert row[3] is None  # the sentences of a refused review: NULL like every other function
    assert guarded.execute("SELECT sentiment_score('It broke after two days.')").fetchall()[0][0]
    anything = duckdb.connect()
    sentiment_udf.register(anything, tiny_model, english_only=False)
    assert anything.execute("SELECT sentiment_score(?)", [german]).fetchall()[0][0] is not None
    off = cli("query", f"SELECT sentiment_score('{german}') AS s", "--model", str(tiny_model),
              "--any-language", "--format", "csv")  # fmt: skip
    on = cli("query", f"SELECT sentiment_score('{german}') AS s", "--model", str(tiny_model),
             "--languages", "model", "--format", "csv")  # fmt: skip
    assert on.stdout == 's\n""\n'  # NULL (an empty CSV field)
    assert 0.0 <= float(off.stdout.splitlines()[1]) <= 1.0  # a score: this fails on "" too


GERMAN = [
    "Das Produkt ist nach zwei Tagen kaputt gegangen. Nie wieder!",
    "Schrecklich, ich bin sehr enttäuscht.",
    "Totaler Schrott, Geld zurück bitte.",
    "Leider defekt angekommen und der Service ist schlecht.",
    "Furchtbar laut und es riecht komisch.",
]


@pytest.mark.parametrize("command", ["score", "eval", "shell"])
def test_any_language_reaches_the_model_in_score_eval_and_shell(tiny_model, tmp_path, command):
    """--any-language on every command that takes it: German reviews are read by the model
    itself (its in-process answers), not sent to the multilingual model (the default, which
    calls them all negative) and not NULL (--languages model). Labelled "positive", so that
    eval's accuracy is the share the random tiny model calls positive (3 of 5), not 0."""
    own = sentiment_udf.SentimentModel(tiny_model, english_only=False).predict_proba(GERMAN)
    assert 0 < (own[:, 1] > 0.5).sum() < len(GERMAN)  # seeded: the test can tell the readers
    source = tmp_path / "in.csv"
    duckdb.execute(
        f"COPY (SELECT range AS id, list_extract(?, range + 1) AS t, 'positive' AS y "
        f"FROM range({len(GERMAN)})) TO '{source}' (HEADER)",
        [GERMAN],
    )

    def run(flag: list[str]) -> list[str]:
        model = ["--model", str(tiny_model), *flag]
        if command == "score":
            out = tmp_path / f"out{len(flag)}.csv"
            done = cli("score", "--input", str(source), "--text-column", "t", "--id-column",
                       "id", "--output", str(out), "--probabilities", "--quiet", *model)  # fmt: skip
            assert done.returncode == 0, done.stderr
            rows = duckdb.execute(f"SELECT p_positive FROM '{out}' ORDER BY id").fetchall()
            return ["NULL" if p is None else f"{p:.6f}" for (p,) in rows]
        if command == "eval":
            done = cli("eval", "--input", str(source), "--text-column", "t", "--label-column", "y",
                       "--format", "json", *model)  # fmt: skip
            assert done.returncode == 0, done.stderr
            return [f"{json.loads(done.stdout)['accuracy']:.6f}"]
        done = cli("shell", *model, stdin=f"SELECT sentiment_score('{GERMAN[0]}') AS s;\n")
        assert done.returncode == 0, done.stderr
        return [done.stdout.splitlines()[2].strip()]

    if command == "eval":
        expected = ([f"{(own[:, 1] > 0.5).mean():.6f}"], [f"{0:.6f}"])
    else:
        scores = [f"{p:.6f}" for p in own[:, 1]][: 1 if command == "shell" else None]
        expected = (scores, ["NULL"] * len(scores))
    assert (run(["--any-language"]), run(["--languages", "model"])) == expected


def test_the_guard_wrongly_rejects_fewer_than_1_in_1000_english_reviews():
    """The measurement the default rests on (BENCHMARKS.md): reviews_dev texts and reviews_bench."""
    dev = duckdb.execute(
        "SELECT text FROM read_csv(?)", [str(shared_file("reviews_dev.csv"))]
    ).fetchall()
    bench = duckdb.execute(
        "SELECT review FROM read_parquet(?)", [str(shared_file("reviews_bench.parquet"))]
    ).fetchall()
    texts = [r[0] for r in dev + bench]
    rejected = [t for t in texts if is_other_language(t)]
    assert len(texts) == 21_840
    assert len(rejected) / len(texts) < 1 / 1000, rejected[:5]
    assert len(rejected) == 4  # three are Spanish reviews, one is "JA JA JA..." laughter
    assert sum(detect_language(t) == "es" for t in rejected) == 4
