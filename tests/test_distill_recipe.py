"""A short smoke run of the fast model's distillation recipe, end to end: teacher logits for a
handful of texts, two training steps, a resume, the export with our own `models export --int8`,
and the result loads and scores (the full run is not part of the suite: about an hour)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sentiment_udf import SentimentModel
from tests.cli_helpers import script
from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
TEACHER = SHARED_DATA.parent / "models" / "sentiment-en-reviews-v2"


def _recipe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "distill_student.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_distillation_recipe_runs_resumes_and_exports(tmp_path):
    pytest.importorskip("torch", reason="torch missing: pip install -e '.[test]'")
    pytest.importorskip("transformers", reason="transformers missing: pip install -e '.[test]'")
    if (
        not (TEACHER / "checkpoint").is_dir()
        or not (SHARED_DATA / "distill_texts.parquet").is_file()
    ):
        pytest.skip(f"{TEACHER} or {SHARED_DATA}/distill_texts.parquet is missing")
    work = tmp_path / "work"
    teacher = _recipe(
        "teacher",
        str(TEACHER / "checkpoint"),
        str(TEACHER / "onnx" / "model_fp32.onnx"),
        str(SHARED_DATA),
        str(work),
        "--limit",
        "24",
    )
    assert teacher.returncode == 0, teacher.stderr[-2000:]
    assert (work / "teacher.parquet").is_file()
    first = _recipe(
        "train", str(TEACHER / "checkpoint"), str(work), "--batch", "8", "--max-steps", "2"
    )
    assert first.returncode == 0, first.stderr[-2000:]
    again = _recipe(
        "train", str(TEACHER / "checkpoint"), str(work), "--batch", "8", "--max-steps", "3"
    )
    assert again.returncode == 0 and "resumed at step 2/3" in again.stdout, again.stdout
    out = tmp_path / "fast"
    exported = subprocess.run(
        [script(), "models", "export", str(work / "student"), str(out), "--int8"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert exported.returncode == 0, exported.stderr[-2000:]
    model = SentimentModel(out)
    assert model.checksums_verified and model.labels == ("negative", "positive")
    assert '"n_layers": 4' in (out / "config.json").read_text()
    probs = model.predict_proba(["Works great, love it.", "Broke on day one."])
    assert probs.shape == (2, 2) and abs(probs.sum(axis=1) - 1).max() < 1e-9
