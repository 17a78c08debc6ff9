"""`sentiment-udf spark pack --no-dependencies`: the package zip that --py-files ships, imported
from the zip by a fresh Python, loads its embedded models (extracted once into the user's cache)
and scores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

from click.testing import CliRunner

from sentiment_udf.cli.main import main

PROBE = (
    "import json, sentiment_udf\n"
    "from sentiment_udf.runtime.model_files import EMBEDDED_MODELS_DIR\n"
    "from sentiment_udf.runtime.registry import load_tagger\n"
    "model = sentiment_udf.load_model()\n"
    "print(json.dumps({'package': sentiment_udf.__file__, 'models': str(EMBEDDED_MODELS_DIR),\n"
    "    'labels': model.predict(['Love it, works great.', 'Broke after a day.']),\n"
    "    'targets': load_tagger().tag(['The battery is great but the screen is dim.'])}))\n"
)


def test_the_package_zip_imports_and_loads_its_models_from_the_zip(tmp_path):
    result = CliRunner().invoke(
        main, ["spark", "pack", str(tmp_path / "pack"), "--no-dependencies"]
    )
    assert result.exit_code == 0, result.output
    archive = tmp_path / "pack" / "sentiment_udf.zip"
    assert "--py-files" in result.output and str(archive) in result.output
    assert not (tmp_path / "pack" / "sentiment_udf_env.tar.gz").exists()
    names = zipfile.ZipFile(archive).namelist()
    assert "sentiment_udf/models/sentiment-en-reviews-v2/model.onnx" in names
    assert not [n for n in names if "__pycache__" in n]
    env = {**os.environ, "PYTHONPATH": str(archive), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for _ in range(2):  # the second import finds the models already extracted
        run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=300)  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        found = json.loads(run.stdout)
        assert found["package"].startswith(str(archive))
        assert found["models"].startswith(str(tmp_path / "cache" / "sentiment-udf" / "embedded"))
        assert found["labels"] == ["positive", "negative"]
        assert found["targets"] == [[[4, 11], [29, 35]]]
    extracted = list((tmp_path / "cache" / "sentiment-udf" / "embedded").iterdir())
    assert len(extracted) == 1 and not list(extracted[0].glob(".extracting-*"))
