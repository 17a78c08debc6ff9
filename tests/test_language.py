"""The English-only guard and detect_language (issue 13, point 2)."""

from __future__ import annotations

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
