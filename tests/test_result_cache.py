"""Never score the same text twice (issue 12): the in-process memo and the persistent SQLite
result cache, with real processes, real kills and real damaged files."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pytest

import sentiment_udf
from sentiment_udf import load_model
from sentiment_udf.runtime.result_cache import (
    MEMO,
    ResultCache,
    ResultCacheWarning,
    ResultMemo,
    entry_key,
    from_bytes,
)
from tests.cli_helpers import cli
from tests.tiny_model import build_tiny_model

TEXTS = [f"review {i} {'good' if i % 3 else 'awful'} thing" for i in range(300)]


def _spy_runs(model, monkeypatch) -> list[int]:
    """Count the sequences the model really runs (a spy on our own method; onnxruntime runs)."""
    runs: list[int] = []
    original = model._run
    monkeypatch.setattr(
        model, "_run", lambda seqs, *rest: runs.append(len(seqs)) or original(seqs, *rest)
    )
    return runs


def _fresh(model_path, texts, **options) -> np.ndarray:
    """Scores straight from a new model instance, with the memo emptied first."""
    MEMO.clear()
    return sentiment_udf.SentimentModel(model_path, **options).predict_proba(texts)


# --- in-process memo ---------------------------------------------------------------------------


def test_three_functions_in_one_query_cost_one_model_pass_per_text(tiny_model, monkeypatch):
    MEMO.clear()
    con = duckdb.connect()
    registration = sentiment_udf.register(con, tiny_model)
    runs = _spy_runs(registration.model, monkeypatch)
    rows = con.execute(
        "SELECT classify_sentiment(t), sentiment_score(t), sentiment(t).score FROM unnest(?) u(t)",
        [TEXTS[:100] * 3],
    ).fetchall()
    assert len(rows) == 300 and all(r[1] == r[2] for r in rows)
    assert sum(runs) == 100  # 100 distinct texts, three functions, each text run once
    con.execute("SELECT count(sentiment_score(t)) FROM unnest(?) u(t)", [TEXTS[:100]]).fetchall()
    assert sum(runs) == 100  # re-running the query: all answers remembered


def test_the_memo_is_bounded_in_bytes():
    memo = ResultMemo(max_bytes=50_000)
    for i in range(5_000):
        memo.put_many({i.to_bytes(16, "little"): b"x" * 16})
    assert memo.bytes_used <= 50_000 and 0 < len(memo) < 5_000
    newest = (4_999).to_bytes(16, "little")
    assert memo.get_many([newest, (0).to_bytes(16, "little")]) == {newest: b"x" * 16}


# --- persistent cache: exactness and keys ------------------------------------------------------


def test_a_cached_answer_equals_a_fresh_one_bit_for_bit(tiny_model, tmp_path):
    path = tmp_path / "results.sqlite"
    script = textwrap.dedent(
        f"""
        import json, duckdb, sentiment_udf
        con = duckdb.connect()
        sentiment_udf.register(con, {str(tiny_model)!r}, cache={str(path)!r})
        rows = con.execute("SELECT sentiment(t).probabilities FROM unnest(?) u(t)",
                           [{TEXTS[:50]!r}]).fetchall()
        print(json.dumps([list(r[0].values()) for r in rows]))
        """
    )
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    fresh = _fresh(tiny_model, TEXTS[:50])
    for run in (first, second):
        got = np.array(json.loads(run.stdout.strip().splitlines()[-1]))
        assert np.array_equal(got, fresh)  # exact, not approximately
    assert ResultCache(path).stats()["entries"] == 50


def test_a_replaced_model_or_other_options_never_get_old_answers(tiny_model, tmp_path):
    folder = shutil.copytree(tiny_model, tmp_path / "models" / "m")
    path = tmp_path / "results.sqlite"
    texts = ["good value " * 20, "broke at once"]

    def score(**options) -> np.ndarray:
        MEMO.clear()
        model = sentiment_udf.SentimentModel(folder, **options)
        return model.predict_proba(texts, ResultCache(path))

    before = score()
    assert np.array_equal(score(), before)
    short = score(max_length=8)  # another option: its own entries
    assert np.array_equal(short, _fresh(folder, texts, max_length=8))
    assert not np.array_equal(short, before)
    build_tiny_model(folder, seed=99)  # the same folder name, other weights
    after = score()
    assert np.array_equal(after, _fresh(folder, texts))
    assert not np.allclose(after, before)
    assert ResultCache(path).stats()["entries"] == 6  # three models/options x two texts


# --- persistent cache: reliability -------------------------------------------------------------

WRITER = """
import sys, duckdb, sentiment_udf
con = duckdb.connect()
sentiment_udf.register(con, sys.argv[1], cache=sys.argv[2])
start = int(sys.argv[3])
for offset in range(start, start + 400_000, 2_000):
    con.execute("SELECT count(sentiment_score('text ' || i)) FROM range(?, ?) r(i)",
                [offset, offset + 2_000]).fetchall()
