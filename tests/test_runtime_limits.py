"""Reliability round 2 in the runtime: fork safety, memory bounded whatever the script, options
checked where they are given, one rule for blank (issue 14, points 1, 6, 7, 8)."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import textwrap
import tracemalloc

import duckdb
import numpy as np
import pytest

import sentiment_udf
from sentiment_udf import SentimentModel, load_model
from sentiment_udf.runtime.encoding import BLOCK_CHARS, MAX_CHARS_PER_TOKEN
from sentiment_udf.runtime.result_cache import MEMO

from .tiny_model import build_tiny_model

# --- 1. fork ------------------------------------------------------------------------------------


def _score_in_pool(text: str) -> float:
    return float(load_model().predict_proba([text])[0, 1])


def test_a_forked_multiprocessing_pool_scores_after_the_parent_did():
    """The children score texts nobody scored before (no memo inherited can answer them)."""
    parent = load_model()
    parent.predict_proba(["great", "awful"])  # the parent's pool of workers exists now
    fresh = ["a pool child's first text, rather good", "a pool child's second text, poor"]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        result = pool.map_async(_score_in_pool, fresh)
        got = result.get(timeout=120)
    assert got == pytest.approx([float(p) for p in parent.predict_proba(fresh)[:, 1]], abs=1e-12)


def test_a_bare_fork_scores_in_the_child_through_python_and_sql(tmp_path):
    """Run in its own interpreter, under a timeout: a hang fails the test instead of the suite."""
    script = textwrap.dedent(
        """
        import json, os, sys, duckdb, sentiment_udf
        model = sentiment_udf.load_model()
        con = duckdb.connect()
        sentiment_udf.register(con)
        before = con.execute("SELECT sentiment_score('great')").fetchall()[0][0]
        model.predict_proba(["warm"])
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            import signal
            signal.alarm(60)  # a hang ends the child, and the test fails on its status
            fresh = duckdb.connect()
            sentiment_udf.register(fresh)
            out = {  # texts nobody scored before the fork: the model runs in the child
                "python": float(model.predict_proba(["never scored one"])[0, 1]),
                "sql_parent_con": con.execute(
                    "SELECT sentiment_score('never scored two')").fetchall()[0][0],
                "sql_new_con": fresh.execute(
                    "SELECT sentiment_score('never scored three')").fetchall()[0][0],
            }
            os.write(write, json.dumps(out).encode())
            os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        child = json.loads(os.read(read, 10000) or b"{}")
        texts = ["never scored one", "never scored two", "never scored three"]
        after = [float(p) for p in model.predict_proba(texts)[:, 1]]
        print(json.dumps({"before": before, "status": status, "child": child, "after": after}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 0
    assert list(result["child"].values()) == pytest.approx(result["after"], abs=1e-12)
    assert result["before"] is not None


# --- 6. huge texts without spaces ---------------------------------------------------------------

HUGE = {
    "6M characters of Chinese, no spaces": "这个产品非常好" * 860_000,
    "20 MB of newline-separated words": "awful\n" * 3_500_000,
    "a 2 MB word": "a" * 2_000_000 + " good",
}


@pytest.mark.parametrize("case", sorted(HUGE))
def test_huge_texts_score_as_their_first_tokens(tiny_model, case):
    model = load_model(tiny_model, english_only=False)  # the Chinese one would be NULL otherwise
    text = HUGE[case]
    body = model.encoder.body_length
    first = model.encoder.tokenizer.encode(text[:200_000], add_special_tokens=False)
    if len(first.ids) > body:  # the text cut after its first body_length tokens
        expected = model.predict_proba([text[: first.offsets[body - 1][1]]])
    else:
        # A 2 MB word is one [UNK], and " good" lies beyond the most characters ever tokenized
        # (MAX_CHARS_PER_TOKEN per kept token): documented, the text scores as its cut head.
        assert len(text) > body * MAX_CHARS_PER_TOKEN
        expected = model.predict_proba(["a" * 1000])  # a word over 100 characters: [UNK]
    assert model.predict_proba([text]) == pytest.approx(expected, abs=1e-12)


def test_chunk_mode_tokenizes_long_texts_block_by_block_like_the_whole_text(tiny_model):
    text = " ".join(f"word{i % 97} great." for i in range(3 * BLOCK_CHARS // 10))
    assert len(text) > 2 * BLOCK_CHARS
    model = SentimentModel(tiny_model, long_text="chunk")
    whole = model.encoder.tokenizer.encode(text, add_special_tokens=False).ids
    windows = model.encoder.windows([text])[0]
    assert [t for w in windows for t in w[1:-1]] == whole


@pytest.mark.heavy
def test_a_vector_of_huge_texts_costs_bounded_memory(tiny_model):
    """Peak RSS while scoring 8 texts of 6-21 million characters in one vector: the texts
    themselves (Arrow and Python copies, about 330 MB) and little more; before the fix one such
    text took 2.6-3.1 GB."""
    script = textwrap.dedent(
        f"""
        import json, duckdb, sentiment_udf
        def peak():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024
        con = duckdb.connect()
        sentiment_udf.register(con, {str(tiny_model)!r}, english_only=False)
        con.execute("CREATE TABLE t AS SELECT repeat('这个产品非常好', 860000) AS x "
                    "FROM range(4) UNION ALL SELECT repeat(E'awful\\n', 3500000) FROM range(4)")
        con.execute("SELECT sentiment_score('warm up')").fetchall()
        before = peak()
        rows = con.execute("SELECT count(sentiment_score(x)) FROM t").fetchall()[0][0]
        print(json.dumps({{"rows": rows, "growth_mb": peak() - before}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] == 8
    assert result["growth_mb"] < 600, result


# --- round 4, 16: one huge unpunctuated sentence ----------------------------------------------

LONG_SENTENCE = " ".join(
    ("the screen works and the battery lasts and the price seems fair " * 16_000).split()
)  # about 1 MB, no sentence end: every window of sentiment_sentences/_opinions comes from it


def _python_peak_mb(run) -> float:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_windows_of_one_huge_sentence_hold_one_block_of_tokens(tiny_model):
    """The windows are consecutive, cover the text, hold at most body_length tokens each and cut
    no word; finding them keeps one block's tokens, not a tuple per token of the whole text
    (42 MB of Python objects for this 1 MB before the fix; under 4 MB now)."""
    encoder = load_model(tiny_model).encoder
    text = LONG_SENTENCE
    spans: list[tuple[int, int]] = []
    peak = _python_peak_mb(lambda: spans.extend(encoder.window_spans(text)))
    assert peak < 12, peak
    assert len(spans) > 100 and spans[0][0] == 0 and spans[-1][1] == len(text)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert text[end:start].strip() == "" and text[start - 1] == " "  # cut between words
    for start, end in spans[::25]:
        tokens = encoder.tokenizer.encode(text[start:end], add_special_tokens=False).ids
        assert 0 < len(tokens) <= encoder.body_length


@pytest.mark.parametrize("kind", ["texts", "pairs"])
def test_one_call_with_thousands_of_long_texts_holds_a_slice_of_their_tokens(tmp_path, kind):
    """The windows or targets of one huge review reach the model in one call: their token ids
    are made and dropped a slice at a time (20 MB of Python objects here; 56 MB before, all at
    once), with the same
    answers as one text at a time."""
    folder = build_tiny_model(tmp_path / "pair", labels=("negative", "neutral", "positive"))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "input_pair": ["text", "aspect"]}))
    model = SentimentModel(folder)
    words = np.random.default_rng(0).choice(LONG_SENTENCE.split(), size=(3000, 400))
    firsts = [" ".join(row) for row in words]
    assert len(set(firsts)) == 3000
    got: list[np.ndarray] = []
    if kind == "texts":
        peak = _python_peak_mb(lambda: got.append(model.predict_proba(firsts)))
        MEMO.clear()
        one_by_one = [model.predict_proba([t])[0] for t in firsts[::300]]
    else:
        seconds = ["screen"] * len(firsts)
        peak = _python_peak_mb(lambda: got.append(model.predict_proba_pairs(firsts, seconds)))
        MEMO.clear()
        one_by_one = [model.predict_proba_pairs([t], ["screen"])[0] for t in firsts[::300]]
    assert peak < 40, peak
    assert not np.isnan(got[0]).any()
    assert got[0][::300] == pytest.approx(np.array(one_by_one), abs=1e-6)


# --- 7. options checked at registration --------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threads": -1}, "threads must be a whole number >= 1"),
        ({"threads": 2.5}, "threads must be a whole number >= 1"),
        ({"threads": True}, "threads must be a whole number >= 1"),
        ({"max_length": 64.0}, "max_length must be a whole number >= 2"),
        ({"max_length": 1}, "max_length must be a whole number >= 2"),
        ({"long_text": "split"}, "long_text must be 'truncate' or 'chunk'"),
        ({"token_budget": 0}, "token_budget must be a whole number >= 1"),
        ({"onnx_file": 3}, "onnx_file must be a file name"),
    ],
)
def test_bad_option_values_fail_at_registration_naming_the_option(tiny_model, options, message):
    con = duckdb.connect()
    with pytest.raises(ValueError, match=f"register\\(\\): {message}"):
        sentiment_udf.register(con, tiny_model, **options)
    with pytest.raises(ValueError, match=message):
        SentimentModel(tiny_model, **options)


def test_unknown_options_name_the_caller_and_the_valid_ones(tiny_model):
    with pytest.raises(TypeError, match=r"register\(\) got unknown option\(s\) thread; .*threads"):
        sentiment_udf.register(duckdb.connect(), tiny_model, thread=2)
    with pytest.raises(TypeError, match=r"load_model\(\) got unknown option\(s\) maxlen"):
        load_model(tiny_model, maxlen=3)


def test_the_dbt_plugin_checks_its_config_when_dbt_loads_it():
    pytest.importorskip(
        "dbt.adapters.duckdb", reason="dbt-duckdb missing: pip install -e '.[test]'"
    )
    from sentiment_udf.dbt_plugin import Plugin

    with pytest.raises(ValueError, match=r"dbt_plugin config\(\): threads must be"):
        Plugin("sentiment", {"threads": 0})


def test_the_cli_refuses_bad_option_values_before_loading(tiny_model):
    from tests.cli_helpers import cli

    for flags in (["--threads", "0"], ["--max-length", "1"], ["--threads", "2.5"]):
        result = cli("query", "SELECT 1", "--model", str(tiny_model), *flags)
        assert result.returncode == 2 and "Invalid value" in result.stderr, flags


# --- 8. one rule for blank, for the title and the text -----------------------------------------


def test_blank_means_no_token_for_title_and_text_alike(con):
    def score(title: str | None, text: str | None):
        return con.execute("SELECT sentiment_score(?, ?)", [title, text]).fetchone()[0]

    def alone(text: str):
        return con.execute("SELECT sentiment_score(?)", [text]).fetchone()[0]

    for blank in (None, "", "   ", "\x01\x02", "\x00", "\t\x1f\n"):
        assert score("Great", blank) is None, repr(blank)  # a blank text is NULL, title or not
        assert score(blank, "It broke") == alone("It broke"), repr(
            blank
        )  # a blank title: text alone
    assert score("Great", "😀") is not None  # emoji are [UNK] tokens: not blank


def test_python_api_takes_lists_and_names_the_bad_item(tiny_model):
    model = load_model(tiny_model)
    with pytest.raises(TypeError, match=r"list of texts, not one string"):
        model.predict("one string")
    with pytest.raises(TypeError, match=r"texts\[0\] is int, not str or None"):
        model.predict([1, "ok"])
    assert len(model.predict(["one string"])) == 1
    assert np.isnan(model.predict_proba([None])[0, 0])


def test_register_right_after_an_unfinished_result_says_what_to_do(tiny_model):
    con = duckdb.connect()
    pending = con.execute("SELECT 42")
    with pytest.raises(duckdb.ResourceInUseException, match="fetch it"):
        sentiment_udf.register(con, tiny_model)
    assert pending.fetchall() == [(42,)]
    sentiment_udf.register(con, tiny_model)  # once fetched, it registers
    assert con.execute("SELECT count(classify_sentiment('x'))").fetchone() == (1,)
