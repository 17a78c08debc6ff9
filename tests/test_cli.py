"""The installed `sentiment-udf` command, run in subprocesses on real files and databases."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli_helpers import assert_one_line_error, cli, script, with_default_sigint
from tests.conftest import shared_file

WORDS = ["good", "bad", "great", "awful", "fine", "broken", "love", "hate", "cheap", "solid"]


@pytest.fixture()
def reviews(tmp_path):
    """A Parquet file of 2,000 reviews with ids, and a database holding it under awkward names."""
    path = tmp_path / "reviews.parquet"
    texts = [" ".join(WORDS[(x * 7 + i) % 10] for x in range(1 + i % 30)) for i in range(2000)]
    pq.write_table(
        pa.table(
            {
                "id": range(2000),
                "title": [f"title {i}" for i in range(2000)],
                "review": texts,
                "stars": [i % 3 for i in range(2000)],
            }
        ),
        path,
    )
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        'CREATE TABLE "my ""odd"" table" AS SELECT id AS "select", review AS "the text", '
        "title, stars FROM read_parquet(?)",
        [str(path)],
    )
    con.close()
    return path, db


def test_help_everywhere():
    """Every command and group of the CLI, found by walking click's tree (no list to forget)."""
    import click
    from click.testing import CliRunner

    from sentiment_udf.cli.main import main

    def paths(group: click.Group, prefix: list[str]):
        yield prefix
        for name, command in sorted(group.commands.items()):
            if isinstance(command, click.Group):
                yield from paths(command, [*prefix, name])
            else:
                yield [*prefix, name]

    every = list(paths(main, []))
    assert len(every) >= 15 and ["cache", "stats"] in every and ["models", "pull"] in every
    runner = CliRunner()
    for args in every:
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, args
    assert cli("--help").returncode == 0  # and the installed console script itself


def test_query_formats(tiny_model, reviews, tmp_path):
    path, _ = reviews
    sql = f"SELECT id, classify_sentiment(review) AS label FROM '{path}' ORDER BY id LIMIT 3"
    table = cli("query", sql, "--model", str(tiny_model))
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["id", "label"] and "(3 rows)" in table.stdout
    csv = cli("query", sql, "--model", str(tiny_model), "--format", "csv")
    assert csv.stdout.splitlines()[0] == "id,label" and len(csv.stdout.splitlines()) == 4
    lines = cli("query", sql, "--model", str(tiny_model), "--format", "json").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [0, 1, 2]
    out = tmp_path / "out.parquet"
    written = cli("query", sql, "--model", str(tiny_model), "--format", "parquet", "-o", str(out))
    assert written.returncode == 0 and pq.read_table(out).num_rows == 3


def test_query_on_a_database_and_its_errors(tiny_model, reviews, tmp_path):
    _, db = reviews
    ok = cli(
        "query",
        'SELECT count(sentiment_score("the text")) FROM "my ""odd"" table"',
        "--db",
        str(db),
        "--read-only",
        "--model",
        str(tiny_model),
        "--format",
        "csv",
    )
    assert ok.returncode == 0 and ok.stdout.splitlines()[1] == "2000"
    missing = cli("query", "SELECT 1", "--db", str(tmp_path / "none.duckdb"), "--read-only")
    assert_one_line_error(missing, "database file not found")
    bad_sql = cli(
        "query", "SELECT classify_sentiment(stars) FROM 'nope.parquet'", "--model", str(tiny_model)
    )
    assert_one_line_error(bad_sql, "nope.parquet")
    not_text = cli(
        "query", f"SELECT classify_sentiment(stars) FROM '{reviews[0]}'", "--model", str(tiny_model)
    )
    assert_one_line_error(not_text, "not text")
    bad_model = cli("query", "SELECT 1", "--model", str(tmp_path / "no-model"))
    assert_one_line_error(bad_model, "model folder not found")


def test_shell_reads_statements_from_stdin(tiny_model):
    session = (
        "CREATE TABLE t AS SELECT 'great' AS review\n  UNION ALL SELECT 'awful';\n"
        "SELECT count(classify_sentiment(review)) AS n\nFROM t;\n.quit\nSELECT 'never';\n"
    )
    result = cli("shell", "--model", str(tiny_model), stdin=session)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Count\n-----\n2\n(1 row)\nn\n-\n2\n(1 row)\n"
    failing = cli("shell", "--model", str(tiny_model), stdin="SELECT * FROM missing;\nSELECT 1;")
    assert failing.returncode == 1 and "missing" in failing.stderr
    assert failing.stdout == "1\n-\n1\n(1 row)\n"
    helped = cli("shell", "--model", str(tiny_model), stdin=".help\n")
    assert helped.returncode == 0 and helped.stdout.startswith("Statements end in ';'")


