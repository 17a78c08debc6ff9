"""`train`: labelled rows from SQL in, a model folder out that every engine loads; checked input,
checkpoints and --resume, and never a half-written or overwritten folder. A tiny real ONNX base
(tests/tiny_model.py) keeps these fast; test_training_embedded.py trains on the embedded one."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import duckdb
import numpy as np
import pytest

import sentiment_udf
from sentiment_udf.engines.sql_names import query_source
from sentiment_udf.engines.training import checkpoint_folder, train_source
from sentiment_udf.engines.training_options import TrainingOptions
from sentiment_udf.runtime.activity import TEXTS_ANSWERED
from tests.cli_helpers import cli as run_cli
from tests.tiny_model import build_tiny_model

WORDS = {
    "fruit": ["apple", "banana", "cherry", "grape", "melon", "peach", "lemon", "plum"],
    "tool": ["hammer", "wrench", "drill", "saw", "chisel", "pliers", "screwdriver", "clamp"],
    "weather": ["rain", "snow", "wind", "storm", "sunshine", "fog", "thunder", "hail"],
}


def labelled_rows(per_class: int, seed: int = 0) -> list[tuple[str, str]]:
    """Texts of three to six words of one topic each: a task the tiny model's features (the mean
    of its token embeddings) can learn."""
    rng = random.Random(seed)
    rows = []
    for label, words in WORDS.items():
        for _ in range(per_class):
            rows.append((" ".join(rng.choices(words, k=rng.randint(3, 6))), label))
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("base") / "tiny", seed=3)


@pytest.fixture()
def labelled(tmp_path) -> Path:
    """A Parquet file of 3 x 120 labelled rows, plus two rows with a NULL label and a blank text."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (text VARCHAR, label VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", labelled_rows(120))
    con.execute("INSERT INTO t VALUES ('apple plum', NULL), ('   ', 'tool')")
    path = tmp_path / "labelled.parquet"
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    return path


def test_train_from_a_query_gives_a_model_every_function_loads(tmp_path, base, labelled):
    out = tmp_path / "topics"
    result = sentiment_udf.train(f"FROM '{labelled}'", out, base=base)
    assert result.labels == ("fruit", "tool", "weather")
    assert (result.rows, result.skipped) == (360, 2)
    assert result.holdout["accuracy"] >= 0.9  # chance is 1/3
    assert sorted(p.name for p in out.iterdir()) == [
        "MANIFEST.json", "MODEL_CARD.md", "TRAINING.json", "config.json", "model.onnx",
        "tokenizer.json",
    ]  # fmt: skip
    training = json.loads((out / "TRAINING.json").read_text())
    assert training["rows"]["holdout"] == 72 and training["rows"]["skipped"] == 2
    card = (out / "MODEL_CARD.md").read_text()
    assert f"{result.holdout['accuracy']:.4f}" in card and "sentiment_udf.train(" in card
    con = duckdb.connect()
    sentiment_udf.register(con, model=out)
    rows = con.execute(
        "SELECT classify_sentiment(t), sentiment(t).probabilities['tool'], sentiment_score(t) "
        "FROM (VALUES ('hammer drill wrench'), ('melon peach banana'), ('storm hail rain')) v(t)"
    ).fetchall()
    assert [r[0] for r in rows] == ["tool", "fruit", "weather"]
    assert rows[0][1] > 0.5 > rows[1][1]
    # no `positive` label: sentiment_score is P(the last label)
    assert rows[2][2] > 0.5 > rows[0][2]
    assert not checkpoint_folder(out).exists()


def test_the_model_folder_is_readable_as_the_umask_says(tmp_path, base, labelled):
    """A trained folder came out 0700 (its temporary folder's mode): dbt, Spark or a colleague
    running as another user could not load it; `models export` already set the umask's mode."""
    mask = os.umask(0o022)
    try:
        sentiment_udf.train(f"FROM '{labelled}'", tmp_path / "topics", base=base)
        sentiment_udf.train(f"FROM '{labelled}'", tmp_path / "topics", base=base, replace=True)
    finally:
        os.umask(mask)
    assert (tmp_path / "topics").stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "topics").iterdir()} == {0o644}


