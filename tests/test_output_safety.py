"""Reliability round 2 for what the CLI writes: one writer per Parquet output, a source is never a
target, a named path is one file, a finished output survives a failed resume, and arguments are
checked before any work (issue 14, points 2, 3, 4, 5, 9). Real files, processes and signals."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tests.cli_helpers import assert_one_line_error, cli, script


def _write(path: Path, rows: int, start: int = 0, id_type: pa.DataType | None = None) -> Path:
    pq.write_table(
        pa.table(
            {
                "id": pa.array(range(start, start + rows), type=id_type or pa.int64()),
                "review": [f"review {i} {'good' if i % 2 else 'bad'}" for i in range(rows)],
            }
        ),
        path,
    )
    return path


def _score(model: Path, *args: str) -> list[str]:
    return [
        "score",
        "--text-column",
        "review",
        "--id-column",
        "id",
        "--model",
        str(model),
        *args,
    ]


def _start_until(args: list[str], ready) -> subprocess.Popen:
    """Start `sentiment-udf ARGS` and return once `ready()` holds (or after 120 s)."""
    process = subprocess.Popen([script(), *args], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not ready() and time.time() < deadline:
        time.sleep(0.05)
    return process


def _has_parts(output: Path):
    return lambda: bool(list(output.with_name(output.name + ".parts").glob("part-*.parquet")))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 2. one writer per Parquet output ----------------------------------------------------------


HOLD_LOCK = """
import sys
from pathlib import Path
from sentiment_udf.engines.file_lock import exclusive_lock
with exclusive_lock(Path(sys.argv[1]), "out.parquet"):
    print("locked", flush=True)
    sys.stdin.read()  # held until the test closes our stdin