"""


def test_kill_9_while_writing_leaves_only_whole_correct_entries(tiny_model, tmp_path):
    path = tmp_path / "results.sqlite"
    rng = random.Random(7)
    kills = 0
    for attempt in range(5):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tiny_model), str(path), str(attempt * 1_000)]
        )
        deadline = time.monotonic() + 120
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.5, 2.0))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
    assert kills == 5
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    stored = dict(connection.execute("SELECT key, probs FROM results").fetchall())
    connection.close()
    assert stored
    model = load_model(tiny_model)
    keys = {entry_key(model.fingerprint, (f"text {i}",)): f"text {i}" for i in range(404_000)}
    found = [t for k, t in keys.items() if k in stored]
    assert len(found) == len(stored)  # every entry is one of the texts written, whole
    fresh = _fresh(tiny_model, found)
    for text, probs in zip(found, fresh):
        assert np.array_equal(from_bytes(stored[entry_key(model.fingerprint, (text,))], 2), probs)


def test_four_processes_of_two_threads_share_one_cache(tiny_model, tmp_path):
    path = tmp_path / "results.sqlite"
    script = textwrap.dedent(
        f"""
        import json, sys, threading, duckdb, sentiment_udf
        con = duckdb.connect()
        sentiment_udf.register(con, {str(tiny_model)!r}, cache={str(path)!r})
        base = int(sys.argv[1])
        out, errors = {{}}, []
        def work(n):
            try:
                rows = con.cursor().execute(
                    "SELECT i, sentiment_score('shared text ' || i) FROM range(?, ?) r(i)",
                    [base + n * 500, base + n * 500 + 3000]).fetchall()
                out.update(rows)
            except Exception as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
        [t.start() for t in threads]; [t.join() for t in threads]
        print(json.dumps({{"errors": errors, "scores": out}}))
        """
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(p * 1000)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(4)
    ]
    results, warned = [], ""
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
        warned += err
    assert all(r["errors"] == [] for r in results), [r["errors"] for r in results]
    merged: dict[int, float] = {}
    for result in results:
        for i, score in result["scores"].items():
            assert merged.setdefault(int(i), score) == score  # every process got the same
    ids = sorted(merged)
    assert len(ids) == 3000 + 500 + 3 * 1000  # overlapping ranges, nothing lost
    fresh = _fresh(tiny_model, [f"shared text {i}" for i in ids])[:, 1]
    assert [merged[i] for i in ids] == list(fresh)
    # Every answer was written, unless a lock was held past the busy timeout on a loaded machine:
    # then that vector was scored without the cache (one warning), never failed.
    entries = ResultCache(path).stats()["entries"]
    assert entries == len(ids) or (0 < entries < len(ids) and "ResultCacheWarning" in warned)


def _damaged(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / "results.sqlite"
    if kind == "not SQLite":
        path.write_bytes(b"these are not the bytes of a database" * 100)
    elif kind in ("corrupt", "truncated"):
        cache = ResultCache(path)
        cache.put_many({bytes(16): bytes(16)})
        cache.close()
        data = bytearray(path.read_bytes())
        if kind == "truncated":
            data = data[: len(data) // 3 + 7]
        else:
            data[100:4000] = os.urandom(3900)
        path.write_bytes(bytes(data))
    elif kind == "a database of something else":
        connection = sqlite3.connect(path)
        connection.execute("CREATE TABLE invoices (id INTEGER, total REAL)")
        connection.commit()
        connection.close()
    elif kind == "a future schema version":
        cache = ResultCache(path)
        cache.put_many({bytes(16): bytes(16)})
        cache.close()
        connection = sqlite3.connect(path)
        connection.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
        connection.commit()
        connection.close()
    elif kind == "a read-only folder":
        if os.geteuid() == 0:  # root writes anywhere on a normal filesystem; /proc is read-only
            return Path("/proc/sentiment-udf-test/results.sqlite")
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        path = folder / "results.sqlite"
    return path


@pytest.mark.parametrize(
    "kind",
    [
        "not SQLite",
        "corrupt",
        "truncated",
        "a database of something else",
        "a future schema version",
        "a read-only folder",
    ],
)
def test_a_damaged_or_unusable_cache_file_means_one_warning_and_correct_scores(
    tiny_model, tmp_path, kind
):
    path = _damaged(kind, tmp_path)
    before = path.read_bytes() if path.exists() else None
    MEMO.clear()
    con = duckdb.connect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sentiment_udf.register(con, tiny_model, cache=path)
        for _ in range(3):  # several vectors, several queries: still one warning
            MEMO.clear()
            rows = con.execute("SELECT sentiment_score(t) FROM unnest(?) u(t)", [TEXTS]).fetchall()
    cache_warnings = [w for w in caught if issubclass(w.category, ResultCacheWarning)]
    assert len(cache_warnings) == 1, [str(w.message) for w in caught]
    assert str(path) in str(cache_warnings[0].message)
    assert [r[0] for r in rows] == list(_fresh(tiny_model, TEXTS)[:, 1])
    if before is not None and kind != "corrupt":
        assert path.read_bytes() == before  # someone else's file is never rewritten


def test_a_corrupt_index_page_of_the_counters_still_answers_every_row(tiny_model, tmp_path):
    """The hostile pass's case: the page of the counters' index overwritten. A read that hits
    then records its hits there (database disk image is malformed): one warning, correct
    scores, never a failed query. A fresh process, so no page of the file is held in memory."""
    path = tmp_path / "results.sqlite"
    con = duckdb.connect()
    sentiment_udf.register(con, tiny_model, cache=path)
    MEMO.clear()  # the model answers, and the cache keeps the answers
    con.execute("SELECT sentiment_score(t) FROM unnest(?) u(t)", [TEXTS]).fetchall()
    con.close()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
    (page,) = connection.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_meta_1'"
    ).fetchone()
    (size,) = connection.execute("PRAGMA page_size").fetchone()
    connection.close()
    with path.open("r+b") as stream:
        stream.seek((page - 1) * size)
        stream.write(bytes(range(256)) * (size // 256))
    code = textwrap.dedent(
        """
        import json, sys, warnings, duckdb, sentiment_udf
        con = duckdb.connect()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sentiment_udf.register(con, sys.argv[1], cache=sys.argv[2])
            rows = con.execute("SELECT sentiment_score(t) FROM unnest(?) u(t)",
                               [json.loads(sys.argv[3])]).fetchall()
        print(json.dumps({"scores": [r[0] for r in rows],
                          "warnings": [str(w.message) for w in caught]}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tiny_model), str(path), json.dumps(TEXTS)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["scores"] == list(_fresh(tiny_model, TEXTS)[:, 1])
    assert len([w for w in answer["warnings"] if "result cache" in w]) == 1, answer["warnings"]


def test_many_models_and_options_in_one_file_never_mix(tiny_model, tmp_path):
    path = tmp_path / "results.sqlite"
    other = build_tiny_model(tmp_path / "other", seed=5)
    setups = [(tiny_model, {}), (tiny_model, {"max_length": 8}), (other, {})]
    texts = ["good value " * 10, "bad", "fine thing"]
    for model_path, options in setups * 2:
        MEMO.clear()
        model = sentiment_udf.SentimentModel(model_path, **options)
        got = model.predict_proba(texts, ResultCache(path))
        assert np.array_equal(got, _fresh(model_path, texts, **options))
    assert ResultCache(path).stats()["entries"] == 9


def test_the_default_cap_is_the_readmes_two_million_wherever_the_cache_is_opened(
    tiny_model, tmp_path, monkeypatch
):
    """README: "It holds 2,000,000 entries at most, oldest pruned first": the number written out
    here, for a cache from register(cache=), from SENTIMENT_UDF_CACHE and from cache stats."""
    path = tmp_path / "c.sqlite"
    from_register = sentiment_udf.register(duckdb.connect(), tiny_model, cache=str(path)).cache
    monkeypatch.setenv("SENTIMENT_UDF_CACHE", str(tmp_path / "e.sqlite"))
    from_environment = sentiment_udf.register(duckdb.connect(), tiny_model).cache
    assert from_register is not None and from_environment is not None
    assert from_register.max_entries == from_environment.max_entries == 2_000_000
    stats = cli("cache", "stats", "--path", str(path))
    assert stats.returncode == 0 and json.loads(stats.stdout)["max_entries"] == 2_000_000


def test_pruned_oldest_first_and_the_cache_command(tiny_model, tmp_path):
    path = tmp_path / "results.sqlite"
    model = load_model(tiny_model)
    MEMO.clear()
    model.predict_proba(TEXTS[:200], ResultCache(path, max_entries=100))
    assert ResultCache(path).stats()["entries"] == 100  # at most max_entries, as documented
    stats = json.loads(cli("cache", "stats", "--path", str(path)).stdout)
    assert stats["entries"] == 100 and stats["bytes"] > 0
    assert stats["writes"] == 200 and stats["misses"] == 200 and stats["hits"] == 0
    pruned = cli("cache", "prune", "--path", str(path), "--max-entries", "10")
    assert pruned.returncode == 0 and "deleted" in pruned.stderr
    connection = sqlite3.connect(path)
    kept = dict(connection.execute("SELECT key, probs FROM results").fetchall())
    connection.close()
    newest = {entry_key(model.fingerprint, (t,)) for t in TEXTS[190:200]}
    assert set(kept) == newest  # the ten newest survive
    assert cli("cache", "clear", "--path", str(path)).returncode == 0
    assert json.loads(cli("cache", "stats", "--path", str(path)).stdout)["entries"] == 0
    missing = cli("cache", "stats", "--path", str(tmp_path / "none.sqlite"))
    assert missing.returncode == 0 and json.loads(missing.stdout)["entries"] == 0
    assert not (tmp_path / "none.sqlite").exists()  # nothing is made by looking


def test_cli_flag_and_environment_variable(tiny_model, tmp_path):
    path = tmp_path / "from-flag.sqlite"
    sql = "SELECT count(sentiment_score('a good thing ' || i)) FROM range(20) r(i)"
    flagged = cli("query", sql, "--model", str(tiny_model), "--cache", str(path))
    assert flagged.returncode == 0, flagged.stderr
    assert ResultCache(path).stats()["entries"] == 20
    env_path = tmp_path / "from-env.sqlite"
    env = {**os.environ, "SENTIMENT_UDF_CACHE": str(env_path)}
    from tests.cli_helpers import script

    by_env = subprocess.run(
        [script(), "query", sql, "--model", str(tiny_model)], capture_output=True, env=env
    )
    assert by_env.returncode == 0 and ResultCache(env_path).stats()["entries"] == 20


def test_processes_opening_a_new_cache_at_once_never_see_it_half_made(tmp_path):
    """Seen in CI: a process read the new file between another's CREATE TABLE statements and
    took it for someone else's database. Creation now happens under one write lock."""
    opener = textwrap.dedent(
        """
        import sys, warnings
        from sentiment_udf.runtime.result_cache import ResultCache
        warnings.simplefilter("error")
        ResultCache(sys.argv[1]).put_many({bytes([int(sys.argv[2])]) * 16: bytes(16)})
        """
    )
    for attempt in range(5):
        path = tmp_path / f"new-{attempt}.sqlite"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", opener, str(path), str(n)], stderr=subprocess.PIPE
            )
            for n in range(3)
        ]
        for process in processes:
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err.decode()[-1000:]
        assert ResultCache(path).stats()["entries"] == 3
        connection = sqlite3.connect(path)
        assert connection.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
        connection.close()