def test_a_model_train_made_is_a_base_for_another_train(tmp_path, base, labelled):
    """Retraining a trained model on new labels: its old head is replaced, not stacked (two
    heads of the same names made an ONNX file no runtime could load)."""
    topics = tmp_path / "topics"
    sentiment_udf.train(f"FROM '{labelled}'", topics, base=base)
    weather = tmp_path / "weather"
    done = run_cli(
        "train", str(weather), "--base", str(topics), "--quiet", "--query",
        f"SELECT text, label = 'weather' AS label FROM '{labelled}'",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "onnxruntime" not in done.stderr, done.stderr
    con = duckdb.connect()
    sentiment_udf.register(con, model=weather)
    labels = con.execute(
        "SELECT classify_sentiment(t) FROM (VALUES ('storm hail rain'), ('hammer drill')) v(t)"
    ).fetchall()
    assert labels == [("true",), ("false",)]


def test_cli_trains_and_scores_with_the_result(tmp_path, base, labelled):
    out = tmp_path / "cli_topics"
    done = run_cli(
        "train", str(out), "--query", f"SELECT text, label AS topic FROM '{labelled}'",
        "--label-column", "topic", "--base", str(base),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "trained" in done.stdout and "2 skipped" in done.stdout
    assert "held out: accuracy" in done.stdout
    card = (out / "MODEL_CARD.md").read_text()
    assert "sentiment-udf train" in card and "--label-column topic" in card
    scored = run_cli(
        "query", "--model", str(out), "SELECT classify_sentiment('wrench pliers clamp') AS l"
    )
    assert scored.returncode == 0, scored.stderr
    assert "tool" in scored.stdout


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("query", "extra", "message"),
    [
        ("SELECT 'apple' AS text, 'fruit' AS label FROM range(20)", [], "two classes or more"),
        (
            "SELECT * FROM (VALUES ('apple', 'fruit'), ('saw', 'tool'), ('plum', 'fruit')) "
            "v(text, label)",
            [],
            "too few rows for class",
        ),
        ("SELECT 'apple' AS text, 0.5 AS label", [], "labels are classes"),
        ("SELECT 'apple' AS text, 1.5::DOUBLE AS label", [], "labels are classes"),
        # Labels that would become Python reprs ("b'fruit'", "['fruit']") are refused too.
        ("SELECT 'apple' AS text, 'fruit'::BLOB AS label", [], "is BLOB: labels are"),
        ("SELECT 'apple' AS text, ['fruit'] AS label", [], "is VARCHAR[]: labels are"),
        ("SELECT 'apple' AS text, {'k': 'fruit'} AS label", [], "labels are text"),
        ("SELECT 'apple' AS text, NULL::VARCHAR AS label FROM range(9)", [], "9 of 9 rows skipped"),
        (
            "SELECT 'text ' || i AS text, ['Fruit', 'fruit', 'tool'][i % 3 + 1] AS label "
            "FROM range(30) t(i)",
            [],
            "'Fruit' and 'fruit' differ only in case",
        ),
        ("SELECT 'apple' AS text, 'fruit' AS label WHERE false", [], "the source is empty"),
        ("SELECT 'apple' AS text, 'fruit' AS label", ["--holdout", "0.95"], "--holdout"),
        ("SELECT 'apple' AS words, 'fruit' AS label", [], "words"),
        ("SELECT 'apple' AS text, 'fruit' AS label", ["--pair-column", "label"], "reads one text"),
        ("SELECT 'apple' AS text, 'fruit' AS label", ["--max-length", "1"], "--max-length"),
        ("DROP TABLE x", [], "one SELECT"),
    ],
)
def test_input_that_cannot_train_gets_one_line_and_nothing_written(
    tmp_path, base, query, extra, message
):
    work = tmp_path / "work"
    work.mkdir()
    done = run_cli("train", str(work / "m"), "--query", query, "--base", str(base), *extra)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert _listing(work) == []


@pytest.mark.parametrize(
    ("label_sql", "names"),
    [
        ("CASE label WHEN 'fruit' THEN 10 WHEN 'tool' THEN 2 ELSE 1 END", ["1", "2", "10"]),
        ("label = 'fruit'", ["false", "true"]),
        ("label::ENUM('weather', 'tool', 'fruit')", ["fruit", "tool", "weather"]),
    ],
)
def test_whole_number_boolean_and_enum_labels_are_named_as_sql_shows_them(
    tmp_path, base, labelled, label_sql, names
):
    out = tmp_path / "m"
    query = f"SELECT text, {label_sql} AS label FROM '{labelled}'"
    done = run_cli("train", str(out), "--query", query, "--base", str(base), "--quiet")
    assert done.returncode == 0, done.stderr
    id2label = json.loads((out / "config.json").read_text())["id2label"]
    assert [id2label[str(k)] for k in range(len(id2label))] == names


def test_labels_written_two_unicode_ways_are_one_class_and_eval_matches_them(
    tmp_path, base, labelled
):
    """'café' typed precomposed (NFC) in some rows and as 'cafe' plus a combining accent (NFD) in
    others became two classes that print alike; eval then called the other spelling a value
    the model does not know. Labels are read in NFC, as text is matched elsewhere."""
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    query = (
        f"SELECT text, CASE WHEN label <> 'fruit' THEN label WHEN hash(text) % 2 = 0 "
        f"THEN '{nfc}' ELSE '{nfd}' END AS label FROM '{labelled}'"
    )
    out = tmp_path / "m"
    done = run_cli("train", str(out), "--query", query, "--base", str(base), "--quiet")
    assert done.returncode == 0, done.stderr
    id2label = json.loads((out / "config.json").read_text())["id2label"]
    assert sorted(id2label.values()) == sorted([nfc, "tool", "weather"])
    report = run_cli(
        "eval", "--query", query.replace(f"'{nfc}'", f"'{nfd}'"), "--text-column", "text",
        "--label-column", "label", "--model", str(out), "--format", "json",
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["accuracy"] >= 0.9


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"query": 3}, "query"),
        ({"out": None}, "out"),
        ({"holdout": "0.2"}, "holdout"),
        ({"holdout": None}, "holdout"),
        ({"base": 3}, "base"),
        ({"max_length": "256"}, "max_length"),
        ({"max_length": 2.5}, "max_length"),
        ({"max_length": True}, "max_length"),
        ({"epochs": "2", "fine_tune": True}, "epochs"),
        ({"replace": "no"}, "replace"),
        ({"fine_tune": 1}, "fine_tune"),
        ({"text_column": None}, "text_column"),
        ({"label_column": 3}, "label_column"),
        ({"pair_column": 5}, "pair_column"),
        ({"con": 3}, "con"),
    ],
)
def test_python_train_names_an_argument_of_the_wrong_type(tmp_path, base, labelled, arguments, named):
    """One TypeError naming the argument, before anything is read or written (a string
    "no" for replace= was taken as true; others failed deep inside with another error)."""
    work = tmp_path / "work"
    work.mkdir()
    given = {"query": f"FROM '{labelled}'", "out": work / "m", "base": base, **arguments}
    with pytest.raises(TypeError, match=f"train\\(\\): {named} must be"):
        sentiment_udf.train(given.pop("query"), given.pop("out"), **given)
    assert _listing(work) == []


