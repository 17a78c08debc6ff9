"""Options and inputs the README documents that no other test exercised (issue 15)."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sentiment_udf
from sentiment_udf import load_model
from tests.cli_helpers import assert_one_line_error, cli

TEXTS = ["good value for money " * 20, "broke at once, awful", "fine"]


def test_cli_max_length_and_threads_reach_the_model(tiny_model):
    sql = "SELECT sentiment_score(t) AS s FROM unnest(?::VARCHAR[]) u(t)".replace(
        "?::VARCHAR[]", "[" + ", ".join(f"'{t}'" for t in TEXTS) + "]"
    )
    result = cli(
        "query", sql, "--model", str(tiny_model), "--max-length", "8", "--threads", "1",
        "--format", "csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    got = [float(x) for x in result.stdout.splitlines()[1:]]
    short = load_model(tiny_model, max_length=8).predict_proba(TEXTS)[:, 1]
    full = load_model(tiny_model).predict_proba(TEXTS)[:, 1]
    assert got == pytest.approx(list(short), abs=1e-9)
    assert got[0] != pytest.approx(full[0], abs=1e-6)  # the long text was cut to 8 tokens


@pytest.mark.parametrize("threads", [1, 5])
def test_cli_threads_sets_the_number_of_model_workers(tiny_model, threads):
    """--threads N: the query's model runs on N worker threads (5 is neither this machine's
    default nor 1). Counted in a child running the real CLI: the scores above cannot tell."""
    import subprocess
    import sys

    program = (
        "import sys, threading\n"
        "from sentiment_udf.cli.main import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "workers = [t for t in threading.enumerate() if t.name.startswith('sentiment-udf_')]\n"
        "print('workers', len(workers))\n"
    )
    sql = "SELECT count(sentiment_score('review ' || i)) AS n FROM range(3000) r(i)"
    done = subprocess.run(
        [sys.executable, "-c", program, "query", sql, "--model", str(tiny_model),
         "--threads", str(threads), "--format", "csv"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == f"workers {threads}", done.stdout


def test_register_threads_gives_the_same_scores(tiny_model, no_memo):
    one, two = duckdb.connect(), duckdb.connect()
    sentiment_udf.register(one, tiny_model, threads=1)
    sentiment_udf.register(two, tiny_model, threads=2)
    query = "SELECT sentiment_score(t) FROM unnest(?) u(t)"
    first = one.execute(query, [TEXTS]).fetchall()
    runs = no_memo()
    assert runs > 0 and first == two.execute(query, [TEXTS]).fetchall()
    assert no_memo() == 2 * runs  # the second connection ran the model too
    assert load_model(tiny_model, threads=2).threads == 2


def test_names_with_an_unknown_role_are_refused(tiny_model):
    with pytest.raises(ValueError, match="names= takes the roles"):
        sentiment_udf.register(duckdb.connect(), tiny_model, names={"classify": "c"})


def test_struct_and_map_in_json_and_table_formats(tiny_model):
    sql = "SELECT sentiment('good value') AS s"
    as_json = json.loads(cli("query", sql, "--model", str(tiny_model), "--format", "json").stdout)
    probabilities = as_json["s"]["probabilities"]
    assert set(probabilities) == {"negative", "positive"}
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert as_json["s"]["score"] == probabilities["positive"]
    table = cli("query", sql, "--model", str(tiny_model)).stdout.splitlines()
    assert table[0] == "s" and json.loads(table[2])["label"] == as_json["s"]["label"]


def _reviews(tmp_path):
    rows = {"id": [1, 2, 3], "review": ["good", "awful", "fine"]}
    return pa.table(rows)


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".tsv", ".csv"])
def test_score_reads_json_and_tsv_inputs(tiny_model, tmp_path, suffix):
    source = tmp_path / f"in{suffix}"
    if suffix in (".json", ".jsonl"):
        source.write_text(
            "\n".join(json.dumps({"id": i, "review": r}) for i, r in [(1, "good"), (2, "awful")])
        )
    else:
        sep = "\t" if suffix == ".tsv" else ","
        source.write_text(f"id{sep}review\n1{sep}good\n2{sep}awful\n")
    out = tmp_path / "out.parquet"
    result = cli(
        "score", "--input", str(source), "--text-column", "review", "--id-column", "id",
        "--output", str(out), "--model", str(tiny_model), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("scored 2 rows") and "\r" not in result.stderr
    assert sorted(pq.read_table(out).column("id").to_pylist()) == [1, 2]


def test_score_from_a_view_and_a_schema_table_and_refusals(tiny_model, tmp_path):
    db = tmp_path / "db.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA shop")
    con.execute("CREATE TABLE shop.r AS SELECT i AS id, 'good ' || i AS review FROM range(20) t(i)")
    con.execute("CREATE VIEW v AS SELECT * FROM shop.r WHERE id < 10")
    con.execute("CREATE TABLE n AS SELECT * FROM (VALUES (1, 'a'), (NULL, 'b')) t(id, review)")
    con.close()
    base = ["score", "--db", str(db), "--text-column", "review", "--id-column", "id",
            "--model", str(tiny_model)]  # fmt: skip
    assert cli(*base, "--table", "v", "--target-table", "from_view").returncode == 0
    assert cli(*base, "--table", "shop.r", "--target-table", "shop.scored").returncode == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM from_view").fetchall() == [(10,)]
    assert con.execute("SELECT count(*) FROM shop.scored").fetchall() == [(20,)]
    con.close()
    both = cli(*base, "--table", "v", "--target-table", "x", "--replace", "--resume")
    assert both.returncode == 2 and "exclude each other" in both.stderr
    assert_one_line_error(cli(*base, "--table", "n", "--target-table", "y"), "1 NULL ids")


def test_eval_reads_a_table_in_a_database(tiny_model, tmp_path):
    db = tmp_path / "db.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE l AS SELECT * FROM (VALUES ('positive', 'good'), "
                "('negative', 'awful'), ('positive', 'fine')) t(label, text)")  # fmt: skip
    con.close()
    result = cli(
        "eval", "--db", str(db), "--table", "l", "--text-column", "text", "--label-column",
        "label", "--model", str(tiny_model), "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    predicted = load_model(tiny_model).predict(["good", "awful", "fine"])
    truth = ["positive", "negative", "positive"]
    assert report["accuracy"] == pytest.approx(sum(p == t for p, t in zip(predicted, truth)) / 3)


def test_eval_label_map_and_values_shown_as_they_are(tiny_model, tmp_path):
    path = tmp_path / "labelled.csv"
    path.write_text("stars,text\nPOS,good\nNEG,awful\nPOS,fine\n1-2 stars,bad\n")
    base = ["eval", "--input", str(path), "--text-column", "text", "--label-column", "stars",
            "--model", str(tiny_model), "--format", "json"]  # fmt: skip
    unmapped = cli(*base)
    assert_one_line_error(unmapped, "'1-2 stars', 'NEG', 'POS'", "--label-map")
    mapped = cli(*base, "--label-map", "POS=positive", "--label-map", "NEG=negative",
                 "--label-map", "1-2 stars=negative")  # fmt: skip
    assert mapped.returncode == 0, mapped.stderr
    report = json.loads(mapped.stdout)
    assert report["labels"]["negative"]["support"] == 2
    assert report["labels"]["positive"]["support"] == 2
    wrong = cli(*base, "--label-map", "POS=great")
    assert_one_line_error(wrong, "maps to great")


def test_eval_with_a_text_column_as_labels_gets_a_short_line(tiny_model, tmp_path):
    """The review texts given as the label column: the message quoted ten whole reviews (32 kB
    on reviews_dev.csv); now a few, cut, and a count."""
    path = tmp_path / "labelled.csv"
    path.write_text("text\n" + "".join(f"review {i} {'words ' * 200}\n" for i in range(30)))
    done = cli("eval", "--input", str(path), "--text-column", "text", "--label-column", "text",
               "--model", str(tiny_model))  # fmt: skip
    assert_one_line_error(done, "30 values the model does not know", "and 25 more", "--label-map")
    assert len(done.stderr) < 600, done.stderr


def test_cli_long_text_and_unknown_model_name(tiny_model, tmp_path):
    text = "good " * 700 + "awful " * 700
    got = cli("query", f"SELECT sentiment_score('{text}') AS s", "--model", str(tiny_model),
              "--long-text", "chunk", "--format", "csv")  # fmt: skip
    assert got.returncode == 0, got.stderr
    expected = load_model(tiny_model, long_text="chunk").predict_proba([text])[0, 1]
    assert float(got.stdout.splitlines()[1]) == pytest.approx(expected, rel=1e-6)
    missing = cli("query", "SELECT 1", "--model", "nosuch")
    assert_one_line_error(missing, "no model named 'nosuch'", "sentiment-en-reviews-v2")


def test_models_info_and_verify_take_a_models_dir(tiny_model, tmp_path):
    folder = tmp_path / "mine"
    import shutil

    shutil.copytree(tiny_model, folder / "tiny")
    info = cli("models", "info", "tiny", "--models-dir", str(folder))
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["kind"] == "local"
    verified = cli("models", "verify", "tiny", "--models-dir", str(folder))
    assert verified.returncode == 0 and json.loads(verified.stdout)["model"] == "tiny"


def test_score_a_file_without_an_id_column_numbers_its_rows(tiny_model, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("review\n" + "".join(f"review {i} good\n" for i in range(30)))
    out = tmp_path / "out.parquet"
    args = ["score", "--input", str(source), "--text-column", "review", "--output", str(out),
            "--model", str(tiny_model)]  # fmt: skip
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    rows = duckdb.execute(f"SELECT row_number, score FROM '{out}' ORDER BY row_number").fetchall()
    expected = load_model(tiny_model).predict_proba([f"review {i} good" for i in range(30)])
    assert [r[0] for r in rows] == list(range(1, 31))
    assert [r[1] for r in rows] == pytest.approx(list(expected[:, 1]), abs=1e-12)
    again = cli(*args, "--resume")
    assert again.returncode == 0 and "scored 0 rows" in again.stderr
    assert "30 were already there" in again.stderr
    db = tmp_path / "db.duckdb"
    duckdb.connect(str(db)).execute("CREATE TABLE t AS SELECT 'x' AS review").close()
    no_id = cli("score", "--db", str(db), "--table", "t", "--text-column", "review",
                "--target-table", "o", "--model", str(tiny_model))  # fmt: skip
    assert no_id.returncode == 2 and "--id-column is needed for a table source" in no_id.stderr
