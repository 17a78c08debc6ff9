"""The benchmark harness in its smoke size, so it cannot rot (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import shared_file

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_harness_smoke(tmp_path):
    shared_file("reviews_bench.parquet")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / "benchmarks_results.json").read_text())
    assert len(data["throughput"]) == 6
    assert all(r["median"] > 0 for r in data["throughput"].values())
    assert [r["rows"] for r in data["scale"]] == [120] and data["tiny_scale"][0]["rows"] == 2000
    assert data["scale"][0]["labelled"] == 120
    assert 15e6 < data["flops_per_token"] < 30e6
    report = (tmp_path / "BENCHMARKS.run.md").read_text()
    assert "of the int8 peak" in report and "python benchmarks/run.py --smoke" in report
    assert (tmp_path / "benchmarks_throughput.png").read_bytes()[:4] == b"\x89PNG"


def test_operator_profile_smoke():
    shared_file("reviews_bench.parquet")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "profile_ops.py"), "--rows", "5", "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout
    assert "| DynamicQuantizeMatMul |" in table and "| SkipLayerNorm fusion on |" in table
    shares = [float(line.split("|")[2].strip(" %")) for line in table.splitlines() if "% |" in line]
    assert 90 <= sum(shares) <= 100.5


def test_multilingual_benchmark_smoke():
    shared_file("reviews_multilingual.parquet")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "multilingual.py"), "--limit", "4",
         "--speed-rows", "10", "--rounds", "1", "--skip", "english,dev,table"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert set(report["holdout_multilingual"]) >= {"marc/de", "marc/ja", "marc/zh"}
    assert all(0 <= v["accuracy"] <= 1 for v in report["holdout_multilingual"].values())
    assert report["rows_per_s_sql"]["english"] > 0 and report["rows_per_s_sql"]["non_english"] > 0


def test_every_benchmark_script_imports():
    """Each script's imports still resolve against today's package (a renamed or moved function
    breaks a script no smoke test runs). Imported, not run: their work sits behind __main__;
    run.py imports approaches.py and compute_limit.py (no __main__ of their own)."""
    scripts = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py"))
    assert len(scripts) >= 20
    program = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'benchmarks')!r}]\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, *scripts],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", done.stdout
