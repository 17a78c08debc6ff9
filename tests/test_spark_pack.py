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


def test_the_pack_is_readable_as_the_umask_says_and_never_written_through_a_link(tmp_path):
    """The zip came out 0600 (a temporary file's mode): a cluster reading it as another user
    could not; and OUT given as a link had the pack written into the link's target."""
    mask = os.umask(0o022)
    try:
        result = CliRunner().invoke(
            main, ["spark", "pack", str(tmp_path / "pack"), "--no-dependencies"]
        )
    finally:
        os.umask(mask)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pack" / "sentiment_udf.zip").stat().st_mode & 0o777 == 0o644
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    linked = CliRunner().invoke(main, ["spark", "pack", str(tmp_path / "link"), "--no-dependencies"])
    assert linked.exit_code != 0 and "is a link" in linked.output, linked.output
    assert not list(elsewhere.iterdir())


def test_a_killed_packs_temporary_file_is_removed_and_two_packs_never_share_a_folder(tmp_path):
    """A pack killed while zipping (SIGKILL on the CLI, seen) left `.sentiment_udf.zip.<hex>.tmp`
    (up to the whole 125 MB zip) that no later pack removed. Now a pack holds a lock on its
    folder and removes the temporary files of ours a killed one left; others stay."""
    from sentiment_udf.engines.file_lock import exclusive_lock
    from sentiment_udf.engines.spark_pack import LOCK_NAME

    out = tmp_path / "pack"
    out.mkdir()
    killed = out / f".sentiment_udf.zip.{'ab' * 16}.tmp"
    killed.write_bytes(b"half a zip")
    (out / ".sentiment_udf.zip.notes").write_text("mine")
    (out / "keep.txt").write_text("mine")
    with exclusive_lock(out / LOCK_NAME, "the pack"):
        held = CliRunner().invoke(main, ["spark", "pack", str(out), "--no-dependencies"])
    assert held.exit_code != 0 and "another process" in held.output, held.output
    assert killed.exists()
    done = CliRunner().invoke(main, ["spark", "pack", str(out), "--no-dependencies"])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == [
        ".sentiment_udf.zip.notes", "keep.txt", "sentiment_udf.zip"
    ]