def test_score_table_to_table_with_awkward_names(tiny_model, reviews):
    _, db = reviews
    args = [
        "score",
        "--db",
        str(db),
        "--table",
        'my "odd" table',
        "--text-column",
        "the text",
        "--title-column",
        "title",
        "--id-column",
        "select",
        "--target-table",
        "scored; DROP",
        "--model",
        str(tiny_model),
        "--batch-rows",
        "300",
    ]
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    assert "scored 2,000 rows" in first.stderr
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute(
        'SELECT count(*), count(DISTINCT "select"), count(label) FROM "scored; DROP"'
    ).fetchall() == [(2000, 2000, 2000)]
    assert con.execute('SELECT count(*) FROM "my ""odd"" table"').fetchall() == [(2000,)]
    con.close()
    again = cli(*args)
    assert_one_line_error(again, "exists", "--replace")
    replaced = cli(*args, "--replace")
    assert replaced.returncode == 0 and "scored 2,000 rows" in replaced.stderr


def test_score_agrees_with_the_sql_function(tiny_model, reviews, tmp_path):
    path, _ = reviews
    out = tmp_path / "scored.parquet"
    result = cli(
        "score",
        "--input",
        str(path),
        "--text-column",
        "review",
        "--title-column",
        "title",
        "--id-column",
        "id",
        "--output",
        str(out),
        "--model",
        str(tiny_model),
    )
    assert result.returncode == 0, result.stderr
    rows = cli(
        "query",
        f"SELECT count(*) FROM '{out}' s JOIN '{path}' r USING (id) "
        "WHERE abs(s.score - sentiment_score(r.title, r.review)) < 1e-9 "
        "AND s.label = classify_sentiment(r.title, r.review)",
        "--model",
        str(tiny_model),
        "--format",
        "csv",
    )
    assert rows.stdout.splitlines()[1] == "2000"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--text-column", "nope"], "no such column"),
        (["--text-column", "stars"], "not text"),
        (["--text-column", "review", "--id-column", "stars"], "repeated"),
    ],
)
def test_score_refuses_bad_columns(tiny_model, reviews, tmp_path, extra, message):
    path, _ = reviews
    args = [
        "score",
        "--input",
        str(path),
        "--output",
        str(tmp_path / "o.parquet"),
        "--model",
        str(tiny_model),
        "--id-column",
        "id",
        *extra,
    ]
    assert_one_line_error(cli(*args), message)


def test_score_missing_database_and_table(tiny_model, reviews, tmp_path):
    _, db = reviews
    base = [
        "score",
        "--text-column",
        "review",
        "--id-column",
        "id",
        "--target-table",
        "out",
        "--model",
        str(tiny_model),
    ]
    assert_one_line_error(
        cli(*base, "--db", str(tmp_path / "x.duckdb"), "--table", "t"), "database file not found"
    )
    assert_one_line_error(cli(*base, "--db", str(db), "--table", "nope"), "no table named 'nope'")


def _big_input(tmp_path, rows: int = 100_000):
    path = tmp_path / "big.parquet"
    duckdb.execute(
        f"COPY (SELECT i AS id, 'review number ' || i || ' is ' || "
        f"CASE WHEN i % 2 = 0 THEN 'good' ELSE 'awful' END AS review "
        f"FROM range({rows}) t(i)) TO '{path}'"
    )
    return path