def test_replace_keeps_a_trained_folder_holding_files_train_did_not_write(tmp_path, base, labelled):
    """--replace removed the whole old folder: a labelled file kept inside it (the very source
    of the run), a database or notes were lost. Now it is refused, naming them."""
    out = tmp_path / "m"
    sentiment_udf.train(f"FROM '{labelled}'", out, base=base)
    source = out / "labelled.parquet"
    source.write_bytes(labelled.read_bytes())
    for how in (["--input", str(source)], ["--query", f"FROM '{source}'"]):
        done = run_cli("train", str(out), *how, "--base", str(base), "--replace", "--quiet")
        assert done.returncode == 1, done.stdout
        assert "labelled.parquet" in done.stderr and "--replace" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert source.read_bytes() == labelled.read_bytes()
    source.unlink()
    done = run_cli("train", str(out), "--input", str(labelled), "--base", str(base), "--replace")
    assert done.returncode == 0, done.stderr  # only what train wrote: replaced as before


def test_a_label_column_of_free_text_gets_a_short_line(tmp_path, base):
    """Every text its own class (a title given as the label column): the message named all
    2,000 classes in one 40 kB line; now a few and a count."""
    query = "SELECT 'text ' || i AS text, 'title number ' || i AS label FROM range(2000) t(i)"
    done = run_cli("train", str(tmp_path / "m"), "--query", query, "--base", str(base))
    assert done.returncode == 1
    assert "2,000 of 2,000 classes" in done.stderr and "and 1,995 more" in done.stderr
    assert len(done.stderr) < 400 and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_trained_line_names_a_few_labels_each_on_one_line(tmp_path, base):
    """300 classes were all listed in the 'trained ...' line, a label holding a newline split it
    and a 100 kB label was printed whole; now a few labels, cut and quoted where needed."""
    query = (
        "SELECT 'apple banana ' || i AS text, CASE WHEN i % 12 = 0 THEN 'Good' || chr(10) || "
        "'line' WHEN i % 12 = 1 THEN repeat('X', 100000) ELSE 'class ' || (i % 12) END AS label "
        "FROM range(120) t(i)"
    )
    done = run_cli("train", str(tmp_path / "m"), "--query", query, "--base", str(base), "--quiet")
    assert done.returncode == 0, done.stderr
    trained = done.stdout.splitlines()[0]
    assert trained.startswith("trained ") and "12 classes: " in trained
    assert "and 2 more" in trained and len(trained) < 400, trained
    assert "'Good\\nline'" in trained and repr("X" * 40) in trained and "0 skipped" in trained
    assert done.stdout.splitlines()[1].startswith("held out: ")