"""


def test_a_second_score_into_the_same_parquet_output_is_refused_while_the_first_runs(
    tiny_model, tmp_path
):
    """No race: another process holds the output's lock (as a running score does) for as long
    as the test needs; while it does, score is refused, and once it lets go, score runs."""
    import sys

    source = _write(tmp_path / "in.parquet", 6_000)
    out = tmp_path / "out.parquet"
    lock = tmp_path / "out.parquet.lock"
    args = _score(tiny_model, "--input", str(source), "--output", str(out), "--batch-rows", "2000")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        for flags in ([], ["--replace"], ["--resume"]):
            assert_one_line_error(
                cli(*args, *flags), "being written by another process", "out.parquet"
            )
        assert not out.exists() and not (tmp_path / "out.parquet.parts").exists()
    finally:
        holder.communicate("", timeout=60)
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    ids = pq.read_table(out, columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == list(range(6_000))
    assert not lock.exists()


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tiny_model, tmp_path):
    source = _write(tmp_path / "in.parquet", 60_000)
    out = tmp_path / "out.parquet"
    args = _score(tiny_model, "--input", str(source), "--output", str(out), "--batch-rows", "2000")
    first = _start_until(args, (tmp_path / "out.parquet.lock").exists)
    first.kill()
    first.communicate(timeout=60)
    assert (tmp_path / "out.parquet.lock").exists()  # left behind by the kill
    resumed = cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(pq.read_table(out).column("id").to_pylist()) == list(range(60_000))


# --- 3. a source is never a target -------------------------------------------------------------


def test_the_source_table_as_target_is_refused_and_untouched(tiny_model, tmp_path):
    db = tmp_path / "db.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE r AS SELECT i AS id, 'good ' || i AS review FROM range(100) t(i)")
    con.execute("CREATE VIEW v AS SELECT * FROM r WHERE id < 50")
    con.close()
    for source, target in (("r", "r"), ("r", "R"), ("v", "r"), ("main.r", "r")):
        result = cli(
            *_score(tiny_model, "--db", str(db), "--table", source, "--target-table", target),
            "--replace",
        )
        assert_one_line_error(result, "is the source")
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*), sum(id) FROM r").fetchall() == [(100, 4950)]
    con.close()


def test_the_input_file_as_output_is_refused_by_path_link_or_glob(tiny_model, tmp_path):
    source = _write(tmp_path / "in.parquet", 100)
    digest = _digest(source)
    link = tmp_path / "link.parquet"
    link.symlink_to(source)
    cases = [
        ("--input", str(source), "--output", str(source), "--replace"),
        ("--input", str(source), "--output", str(source), "--resume"),
        ("--input", str(link), "--output", str(source), "--replace"),
        ("--input", str(source), "--output", str(link), "--replace"),
        ("--input", str(tmp_path / "*.parquet"), "--glob", "--output", str(tmp_path / "o.parquet")),
        ("--input", str(tmp_path / "**/*.parquet"), "--glob", "--output", str(tmp_path / "o.parquet")),
    ]  # fmt: skip
    for case in cases:
        assert_one_line_error(cli(*_score(tiny_model, *case)), "the source")
    assert _digest(source) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "link.parquet"]


# --- 4. a path the user names is one file ------------------------------------------------------


def test_input_paths_are_files_not_glob_patterns(tiny_model, tmp_path):
    _write(tmp_path / "r1.parquet", 10)
    _write(tmp_path / "r[1].parquet", 3, start=100)
    _write(tmp_path / "a*b.parquet", 4, start=200)
    for name, expected in (("r[1].parquet", range(100, 103)), ("a*b.parquet", range(200, 204))):
        out = tmp_path / f"out-{expected.start}.parquet"
        result = cli(*_score(tiny_model, "--input", str(tmp_path / name), "--output", str(out)))
        assert result.returncode == 0, result.stderr
        assert sorted(pq.read_table(out).column("id").to_pylist()) == list(expected)
    labelled = tmp_path / "l[1].csv"
    labelled.write_text("label,text\npositive,good\n")
    (tmp_path / "l1.csv").write_text("label,text\nneutral,x\n")
    evaluated = cli(
        "eval", "--input", str(labelled), "--text-column", "text", "--label-column", "label",
        "--model", str(tiny_model), "--format", "json",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr  # l1.csv (label 'neutral') was not read


def test_glob_reads_every_matching_file_only_when_asked(tiny_model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a.parquet", 5)
    _write(folder / "b.parquet", 5, start=5)
    out = tmp_path / "out.parquet"
    pattern = str(folder / "*.parquet")
    literal = cli(*_score(tiny_model, "--input", pattern, "--output", str(out)))
    assert_one_line_error(literal, "file not found")
    globbed = cli(*_score(tiny_model, "--input", pattern, "--glob", "--output", str(out)))
    assert globbed.returncode == 0, globbed.stderr
    assert sorted(pq.read_table(out).column("id").to_pylist()) == list(range(10))
    assert_one_line_error(
        cli(
            *_score(tiny_model, "--input", str(folder / "*.csv"), "--glob", "--output", "x.parquet")
        ),
        "no file matches",
    )
    assert_one_line_error(
        cli(*_score(tiny_model, "--input", str(folder), "--output", str(out), "--replace")),
        "is a directory",
    )


# --- 5. a finished output survives a failed resume ---------------------------------------------


def test_a_failed_resume_leaves_the_finished_output_in_place(tiny_model, tmp_path):
    out = tmp_path / "out.parquet"
    first = cli(
        *_score(
            tiny_model, "--input", str(_write(tmp_path / "a.parquet", 50)), "--output", str(out)
        )
    )
    assert first.returncode == 0, first.stderr
    digest = _digest(out)
    other = tmp_path / "b.parquet"
    pq.write_table(
        pa.table({"id": [f"x{i}" for i in range(80)], "review": ["good"] * 80}), other
    )  # ids of another type
    failed = cli(*_score(tiny_model, "--input", str(other), "--output", str(out), "--resume"))
    assert_one_line_error(failed, "--resume", "VARCHAR")
    assert _digest(out) == digest
    # a later run without flags refuses, instead of removing anything
    plain = cli(*_score(tiny_model, "--input", str(other), "--output", str(out)))
    assert_one_line_error(plain, "exists")
    assert _digest(out) == digest


def test_resume_adds_the_missing_rows_to_a_finished_output(tiny_model, tmp_path):
    out = tmp_path / "out.parquet"
    assert cli(*_score(tiny_model, "--input", str(_write(tmp_path / "a.parquet", 50)), "--output", str(out))).returncode == 0  # fmt: skip
    grown = _write(tmp_path / "b.parquet", 80)
    resumed = cli(*_score(tiny_model, "--input", str(grown), "--output", str(out), "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert "scored 30 rows" in resumed.stderr and "50 were already there" in resumed.stderr
    assert sorted(pq.read_table(out).column("id").to_pylist()) == list(range(80))
    assert not (tmp_path / "out.parquet.parts").exists()


def test_an_interrupted_run_is_never_silently_discarded(tiny_model, tmp_path):
    source = _write(tmp_path / "in.parquet", 60_000)
    out = tmp_path / "out.parquet"
    args = _score(tiny_model, "--input", str(source), "--output", str(out), "--batch-rows", "2000")
    first = _start_until(args, _has_parts(out))
    parts = tmp_path / "out.parquet.parts"
    first.kill()
    first.communicate(timeout=60)
    kept = sorted(parts.glob("part-*.parquet"))
    assert kept
    plain = cli(*args)
    assert_one_line_error(plain, "interrupted run", "--resume")
    assert sorted(parts.glob("part-*.parquet")) == kept


def test_an_interrupted_replace_keeps_the_old_output_until_the_new_one_is_whole(
    tiny_model, tmp_path
):
    out = tmp_path / "out.parquet"
    small = _write(tmp_path / "small.parquet", 10)
    assert cli(*_score(tiny_model, "--input", str(small), "--output", str(out))).returncode == 0
    digest = _digest(out)
    big = _write(tmp_path / "big.parquet", 60_000, start=1000)
    args = _score(tiny_model, "--input", str(big), "--output", str(out), "--batch-rows", "2000")
    replacing = _start_until([*args, "--replace"], _has_parts(out))
    replacing.kill()
    replacing.communicate(timeout=60)
    assert _digest(out) == digest  # the old output is intact
    resumed = cli(*args, "--resume")  # finishes the replacement; old rows are not reused
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(pq.read_table(out).column("id").to_pylist()) == list(range(1000, 61_000))


# --- 9. arguments checked before any work ------------------------------------------------------


def test_bad_outputs_fail_before_the_query_runs(tiny_model, tmp_path):
    slow = "SELECT count(classify_sentiment('review ' || i)) FROM range(2000000) r(i)"
    cases = [
        (["--format", "parquet"], "--format parquet needs --output"),
        (["--output", str(tmp_path / "nodir" / "x.csv")], "does not exist"),
        (["--output", str(tmp_path)], "is a directory"),
    ]
    from click.testing import CliRunner

    from sentiment_udf.cli.main import main
    from sentiment_udf.runtime.activity import TEXTS_SCORED

    for flags, message in cases:
        before = TEXTS_SCORED.value  # in process: the proof is that no text reached the model
        result = CliRunner().invoke(main, ["query", slow, "--model", str(tiny_model), *flags])
        assert message in result.output and result.exit_code != 0, result.output
        assert TEXTS_SCORED.value == before
    source = _write(tmp_path / "in.parquet", 10)
    nodir = cli(*_score(tiny_model, "--input", str(source), "--output", str(tmp_path / "no" / "o.parquet")))  # fmt: skip
    assert_one_line_error(nodir, "does not exist")
    assert not (tmp_path / "no").exists()
    nodb = cli(*_score(tiny_model, "--input", str(source), "--db", str(tmp_path / "no" / "d.duckdb"), "--target-table", "t"))  # fmt: skip
    assert_one_line_error(nodb, "does not exist")


def test_query_output_files_appear_whole(tiny_model, tmp_path):
    out = tmp_path / "o.csv"
    out.write_text("old contents\n")
    failed = cli("query", "SELECT * FROM nowhere", "--model", str(tiny_model), "-o", str(out))
    assert failed.returncode != 0
    assert out.read_text() == "old contents\n"
    assert os.listdir(tmp_path) == ["o.csv"]


# --- issue 18, hostile 2 and 3: links planted beside an output; a kill at the very end ---------


def test_links_planted_where_score_writes_its_helper_files_are_never_followed(tiny_model, tmp_path):
    source = _write(tmp_path / "in.parquet", 50)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    out = tmp_path / "out.parquet"
    (tmp_path / "out.parquet.lock").symlink_to(victim)
    args = _score(tiny_model, "--input", str(source), "--output", str(out))
    refused = cli(*args)
    assert_one_line_error(refused, "out.parquet.lock", "symbolic link")
    assert victim.read_text() == "keep me" and not out.exists()
    (tmp_path / "out.parquet.lock").unlink()
    os.link(victim, tmp_path / "out.parquet.lock")  # a hard link: truncating it would hit victim
    assert_one_line_error(cli(*args), "out.parquet.lock", "hard link")
    assert victim.read_text() == "keep me"
    (tmp_path / "out.parquet.lock").unlink()
    victim_dir = tmp_path / "victim_dir"
    victim_dir.mkdir()
    (victim_dir / "RUN.json").write_text("{}")
    (tmp_path / "out.parquet.parts").symlink_to(victim_dir)
    assert_one_line_error(cli(*args, "--replace"), "out.parquet.parts", "symbolic link")
    assert (victim_dir / "RUN.json").read_text() == "{}"
    (tmp_path / "out.parquet.parts").unlink()
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert not out.is_symlink() and pq.read_table(out).num_rows == 50
    # The one file written beside the output before it is whole has a fresh random name
    # (.out.parquet.<32 hex>.tmp, created exclusively), so no name can be planted for it; none
    # is left behind, nor the lock.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.parquet", "out.parquet", "victim", "victim_dir"
    ]  # fmt: skip


def test_a_parts_folder_that_score_did_not_make_is_never_removed(tiny_model, tmp_path):
    source = _write(tmp_path / "in.parquet", 20)
    out = tmp_path / "out.parquet"
    mine = tmp_path / "out.parquet.parts"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file")
    args = _score(tiny_model, "--input", str(source), "--output", str(out))
    for flags in (["--resume"], ["--replace"]):
        assert_one_line_error(cli(*args, *flags), "not a parts folder")
        assert (mine / "notes.txt").read_text() == "a user's file"


DIE_AT_PARTS_REMOVAL = """
import os, shutil, sys
from sentiment_udf.engines import bulk
real_rmtree = shutil.rmtree
output = sys.argv[1]
def die_once_the_output_is_in_place(path, *args, **kwargs):
    if str(path).endswith('.parts') and os.path.exists(output):
        os._exit(9)  # the process dies here: output renamed into place, parts not yet removed
    return real_rmtree(path, *args, **kwargs)