def _interrupt(args: list[str], ready, sig: int) -> tuple[int, str]:
    """Start the CLI, send `sig` once `ready()`; its exit code and what it said (for failures)."""
    process = subprocess.Popen(
        with_default_sigint([script(), *args]), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while not ready() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    state = "running" if process.poll() is None else f"already exited {process.returncode}"
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, f"{state} when signalled; stderr: {stderr.decode()[-1500:]}"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_parquet_score_resumes_without_loss_or_duplicates(tiny_model, tmp_path, sig):
    source = _big_input(tmp_path)
    out = tmp_path / "scored.parquet"
    parts = tmp_path / "scored.parquet.parts"
    args = [
        "score",
        "--input",
        str(source),
        "--text-column",
        "review",
        "--id-column",
        "id",
        "--output",
        str(out),
        "--model",
        str(tiny_model),
        "--batch-rows",
        "5000",
    ]
    code, said = _interrupt(args, lambda: len(list(parts.glob("part-*.parquet"))) >= 2, sig)
    assert code == (130 if sig == signal.SIGINT else -signal.SIGKILL), said
    assert not out.exists()
    done = sum(pq.ParquetFile(p).metadata.num_rows for p in parts.glob("part-*.parquet"))
    assert 0 < done < 100_000
    if sig == signal.SIGINT:  # Ctrl-C says what is saved and how to go on
        assert f"Interrupted: {done:,} rows are saved in {out}; continue with: " in said, said
        command = shlex.split(said.split("continue with: ")[1].splitlines()[0])
        assert command[0] == "sentiment-udf" and command[-1] == "--resume"
        resumed = subprocess.run([script(), *command[1:]], capture_output=True, text=True)
    else:
        resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done:,} were already there" in resumed.stderr
    ids = pq.read_table(out, columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == list(range(100_000))


def test_interrupted_table_score_resumes_without_loss_or_duplicates(tiny_model, tmp_path):
    source = _big_input(tmp_path)
    db = tmp_path / "db.duckdb"
    duckdb.connect(str(db)).execute(
        "CREATE TABLE src AS SELECT * FROM read_parquet(?)", [str(source)]
    ).close()
    args = [
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
        str(tiny_model),
        "--batch-rows",
        "5000",
    ]
    wal = tmp_path / "db.duckdb.wal"
    # a committed batch of 5,000 rows makes the write-ahead log far larger than CREATE TABLE does
    code, said = _interrupt(
        args, lambda: wal.exists() and wal.stat().st_size > 40_000, signal.SIGKILL
    )
    assert code != 0, said
    resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    already = int(resumed.stderr.split(";")[-1].split()[0].replace(",", ""))
    assert 0 < already < 100_000, resumed.stderr  # rows committed before the kill were kept
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute(
        "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM dst"
    ).fetchall() == [(100_000, 100_000, 0, 99_999)]
    assert con.execute("SELECT count(*) FROM src").fetchall() == [(100_000,)]
    con.close()


def test_eval_report_text_and_json(tiny_model, tmp_path):
    path = tmp_path / "labelled.csv"
    duckdb.execute(
        f"COPY (SELECT CASE WHEN i % 2 = 0 THEN 'Positive' ELSE 'NEGATIVE' END "
        f"AS label, 'this is ' || CASE WHEN i % 3 = 0 THEN 'good' ELSE 'bad' END "
        f"AS text FROM range(60) t(i)) TO '{path}'"
    )
    args = ["eval", "--input", str(path), "--text-column", "text", "--label-column", "label",
            "--model", str(tiny_model)]  # fmt: skip
    text = cli(*args)
    assert text.returncode == 0, text.stderr
    assert "precision" in text.stdout and "weighted avg" in text.stdout
    report = json.loads(cli(*args, "--format", "json").stdout)
    assert report["labels"]["positive"]["support"] == 30
    assert report["labels"]["negative"]["support"] == 30
    # precision, recall and F1 against a confusion matrix computed here, from SQL's labels
    pairs = duckdb.execute(f"SELECT lower(label), text FROM '{path}'").fetchall()
    from sentiment_udf import load_model

    predicted = load_model(tiny_model).predict([text for _, text in pairs])
    for label in ("negative", "positive"):
        tp = sum(t == label and p == label for (t, _), p in zip(pairs, predicted))
        fp = sum(t != label and p == label for (t, _), p in zip(pairs, predicted))
        fn = sum(t == label and p != label for (t, _), p in zip(pairs, predicted))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        got = report["labels"][label]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx(
            (precision, recall, f1), abs=1e-12
        )
    sql = cli(
        "query",
        f"SELECT avg((classify_sentiment(text) = lower(label))::INT) FROM '{path}'",
        "--model",
        str(tiny_model),
        "--format",
        "csv",
    )
    assert report["accuracy"] == pytest.approx(float(sql.stdout.splitlines()[1]))


def test_eval_names_unknown_labels(tiny_model, tmp_path):
    path = tmp_path / "labelled.csv"
    path.write_text("label,text\npositive,good\nneutral,ok\nmixed,hm\n")
    result = cli(
        "eval",
        "--input",
        str(path),
        "--text-column",
        "text",
        "--label-column",
        "label",
        "--model",
        str(tiny_model),
    )
    assert_one_line_error(result, "'mixed', 'neutral'")


def test_eval_embedded_model_on_real_reviews(tmp_path):
    dev = shared_file("reviews_dev.csv")
    sample = tmp_path / "sample.csv"
    duckdb.execute(
        f"COPY (SELECT * FROM read_csv('{dev}') USING SAMPLE 120 ROWS (reservoir, 7)) TO '{sample}'"
    )
    report = json.loads(
        cli(
            "eval",
            "--input",
            str(sample),
            "--text-column",
            "text",
            "--title-column",
            "title",
            "--label-column",
            "label",
            "--format",
            "json",
        ).stdout
    )
    assert report["accuracy"] >= 0.88
    assert report["macro_avg"]["support"] == 120


def test_models_list_info_verify(tiny_model, tmp_path):
    env_dir = tmp_path / "models"
    (env_dir / "tiny").mkdir(parents=True)
    for f in tiny_model.iterdir():
        (env_dir / "tiny" / f.name).write_bytes(f.read_bytes())
    listed = cli("models", "list", "--models-dir", str(env_dir))
    assert "sentiment-en-reviews-v2\tembedded" in listed.stdout and "tiny\tlocal" in listed.stdout
    assert "sentiment-en-aspects-v1\tembedded" in listed.stdout
    pair = json.loads(cli("models", "verify", "sentiment-en-aspects-v1").stdout)
    assert pair["input_pair"] == ["sentence", "aspect"] and pair["checksums_verified"] is True
    lasts, died = pair["probes"].values()
    assert lasts["positive"] > 0.5 > died["positive"]
    info = json.loads(cli("models", "info").stdout)
    assert info["labels"] == ["negative", "positive"] and info["max_positions"] == 512
    assert info["terms"].startswith("Licence and terms of the training data")
    assert "non-commercial research" in info["terms"]
    assert len(info["checksums"]["model.onnx"]) == 64
    verified = json.loads(cli("models", "verify").stdout)
    assert verified["checksums_verified"] is True
    probes = list(verified["probes"].values())
    assert probes[0]["positive"] > 0.5 > probes[1]["positive"]
    env = {**os.environ, "SENTIMENT_UDF_MODELS": str(env_dir)}
    by_name = subprocess.run(
        [script(), "query", "SELECT classify_sentiment('good')", "--model", "tiny"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert by_name.returncode == 0, by_name.stderr
    assert_one_line_error(cli("models", "verify", str(tmp_path / "none")), "not found")


def _on_a_terminal(args: list[str], until: float = 120) -> bytes:
    """Run the CLI with a pty as stdout and stderr; everything it drew."""
    import pty
    import select

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [script(), *args], stdout=follower, stderr=follower, stdin=subprocess.DEVNULL
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    process.wait(timeout=60)
    os.close(leader)
    return seen


def test_score_progress_moves_within_a_batch_on_a_terminal(tmp_path):
    source = tmp_path / "in.parquet"
    duckdb.execute(
        f"COPY (SELECT i AS id, 'review ' || i || ' was good' AS review FROM range(700) t(i)) "
        f"TO '{source}'"
    )
    drawn = _on_a_terminal(["score", "--input", str(source), "--text-column", "review",
                            "--id-column", "id", "--output", str(tmp_path / "o.parquet")])  # fmt: skip
    counts = [
        int(m.split(b"/")[0].replace(b",", b"")) for m in re.findall(rb"\r([\d,]+/700) rows", drawn)
    ]
    assert counts and counts[-1] == 700 and counts == sorted(counts), drawn[-500:]
    assert b"700 saved" in drawn and b"\x1b[K" in drawn  # answers and saved rows; line cleared
    quiet = _on_a_terminal(["score", "--input", str(source), "--text-column", "review",
                            "--id-column", "id", "--output", str(tmp_path / "q.parquet"), "--quiet"])  # fmt: skip
    assert b"/700 rows" not in quiet and b"scored 700 rows" in quiet


def test_the_score_line_counts_answers_between_calls_and_what_is_saved():
    """In process, no clock race: the bulk path calls after every 128 rows; between calls the
    line adds the texts answered since (at most 128), and says how many rows are saved."""
    import io

    from sentiment_udf.cli.progress import Progress
    from sentiment_udf.runtime.activity import TEXTS_ANSWERED

    stream = io.StringIO()
    progress = Progress(stream=stream, every=3600)  # no timer draws during the test
    progress(128, 700, 0)
    TEXTS_ANSWERED.add(50)  # answers of the next 128 rows arriving
    progress.draw()
    TEXTS_ANSWERED.add(500)  # more than a call's worth: capped at the next call's count
    progress.draw()
    progress(256, 700, 128)
    progress.draw()
    progress.finish()
    lines = [line for line in stream.getvalue().split("\r") if line]
    assert [line.split("/")[0] for line in lines] == ["178", "256", "256"]
    assert "0 saved" in lines[0] and "128 saved" in lines[2] and lines[-1].endswith("\x1b[K\n")


def test_query_shows_activity_on_a_terminal_only(tmp_path):
    sql = "SELECT count(sentiment_score('review number ' || i)) AS n FROM range(2000) r(i)"
    drawn = _on_a_terminal(["query", sql])
    assert b"texts scored" in drawn and b"2000" in drawn
    piped = cli("query", sql, "--format", "csv")
    assert piped.stderr == "" and piped.stdout == "n\n2000\n"
