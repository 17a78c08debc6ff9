"""The short names of the embedded models (`--model fast`, `register(con, aspect_model="aspects")`):
each names the model its documentation says, in the CLI and in `register`."""

from __future__ import annotations

import json

import duckdb
import pytest

import sentiment_udf
from tests.cli_helpers import cli

# Written out here, not read from the code under test: the README's names and their folders.
SHORT_NAMES = {
    "default": "sentiment-en-reviews-v2",
    "fast": "sentiment-en-reviews-fast",
    "aspects": "sentiment-en-aspects-v1",
    "targets": "sentiment-en-targets-v1",
    "multilingual": "sentiment-multi-reviews-v1",
    "stars": "sentiment-en-stars-v1",
}


@pytest.mark.parametrize("short, folder", SHORT_NAMES.items())
def test_each_short_name_is_its_embedded_model_in_the_cli(short, folder):
    info = cli("models", "info", short)
    assert info.returncode == 0, info.stderr
    described = json.loads(info.stdout)
    assert described["name"] == folder and described["kind"] == "embedded"


def test_short_names_choose_the_model_behind_each_sql_function():
    con = duckdb.connect()
    chosen = sentiment_udf.register(
        con, model="default", aspect_model="aspects", opinion_model="targets"
    )
    assert chosen.model.name == SHORT_NAMES["default"]
    assert chosen.aspect_model is not None and chosen.aspect_model.name == SHORT_NAMES["aspects"]
    assert chosen.opinion_model is not None and chosen.opinion_model.name == SHORT_NAMES["targets"]
    text = "The screen is gorgeous. The battery died after a day."
    aspects = con.execute(
        "SELECT [a.label FOR a IN sentiment_aspects(?, ['screen', 'battery'])]", [text]
    ).fetchone()[0]
    assert aspects == ["positive", "negative"]
    targets = con.execute(
        "SELECT [o.target FOR o IN sentiment_opinions(?)]", [text]
    ).fetchone()[0]
    assert {"screen", "battery"} <= {target.lower() for target in targets}

    con = duckdb.connect()
    multilingual = sentiment_udf.register(con, model="multilingual", prefix="multi_")
    assert multilingual.model.name == SHORT_NAMES["multilingual"]
    german = con.execute(
        "SELECT multi_classify_sentiment('Das Produkt ist großartig, ich liebe es.')"
    ).fetchone()[0]
    assert german == "positive"