# --- issue 18: counters a test and a user can read; failures a hostile pass found ---------------


def test_counters_show_misses_writes_then_hits_across_processes(tiny_model, tmp_path):
    path = tmp_path / "results.sqlite"
    sql = "SELECT count(sentiment_score('counted ' || i)) FROM range(40) r(i)"
    for _ in range(2):  # two processes: the second finds every answer in the file
        done = cli("query", sql, "--model", str(tiny_model), "--cache", str(path))
        assert done.returncode == 0, done.stderr
    stats = json.loads(cli("cache", "stats", "--path", str(path)).stdout)
    assert (stats["misses"], stats["writes"], stats["hits"]) == (40, 40, 40)


def test_the_memo_counts_hits_and_a_zero_size_memo_remembers_nothing(tiny_model):
    model = sentiment_udf.SentimentModel(tiny_model)
    MEMO.clear()
    before = MEMO.counters()
    model.predict_proba(TEXTS[:10])
    model.predict_proba(TEXTS[:10])
    after = MEMO.counters()
    assert after["writes"] - before["writes"] == 10 and after["hits"] - before["hits"] == 10
    off = ResultMemo(0)
    off.put_many({b"k": b"v"})
    assert len(off) == 0 and off.get_many([b"k"]) == {}


@pytest.mark.parametrize("value", ["abc", "1e30", "-5", str(2**50)])
def test_a_bad_memo_size_in_the_environment_warns_and_keeps_the_default(value):
    code = "import sentiment_udf.runtime.result_cache as r; print(r.MEMO.max_bytes)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "SENTIMENT_UDF_MEMO_BYTES": value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert int(done.stdout) == 64 * 1024 * 1024 and "SENTIMENT_UDF_MEMO_BYTES" in done.stderr