bulk.shutil.rmtree = die_once_the_output_is_in_place
from sentiment_udf.cli.main import main
sys.argv = ['sentiment-udf', *sys.argv[2:]]
main()
"""


def test_resume_after_a_kill_between_the_final_rename_and_the_parts_removal_adds_no_row(
    tiny_model, tmp_path
):
    import sys

    first = _write(tmp_path / "first.parquet", 300)
    out = tmp_path / "out.parquet"
    ok = cli(*_score(tiny_model, "--input", str(first), "--output", str(out)))
    assert ok.returncode == 0, ok.stderr
    source = _write(tmp_path / "in.parquet", 800)  # ids 0..799: 500 more to add by --resume
    args = _score(tiny_model, "--input", str(source), "--output", str(out), "--batch-rows", "100")
    for flags in (["--resume"], ["--replace"]):
        died = subprocess.run(
            [sys.executable, "-c", DIE_AT_PARTS_REMOVAL, str(out), *args, *flags],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert died.returncode == 9, died.stderr
        assert (tmp_path / "out.parquet.parts").is_dir()  # the window the kill landed in
        resumed = cli(*args, "--resume")
        assert resumed.returncode == 0, resumed.stderr
        ids = pq.read_table(out, columns=["id"]).column("id").to_pylist()
        assert sorted(ids) == list(range(800)), (flags, len(ids))
        assert not (tmp_path / "out.parquet.parts").exists()
