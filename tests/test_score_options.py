"""`score` for warehouse jobs: --query, --keep, --probabilities and CSV output, resumable and
exact (real DuckDB, the tiny model's real onnxruntime session, the CLI in process)."""

from __future__ import annotations

import csv

import duckdb
import pytest
from click.testing import CliRunner

from sentiment_udf import load_model
from sentiment_udf.cli.main import main
from sentiment_udf.engines import bulk
from sentiment_udf.engines.sql_names import SourceError, query_source

ROWS = 300


@pytest.fixture()
def shop(tmp_path):
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        f"CREATE TABLE reviews AS SELECT i AS id, 'review ' || i || CASE WHEN i % 2 = 0 "
        f"THEN ' good value' ELSE ' broke fast' END AS review, 'shop ' || (i % 3) AS store, "
        f"i * 1.5 AS price FROM range({ROWS}) t(i)"
    )
    con.close()
    return db


def run(*args: str):
    return CliRunner().invoke(main, ["score", *args, "--quiet"])


def test_query_keep_and_probabilities_into_csv(shop, tiny_model, tmp_path, no_memo):
    out = tmp_path / "scored.csv"
    result = run(
        "--db", str(shop), "--query", "SELECT * FROM reviews WHERE id % 2 = 0", "--id-column",
        "id", "--text-column", "review", "--keep", "store,price", "--probabilities",
        "--output", str(out), "--model", str(tiny_model),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    model = load_model(tiny_model)
    assert list(rows[0]) == ["id", "store", "price", "label", "score",
                             *(f"p_{label}" for label in model.labels)]  # fmt: skip
    assert sorted(int(r["id"]) for r in rows) == list(range(0, ROWS, 2))
    texts = {i: f"review {i} good value" for i in range(0, ROWS, 2)}
    no_memo.reset()
    probs = model.predict_proba([texts[int(r["id"])] for r in rows])
    assert no_memo() == len(rows)  # the test's side ran the model too, not the memo
    for row, p in zip(rows, probs):
        assert row["store"] == f"shop {int(row['id']) % 3}"
        assert float(row["price"]) == int(row["id"]) * 1.5
        for index, label in enumerate(model.labels):
            assert float(row[f"p_{label}"]) == pytest.approx(p[index], abs=1e-12)
        assert row["label"] == model.labels[int(p.argmax())]


def test_keep_all_columns_into_a_table(shop, tmp_path):
    result = run(
        "--db", str(shop), "--table", "reviews", "--id-column", "id", "--text-column", "review",
        "--keep", "*", "--target-table", "scored", "--model", "fast",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(shop))
    columns = [r[0] for r in con.execute("DESCRIBE scored").fetchall()]
    assert columns == ["id", "review", "store", "price", "label", "score"]
    assert (
        con.execute(
            "SELECT count(*) FROM scored s JOIN reviews r USING (id) WHERE s.store = r.store "
            "AND s.price = r.price AND s.review = r.review"
        ).fetchall()[0][0]
        == ROWS
    )
    con.close()


def test_clashes_and_bad_queries_are_refused_before_any_work(shop, tiny_model, tmp_path):
    out = tmp_path / "x.parquet"
    base = ["--db", str(shop), "--id-column", "id", "--text-column", "review", "--output",
            str(out), "--model", str(tiny_model)]  # fmt: skip
    clash = run(*base, "--query", "SELECT *, 1 AS score FROM reviews", "--keep", "score")
    assert clash.exit_code != 0 and "clashes with an output column" in clash.output
    missing = run(*base, "--table", "reviews", "--keep", "nope")
    assert missing.exit_code != 0 and "no such column" in missing.output
    for bad in ("DELETE FROM reviews", "SELECT 1; SELECT 2", "SELEC id FROM reviews"):
        result = run(*base, "--query", bad)
        assert result.exit_code != 0 and "--query" in result.output
    both = run(*base, "--table", "reviews", "--query", "SELECT * FROM reviews")
    assert both.exit_code != 0
    sentences = run(*base, "--table", "reviews", "--sentences", "--probabilities")
    assert sentences.exit_code != 0 and "--probabilities" in sentences.output
    assert not out.exists()
    assert (
        duckdb.connect(str(shop)).execute("SELECT count(*) FROM reviews").fetchall()[0][0] == ROWS
    )
    with pytest.raises(SourceError):
        query_source("CREATE TABLE t AS SELECT 1")


def test_an_interrupted_csv_run_resumes_exactly_and_a_finished_one_is_not_extended(
    shop, tiny_model, tmp_path
):
    con = duckdb.connect(str(shop))
    model = load_model(tiny_model)
    out = tmp_path / "scored.csv"
    source = query_source("SELECT * FROM reviews")

    def stop_after_first_batch(scored, total, saved):
        if saved >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bulk.score(con, source, model, id_column="id", text_column="review", output=out,
                   batch_rows=100, progress=stop_after_first_batch, keep=["store"])  # fmt: skip
    assert not out.exists()
    resumed = bulk.score(con, source, model, id_column="id", text_column="review", output=out,
                         batch_rows=100, resume=True, keep=["store"])  # fmt: skip
    assert resumed.rows_already_done == 100 and resumed.rows_scored == ROWS - 100
    ids = [int(r["id"]) for r in csv.DictReader(out.open(newline=""))]
    assert sorted(ids) == list(range(ROWS))
    with pytest.raises(SourceError, match="finished CSV"):
        bulk.score(con, source, model, id_column="id", text_column="review", output=out,
                   resume=True, keep=["store"])  # fmt: skip


def test_a_kill_between_the_csv_rename_and_the_parts_removal_adds_no_row_twice(
    shop, tiny_model, tmp_path, monkeypatch
):
    con = duckdb.connect(str(shop))
    model = load_model(tiny_model)
    out = tmp_path / "scored.csv"
    source = query_source("SELECT * FROM reviews")
    real_rmtree = bulk.shutil.rmtree

    def die(path, *args, **kwargs):
        if str(path).endswith(".parts"):
            raise KeyboardInterrupt  # the output is in place, the parts are still there
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(bulk.shutil, "rmtree", die)
    with pytest.raises(KeyboardInterrupt):
        bulk.score(con, source, model, id_column="id", text_column="review", output=out)
    monkeypatch.setattr(bulk.shutil, "rmtree", real_rmtree)
    assert out.exists() and out.with_name(out.name + ".parts").exists()
    again = bulk.score(con, source, model, id_column="id", text_column="review", output=out,
                       resume=True)  # fmt: skip
    assert again.rows_scored == 0
    ids = [int(r["id"]) for r in csv.DictReader(out.open(newline=""))]
    assert sorted(ids) == list(range(ROWS))
