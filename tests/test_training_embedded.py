"""`sentiment-udf train` as a new user meets it, on the embedded English model and real reviews:
Ctrl-C part way leaves a checkpoint and no model folder, `--resume` finishes, and the model it
writes scores from SQL."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.cli_helpers import cli, script, with_default_sigint
from tests.conftest import shared_file


@pytest.mark.slow
def test_ctrl_c_then_resume_trains_the_embedded_base_on_real_reviews(tmp_path):
    dev = shared_file("reviews_dev.csv")
    query = (
        "SELECT title || '. ' || text AS text, domain AS label FROM read_csv('" + str(dev) + "') "
        "WHERE domain IN ('books', 'electronics')"
    )
    out = tmp_path / "book_or_gadget"
    args = ["train", str(out), "--query", query, "--max-length", "96"]
    started = subprocess.Popen(
        with_default_sigint([script(), *args]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first_chunk = tmp_path / "book_or_gadget.training" / "features-000000.npy"
    deadline = time.monotonic() + 240
    while not first_chunk.exists() and time.monotonic() < deadline and started.poll() is None:
        time.sleep(0.1)
    assert first_chunk.exists(), "no checkpoint was written"
    started.send_signal(signal.SIGINT)
    _, stderr = started.communicate(timeout=120)
    assert started.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not out.exists()  # no half-written model folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book_or_gadget.training"]

    resumed = cli(*args, "--resume", timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    accuracy = float(resumed.stdout.split("held out: accuracy ")[1].split(",")[0])
    assert accuracy >= 0.85  # books vs electronics; chance 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book_or_gadget"]
    scored = cli(
        "query", "--model", str(out),
        "SELECT classify_sentiment('The battery lasts two days and the screen is sharp') AS a, "
        "classify_sentiment('The author tells the story of three sisters') AS b",
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    assert "electronics" in scored.stdout and "books" in scored.stdout
