"""Trust round 4 (issue 26), the data-loss faults: an output that is the source (the database, a
file the query or a view reads), glob characters in our own file names, a resume whose input,
model or options changed, an id column named like an internal column, planted links. Real CLI
runs in subprocesses, real files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli_helpers import assert_one_line_error, cli
from tests.tiny_model import build_tiny_checkpoint


def _write(path: Path, rows: int, start: int = 0) -> Path:
    pq.write_table(
        pa.table(
            {
                "id": pa.array(range(start, start + rows), type=pa.int64()),
                "review": [f"review {i} {'good' if i % 2 else 'bad'}" for i in range(start, start + rows)],
                "other": [f"other {i}" for i in range(start, start + rows)],
            }
        ),
        path,
    )
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _score(model: Path, *args: str) -> list[str]:
    return ["score", "--text-column", "review", "--model", str(model), "--quiet", *args]


def _interrupted(model: Path, output: Path, source: Path, rows: int, *extra: str) -> None:
    """Leave `output` as a run killed after its first part: a parts folder holding the rows a
    real run wrote for the first `rows` rows of `source` (the same file, then grown back)."""
    whole = pq.read_table(source)
    pq.write_table(whole.slice(0, rows), source)
    done = cli(*_score(model, "--input", str(source), "--id-column", "id", "--output",
                       str(output), *extra))  # fmt: skip
    assert done.returncode == 0, done.stderr
    pq.write_table(whole, source)
    parts = output.with_name(output.name + ".parts")
    parts.mkdir()
    if output.suffix == ".csv":
        table = duckdb.read_csv(str(output)).to_arrow_table()
        recorded = None
    else:
        table = pq.read_table(output)
        recorded = (table.schema.metadata or {}).get(b"sentiment_udf.options")
    pq.write_table(table.replace_schema_metadata(None), parts / "part-000000.parquet")
    run: dict = {"replaces_output": False, "run": "killed-run"}
    if recorded is not None:
        run["options"] = json.loads(recorded)
    (parts / "RUN.json").write_text(json.dumps(run))
    output.unlink()


# --- 1. the output can be the source -----------------------------------------------------------


def test_query_output_onto_the_database_file_is_refused_and_the_database_kept(tiny_model, tmp_path):
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE reviews AS SELECT i AS id, 'good ' || i AS text FROM range(20) t(i)")
    con.close()
    digest = _digest(db)
    sql = "SELECT id, classify_sentiment(text) AS l FROM reviews"
    for fmt in ("csv", "json", "parquet"):
        result = cli("query", "--db", str(db), "--model", str(tiny_model), sql, "--format", fmt,
                     "-o", str(db))  # fmt: skip
        assert_one_line_error(result, "is the database")
    link = tmp_path / "link.csv"
    link.symlink_to(db)
    assert_one_line_error(
        cli("query", "--db", str(db), "--model", str(tiny_model), sql, "--format", "csv", "-o", str(link)),
        "is the database",
    )
    assert _digest(db) == digest
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM reviews").fetchall() == [(20,)]


def test_an_output_onto_the_result_cache_in_use_is_refused(tiny_model, tmp_path):
    """`query --cache c.sqlite ... -o c.sqlite` and `score --cache c.sqlite --output c.sqlite
    --replace` replaced the cache (every stored answer) with the results; the shell's `.output`
    emptied it. The cache a run uses is a source too."""
    cache = tmp_path / "c.sqlite"
    warm = cli("query", "--model", str(tiny_model), "--cache", str(cache),
               "SELECT classify_sentiment('good value') AS l")  # fmt: skip
    assert warm.returncode == 0, warm.stderr
    digest = _digest(cache)
    source = _write(tmp_path / "in.parquet", 4)
    ran = cli("query", "--model", str(tiny_model), "--cache", str(cache), "SELECT 1 AS a",
              "--format", "csv", "-o", str(cache))  # fmt: skip
    assert_one_line_error(ran, "result cache")
    scored = cli(*_score(tiny_model, "--cache", str(cache), "--input", str(source),
                         "--output", str(cache), "--replace"))  # fmt: skip
    assert_one_line_error(scored, "result cache")
    shell = cli("shell", "--model", str(tiny_model), "--cache", str(cache),
                stdin=f".output {cache}\nSELECT 1 AS a;\n")  # fmt: skip
    assert "result cache" in shell.stderr, shell.stderr
    assert _digest(cache) == digest


def test_an_output_onto_a_file_of_the_model_in_use_is_refused(tiny_model, tmp_path):
    """`query --model M ... -o M/config.json` replaced the model's own config with the results:
    the model folder no longer loaded. The files of the models a run loaded are sources too."""
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    digests = {p: _digest(p) for p in model.iterdir()}
    sql = "SELECT classify_sentiment('good value') AS l"
    for name in ("config.json", "model.onnx"):
        ran = cli("query", "--model", str(model), sql, "--format", "json", "-o", str(model / name))
        assert_one_line_error(ran, "model")
    source = _write(tmp_path / "in.parquet", 4)
    scored = cli(*_score(model, "--input", str(source), "--output", str(model / "model.onnx"),
                         "--replace"))  # fmt: skip
    assert_one_line_error(scored, "model")
    assert {p: _digest(p) for p in model.iterdir()} == digests


def test_an_output_that_is_a_fifo_or_device_is_refused_not_replaced(tiny_model, tmp_path):
    """`query -o` and `score --output --replace` onto a FIFO or device wrote beside it and renamed
    the file over it: as root, `-o /dev/null` would have replaced the system's /dev/null with a
    regular file (seen with a device node made by mknod). Now one line, the node untouched; the
    shell, which writes in place, still takes `.output /dev/null`."""
    import stat

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    source = _write(tmp_path / "in.parquet", 4)
    ran = cli("query", "--model", str(tiny_model), "SELECT 1 AS a", "--format", "csv", "-o", str(fifo))
    assert_one_line_error(ran, "FIFO")
    for mode in ("--replace", "--resume"):
        scored = cli(*_score(tiny_model, "--input", str(source), "--output", str(fifo), mode))
        assert_one_line_error(scored, "FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "pipe"]
    shell = cli(
        "shell", "--model", str(tiny_model),
        stdin=".output /dev/null\nSELECT 1 AS hidden;\n.output\nSELECT 2 AS shown;\n",
    )  # fmt: skip
    assert shell.returncode == 0 and shell.stdout == "shown\n-----\n2\n(1 row)\n", shell


def test_query_output_removes_a_killed_runs_copy_and_takes_scores_lock(tiny_model, tmp_path):
    """`query -o` killed while writing left `.out.csv.<hex>.tmp` (the whole output) that no later
    run removed, as score's did before round 4's item 19; now it holds the output's lock (the
    one score takes) and removes ours; a file of another name stays."""
    from sentiment_udf.engines.file_lock import exclusive_lock

    out = tmp_path / "out.csv"
    killed = tmp_path / f".out.csv.{'ab' * 16}.tmp"
    killed.write_text("half an output")
    (tmp_path / ".out.csv.notes.tmp").write_text("mine")
    sql = "SELECT 1 AS a"
    with exclusive_lock(tmp_path / "out.csv.lock", str(out)):
        held = cli("query", "--model", str(tiny_model), sql, "--format", "csv", "-o", str(out))
    assert_one_line_error(held, "another process")
    assert killed.exists() and not out.exists()
    done = cli("query", "--model", str(tiny_model), sql, "--format", "csv", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.csv.notes.tmp", "out.csv"]


def test_query_output_onto_a_file_the_query_or_a_view_reads_is_refused(tiny_model, tmp_path):
    source = _write(tmp_path / "in.parquet", 10)
    csv_source = tmp_path / "in.csv"
    csv_source.write_text("id,review\n1,good\n2,bad\n")
    digests = {p: _digest(p) for p in (source, csv_source)}
    db = tmp_path / "v.duckdb"
    con = duckdb.connect(str(db))
    con.execute(f"CREATE VIEW v AS SELECT * FROM read_csv('{csv_source}')")
    con.execute(f"CREATE VIEW w AS SELECT * FROM '{csv_source}'")  # DuckDB keeps it as "..."
    con.close()
    cases = [
        (source, f"SELECT id, classify_sentiment(review) AS l FROM '{source}'", "parquet", None),
        (source, f"SELECT * FROM read_parquet('{tmp_path}/in.*')", "parquet", None),
        (csv_source, "SELECT id, classify_sentiment(review) AS l FROM v", "csv", db),
        (csv_source, "SELECT id, classify_sentiment(review) AS l FROM w", "csv", db),
        (csv_source, f'SELECT * FROM "{csv_source}"', "csv", None),
        (csv_source, f"FROM read_csv(['{csv_source}'])", "csv", None),
    ]
    for output, sql, fmt, database in cases:
        args = ["query", "--model", str(tiny_model), sql, "--format", fmt, "-o", str(output)]
        if database:
            args += ["--db", str(database)]
        assert_one_line_error(cli(*args), "reads")
    assert {p: _digest(p) for p in digests} == digests


def test_output_onto_a_file_read_through_a_database_the_query_attaches_is_refused(
    tiny_model, tmp_path
):
    """`ATTACH 'other.duckdb' AS o; SELECT ... FROM o.v`, where o.v reads x.parquet, with
    `-o x.parquet` (or `.output x.parquet` in the shell): the view was not known before the
    query ran, and its file was overwritten with the results."""
    source = _write(tmp_path / "x.parquet", 10)
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute(f"CREATE VIEW v AS FROM read_parquet('{source}')")
    con.close()
    digest = _digest(source)
    sql = f"ATTACH '{other}' AS o; SELECT id, classify_sentiment(review) AS l FROM o.v"
    ran = cli("query", "--model", str(tiny_model), sql, "--format", "parquet", "-o", str(source))
    assert_one_line_error(ran, "reads")
    shell = cli(
        "shell", "--model", str(tiny_model),
        stdin=f".output {source}\n{sql};\n.output\nSELECT 1 AS still_here;\n",
    )  # fmt: skip
    assert "still_here" in shell.stdout and "reads" in shell.stderr, shell.stderr
    assert _digest(source) == digest


def test_score_output_onto_the_database_or_a_file_the_query_reads_is_refused(tiny_model, tmp_path):
    source = _write(tmp_path / "in.parquet", 10)
    viewed = _write(tmp_path / "viewed.parquet", 10)
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE r AS FROM '{source}'")
    con.execute(f"CREATE VIEW v AS FROM read_parquet('{source}')")
    con.execute(f"CREATE VIEW w AS FROM '{viewed}'")  # DuckDB keeps it as FROM "..."
    con.close()
    digests = {p: _digest(p) for p in (source, viewed, db)}
    cases = [
        ("--db", str(db), "--table", "r", "--output", str(db)),
        ("--query", f"FROM '{source}'", "--output", str(source)),
        ("--db", str(db), "--query", "FROM v", "--output", str(source)),
        ("--db", str(db), "--table", "v", "--output", str(source)),
        ("--db", str(db), "--table", "w", "--output", str(viewed)),
        ("--db", str(db), "--query", "FROM r", "--output", str(db)),
    ]
    for case in cases:
        for mode in ("--replace", "--resume"):
            result = cli(*_score(tiny_model, "--id-column", "id", *case, mode))
            assert_one_line_error(result, "the source")
    assert {p: _digest(p) for p in digests} == digests


# --- 2. glob characters in our own file names --------------------------------------------------


def test_glob_characters_in_the_output_never_read_another_runs_parts(tiny_model, tmp_path):
    source = _write(tmp_path / "r40.parquet", 40)
    other = _write(tmp_path / "other.parquet", 2, start=1000)
    _interrupted(tiny_model, tmp_path / "scores1.csv", other, 2)
    result = cli(*_score(tiny_model, "--input", str(source), "--id-column", "id", "--output",
                         str(tmp_path / "scores[1].csv")))  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = duckdb.execute(
        "SELECT list(id ORDER BY id) FROM read_csv(?)", [str(tmp_path / "scores[[]1].csv")]
    ).fetchall()[0][0]
    assert written == list(range(40))


def test_glob_characters_in_a_resumed_parquet_output(tiny_model, tmp_path):
    source = _write(tmp_path / "r40.parquet", 40)
    target = tmp_path / "p[1].parquet"
    _interrupted(tiny_model, target, source, 10)
    _interrupted(tiny_model, tmp_path / "p1.parquet", _write(tmp_path / "x.parquet", 4, 500), 4)
    result = cli(*_score(tiny_model, "--input", str(source), "--id-column", "id", "--output",
                         str(target), "--resume"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    ids = pq.read_table(target).column("id").to_pylist()
    assert sorted(ids) == list(range(40))


# --- 3 and 4. a resume whose input, model or options changed -----------------------------------


def test_resume_after_a_new_file_joins_the_glob_is_refused(tiny_model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a.parquet", 16)
    output = tmp_path / "out.parquet"
    args = _score(tiny_model, "--input", str(folder / "*.parquet"), "--glob", "--output", str(output))
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    # interrupt: keep the finished output's rows as the parts of an unfinished run
    parts = output.with_name(output.name + ".parts")
    parts.mkdir()
    table = pq.read_table(output)
    run = {"replaces_output": False, "run": "x",
           "options": json.loads(table.schema.metadata[b"sentiment_udf.options"])}
    pq.write_table(table.slice(0, 8).replace_schema_metadata(None), parts / "part-000000.parquet")
    (parts / "RUN.json").write_text(json.dumps(run))
    output.unlink()
    _write(folder / "0.parquet", 8, start=100)  # sorts first: renumbers every row of a.parquet
    assert_one_line_error(cli(*args, "--resume"), "--resume", "input")
    assert sorted(p.name for p in parts.iterdir()) == ["RUN.json", "part-000000.parquet"]


@pytest.mark.parametrize(
    "change",
    [
        ("--model", "fast"),
        ("--any-language",),
        ("--title-column", "other"),
        ("--max-length", "64"),
        ("--long-text", "chunk"),
        ("--text-column", "other"),
    ],
    ids=lambda c: c[0],
)
def test_resume_with_another_model_option_or_column_is_refused(tiny_model, tmp_path, change):
    source = _write(tmp_path / "r40.parquet", 40)
    output = tmp_path / "out.parquet"
    _interrupted(tiny_model, output, source, 10)
    args = ["score", "--input", str(source), "--id-column", "id", "--output", str(output),
            "--model", str(tiny_model), "--quiet", "--resume"]  # fmt: skip
    if change[0] == "--model":
        args[args.index("--model") + 1] = change[1]
        args += ["--text-column", "review"]
    elif change[0] == "--text-column":
        args += list(change)
    else:
        args += ["--text-column", "review", *change]
    result = cli(*args)
    assert_one_line_error(result, "--resume", change[0].lstrip("-").split("-")[0])
    parts = output.with_name(output.name + ".parts")
    assert [p.name for p in sorted(parts.glob("part-*"))] == ["part-000000.parquet"]


def test_resume_of_a_table_target_with_another_model_is_refused(tiny_model, tmp_path):
    db = tmp_path / "db.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE r AS SELECT i AS id, 'good ' || i AS review FROM range(30) t(i)")
    con.close()
    base = _score(tiny_model, "--db", str(db), "--table", "r", "--id-column", "id",
                  "--target-table", "s")  # fmt: skip
    assert cli(*base).returncode == 0
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM s WHERE id >= 10")
    con.close()
    assert_one_line_error(cli(*base, "--resume", "--max-length", "32"), "--resume", "max")
    same = cli(*base, "--resume")
    assert same.returncode == 0, same.stderr
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM s").fetchall() == [(30,)]


def test_resume_with_the_same_options_still_finishes(tiny_model, tmp_path):
    source = _write(tmp_path / "r40.parquet", 40)
    output = tmp_path / "out.parquet"
    _interrupted(tiny_model, output, source, 10)
    result = cli(*_score(tiny_model, "--input", str(source), "--id-column", "id", "--output",
                         str(output), "--resume"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(pq.read_table(output).column("id").to_pylist()) == list(range(40))


# --- 5. an id column named like an internal column ---------------------------------------------


@pytest.mark.parametrize("mode", [(), ("--sentences",), ("--opinions",)], ids=["rows", "sentences", "opinions"])
@pytest.mark.parametrize("kind", ["parquet", "csv", "table"])
def test_an_id_column_named_like_an_internal_column_is_written(tiny_model, tmp_path, mode, kind):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"__source_row": [7, 8, 9], "review": ["Great screen.", "Bad.", None]}), source)
    args = ["--input", str(source), "--id-column", "__source_row"]
    if kind == "table":
        db = tmp_path / "o.duckdb"
        args += ["--db", str(db), "--target-table", "t"]
    else:
        args += ["--output", str(tmp_path / f"o.{kind}")]
    result = cli(*_score(tiny_model, *args, *mode))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if kind == "table":
        con = duckdb.connect(str(db), read_only=True)
        found = con.sql("SELECT * FROM t").to_arrow_table()
    elif kind == "csv":
        found = duckdb.read_csv(str(tmp_path / "o.csv")).to_arrow_table()
    else:
        found = pq.read_table(tmp_path / "o.parquet")
    assert found.column_names[0] == "__source_row"
    assert sorted(set(found.column("__source_row").to_pylist())) == [7, 8, 9]


# --- 6. links planted where we write or what we trust ------------------------------------------


def test_models_export_never_writes_through_links_planted_in_the_output(tmp_path):
    pytest.importorskip("torch", reason="models export needs torch (the export extra)")
    checkpoint = build_tiny_checkpoint(tmp_path / "ckpt")
    out = tmp_path / "out"
    out.mkdir()
    victims = {}
    for name in ("model.onnx", "config.json", "tokenizer.json", "MANIFEST.json", "SOURCE.json"):
        victim = tmp_path / f"victim-{name}"
        victim.write_text("keep me")
        (out / name).symlink_to(victim)
        victims[victim] = "keep me"
    result = cli("models", "export", str(checkpoint), str(out))
    assert_one_line_error(result, "not empty")
    (out / "model.onnx").unlink()
    (out / "model.onnx").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    linked = tmp_path / "linked-out"
    linked.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert_one_line_error(cli("models", "export", str(checkpoint), str(linked)), "link")
    assert not (tmp_path / "elsewhere").exists()
    assert {v: v.read_text() for v in victims} == victims


def test_models_export_removes_the_folder_a_killed_export_left(tmp_path):
    """A killed export left `.out.export-XXXXXXXX` (a whole model at its end) beside OUT, never
    removed (item 19's kind); only a real folder of that name holding export's files goes."""
    pytest.importorskip("torch", reason="models export needs torch (the export extra)")
    checkpoint = build_tiny_checkpoint(tmp_path / "ckpt")
    left = tmp_path / ".out.export-k1ll_ed9"
    left.mkdir()
    (left / "model.onnx").write_bytes(b"half a model")
    (left / "config.json").write_text("{}")
    foreign = tmp_path / ".out.export-mynotes1"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = cli("models", "export", str(checkpoint), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")) == [
        ".out.export-mynotes1"
    ]


def test_models_export_into_a_non_empty_folder_or_onto_its_checkpoint_is_refused(tmp_path):
    pytest.importorskip("torch", reason="models export needs torch (the export extra)")
    checkpoint = build_tiny_checkpoint(tmp_path / "ckpt")
    before = sorted(p.name for p in checkpoint.iterdir())
    assert_one_line_error(cli("models", "export", str(checkpoint), str(checkpoint)), "checkpoint")
    assert sorted(p.name for p in checkpoint.iterdir()) == before
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert_one_line_error(cli("models", "export", str(checkpoint), str(busy)), "not empty")
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


def test_a_cache_path_through_a_link_is_refused(tiny_model, tmp_path):
    victim = tmp_path / "notes.txt"
    victim.write_text("my notes")
    cache_home = tmp_path / "cache"
    (cache_home / "sentiment-udf").mkdir(parents=True)
    (cache_home / "sentiment-udf" / "results.sqlite").symlink_to(victim)
    env_home = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    import subprocess
    import sys

    code = (
        "import duckdb, sentiment_udf, sys\n"
        "con = duckdb.connect()\n"
        "try:\n"
        f"    sentiment_udf.register(con, {str(tiny_model)!r}, cache=True)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc); sys.exit(3)\n"
        "print(con.execute(\"SELECT classify_sentiment('good')\").fetchall())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_home, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "link" in done.stdout
    assert victim.read_text() == "my notes"


# --- 6, 17, 20. the embedded models of a zipped package -----------------------------------------

ZIP_PROBE = (
    "import json, sentiment_udf\n"
    "from sentiment_udf.runtime.model_files import EMBEDDED_MODELS_DIR\n"
    "print(json.dumps({'models': str(EMBEDDED_MODELS_DIR),\n"
    "    'labels': sentiment_udf.load_model().predict(['Great product, works well', 'Broke in a day'])}))\n"
)


@pytest.fixture(scope="module")
def package_zip(tmp_path_factory) -> Path:
    from click.testing import CliRunner

    from sentiment_udf.cli.main import main

    folder = tmp_path_factory.mktemp("pack")
    result = CliRunner().invoke(main, ["spark", "pack", str(folder / "pack"), "--no-dependencies"])
    assert result.exit_code == 0, result.output
    return folder / "pack" / "sentiment_udf.zip"


def _zip_import(archive: Path, cache: Path | str, cwd: Path) -> dict:
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(archive), "XDG_CACHE_HOME": str(cache),
           "HOME": str(cwd / "home")}  # fmt: skip
    run = subprocess.run([sys.executable, "-c", ZIP_PROBE], capture_output=True, text=True,
                         env=env, cwd=cwd, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def _tag(archive: Path) -> str:
    from sentiment_udf.runtime.embedded_zip import content_tag, members

    return content_tag(members(archive, "sentiment_udf/models/"))


def test_links_planted_in_the_embedded_cache_are_never_followed_or_trusted(package_zip, tmp_path):
    cache = tmp_path / "cache"
    embedded = cache / "sentiment-udf" / "embedded"
    embedded.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (embedded / _tag(package_zip)).symlink_to(elsewhere, target_is_directory=True)
    found = _zip_import(package_zip, cache, tmp_path)
    assert found["labels"] == ["positive", "negative"]
    assert list(elsewhere.iterdir()) == []  # nothing extracted through the link
    # a planted models folder with the labels swapped (its own manifest rewritten to match)
    first = Path(found["models"])
    planted = tmp_path / "planted"
    shutil.copytree(first, planted)
    config = planted / "sentiment-en-reviews-v2" / "config.json"
    config.write_text(config.read_text().replace('"negative"', '"TMP"').replace('"positive"', '"negative"').replace('"TMP"', '"positive"'))
    from sentiment_udf.runtime.model_files import write_manifest

    write_manifest(planted / "sentiment-en-reviews-v2")
    target = embedded / _tag(package_zip)
    shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    target.mkdir()
    (target / "models").symlink_to(planted, target_is_directory=True)
    again = _zip_import(package_zip, cache, tmp_path)
    assert again["labels"] == ["positive", "negative"]
    assert not Path(again["models"]).resolve().is_relative_to(planted)


def test_one_extraction_per_content_and_a_damaged_copy_is_extracted_again(package_zip, tmp_path):
    cache = tmp_path / "cache"
    copy = tmp_path / "other" / "sentiment_udf.zip"
    copy.parent.mkdir()
    shutil.copyfile(package_zip, copy)  # another path and mtime, the same content
    first = _zip_import(package_zip, cache, tmp_path)
    second = _zip_import(copy, cache, tmp_path)
    assert first["models"] == second["models"]
    embedded = cache / "sentiment-udf" / "embedded"
    assert [p.name for p in embedded.iterdir()] == [_tag(package_zip)]
    onnx = Path(first["models"]) / "sentiment-en-reviews-v2" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:1000])  # damaged
    stale = embedded / ".extracting-left-by-a-kill"
    stale.mkdir()
    os.utime(stale, (0, 0))
    third = _zip_import(package_zip, cache, tmp_path)
    assert third["labels"] == ["positive", "negative"]
    assert onnx.stat().st_size > 1000
    assert [p.name for p in embedded.iterdir()] == [_tag(package_zip)]


def test_an_unwritable_or_relative_cache_still_imports(package_zip, tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    assert _zip_import(package_zip, blocked, tmp_path)["labels"] == ["positive", "negative"]
    assert blocked.read_text() == "x"
    relative = _zip_import(package_zip, "rel-cache", tmp_path)
    assert relative["labels"] == ["positive", "negative"]
    assert not (tmp_path / "rel-cache").exists()  # a relative XDG_CACHE_HOME is ignored
    assert (tmp_path / "home" / ".cache" / "sentiment-udf" / "embedded").is_dir()


# --- 8. one row never fails a query: odd spaces in the sentence splitter -------------------------


@pytest.mark.parametrize("space", ["\u00a0", "\u3000", "\u2009", "\u0085", "\u202f"])
def test_odd_spaces_after_a_capital_and_a_period_are_split_not_a_failed_query(con, space):
    text = f"I bought plan B{space}. The battery died."
    sentences = con.execute("SELECT sentiment_sentences(?)", [text]).fetchall()[0][0]
    assert [s["sentence"] for s in sentences] == [f"I bought plan B{space}.", "The battery died."]
    assert [(s["position"], s["length"]) for s in sentences] == [(1, 17), (19, 17)]
    row = con.execute(
        "SELECT sentiment_overall(?), sentiment_aspects(?, ['battery']), sentiment_opinions(?)",
        [text] * 3,
    ).fetchall()[0]
    assert row[0] is not None and row[1][0]["aspect"] == "battery"
    assert row[2] is not None and "battery" in [o["target"] for o in row[2]]


def test_runs_of_brackets_spaces_or_punctuation_cost_linear_time_not_a_hang(tiny_model):
    """Found next door to 8, in a real review of reviews_bench.parquet (";-" then 25 ")"): a
    pattern whose alternatives both matched ")" took 2^n steps to fail (149 s for that review,
    longer than the universe for 60); two more patterns read a long run of spaces (clause
    breaks) or punctuation (target keys) again from each of its characters (52 s and 13 s for
    40,000); the fragment rule once took hours on 1 MB of "!!! ". Run in a child with a time
    limit: before, it never ends; now, well under a second each (the limit only ends a hang)."""
    import subprocess
    import sys
    import textwrap

    program = textwrap.dedent(
        f"""
        import duckdb, sentiment_udf
        from sentiment_udf.analysis.aspects import clause_of
        from sentiment_udf.analysis.opinions import target_key
        con = duckdb.connect()
        sentiment_udf.register(con, model={str(tiny_model)!r})
        smiley = "So much FUN. making stuff ;-" + ")" * 60 + " plus. Bye."
        sentences = con.execute("SELECT sentiment_sentences(?)", [smiley]).fetchall()[0][0]
        print([s["sentence"] for s in sentences])
        no_letters = "SELECT len(sentiment_sentences(repeat('!!! ', 250000) || 'good'))"
        print(con.execute(no_letters).fetchall()[0][0])  # quadratic once: hours for 1 MB
        spaces = "The screen" + " " * 200_000 + "is fine, but the battery died."
        print(repr(clause_of(spaces, spaces.index("battery"), len(spaces) - 6)))
        print(target_key("battery" + "!" * 200_000 + "x"), target_key("the Batteries" + "!" * 200_000))
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == repr(["So much FUN.", "making stuff ;-" + ")" * 60 + " plus.", "Bye."])
    assert int(lines[1]) >= 1
    assert lines[2] == repr("but the battery died.")
    assert lines[3] == "battery" + "!" * 200_000 + "x battery"


# --- 19. a kill in the last step leaves no full-size copy behind ---------------------------------


def test_a_temporary_copy_left_by_a_kill_in_the_last_step_is_removed_by_the_resume(tiny_model, tmp_path):
    source = _write(tmp_path / "r40.parquet", 40)
    output = tmp_path / "out.parquet"
    _interrupted(tiny_model, output, source, 10)
    left = tmp_path / f".out.parquet.{'ab' * 16}.tmp"  # as fresh_file names it
    left.write_bytes(b"x" * 100_000)
    mine = tmp_path / ".out.parquet.notes.tmp"
    mine.write_text("not ours")
    result = cli(*_score(tiny_model, "--input", str(source), "--id-column", "id", "--output",
                         str(output), "--resume"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not left.exists() and mine.read_text() == "not ours"


# --- 7, 9, 13, 21. bad input is one clear line, never a hang or a lost function -----------------


def test_a_fifo_as_a_model_file_or_database_is_refused_not_waited_on(tiny_model, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    (folder / "model.onnx").unlink()
    os.mkfifo(folder / "model.onnx")
    result = cli("query", "SELECT classify_sentiment('good')", "--model", str(folder), timeout=60)
    assert_one_line_error(result, "not a regular file")
    fifo_db = tmp_path / "db.duckdb"
    os.mkfifo(fifo_db)
    result = cli("query", "SELECT 1", "--db", str(fifo_db), "--model", str(tiny_model), timeout=60)
    assert_one_line_error(result, "not a regular file")


def test_shell_read_of_a_file_that_is_not_utf8_keeps_the_session(tiny_model, tmp_path):
    latin = tmp_path / "latin1.sql"
    latin.write_bytes("SELECT 'caf\u00e9';\n".encode("latin-1"))
    script = f"CREATE TABLE kept AS SELECT 42 AS x;\n.read {latin}\nSELECT x FROM kept;\n"
    result = cli("shell", "--model", str(tiny_model), stdin=script, timeout=120)
    assert "not UTF-8" in result.stderr
    assert "42" in result.stdout


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"names": {"classify_sentiment": "sentiment"}}, "both be named"),
        ({"names": {"classify_sentiment": "lower"}}, "hide DuckDB"),
        ({"names": {"classify_sentiment": ""}}, "not a SQL identifier"),
        ({"positive_label": 3}, "positive_label"),
        ({"cache": 1}, "cache"),
        ({"cache": 3.5}, "cache"),
        ({"cache": b"x"}, "cache"),
        ({"prefix": None}, "prefix"),
        ({"model": 3}, "model"),
        ({"macros": True, "prefix": "x_"}, "macros=True"),
    ],
)
def test_bad_register_arguments_fail_with_their_name_and_register_nothing(tiny_model, options, fragment):
    import sentiment_udf

    with pytest.raises(TypeError, match="register\\(\\): con must be a DuckDB connection"):
        sentiment_udf.register(3, tiny_model)  # the connection itself of the wrong type
    con = duckdb.connect()
    kwargs = {"model": tiny_model, **options}
    with pytest.raises((TypeError, ValueError), match=fragment):
        sentiment_udf.register(con, **kwargs)
    registered = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name LIKE '%sentiment%'"
    ).fetchall()[0][0]
    assert registered == 0


