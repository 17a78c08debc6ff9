"""`models pull` against a local Hub-layout HTTP server, and `models export` of the real checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from sentiment_udf import SentimentModel, load_model
from tests.cli_helpers import assert_one_line_error, script
from tests.conftest import shared_file
from tests.fake_hub import serve_hub
from tests.tiny_model import build_tiny_model

CHECKPOINT = (
    Path(__file__).resolve().parents[2] / "shared/models/sentiment-en-reviews-v2/checkpoint"
)


def _pull(repo: str, models_dir: Path, endpoint: str, tmp_path: Path):
    pytest.importorskip(
        "huggingface_hub", reason="huggingface_hub missing: pip install -e '.[test]'"
    )
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(tmp_path / "hf-home"),
    }
    return subprocess.run(
        [script(), "models", "pull", repo, "--models-dir", str(models_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_pull_downloads_a_hub_repo_that_then_loads_by_name(tmp_path):
    repo = build_tiny_model(tmp_path / "served", labels=("negative", "positive"), seed=3)
    with serve_hub({"acme/tiny-sentiment": repo}) as endpoint:
        result = _pull("acme/tiny-sentiment", tmp_path / "models", endpoint, tmp_path)
        missing = _pull("acme/absent", tmp_path / "models", endpoint, tmp_path)
    assert result.returncode == 0, result.stderr
    pulled = Path(result.stdout.strip())
    assert pulled == tmp_path / "models" / "acme--tiny-sentiment"
    assert json.loads((pulled / "SOURCE.json").read_text())["repo_id"] == "acme/tiny-sentiment"
    texts = ["good value", "broke at once"]
    assert np.allclose(
        SentimentModel(pulled).predict_proba(texts), SentimentModel(repo).predict_proba(texts)
    )
    assert_one_line_error(missing, "could not download 'acme/absent'", "404")
    assert not (tmp_path / "models" / "acme--absent").exists()


def test_pull_offline_fails_fast_with_a_clear_message(tmp_path):
    started = time.time()
    result = _pull("acme/anything", tmp_path / "models", "http://127.0.0.1:9", tmp_path)
    assert time.time() - started < 30
    assert_one_line_error(result, "could not download 'acme/anything'")


def _dev_texts(n: int = 48) -> list[str]:
    import csv

    with shared_file("reviews_dev.csv").open(newline="", encoding="utf-8") as stream:
        return [row["text"] for row in csv.DictReader(stream)][:n]


def _export(tmp_path: Path, *flags: str) -> SentimentModel:
    pytest.importorskip("torch", reason="torch missing: pip install -e '.[test]'")
    pytest.importorskip("transformers", reason="transformers missing: pip install -e '.[test]'")
    if not CHECKPOINT.is_dir():
        pytest.skip(f"{CHECKPOINT} is missing: needs ../shared/models beside the checkout")
    out = tmp_path / "exported"
    result = subprocess.run(
        [script(), "models", "export", str(CHECKPOINT), str(out), *flags],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    exported = SentimentModel(out)
    assert exported.checksums_verified and exported.labels == ("negative", "positive")
    return exported


def test_int8_export_of_the_checkpoint_rebuilds_the_embedded_model(tmp_path):
    exported = _export(tmp_path, "--int8")
    texts = _dev_texts()
    difference = np.abs(exported.predict_proba(texts) - load_model().predict_proba(texts)).max()
    assert difference < 1e-4, difference
    # The recipe fuses attention but leaves residual layer norms as Add + LayerNormalization
    # (onnxruntime's SkipLayerNormalization is the slower kernel on CPU; BENCHMARKS.md).
    onnx = pytest.importorskip("onnx", reason="onnx missing: pip install -e '.[test]'")
    ops = {node.op_type for node in onnx.load(str(exported.files.onnx)).graph.node}
    assert {"QAttention", "LayerNormalization"} <= ops and "SkipLayerNormalization" not in ops


def test_fp32_export_agrees_with_the_release_fp32_onnx(tmp_path):
    exported = _export(tmp_path)
    release = SentimentModel(CHECKPOINT.parent, onnx_file="model_fp32.onnx")
    texts = _dev_texts()
    difference = np.abs(exported.predict_proba(texts) - release.predict_proba(texts)).max()
    assert difference < 1e-4, difference


def test_export_without_a_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run(
        [script(), "models", "export", str(tmp_path / "empty"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert_one_line_error(result, "config.json")
