"""Adversarial inputs, query shapes, load and faults (issue: reliability). Heavy cases carry the
`heavy` marker and a CI size; SENTIMENT_UDF_HEAVY_ROWS=1000000 runs them at full size."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sentiment_udf
from sentiment_udf import ModelError, SentimentModel, load_model
from sentiment_udf.runtime.language import is_other_language
from tests.cli_helpers import assert_one_line_error, script, with_default_sigint

ROOT = Path(__file__).resolve().parents[1]
HEAVY_ROWS = int(os.environ.get("SENTIMENT_UDF_HEAVY_ROWS", "100000"))


@pytest.fixture(scope="module")
def tiny(tiny_model):
    return tiny_model


# --- inputs -----------------------------------------------------------------------------------

SCORED_INPUTS = {
    "1 MB text": "This blender is great. " * 45_000,
    "20 MB text": "awful " * 3_500_000,
    "NUL and control characters inside": "Great\x00 product\x01\x02, works\x1f well",
    "emoji": "😀😀 love it 👍",
    "emoji only (tokens are [UNK])": "😀😀😀",
    "mixed scripts": "Great 产品 رائع отлично",
    "combining characters": "Cafe\u0301 was gre\u0300at",
    "HTML markup": "<p>Terrible <b>quality</b>,<br/> <a href='x'>returned</a> it</p>",
    "a single character": "k",
}
OTHER_LANGUAGES = {
    "CJK": "这个产品非常好，我很喜欢",
    "Arabic (right-to-left)": "المنتج رائع جدا",
    "Hebrew (right-to-left)": "המוצר מצוין",
    "German": "Das Produkt ist nach zwei Tagen kaputt gegangen. Nie wieder!",
}
NULL_INPUTS = {
    "NULL": None,
    "empty": "",
    "whitespace only": " \t\n\r ",
    "control characters only (no tokens)": "\x01\x02\x03",
    "NUL only": "\x00",
}


@pytest.mark.parametrize("case", sorted(SCORED_INPUTS))
def test_inputs_that_get_a_score(embedded_con, case):
    text = SCORED_INPUTS[case]
    label, score = embedded_con.execute(
        "SELECT classify_sentiment(?), sentiment_score(?)", [text] * 2
    ).fetchall()[0]
    assert label in ("negative", "positive") and 0.0 <= score <= 1.0
    model = load_model()
    tokens = model.encoder.tokenizer.encode(text[:100_000], add_special_tokens=False)
    body = 512 - 2  # max_length less [CLS] and [SEP]: written out, not read from the encoder
    if len(tokens.ids) > body:  # 1 MB, 20 MB: the score of the first tokens
        head = text[: tokens.offsets[body - 1][1]]
        alone = embedded_con.execute("SELECT sentiment_score(?)", [head]).fetchone()[0]
        assert score == pytest.approx(alone, abs=1e-12)


@pytest.mark.parametrize("case", sorted(NULL_INPUTS))
def test_inputs_that_give_null(embedded_con, case):
    row = embedded_con.execute(
        "SELECT classify_sentiment(?), sentiment_score(?), sentiment(?)", [NULL_INPUTS[case]] * 3
    ).fetchall()[0]
    assert row == (None, None, None)


@pytest.mark.parametrize("case", sorted(OTHER_LANGUAGES))
def test_other_languages_are_read_by_the_multilingual_model_or_null(embedded_con, case):
    """German and Chinese go to the multilingual model; Arabic and Hebrew, which no shipped
    model reads, give NULL; languages="model" (english_only=True) refuses all four; any: all."""
    text = OTHER_LANGUAGES[case]
    language = embedded_con.execute("SELECT detect_language(?)", [text]).fetchall()[0][0]
    assert language not in (None, "en")
    score = embedded_con.execute("SELECT sentiment_score(?)", [text]).fetchall()[0][0]
    if language in ("de", "zh"):
        assert 0.0 <= score <= 1.0
    else:
        assert score is None
    model_only = duckdb.connect()
    sentiment_udf.register(model_only, languages="model")
    assert model_only.execute("SELECT sentiment_score(?)", [text]).fetchall() == [(None,)]
    anything = duckdb.connect()
    sentiment_udf.register(anything, english_only=False)
    score = anything.execute("SELECT sentiment_score(?)", [text]).fetchall()[0][0]
    assert 0.0 <= score <= 1.0


def test_big_texts_in_chunk_mode_are_the_token_weighted_mean_of_their_windows(tiny):
    model = SentimentModel(tiny, long_text="chunk")
    text = SCORED_INPUTS["1 MB text"]
    probs = model.predict_proba([text, "short"])
    ids = model.encoder.tokenizer.encode(text, add_special_tokens=False).ids
    step = 512 - 2  # max_length, less [CLS] and [SEP]: written out, not read from the encoder
    windows = [ids[i : i + step] for i in range(0, len(ids), step)]
    assert len(windows) > 100
    truncate = SentimentModel(tiny)
    prefix, suffix = [101], [102]  # [CLS] and [SEP] of the uncased WordPiece vocabulary
    each = np.array([truncate._run([prefix + w + suffix])[0] for w in windows])
    weights = np.array([len(prefix + w + suffix) for w in windows], dtype=float)
    expected = (each * weights[:, None]).sum(axis=0) / weights.sum()
    assert probs[0] == pytest.approx(expected, abs=1e-9)
    assert probs[1] == pytest.approx(truncate.predict_proba(["short"])[0], abs=1e-12)


def test_chunk_mode_through_sql(tiny, no_memo):
    con = duckdb.connect()
    sentiment_udf.register(con, tiny, long_text="chunk", names={}, prefix="c_")
    text = SCORED_INPUTS["1 MB text"]
    expected = load_model(tiny, long_text="chunk").predict_proba([text])[0, 1]
    assert no_memo() == 1
    assert con.execute("SELECT c_sentiment_score(?)", [text]).fetchone()[0] == pytest.approx(
        expected, abs=1e-12
    )
    assert no_memo() == 2  # the SQL side ran the model too


def test_all_null_column_same_value_column_and_single_row(con):
    con.execute(
        "CREATE TABLE t AS SELECT i, NULL::VARCHAR AS n, 'same review' AS s FROM range(5000) r(i)"
    )
    nulls, labelled, distinct_scores, rows = con.execute(
        "SELECT count(classify_sentiment(n)), count(classify_sentiment(s)), "
        "count(DISTINCT sentiment_score(s)), count(*) FROM t"
    ).fetchall()[0]
    assert (nulls, labelled, distinct_scores, rows) == (0, 5000, 1, 5000)
    assert con.execute("SELECT classify_sentiment(s) FROM t LIMIT 1").fetchall()[0][0] in (
        "negative",
        "positive",
    )


@pytest.mark.parametrize("sql_type", ["INTEGER", "DOUBLE", "DATE", "BLOB", "VARCHAR[]", "BOOLEAN"])
def test_non_text_columns_are_a_clear_error(con, sql_type):
    value = {
        "INTEGER": "1",
        "DOUBLE": "1.5",
        "DATE": "DATE '2026-01-01'",
        "BLOB": "'\\x41'::BLOB",
        "VARCHAR[]": "['a']",
        "BOOLEAN": "true",
    }[sql_type]
    with pytest.raises(duckdb.Error, match=f"argument 1 is {re.escape(sql_type)}, not text; cast"):
        con.execute(
            f"SELECT classify_sentiment(x) FROM (SELECT {value}::{sql_type} AS x)"
        ).fetchall()


texts = st.one_of(
    st.none(),
    st.just(""),
    st.just("  "),
    st.text(max_size=60),
    st.sampled_from(["good", "bad", "great value", "awful"]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(texts, min_size=1, max_size=300), threads=st.sampled_from([1, 4]))
def test_properties_rows_order_nulls_and_position_independence(con, tiny, values, threads):
    from sentiment_udf.runtime.result_cache import MEMO

    MEMO.clear()  # each example: the alone side below must run the model, not the memo
    con.execute(f"SET threads = {threads}")
    con.register("input_rows", pa.table({"id": list(range(len(values))), "t": values}))
    rows = con.execute("SELECT id, sentiment_score(t) FROM input_rows ORDER BY id").fetchall()
    con.unregister("input_rows")
    assert [r[0] for r in rows] == list(range(len(values)))  # rows in = rows out, order
    model = load_model(tiny)
    for (_, score), text in zip(rows, values):
        if text is None or not text.strip() or not model.encoder.truncated([text])[0][1:-1]:
            assert score is None  # NULL positions preserved
        else:
            MEMO.clear()
            alone = model.predict_proba([text])[0, 1]  # same text, same result, a model run
            if np.isnan(alone):  # the English-only guard: another language, NULL alike
                assert score is None and is_other_language(text)
            else:
                assert score == pytest.approx(alone, abs=1e-6)


# --- query shapes -----------------------------------------------------------------------------


@pytest.fixture()
def reviews(con):
    words = ["good", "bad", "great", "awful", "fine", "broken"]
    con.execute(
        "CREATE TABLE reviews AS SELECT i AS id, i % 7 AS product, "
        "list_element(?, 1 + i % 6) || ' thing ' || i AS review FROM range(6000) r(i)",
        [words],
    )
    return con


def test_query_shapes_agree_with_a_plain_scan(reviews, no_memo):
    """Each shape runs the model on exactly its rows (the memo is off: no side is answered
    from another's results)."""
    con = reviews

    def scored_by(sql: str, params: list | None = None) -> tuple[list, int]:
        before = no_memo()
        return con.execute(sql, params or []).fetchall(), no_memo() - before

    rows, runs = scored_by("SELECT id, sentiment_score(review) FROM reviews")
    full = dict(rows)
    assert len(full) == 6000 and runs == 6000
    selective, runs = scored_by("SELECT id, sentiment_score(review) FROM reviews WHERE id % 997 = 0")
    assert len(selective) == 7 and runs == 7 and all(full[i] == s for i, s in selective)
    limited, _ = scored_by(
        "SELECT id, sentiment_score(review) FROM reviews ORDER BY id LIMIT 5 OFFSET 100"
    )
    assert [i for i, _ in limited] == list(range(100, 105))
    assert all(full[i] == s for i, s in limited)
    joined, runs = scored_by(
        "SELECT r.id, sentiment_score(r.review) FROM reviews r JOIN "
        "(SELECT range AS id FROM range(0, 6000, 200)) k USING (id)"
    )
    assert len(joined) == 30 and runs == 30 and all(full[i] == s for i, s in joined)
    grouped, runs = scored_by(
        "SELECT classify_sentiment(review) AS l, count(*) FROM reviews GROUP BY l"
    )
    assert sum(n for _, n in grouped) == 6000 and runs == 6000
    assert dict(grouped) == Counter("positive" if s > 0.5 else "negative" for s in full.values())
    ((in_where,),), runs = scored_by(
        "SELECT count(*) FROM reviews WHERE sentiment_score(review) > 0.5"
    )
    assert in_where == sum(s > 0.5 for s in full.values()) and runs == 6000
    ((cte,),), _ = scored_by(
        "WITH s AS (SELECT id, sentiment(review) AS x FROM reviews) "
        "SELECT count(*) FROM (SELECT * FROM s WHERE x.label = 'positive')"
    )
    assert cte == in_where
    con.execute("CREATE TABLE scored AS SELECT id, sentiment_score(review) AS s FROM reviews")
    assert dict(con.execute("SELECT id, s FROM scored").fetchall()) == full
    prepared = [
        scored_by("SELECT sentiment_score(review) FROM reviews WHERE id = ?", [i])
        for i in (0, 1, 5999)
    ]
    assert prepared == [([(full[i],)], 1) for i in (0, 1, 5999)]


def test_view_queried_where_the_functions_are_not_registered(tiny, tmp_path):
    path = str(tmp_path / "v.duckdb")
    con = duckdb.connect(path)
    sentiment_udf.register(con, tiny)
    con.execute("CREATE TABLE r AS SELECT 'good' AS review")
    con.execute("CREATE VIEW v AS SELECT classify_sentiment(review) AS l FROM r")
    assert con.execute("SELECT * FROM v").fetchall()[0][0] in ("negative", "positive")
    con.close()
    other = duckdb.connect(path)
    with pytest.raises(duckdb.CatalogException, match="classify_sentiment"):
        other.execute("SELECT * FROM v").fetchall()
    sentiment_udf.register(other, tiny)
    assert other.execute("SELECT * FROM v").fetchall()[0][0] in ("negative", "positive")


# --- load and faults --------------------------------------------------------------------------


def _scale(rows: int, model: Path) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from run import scale_run

    return scale_run(rows, str(model), _bench())


def _bench() -> Path:
    from tests.conftest import shared_file

    return shared_file("reviews_bench.parquet")


@pytest.mark.heavy
def test_large_table_completes_with_flat_memory(tiny):
    small = _scale(HEAVY_ROWS // 10, tiny)
    large = _scale(HEAVY_ROWS, tiny)
    assert large["rows"] == HEAVY_ROWS
    # Every row labelled but the few the English-only guard refuses (bench holds 3 Spanish
    # reviews of 20,214; the guard's measured rate on English is 0.18 per 1,000).
    assert 0 <= HEAVY_ROWS - large["labelled"] <= HEAVY_ROWS / 1000
    growth = (large["peak_rss_mb"] - large["peak_rss_mb_before_scoring"]) - (
        small["peak_rss_mb"] - small["peak_rss_mb_before_scoring"]
    )
    # Measured: about 70 MB more for 10x the rows (DuckDB's scan buffers and the allocator's
    # high-water mark); 110 MB leaves noise room and fails a leak of 0.5 KB per row or more.
    assert growth < 110, (small, large)


def test_four_cursors_at_once_match_a_single_thread_run(tmp_path, no_memo):
    con = duckdb.connect()
    sentiment_udf.register(con)
    from tests.conftest import shared_file

    con.execute(
        "CREATE TABLE r AS SELECT row_number() OVER () AS id, text FROM read_csv(?) LIMIT 120",
        [str(shared_file("reviews_dev.csv"))],
    )
    query = "SELECT id, sentiment_score(text) FROM r ORDER BY id"
    con.execute("SET threads = 1")
    expected = con.execute(query).fetchall()
    con.execute("SET threads = 4")
    results: dict[int, list] = {}

    def worker(n: int) -> None:
        results[n] = con.cursor().execute(query).fetchall()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert len(results) == 4 and all(r == expected for r in results.values())
    assert no_memo() == 5 * 120  # the single-thread run and each cursor scored every review


def test_interrupt_then_rerun_on_the_same_connection(con, tiny):
    con.execute("CREATE TABLE big AS SELECT 'review number ' || i AS t FROM range(60000) r(i)")
    started_scoring = threading.Event()

    def mark(text: str) -> str:  # a real DuckDB function: says the query reached the scoring
        started_scoring.set()
        return text

    con.create_function("mark_started", mark, ["VARCHAR"], "VARCHAR", side_effects=True)
    long_query = (
        "SELECT count(*), sum(sentiment_score(mark_started(t) || r.i)) FROM big, range(100) r(i)"
    )
    interrupter = threading.Thread(
        target=lambda: started_scoring.wait(120) and con.interrupt(), daemon=True
    )
    interrupter.start()
    with pytest.raises(duckdb.InterruptException):  # 6,000,000 rows: never done before it
        con.execute(long_query).fetchall()
    interrupter.join(timeout=120)
    query = "SELECT count(*), sum(sentiment_score(t)) FROM big"
    again = con.execute(query).fetchall()[0]
    assert again[0] == 60000
    from sentiment_udf.runtime.result_cache import MEMO

    MEMO.clear()  # the fresh connection's answer comes from the model, not from memory
    fresh = duckdb.connect()
    sentiment_udf.register(fresh, tiny)
    fresh.execute("CREATE TABLE big AS SELECT 'review number ' || i AS t FROM range(60000) r(i)")
    assert fresh.execute(query).fetchall()[0] == pytest.approx(again)


def test_sigint_stops_the_cli_and_it_runs_again(tiny, tmp_path):
    ready = tmp_path / "ready.csv"  # written by the first statement: the CLI is past its imports
    query = (
        f"COPY (SELECT 1) TO '{ready}'; "
        "SELECT count(classify_sentiment('review ' || i)) AS n FROM range(3000000) r(i)"
    )
    process = subprocess.Popen(
        with_default_sigint([script(), "query", query, "--model", str(tiny)]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the query finished before the signal"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Interrupted" in err and "Traceback" not in err
    quick = subprocess.run(
        [
            script(),
            "query",
            "SELECT count(classify_sentiment('a')) AS n",
            "--model",
            str(tiny),
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert quick.stdout.splitlines()[1] == "1"


def test_register_on_read_only_and_closed_connections(tiny, tmp_path):
    path = str(tmp_path / "ro.duckdb")
    duckdb.connect(path).execute("CREATE TABLE r AS SELECT 'good' AS t").close()
    read_only = duckdb.connect(path, read_only=True)
    sentiment_udf.register(read_only, tiny)
    assert read_only.execute("SELECT classify_sentiment(t) FROM r").fetchall()[0][0] in (
        "negative",
        "positive",
    )
    read_only.close()
    with pytest.raises(duckdb.ConnectionException):
        sentiment_udf.register(read_only, tiny)
    other = duckdb.connect()
    sentiment_udf.register(other, tiny)  # the shared model outlives the closed connection
    assert other.execute("SELECT count(classify_sentiment('x'))").fetchall() == [(1,)]


def test_model_file_that_is_a_directory(tiny, tmp_path):
    folder = shutil.copytree(tiny, tmp_path / "m")
    (folder / "model.onnx").unlink()
    (folder / "model.onnx").mkdir()
    with pytest.raises(ModelError, match="model.onnx"):
        SentimentModel(folder)


def test_repeated_kills_then_resume_leave_a_complete_target(tiny, tmp_path):
    rows = 150_000
    db = tmp_path / "db.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        f"CREATE TABLE src AS SELECT i AS id, 'review ' || i || CASE WHEN i % 2 = 0 "
        f"THEN ' good' ELSE ' bad' END AS review FROM range({rows}) r(i)"
    )
    checksum = con.execute("SELECT sum(hash(id, review)) FROM src").fetchall()
    con.close()
    args = [
        script(),
        "score",
        "--db",
        str(db),
        "--table",
        "src",
        "--text-column",
        "review",
        "--id-column",
        "id",
        "--target-table",
        "dst",
        "--model",
        str(tiny),
        "--batch-rows",
        "4000",
        "--resume",
    ]
    def bytes_written() -> int:  # the database and its write-ahead log
        return sum(p.stat().st_size for p in (db, Path(f"{db}.wal")) if p.exists())

    kills, partial = 0, []
    for _ in range(5):
        before = bytes_written()
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        # killed once it has written a batch's worth (4,000 rows: over 50 kB) and is in the
        # next, not at a random time (every random kill could land before the first commit)
        while process.poll() is None and bytes_written() < before + 50_000:
            assert time.monotonic() < deadline, "score wrote nothing in 120 s"
            time.sleep(0.01)
        time.sleep(0.2)
        if process.poll() is None:
            process.kill()
            kills += 1
        process.communicate(timeout=60)
        with duckdb.connect(str(db), read_only=True) as seen:
            done = seen.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'dst'"
            ).fetchone()[0] and seen.execute("SELECT count(*) FROM dst").fetchone()[0]
        if 0 < done < rows:
            partial.append(done)
    assert partial, "no kill left a partly scored target: the resume below proves nothing"
    final = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute(
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM dst"
    ).fetchall() == [(rows, rows, 0, rows - 1)]
    assert con.execute("SELECT sum(hash(id, review)) FROM src").fetchall() == checksum
    con.close()
    assert kills >= 1


# --- security ---------------------------------------------------------------------------------


def test_names_that_try_to_inject_sql_are_taken_literally(tiny, tmp_path):
    db = tmp_path / "db.duckdb"
    setup = duckdb.connect(str(db))
    setup.execute('CREATE TABLE "src; DROP TABLE keep" AS SELECT 1 AS "id""x", \'good\' AS "t; --"')
    setup.execute("CREATE TABLE keep AS SELECT 1 AS k")
    setup.close()
    result = subprocess.run(
        [
            script(),
            "score",
            "--db",
            str(db),
            "--table",
            "src; DROP TABLE keep",
            "--text-column",
            "t; --",
            "--id-column",
            'id"x',
            "--target-table",
            'out"); DROP TABLE keep; --',
            "--model",
            str(tiny),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    con = duckdb.connect(str(db), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert tables == {"src; DROP TABLE keep", "keep", 'out"); DROP TABLE keep; --'}
    assert_one_line_error(
        subprocess.run(
            [
                script(),
                "score",
                "--db",
                str(db),
                "--table",
                "keep",
                "--text-column",
                "k",
                "--id-column",
                "k",
                "--target-table",
                "x",
                "--model",
                str(tiny),
            ],
            capture_output=True,
            text=True,
        ),
        "not text",
    )


def test_the_package_never_unpickles_or_evaluates_model_files():
    import re

    source = "\n".join(p.read_text() for p in (ROOT / "sentiment_udf").rglob("*.py"))
    for forbidden in (
        r"\bimport pickle",
        r"pickle\.load",
        r"torch\.load",
        r"(?<![\w.])eval\(",
        r"(?<![\w.])exec\(",
    ):
        assert not re.search(forbidden, source), forbidden