# --- 22. small ones: one clear line, no file left behind --------------------------------------


def test_query_comment_latin1_csv_and_no_empty_database_left(tiny_model, tmp_path):
    source = _write(tmp_path / "in.parquet", 5)
    out = tmp_path / "o.parquet"
    commented = cli(*_score(tiny_model, "--query", f"SELECT * FROM '{source}' -- a note",
                            "--id-column", "id", "--output", str(out)))  # fmt: skip
    assert commented.returncode == 0, commented.stderr
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,review\n1,caf\xe9 good\n".encode("latin-1"))
    result = cli(*_score(tiny_model, "--input", str(latin), "--id-column", "id", "--output",
                         str(tmp_path / "l.parquet")))  # fmt: skip
    assert_one_line_error(result, "not utf-8 encoded", "encoding")
    new_db = tmp_path / "new.duckdb"
    failing = cli(*_score(tiny_model, "--db", str(new_db), "--query", "SELECT * FROM nowhere",
                          "--id-column", "id", "--output", str(tmp_path / "f.parquet")))  # fmt: skip
    assert_one_line_error(failing, "nowhere")
    assert not new_db.exists()


def test_spark_pack_into_the_package_folder_is_refused():
    import sentiment_udf

    inside = Path(sentiment_udf.__file__).parent / "pack-here"
    result = cli("spark", "pack", str(inside), "--no-dependencies", timeout=60)
    assert_one_line_error(result, "inside the package folder")
    assert not inside.exists()


