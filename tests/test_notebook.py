"""examples/quickstart.ipynb, executed by a real Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_file

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_runs_and_draws_the_chart(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat missing: pip install -e '.[test]'")
    nbclient = pytest.importorskip("nbclient", reason="nbclient missing: pip install -e '.[test]'")
    chart = tmp_path / "chart.png"
    aspect_chart = tmp_path / "aspects.png"
    opinion_chart = tmp_path / "opinions.png"
    monkeypatch.setenv("REVIEWS_CSV", str(shared_file("reviews_dev.csv")))
    monkeypatch.setenv("QUICKSTART_CHART", str(chart))
    monkeypatch.setenv("ASPECT_CHART", str(aspect_chart))
    monkeypatch.setenv("OPINION_CHART", str(opinion_chart))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    accuracy = float(printed.split("accuracy ")[1].split()[0])
    assert "200 reviews scored" in printed and accuracy >= 0.9
    assert chart.stat().st_size > 10_000 and chart.read_bytes()[:4] == b"\x89PNG"
    assert "texts scored" in printed  # sentiment_udf.show_progress() drew its line
    mentions = int(printed.split(" aspect mentions in 200 reviews")[0].split()[-1])
    assert mentions > 20  # books and DVDs talk about the story, kitchen reviews about quality
    assert aspect_chart.stat().st_size > 10_000 and aspect_chart.read_bytes()[:4] == b"\x89PNG"
    found = int(printed.split(" praised or criticised targets in 200 reviews")[0].split()[-1])
    assert found > 200  # real reviews name several targets each
    assert opinion_chart.stat().st_size > 10_000 and opinion_chart.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("every", [0, -1, "1", float("nan"), float("inf"), 0.01, True])
def test_show_progress_refuses_an_interval_that_would_spin_or_never_draw(every):
    """every=0 (or below) drew in a busy loop, flooding the cell; a str killed the drawing
    thread with a traceback. One ValueError naming `every`, before any thread starts."""
    import io

    import sentiment_udf

    printed = io.StringIO()
    with (
        pytest.raises(ValueError, match="show_progress\\(\\): every must be"),
        sentiment_udf.show_progress(every, stream=printed),
    ):
        pass
    assert printed.getvalue() == ""