HOLD_THE_WRITE_LOCK = """
import os, signal, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)  # a process stopped (Ctrl-Z, a debugger) mid-write
"""


def test_a_stopped_process_holding_the_write_lock_costs_one_timeout_not_one_per_batch(
    tiny_model, tmp_path
):
    path = tmp_path / "results.sqlite"
    ResultCache(path).put_many({bytes(16): bytes(16)})  # a cache file in WAL mode
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_WRITE_LOCK, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        cache = ResultCache(path)
        model = sentiment_udf.SentimentModel(tiny_model)
        MEMO.clear()
        batch_of_each_open: list[int] = []  # which batch touched the file
        current = {"batch": 0}
        real_open = cache._open

        def counted_open(*args, **kwargs):
            batch_of_each_open.append(current["batch"])
            return real_open(*args, **kwargs)

        cache._open = counted_open  # type: ignore[method-assign]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for batch, start in enumerate(range(0, 300, 30)):  # ten, as score --cache makes
                current["batch"] = batch
                got = model.predict_proba(TEXTS[start : start + 30], cache)
                assert np.array_equal(got, _fresh(tiny_model, TEXTS[start : start + 30]))
    finally:
        holder.kill()
        holder.wait()
    cache_warnings = [w for w in caught if issubclass(w.category, ResultCacheWarning)]
    assert len(cache_warnings) == 1 and "rest of this run" in str(cache_warnings[0].message)
    assert cache.disabled
    # one busy timeout (10 s), in the first batch; no later batch waits on the file again
    assert batch_of_each_open and set(batch_of_each_open) == {0}, batch_of_each_open