# --- 23. offline: onnxruntime writes no telemetry -------------------------------------------------


def test_scoring_writes_nothing_under_the_users_cache_but_what_was_asked(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env |= {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path / "home")}
    code = "import sentiment_udf; print(sentiment_udf.load_model().predict(['Works great']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []  # onnxruntime's Microsoft/DeveloperTools/.onnxruntime/ was written before


# --- 14. a --query runs once -----------------------------------------------------------------


def test_a_query_with_nextval_runs_once(tiny_model, tmp_path):
    db = tmp_path / "seq.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SEQUENCE s")
    con.close()
    out = tmp_path / "o.parquet"
    query = "SELECT nextval('s') AS id, 'good ' || i AS review FROM range(10) t(i)"
    result = cli(*_score(tiny_model, "--db", str(db), "--query", query, "--id-column", "id",
                         "--output", str(out)))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(pq.read_table(out).column("id").to_pylist()) == list(range(1, 11))
    con = duckdb.connect(str(db))
    assert con.execute("SELECT nextval('s')").fetchall() == [(11,)]  # advanced by 10, not 20


# --- 11. the catalog guard sees calls through stored macros ---------------------------------------


def test_a_generated_column_calling_a_macro_that_calls_our_function_is_refused(tiny_model, tmp_path):
    db = tmp_path / "shop.duckdb"
    base = ["--db", str(db), "--model", str(tiny_model)]
    sql = (
        "CREATE MACRO m(x) AS classify_sentiment(x); CREATE MACRO m2(x) AS upper(m(x)); "
        "CREATE TABLE u (a VARCHAR, b VARCHAR GENERATED ALWAYS AS (m2(a)))"
    )
    result = cli("query", sql, *base)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: refused: column u.b")
    con = duckdb.connect(str(db), read_only=True)  # no sentiment functions registered here
    assert "u" not in {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


# --- 12. Unicode normalisation: one word, one match, one key ------------------------------------


def test_aspects_and_opinion_keys_match_across_nfc_nfd_and_soft_hyphens(embedded_con):
    import unicodedata

    nfc = "The café was lovely and the staff were kind."
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    for text, aspect in ((nfc, "café"), (nfd, "café"), (nfc, unicodedata.normalize("NFD", "café")), (nfd, unicodedata.normalize("NFD", "café"))):
        found = embedded_con.execute("SELECT sentiment_aspects(?, [?])", [text, aspect]).fetchall()[0][0]
        assert found[0]["mentions"] == 1, (text, aspect)
        position, length = found[0]["evidence"][0]["position"], found[0]["evidence"][0]["length"]
        assert unicodedata.normalize("NFC", text[position - 1 : position - 1 + length]) == "café"
    soft = "The bat\u00adtery died within a day."
    found = embedded_con.execute("SELECT sentiment_aspects(?, ['battery'])", [soft]).fetchall()[0][0]
    assert found[0]["mentions"] == 1 and found[0]["evidence"][0]["length"] == len("bat\u00adtery")
    keys = set()
    for text in (nfc, nfd):
        opinions = embedded_con.execute("SELECT sentiment_opinions(?)", [text]).fetchall()[0][0]
        cafe = [o for o in opinions if o["target_key"].startswith("caf")]
        assert cafe, opinions
        keys |= {o["target_key"] for o in cafe}
        o = cafe[0]
        assert unicodedata.normalize("NFC", text[o["position"] - 1 : o["position"] - 1 + o["length"]]) == "café"
    assert keys == {"café"}


# --- 15. aspects: bounded pattern memory -----------------------------------------------------------


def test_long_aspects_are_not_kept_in_the_pattern_cache(embedded_con):
    from sentiment_udf.analysis import aspects

    before = aspects._cached_aspect_pattern.cache_info().currsize
    for i in range(20):  # 20 distinct 20 kB aspects: each compiled for its call, none kept
        long_aspect = "|".join(f"word{i}x{j}" for j in range(2000))
        found = embedded_con.execute(
            "SELECT sentiment_aspects(?, [?])", [f"The word{i}x7 is great.", long_aspect]
        ).fetchall()[0][0]
        assert found[0]["mentions"] == 1
    assert aspects._cached_aspect_pattern.cache_info().currsize == before


# --- 22. cache stats only reads ---------------------------------------------------------------


def test_cache_stats_does_not_wait_for_a_writer(tiny_model, tmp_path):
    import sqlite3

    cache = tmp_path / "c.sqlite"
    made = cli("query", "SELECT sentiment_score('good')", "--model", str(tiny_model), "--cache", str(cache))
    assert made.returncode == 0, made.stderr
    writer = sqlite3.connect(cache)
    writer.execute("BEGIN IMMEDIATE")  # another process mid-write holds the write lock
    try:
        stats = cli("cache", "stats", "--path", str(cache), timeout=8)  # it waited 10 s before
    finally:
        writer.rollback()
        writer.close()
    assert stats.returncode == 0, stats.stderr
    assert "1" in stats.stdout


# --- 27. eval takes --query like score ----------------------------------------------------------


def test_eval_reads_a_query_as_score_does(tiny_model, tmp_path):
    labelled = tmp_path / "l.csv"
    labelled.write_text("t,y\ngood,positive\nbad,negative\nfine,positive\n")
    from_query = cli("eval", "--query", f"SELECT t, y FROM '{labelled}' WHERE t <> 'fine'",
                     "--text-column", "t", "--label-column", "y", "--model", str(tiny_model),
                     "--format", "json")  # fmt: skip
    from_file = cli("eval", "--input", str(labelled), "--text-column", "t", "--label-column", "y",
                    "--model", str(tiny_model), "--format", "json")  # fmt: skip
    assert from_query.returncode == 0 and from_file.returncode == 0, from_query.stderr
    assert json.loads(from_query.stdout)["macro_avg"]["support"] == 2
    assert json.loads(from_file.stdout)["macro_avg"]["support"] == 3


# --- 24. Ctrl-C stops a query at once, not after the vector in flight ---------------------------


@pytest.mark.parametrize(
    "function, rows",
    [
        ("classify_sentiment", "SELECT review FROM read_parquet('{bench}')"),
        # The opinion-target tagger has its own workers and tags all of a vector's sentences
        # before any is scored: reviews of 8 reviews each (over 60,000 sentences in the first
        # vector, half a minute) keep it busy. Before, it tagged them all after the signal.
        (
            "sentiment_opinions",
            "SELECT string_agg(review, ' ') AS review FROM read_parquet('{bench}') "
            "GROUP BY review_id // 8",
        ),
    ],
)
def test_ctrl_c_stops_the_embedded_model_within_seconds_not_after_its_vector(
    tmp_path, function, rows
):
    import signal
    import subprocess
    import time

    from tests.cli_helpers import script, with_default_sigint

    bench = shared_file_path("reviews_bench.parquet")
    ready = tmp_path / "ready.csv"
    query = (
        f"CREATE TEMP TABLE reviews AS {rows.format(bench=bench)}; "
        f"COPY (SELECT 1) TO '{ready}'; "
        f"SELECT count({function}(review)) FROM reviews"
    )
    process = subprocess.Popen(with_default_sigint([script(), "query", query]),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3)  # well inside the first 2,048-row vector (about 20 s of the embedded model)
    assert process.poll() is None, "the query finished before the signal"
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    waited = time.monotonic() - sent
    assert process.returncode == 130 and "Interrupted" in err and "Traceback" not in err, err
    assert waited < 8, waited  # it finished the vector first: 18 s to minutes


def shared_file_path(name: str) -> Path:
    from tests.conftest import shared_file

    return shared_file(name)


def test_ctrl_c_in_a_python_program_drops_the_vectors_in_flight(tmp_path):
    """A script that registered the functions and runs a long query: Ctrl-C reaches DuckDB's
    wait (RuntimeError 'Query interrupted') or our function (a duckdb.Error); either way the
    model's workers stop within a text each, where before they finished every vector in flight
    (121 s after the signal, hundreds of texts); the connection stays usable. Counted in texts
    the model answered after the signal, not in seconds."""
    import subprocess
    import sys
    import textwrap

    bench = shared_file_path("reviews_bench.parquet")
    program = textwrap.dedent(
        f"""
        import json, os, signal, threading, time, duckdb, sentiment_udf
        from sentiment_udf.runtime.activity import TEXTS_ANSWERED
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a plain Python program's
        con = duckdb.connect()
        sentiment_udf.register(con)
        con.execute("SET enable_progress_bar = false")  # its bar shares stdout
        con.execute("SELECT classify_sentiment('warm up')").fetchall()
        marks = {{}}
        def interrupt():
            time.sleep(4)
            marks["at_signal"] = TEXTS_ANSWERED.value
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=interrupt, daemon=True).start()
        error = None
        try:
            con.execute("SELECT count(classify_sentiment(review)) "
                        "FROM read_parquet('{bench}') WHERE review_id > 6000").fetchall()
        except (duckdb.Error, RuntimeError) as exc:
            error = type(exc).__name__ + ": " + str(exc)[-160:]
        time.sleep(3)  # workers still running would answer more texts meanwhile
        marks["after"] = TEXTS_ANSWERED.value
        label = con.execute("SELECT classify_sentiment('Still usable, works great')").fetchall()
        print(json.dumps({{"error": error, "label": label[0][0], **marks}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip(), done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] is not None, "the query finished before the signal"
    assert "interrupt" in result["error"].lower() or "cancelled" in result["error"], result
    assert result["after"] - result["at_signal"] <= 8, result
    assert result["label"] == "positive"
