"""`train --fine-tune`: a real (tiny) Hugging Face checkpoint trained whole with torch, exported
to int8 ONNX in our layout, scored from SQL; a stop and --resume that continues where it
stopped; one line for a base it cannot train."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pytest

import sentiment_udf
from sentiment_udf.engines.sql_names import SourceError, query_source
from sentiment_udf.engines.training import checkpoint_folder
from sentiment_udf.engines.training_options import TrainingOptions
from tests.cli_helpers import assert_one_line_error
from tests.cli_helpers import cli as run_cli
from tests.test_training import WORDS, labelled_rows
from tests.tiny_model import EMBEDDED, build_tiny_checkpoint

pytest.importorskip("torch", reason="torch missing: pip install -e '.[test]'")
pytest.importorskip("transformers", reason="transformers missing: pip install -e '.[test]'")

from sentiment_udf.engines.fine_tuning import fine_tune_source  # noqa: E402
from sentiment_udf.runtime.encoder_tuning import TuningPlan  # noqa: E402

# A tiny encoder from random weights learns only at rates far above a real model's.
FAST_PLAN = TuningPlan(epochs=10, learning_rate=1e-2, head_rate=5e-2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", layers=1)


@pytest.fixture()
def labelled(tmp_path) -> str:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (text VARCHAR, label VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", labelled_rows(100, seed=2))
    path = tmp_path / "labelled.parquet"
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    return f"FROM '{path}'"


def test_fine_tune_a_checkpoint_then_score_with_it_from_sql(tmp_path, checkpoint, labelled):
    out = tmp_path / "topics"
    result = fine_tune_source(
        duckdb.connect(), query_source(labelled), out, TrainingOptions(base=checkpoint), FAST_PLAN
    )
    assert result.labels == ("fruit", "tool", "weather") and result.rows == 300
    assert result.holdout["accuracy"] >= 0.9, result.holdout  # chance is 1/3
    training = json.loads((out / "TRAINING.json").read_text())
    assert training["mode"] == "fine-tune" and training["fine_tune"]["epochs"] == 10
    assert "--fine-tune" in (out / "MODEL_CARD.md").read_text()
    assert not checkpoint_folder(out).exists()  # the state is removed once the folder is in place
    con = duckdb.connect()
    sentiment_udf.register(con, model=out)
    labels = con.execute(
        "SELECT classify_sentiment(t) FROM (VALUES ('hammer drill wrench'), "
        "('melon peach banana'), ('storm hail rain')) v(t)"
    ).fetchall()
    assert [r[0] for r in labels] == ["tool", "fruit", "weather"]


def test_a_stopped_fine_tune_resumes_after_the_epoch_it_finished(tmp_path, checkpoint, labelled):
    out = tmp_path / "topics"
    seen: list[int] = []

    def stop_in_the_second_epoch(done: int, total: int) -> None:
        seen.append(done)
        if done > total // FAST_PLAN.epochs + 16:  # past epoch 1 (state saved), into epoch 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fine_tune_source(
            duckdb.connect(), query_source(labelled), out, TrainingOptions(base=checkpoint),
            FAST_PLAN, progress=stop_in_the_second_epoch,
        )  # fmt: skip
    assert checkpoint_folder(out).is_dir() and not out.exists()
    with pytest.raises(SourceError, match="add --resume"):
        fine_tune_source(duckdb.connect(), query_source(labelled), out,
                         TrainingOptions(base=checkpoint), FAST_PLAN)  # fmt: skip
    with pytest.raises(SourceError, match="differs from the stopped one in plan"):
        fine_tune_source(duckdb.connect(), query_source(labelled), out,
                         TrainingOptions(base=checkpoint, resume=True),
                         TuningPlan(epochs=4))  # fmt: skip
    resumed: list[int] = []
    result = fine_tune_source(
        duckdb.connect(), query_source(labelled), out,
        TrainingOptions(base=checkpoint, resume=True), FAST_PLAN,
        progress=lambda done, total: resumed.append(done),
    )  # fmt: skip
    fit = json.loads((out / "TRAINING.json").read_text())["rows"]["fit"]  # rows per epoch
    assert seen[-1] > fit  # it was stopped in epoch 2
    assert fit < resumed[0] <= fit + 16  # epoch 1 not redone; epoch 2 from its saved start
    assert resumed[-1] == FAST_PLAN.epochs * fit
    assert result.holdout["accuracy"] >= 0.9 and out.is_dir()


def test_a_base_fine_tune_cannot_train_gets_one_line(tmp_path, labelled):
    con = duckdb.connect()
    with pytest.raises(SourceError, match="--fine-tune needs --base CHECKPOINT_DIR"):
        fine_tune_source(con, query_source(labelled), tmp_path / "a", TrainingOptions())
    with pytest.raises(SourceError, match="not a checkpoint folder --fine-tune can train"):
        fine_tune_source(con, query_source(labelled), tmp_path / "b", TrainingOptions(base=EMBEDDED))
    with pytest.raises(SourceError, match="--epochs must be 1 or more"):
        fine_tune_source(
            con, query_source(labelled), tmp_path / "c", TrainingOptions(), TuningPlan(epochs=0)
        )
    done = run_cli("train", str(tmp_path / "d"), "--fine-tune", "--query", labelled)
    assert_one_line_error(done, "--fine-tune needs --base CHECKPOINT_DIR")
    assert not (tmp_path / "d").exists() and not checkpoint_folder(tmp_path / "d").exists()


def test_fine_tune_on_pairs_gives_a_model_sentiment_aspects_uses(tmp_path, checkpoint):
    """(text, aspect) rows: the folder says it reads pairs (config.json "input_pair") and serves
    as aspect_model=; here an aspect that is a fruit is praised, a tool faulted."""
    rng = random.Random(4)
    rows = []
    for _ in range(240):  # the text of a fruit names fruit, of a tool tools: a tiny model's task
        kind = rng.choice(["fruit", "tool"])
        aspect = rng.choice(WORDS[kind])
        text = " ".join([*rng.choices(WORDS[kind], k=2), aspect])
        rows.append((text, aspect, "positive" if kind == "fruit" else "negative"))
    con = duckdb.connect()
    con.execute("CREATE TABLE t (text VARCHAR, aspect VARCHAR, label VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    out = tmp_path / "aspects"
    options = TrainingOptions(base=checkpoint, pair_column="aspect")
    result = fine_tune_source(con, query_source("FROM t"), out, options, FAST_PLAN)
    assert result.holdout["accuracy"] >= 0.9, result.holdout
    assert json.loads((out / "config.json").read_text())["input_pair"] == ["text", "aspect"]
    scoring = duckdb.connect()
    sentiment_udf.register(scoring, aspect_model=out)
    found = scoring.execute(
        "SELECT [a.label FOR a IN sentiment_aspects('melon plum peach', ['peach'])], "
        "[a.label FOR a IN sentiment_aspects('saw clamp drill', ['drill'])]"
    ).fetchall()[0]
    assert found == (["positive"], ["negative"])


def test_a_checkpoint_with_fewer_positions_is_checked_first_and_its_model_scores(
    tmp_path, labelled
):
    """A checkpoint of 64 positions: --max-length 128 was accepted (512 was the only limit), the
    whole fine-tune ran, then the export failed ("max_length=512 is outside 2..64") and left
    its training state behind. Now one line before anything is written; at 64 it trains, and
    the folder scores with no max_length given (the model's 64, not 512)."""
    checkpoint = build_tiny_checkpoint(tmp_path / "ckpt64")
    config = json.loads((checkpoint / "config.json").read_text())
    config["max_position_embeddings"] = 64
    (checkpoint / "config.json").write_text(json.dumps(config))
    refused = run_cli("train", str(tmp_path / "a"), "--fine-tune", "--base", str(checkpoint),
                      "--query", labelled, "--max-length", "128", "--epochs", "1")  # fmt: skip
    assert_one_line_error(refused, "--max-length must be 2..64 for ckpt64")
    assert not (tmp_path / "a").exists() and not checkpoint_folder(tmp_path / "a").exists()
    out = tmp_path / "b"
    fine_tune_source(
        duckdb.connect(), query_source(labelled), out,
        TrainingOptions(base=checkpoint, max_length=64), TuningPlan(epochs=1),
    )  # fmt: skip
    con = duckdb.connect()
    sentiment_udf.register(con, model=out)
    long_text = "I bought a hammer, a drill and a wrench for the shed. " * 20  # over 64 tokens
    assert con.execute("SELECT classify_sentiment(?)", [long_text]).fetchone()[0] is not None
    assert sentiment_udf.load_model(out).max_length == 64