@pytest.mark.parametrize("command", ["stats", "prune", "clear"])
@pytest.mark.parametrize("kind", ["corrupt", "empty", "a database of something else"])
def test_the_cache_command_on_an_unusable_file_says_so_in_one_line(tmp_path, command, kind):
    from tests.cli_helpers import assert_one_line_error

    path = tmp_path / "results.sqlite"
    if kind == "empty":
        path.write_bytes(b"")
    else:
        path = _damaged("corrupt" if kind == "corrupt" else kind, tmp_path)
    before = path.read_bytes()
    result = cli("cache", command, "--path", str(path))
    assert_one_line_error(result, str(path))
    assert path.read_bytes() == before  # looked at, never turned into a cache


def test_fork_while_another_thread_scores_through_the_cache_never_hangs_the_child(
    tiny_model, tmp_path
):
    """The at-fork hook remade the registry's locks but not the cache's or the memo's: 9 of 20
    children hung in ResultCache.get_many. Then, forked while a parent thread was inside
    SQLite, children inherited its lock records: most runs had children wait out the busy
    timeout and drop the cache, and one in about fifteen hung in BEGIN IMMEDIATE (CI). Each
    child scores texts the parent never scored, and must store them."""
    script = textwrap.dedent(
        """
        import os, sys, threading, time
        import sentiment_udf
        from sentiment_udf.runtime.result_cache import ResultCache
        model = sentiment_udf.SentimentModel(sys.argv[1])
        cache = ResultCache(sys.argv[2])
        stop = False
        def busy():
            i = 0
            while not stop:
                model.predict_proba([f"parent text {i} " * 30 for _ in range(1)] * 1, cache)
                i += 1
        threads = [threading.Thread(target=busy) for _ in range(2)]
        for t in threads: t.start()
        children = []
        for n in range(12):
            time.sleep(0.03)
            pid = os.fork()
            if pid == 0:
                signal_alarm = __import__("signal").alarm(60)
                p = model.predict_proba([f"child {n} never scored before"], cache)
                os._exit(0 if p.shape == (1, 2) else 3)
            children.append(pid)
        stop = True
        for t in threads: t.join()
        codes = [os.waitpid(pid, 0)[1] for pid in children]
        print(codes)
        sys.exit(0 if all(c == 0 for c in codes) else 1)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tiny_model), str(tmp_path / "c.sqlite")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout, done.stderr[-2000:])
    assert "result cache" not in done.stderr  # no child gave the cache up as locked
    # each child's own answer is stored (a count would be met by the parent threads' alone)
    fingerprint = load_model(tiny_model).fingerprint
    keys = [entry_key(fingerprint, (f"child {n} never scored before",)) for n in range(12)]
    stored = sqlite3.connect(tmp_path / "c.sqlite").execute("SELECT key FROM results")
    assert set(keys) <= {row[0] for row in stored.fetchall()}