def test_a_pair_base_needs_the_pair_column(tmp_path):
    done = run_cli(
        "train", str(tmp_path / "m"), "--query", "SELECT 'ok' AS text, 'a' AS label",
        "--base", "sentiment-en-aspects-v1",
    )  # fmt: skip
    assert done.returncode == 1 and "give --pair-column" in done.stderr
    assert _listing(tmp_path) == []


def test_folders_a_killed_run_left_beside_the_output_are_removed_by_the_next(
    tmp_path, base, labelled
):
    """A run killed while it placed its folder (seen with SIGKILL on the CLI) left
    `.topics.building-*` (up to a whole model) or, replacing, `.topics.old-*` beside OUT, and no
    later run removed them (round 4's item 19, next door). Only folders holding nothing but
    train's own files go; anything else of that name, or a link, stays."""
    out = tmp_path / "topics"
    building = tmp_path / ".topics.building-ab12cd_e"
    building.mkdir()
    (building / "model.onnx").write_bytes(b"half a model")
    old = tmp_path / ".topics.old-zz9_yy8x" / "topics"
    old.mkdir(parents=True)
    (old / "config.json").write_text("{}")
    foreign = tmp_path / ".topics.building-keepthis"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.onnx").write_text("not train's")
    (tmp_path / ".topics.building-linklink").symlink_to(elsewhere)
    sentiment_udf.train(f"FROM '{labelled}'", out, base=base)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".topics."))
    assert left == [".topics.building-keepthis", ".topics.building-linklink"]
    assert (elsewhere / "model.onnx").read_text() == "not train's"
    assert (foreign / "notes.txt").read_text() == "mine"


def test_an_existing_folder_is_never_overwritten_unless_asked(tmp_path, base, labelled):
    query = f"FROM '{labelled}'"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    done = run_cli("train", str(mine), "--query", query, "--base", str(base))
    assert done.returncode == 1 and "exists" in done.stderr
    done = run_cli("train", str(mine), "--query", query, "--base", str(base), "--replace")
    assert done.returncode == 1 and "not a folder train made" in done.stderr
    assert _listing(mine) == ["notes.txt"]
    link = tmp_path / "link"
    link.symlink_to(mine)
    done = run_cli("train", str(link), "--query", query, "--base", str(base))
    assert done.returncode == 1 and "is a link" in done.stderr
    assert _listing(mine) == ["notes.txt"]
    # a folder train made is replaced only with --replace, and then whole
    trained = tmp_path / "trained"
    assert run_cli("train", str(trained), "--query", query, "--base", str(base)).returncode == 0
    again = run_cli("train", str(trained), "--query", query, "--base", str(base))
    assert again.returncode == 1 and "--replace" in again.stderr
    assert run_cli(
        "train", str(trained), "--query", query, "--base", str(base), "--replace"
    ).returncode == 0
    # a file train did not write is never removed by --replace (the next test: a source)
    (trained / "stale.txt").write_text("old")
    kept = run_cli("train", str(trained), "--query", query, "--base", str(base), "--replace")
    assert kept.returncode == 1 and "stale.txt" in kept.stderr
    assert (trained / "stale.txt").read_text() == "old"
    assert sorted(_listing(tmp_path)) == ["labelled.parquet", "link", "mine", "trained"]


