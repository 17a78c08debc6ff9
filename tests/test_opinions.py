"""sentiment_opinions: targets found by the embedded term tagger, labelled by the aspect model,
through real DuckDB SQL, the CLI and the runtime (real onnxruntime sessions)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import duckdb
import pytest
from click.testing import CliRunner

from sentiment_udf.analysis.opinions import target_key
from sentiment_udf.cli.main import main
from sentiment_udf.errors import ModelError
from sentiment_udf.runtime import term_tagger
from sentiment_udf.runtime.registry import load_tagger
from sentiment_udf.runtime.term_tagger import TermTagger, decode_spans
from tests.conftest import shared_file

TWO_TARGETS = "The battery is great but the screen is dim."


def opinions(con, text):
    return con.execute("SELECT sentiment_opinions(?)", [text]).fetchall()[0][0]


def test_two_targets_in_one_sentence_get_their_own_labels(embedded_con):
    found = opinions(embedded_con, TWO_TARGETS)
    assert [(o["target"], o["label"]) for o in found] == [
        ("battery", "positive"),
        ("screen", "negative"),
    ]
    assert [o["position"] for o in found] == [5, 30]  # SQL positions, 1-based
    assert {o["sentence_position"] for o in found} == {1}
    assert found[0]["score"] > 0.5 > -0.5 > found[1]["score"]


def test_offsets_name_the_target_and_sentence_positions_name_a_sentence(embedded_con):
    path = str(shared_file("reviews_dev.csv"))
    embedded_con.execute(
        "CREATE OR REPLACE TEMP TABLE few AS SELECT text FROM read_csv(?) USING SAMPLE 40 ROWS "
        "(reservoir, 7)",
        [path],
    )
    rows = embedded_con.execute(
        "SELECT text, o.target, o.position, o.length, o.sentence_position, o.label, o.score, "
        "map_from_entries(list_transform(sentiment_sentences(text), "
        "lambda s: (s.position, s.length))) "
        "FROM few, unnest(sentiment_opinions(text)) AS t(o)"
    ).fetchall()
    assert len(rows) > 40  # real reviews name several targets each
    for text, target, position, length, sentence_position, label, score, sentences in rows:
        start, end = position - 1, position - 1 + length
        assert text[start:end] == target
        # whole words, no edge punctuation or space (offsets one off would cut a word)
        assert target == target.strip() and target[0] not in ".,;:!?" and target[-1] not in ".,;:!?"
        assert not (start > 0 and text[start - 1].isalnum() and target[0].isalnum()), target
        assert not (end < len(text) and text[end].isalnum() and target[-1].isalnum()), target
        assert sentence_position in sentences  # inside its sentence
        assert sentence_position <= position and end <= sentence_position - 1 + sentences[sentence_position]
        assert label in ("negative", "neutral", "positive")
        assert -1.0 <= score <= 1.0
    positions = embedded_con.execute(
        "SELECT list_transform(sentiment_opinions(text), lambda o: o.position) FROM few"
    ).fetchall()
    assert all(p == sorted(p) for (p,) in positions)  # text order


def test_null_blank_guarded_and_targetless_text(embedded_con):
    assert opinions(embedded_con, None) is None
    assert opinions(embedded_con, "   \n ") is None
    assert opinions(embedded_con, "Das Essen war sehr gut und der Service freundlich.") is None
    assert opinions(embedded_con, "It is what it is.") == []


def test_a_target_asked_for_by_name_gets_the_same_answer_from_sentiment_aspects(
    embedded_con, no_memo
):
    text = "Great food, but the service was slow and the prices are high. The decor is lovely."
    found = opinions(embedded_con, text)
    assert len(found) >= 3
    compared = 0
    for o in found:
        no_memo.reset()
        (aspect,) = embedded_con.execute(
            "SELECT sentiment_aspects(?, [?])[1]", [text, o["target"]]
        ).fetchall()[0]
        assert no_memo() >= 1  # the aspect model ran again for this pair
        if aspect["mentions"] == 1:  # the target written once: one pair, the same pair
            assert aspect["label"] == o["label"]
            assert aspect["score"] == pytest.approx(o["score"], abs=1e-12)
            compared += 1
    assert compared >= 3


def test_target_key_folds_case_plural_and_articles():
    assert target_key("The Batteries") == target_key("battery") == "battery"
    assert target_key("the screen.") == "screen"
    assert target_key("Dishes") == "dish"
    assert target_key("menus") == "menu"
    assert target_key("movies") == "movie"
    assert target_key("glass") == "glass"
    assert target_key("price of the food") == "price of the food"
    assert target_key("  Battery   Life ") == "battery life"


def test_top_complaints_query_of_the_issue_runs(embedded_con):
    path = str(shared_file("reviews_dev.csv"))
    rows = embedded_con.execute(
        "SELECT o.target_key, count(*) AS complaints FROM (SELECT text FROM read_csv(?) "
        "WHERE label = 'negative' LIMIT 30) AS reviews, unnest(sentiment_opinions(text)) AS t(o) "
        "WHERE o.label = 'negative' GROUP BY ALL ORDER BY complaints DESC LIMIT 5",
        [path],
    ).fetchall()
    counts = [count for _, count in rows]
    assert rows and counts == sorted(counts, reverse=True)
    reviews = embedded_con.execute(
        "SELECT text, sentiment_opinions(text) FROM read_csv(?) WHERE label = 'negative' LIMIT 30",
        [path],
    ).fetchall()
    for key, count in rows:  # each count is that target's negative opinions, review by review
        assert any(key in " ".join(text.lower().split()) for text, _ in reviews), key
        assert count == sum(
            o["target_key"] == key and o["label"] == "negative" for _, found in reviews
            for o in found or []
        )  # fmt: skip


def test_a_long_sentence_is_tagged_in_windows_within_the_text(embedded_con):
    text = "the battery is bad and " * 3000 + "the screen is great."  # one sentence, ~15k tokens
    found = opinions(embedded_con, text)
    assert len(found) > 100
    assert all(
        text[o["position"] - 1 : o["position"] - 1 + o["length"]] == o["target"] for o in found
    )
    assert found[-1]["target"] == "screen"  # the last window was read too


@pytest.mark.heavy
def test_a_long_review_gets_every_opinion_in_bounded_memory():
    """A 3 MB review of 60,000 sentences (200 distinct): every sentence's two opinions come back,
    in text order, and it costs about 115 MB beyond the text (120,000 opinions), not a copy per sentence."""
    script = textwrap.dedent(
        """
        import json, duckdb, sentiment_udf
        def peak():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024
        con = duckdb.connect()
        sentiment_udf.register(con)
        con.execute("CREATE TABLE t AS SELECT string_agg('Day ' || (i % 200) || "
                    "': the battery is bad but the screen is great.', ' ' ORDER BY i) AS x FROM range(60000) r(i)")
        con.execute("SELECT sentiment_opinions('The battery is bad.')").fetchall()
        before = peak()
        found = con.execute("SELECT len(x), len(o), list_transform(o[1:3], lambda e: e.target), "
                            "list_count(list_filter(o, lambda e: e.target = 'screen')), "
                            "o[-1].position + o[-1].length - 1 "
                            "FROM (SELECT x, sentiment_opinions(x) AS o FROM t)").fetchall()[0]
        print(json.dumps({"found": found, "growth_mb": peak() - before}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    length, count, first, screens, last_end = result["found"]
    assert length > 3_000_000
    assert first == ["battery", "screen", "battery"]
    assert screens == 60_000 and count == 120_000  # one battery and one screen per sentence
    assert last_end == length - len(" is great.")  # the last sentence's "screen"
    assert result["growth_mb"] < 400, result


def test_tagger_memo_answers_repeats_and_counts_runs(no_memo):
    tagger = load_tagger()
    before = term_tagger.SENTENCES_TAGGED.value
    first = tagger.tag([TWO_TARGETS, TWO_TARGETS, "Great food."])
    assert term_tagger.SENTENCES_TAGGED.value - before == 2  # identical sentences once
    assert first[0] == first[1] == [(4, 11), (29, 35)]


def test_decode_spans_widens_to_words_and_strips_punctuation():
    text = "Nice batteries, bad keyboard."
    offsets = [(0, 4), (5, 10), (10, 14), (14, 15), (16, 19), (20, 28), (28, 29)]
    tags = [0, 1, 0, 2, 0, 1, 2]  # "batt" B, "eries" O, "," I; "keyboard" B, "." I
    assert decode_spans(text, offsets, tags, {1}, {2}) == [(5, 14), (20, 28)]


def test_a_classifier_is_refused_as_the_opinion_model(tmp_path):
    with pytest.raises(ModelError, match="BIO labels"):
        TermTagger("default")


def test_score_opinions_writes_one_row_per_opinion_and_keeps_every_id(tmp_path):
    source = tmp_path / "reviews.csv"
    duckdb.execute(
        "COPY (SELECT * FROM (VALUES (1, ?), (2, ''), (3, 'It is what it is.'), (4, NULL)) "
        f"AS t(id, review)) TO '{source}' (HEADER)",
        [TWO_TARGETS],
    )
    out = tmp_path / "opinions.parquet"
    args = ["score", "--input", str(source), "--text-column", "review", "--id-column", "id",
            "--opinions", "--output", str(out), "--quiet"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = duckdb.execute(
        f"SELECT id, target, target_key, label, position FROM '{out}' ORDER BY id, position"
    ).fetchall()
    assert rows[:2] == [
        (1, "battery", "battery", "positive", 5),
        (1, "screen", "screen", "negative", 30),
    ]
    assert rows[2:] == [
        (2, None, None, None, None),
        (3, None, None, None, None),
        (4, None, None, None, None),
    ]
    again = CliRunner().invoke(main, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert "0 rows" in again.output and "4 were already there" in again.output
    assert duckdb.execute(f"SELECT count(*) FROM '{out}'").fetchall()[0][0] == 5


def test_forked_children_tag_while_a_parent_thread_is_mid_run(no_memo):
    import os
    import signal
    import threading

    tagger = load_tagger()
    stop = threading.Event()

    def busy() -> None:  # the parent keeps a tagger run in flight while it forks
        n = 0
        while not stop.is_set():
            n += 1
            tagger.tag([f"The screen number {n} is sharp but the hinge {n} creaks."])

    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    statuses = []
    try:
        for child in range(8):
            pid = os.fork()
            if pid == 0:  # a sentence nobody tagged, so the child's tagger really runs
                signal.alarm(60)
                spans = tagger.tag([f"Child {child}: the trackpad is smooth but the fan is loud."])
                os._exit(0 if len(spans[0]) >= 2 else 3)
            statuses.append(os.waitpid(pid, 0)[1])
    finally:
        stop.set()
        worker.join(60)
    assert all(os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0 for s in statuses), statuses


def test_an_exported_token_classifier_is_the_opinion_model_from_sql(tmp_path):
    """`models export` on a Hugging Face token classifier with BIO labels gives a folder that
    register(opinion_model=) reads: a tiny tagger biased to tag every token B- finds each
    sentence's words as one target, where the embedded extractor finds "battery" and "screen"."""
    import shutil

    import torch
    from transformers import DistilBertConfig, DistilBertForTokenClassification

    import sentiment_udf
    from tests.tiny_model import EMBEDDED

    labels = {0: "O", 1: "B-TARGET", 2: "I-TARGET"}
    config = DistilBertConfig(
        vocab_size=30522, dim=16, hidden_dim=32, n_layers=1, n_heads=2,
        max_position_embeddings=512, id2label=labels, label2id={v: k for k, v in labels.items()},
    )  # fmt: skip
    tagger = DistilBertForTokenClassification(config)
    with torch.no_grad():  # every token's logits favour B-TARGET, whatever it reads
        tagger.classifier.weight.zero_()
        tagger.classifier.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
    checkpoint, out = tmp_path / "ckpt", tmp_path / "tagger"
    tagger.save_pretrained(checkpoint, safe_serialization=True)
    shutil.copyfile(EMBEDDED / "tokenizer.json", checkpoint / "tokenizer.json")
    exported = CliRunner().invoke(main, ["models", "export", str(checkpoint), str(out)])
    assert exported.exit_code == 0, exported.output
    text = "The battery died. The screen is fine."
    con = duckdb.connect()
    sentiment_udf.register(con, opinion_model=str(out))
    found = con.execute("SELECT sentiment_opinions(?)", [text]).fetchone()[0]
    assert [o["target"] for o in found] == ["The battery died", "The screen is fine"]
    embedded = duckdb.connect()
    sentiment_udf.register(embedded)
    found = embedded.execute("SELECT sentiment_opinions(?)", [text]).fetchone()[0]
    assert [o["target"] for o in found] == ["battery", "screen"]