class Stop(KeyboardInterrupt):
    pass


def _stop_after(rows: int):
    def progress(done: int, total: int) -> None:
        if done >= rows:
            raise Stop

    return progress


def test_a_stopped_run_resumes_from_its_checkpoint_to_the_same_model(tmp_path, base):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (text VARCHAR, label VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", labelled_rows(200, seed=1))  # 600 rows
    source = query_source("FROM t")
    out, whole = tmp_path / "stopped", tmp_path / "whole"
    with pytest.raises(Stop):
        train_source(con, source, out, TrainingOptions(base=base), progress=_stop_after(256))
    assert not out.exists()  # no half-written model folder
    assert _listing(checkpoint_folder(out)) == ["features-000000.npy", "state.json"]
    with pytest.raises(ValueError, match="add --resume"):
        train_source(con, source, out, TrainingOptions(base=base))
    with pytest.raises(ValueError, match="differs from the stopped one in max_length"):
        train_source(con, source, out, TrainingOptions(base=base, max_length=64, resume=True))
    con.execute("UPDATE t SET label = 'fruit' WHERE rowid = 0")
    with pytest.raises(ValueError, match="differs from the stopped one in rows"):
        train_source(con, source, out, TrainingOptions(base=base, resume=True))
    con.execute("DELETE FROM t")
    con.executemany("INSERT INTO t VALUES (?, ?)", labelled_rows(200, seed=1))
    before = TEXTS_ANSWERED.value
    resumed = train_source(con, source, out, TrainingOptions(base=base, resume=True))
    assert TEXTS_ANSWERED.value - before == 600 - 256  # only the rows the checkpoint lacked
    fresh = train_source(con, source, whole, TrainingOptions(base=base))
    assert resumed.holdout == fresh.holdout
    assert (out / "model.onnx").read_bytes() == (whole / "model.onnx").read_bytes()
    assert not checkpoint_folder(out).exists()


def test_dbt_scores_with_a_trained_model_named_in_its_profile(tmp_path, base, labelled):
    """The real dbt CLI, our plugin configured with `model:` the folder train wrote."""
    from tests.test_dbt import DBT

    if not DBT.exists():
        pytest.skip(f"{DBT} missing: dbt-core and dbt-duckdb come with pip install -e '.[test]'")
    out = tmp_path / "topics"
    sentiment_udf.train(f"FROM '{labelled}'", out, base=base)
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: topics\nversion: '1.0.0'\nprofile: topics\nconfig-version: 2\n"
        "models:\n  topics:\n    +materialized: table\n"
    )
    (project / "profiles.yml").write_text(
        "topics:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {tmp_path / 'topics.duckdb'}\n      threads: 1\n      plugins:\n"
        f"        - module: sentiment_udf.dbt_plugin\n          config:\n            model: {out}\n"
    )
    (project / "models" / "scored.sql").write_text(
        "SELECT t, classify_sentiment(t) AS topic FROM (VALUES ('hammer drill wrench'), "
        "('melon peach banana'), ('storm hail rain')) v(t)"
    )
    import os
    import subprocess

    done = subprocess.run(
        [str(DBT), "build", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    con = duckdb.connect(str(tmp_path / "topics.duckdb"), read_only=True)
    assert con.execute("SELECT topic FROM scored ORDER BY t").fetchall() == [
        ("tool",), ("fruit",), ("weather",)
    ]


def test_the_head_fits_features_whose_directions_differ_in_scale_by_orders():
    """Frozen features are highly correlated (a transformer's last layer): the fit must converge
    there too, not stop short of the rule a linear head can learn."""
    from sentiment_udf.runtime.head_fit import fit_head, measure

    rng = np.random.default_rng(0)
    latent = rng.normal(size=(3000, 32)) * np.logspace(0, -3, 32)  # scales 1 .. 0.001
    features = latent @ rng.normal(size=(32, 64))  # 64 correlated columns
    targets = (latent[:, 20] > 0).astype(np.int64)  # decided by a direction of scale ~0.01
    validation = np.arange(3000) % 7 == 0
    held = np.arange(3000) % 5 == 0
    head = fit_head(features[~held], targets[~held], 2, validation[~held])
    figures = measure(head.probabilities(features[held]), targets[held], 2)
    assert figures["accuracy"] >= 0.95
