"""Benchmark harness: our SQL function and bulk path against a transformers pipeline and a naive
per-row UDF, side by side on the same rows, weights and machine; scale, memory, load time and the
share of the machine's matrix-multiply peak. Writes BENCHMARKS.md, results JSON and a chart.

    python benchmarks/run.py                      # the figures in BENCHMARKS.md
    python benchmarks/run.py --smoke --out /tmp/b  # a fast run that only checks it all works
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import approaches  # noqa: E402
import duckdb  # noqa: E402
from compute_limit import flops_per_token, matmul_peak  # noqa: E402

from sentiment_udf import SentimentModel  # noqa: E402
from sentiment_udf.runtime.result_cache import MEMO  # noqa: E402

BENCH = ROOT.parent / "shared" / "data" / "reviews_bench.parquet"


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in subprocess.run(
                ["lscpu"], capture_output=True, text=True
            ).stdout.splitlines()
            if line.startswith("Model name")
        ),
        platform.processor(),
    )
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def timed_rounds(cases: dict, runs: int) -> dict:
    """Rows/s of each case, `runs` rounds with every case once per round: a slow spell on a shared
    machine then hits all the cases alike instead of all the runs of one."""
    for name, function in cases.items():
        if name.startswith("transformers"):
            function()  # loads the pipeline once, outside the timing
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for round_number in range(runs):
        for name, function in cases.items():
            MEMO.clear()  # every round scores afresh: no answers remembered from the last one
            started = time.perf_counter()
            rows = function()
            rates[name].append(rows / (time.perf_counter() - started))
            print(
                f"round {round_number + 1}, {name}: {rates[name][-1]:.1f} rows/s", file=sys.stderr
            )
    return {
        name: {"median": statistics.median(r), "min": min(r), "max": max(r), "runs": r}
        for name, r in rates.items()
    }


def throughput(rows: int, runs: int, with_hf: bool) -> tuple[dict, float, float]:
    texts = [
        r[0]
        for r in duckdb.execute(
            "SELECT review FROM read_parquet(?) LIMIT ?", [str(BENCH), rows]
        ).fetchall()
    ]
    model = SentimentModel()
    sequences = model.encoder.truncated(texts)
    lengths = [len(s) for s in sequences]
    mean_tokens = sum(lengths) / len(texts)
    # Attention costs grow with the square of a text's length: per token, a text of n tokens
    # attends over n, so the token-weighted mean length is the span to count.
    attention_span = sum(n * n for n in lengths) / sum(lengths)
    cases = {
        "naive per-row UDF (native, onnxruntime, 1 text per call)": lambda: approaches.naive_udf(
            BENCH, rows
        ),
        "ours: SELECT classify_sentiment(review)": lambda: approaches.arrow_udf(BENCH, rows),
        "reference: onnxruntime and our worker pool only, pre-tokenized": lambda: (
            approaches.onnxruntime_only(sequences)
        ),
        "ours: bulk score (sentiment-udf score)": lambda: approaches.bulk_score(BENCH, rows),
    }
    if with_hf:
        cases = {
            "transformers pipeline, torch CPU, batch 1": lambda: approaches.hf_pipeline(texts, 1),
            "transformers pipeline, torch CPU, batch 32 unsorted": lambda: approaches.hf_pipeline(
                texts, 32
            ),
            **cases,
        }
    return timed_rounds(cases, runs), mean_tokens, attention_span


def scale(rows_list: list[int], model: str | None) -> list[dict]:
    out = []
    for rows in rows_list:
        out.append(scale_run(rows, model, BENCH))
        print(
            f"scale {rows}: {out[-1]['rows_per_s']:.0f} rows/s, {out[-1]['peak_rss_mb']:.0f} MB",
            file=sys.stderr,
            flush=True,
        )
    return out


def scale_run(rows: int, model: str | None, bench: Path) -> dict:
    """Build an N-row file in one process, score it in another: peak RSS is scoring's own."""
    worker = [sys.executable, str(ROOT / "benchmarks" / "scale.py")]
    with tempfile.TemporaryDirectory() as scratch:
        table = str(Path(scratch) / f"reviews_{rows}.parquet")
        subprocess.run(
            worker + ["--build", table, "--rows", str(rows), "--bench", str(bench)],
            check=True,
            capture_output=True,
        )
        result = subprocess.run(
            worker + ["--input", table] + (["--model", model] if model else []),
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def load_times(runs: int = 5) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        SentimentModel()
        times.append(time.perf_counter() - started)
    return times


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    medians = [results[n]["median"] for n in names]
    errors = [
        [m - results[n]["min"] for n, m in zip(names, medians)],
        [results[n]["max"] - m for n, m in zip(names, medians)],
    ]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(names) + 1.2))
    colours = ["tab:green" if n.startswith("ours") else "tab:gray" for n in names]
    ax.barh(names, medians, xerr=errors, color=colours)
    ax.invert_yaxis()
    ax.set_xlabel("reviews per second (median, min-max bars)")
    ax.set_title("Scoring reviews_bench.parquet rows on this machine")
    for y, value in enumerate(medians):
        ax.text(value, y, f" {value:,.0f}", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def round_ratio(a: dict, b: dict) -> float:
    """Median over the rounds of a's rate / b's rate in the same round."""
    return statistics.median(x / y for x, y in zip(a["runs"], b["runs"]))


def report(
    results: dict, mean_tokens: float, span: float, peaks: dict, fpt: float, chart_name: str
) -> str:
    """The throughput table, the bulk/SQL ratio and the share of the compute limit."""
    lines = [
        f"### Throughput (the first rows of reviews_bench.parquet, mean {mean_tokens:.1f} "
        "tokens; median of the runs, min and max)",
        "",
        "| approach | rows/s (median) | min | max | tokens/s | vs HF batch 1 | vs HF batch 32 |",
        "|---|---|---|---|---|---|---|",
    ]
    hf1 = results.get("transformers pipeline, torch CPU, batch 1")
    hf32 = results.get("transformers pipeline, torch CPU, batch 32 unsorted")
    for name, r in results.items():
        ratio1 = f"{round_ratio(r, hf1):.1f}x" if hf1 else "-"
        ratio32 = f"{round_ratio(r, hf32):.1f}x" if hf32 else "-"
        lines.append(
            f"| {name} | {r['median']:.1f} | {r['min']:.1f} | {r['max']:.1f} | "
            f"{r['median'] * mean_tokens:,.0f} | {ratio1} | {ratio32} |"
        )
    sql_result = results["ours: SELECT classify_sentiment(review)"]
    sql = sql_result["median"]
    bulk_ratio = round_ratio(results["ours: bulk score (sentiment-udf score)"], sql_result)
    achieved = sql * mean_tokens * fpt
    lines += [
        "",
        f"Bulk path / SQL path: {bulk_ratio:.2f}x. (Ratios are medians of the ratios within "
        "each round.)",
        "",
        f"![throughput]({chart_name})",
        "",
        "### Share of the machine's compute limit",
        "",
        f"Model: {fpt / 1e6:.1f} MFLOP per token (the graph's weight matrices, plus attention "
        f"over the token-weighted mean length, {span:.0f} tokens). Peak measured with one large onnxruntime "
        f"MatMul on {os.cpu_count()} threads: int8 (MatMulInteger) "
        f"{peaks['int8'] / 1e9:.0f} GOP/s, fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s.",
        "",
        f"SQL path achieves {achieved / 1e9:.0f} GOP/s = "
        f"**{100 * achieved / peaks['int8']:.0f}% of the int8 peak** (the shipped model is int8).",
        "",
    ]
    return "\n".join(lines)


def header(info: dict, command: str) -> list[str]:
    return [
        f"## Run of {info['date']}",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, "
        f"duckdb {info['duckdb']}, onnxruntime {info['onnxruntime']}.",
        "",
    ]


def scale_section(scale_rows: list[dict], tiny_rows: list[dict], loads: list[float]) -> str:
    lines = [
        "### Scale and memory (SELECT classify_sentiment over a Parquet file built by repeating "
        "and shuffling reviews_bench; peak RSS of the scoring process, VmHWM)",
        "",
        "| model | rows | rows/s | peak RSS MB | peak RSS before scoring MB | model load s |",
        "|---|---|---|---|---|---|",
    ]
    for r in scale_rows + tiny_rows:
        lines.append(
            f"| {r['model']} | {r['rows']:,} | {r['rows_per_s']:.0f} | "
            f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb_before_scoring']:.0f} | "
            f"{r['load_seconds']:.2f} |"
        )
    lines += [
        "",
        f"Model load (embedded, checksums verified, fresh each time): median "
        f"{statistics.median(loads):.3f} s, max {max(loads):.3f} s over {len(loads)} loads.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows for the side-by-side table")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", default="10000,20214", help="row counts, embedded model")
    parser.add_argument(
        "--tiny-scale",
        default="10000,100000,1000000",
        help="row counts with a tiny model: memory of the pipeline itself",
    )
    parser.add_argument("--no-hf", action="store_true", help="skip the transformers baseline")
    parser.add_argument("--scale-only", action="store_true", help="only the scale and memory part")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness runs")
    parser.add_argument("--out", type=Path, default=ROOT, help="folder for BENCHMARKS.md etc.")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.runs, args.scale, args.tiny_scale = 24, 1, "120", "2000"
    if not BENCH.is_file():
        sys.exit(f"{BENCH} is missing: the benchmarks need ../shared/data beside the checkout")
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    command = ("python benchmarks/run.py " + " ".join(sys.argv[1:])).strip()
    data: dict = {"machine": info}
    parts = header(info, command)
    if not args.scale_only:
        results, mean_tokens, span = throughput(args.rows, args.runs, with_hf=not args.no_hf)
        threads = os.cpu_count() or 1
        peaks = {"int8": matmul_peak(True, threads), "fp32": matmul_peak(False, threads)}
        fpt = flops_per_token(SentimentModel().files.onnx, attention_span=span)
        chart_name = "benchmarks_throughput.png"
        chart(results, args.out / chart_name)
        parts.append(report(results, mean_tokens, span, peaks, fpt, chart_name))
        data.update(
            throughput=results,
            mean_tokens=mean_tokens,
            attention_span=span,
            peaks=peaks,
            flops_per_token=fpt,
        )
    scale_rows = scale([int(n) for n in args.scale.split(",") if n], None)
    with tempfile.TemporaryDirectory() as scratch:
        from tests.tiny_model import build_tiny_model

        tiny = build_tiny_model(Path(scratch) / "tiny-test-model")
        tiny_rows = scale([int(n) for n in args.tiny_scale.split(",") if n], str(tiny))
    loads = load_times()
    parts.append(scale_section(scale_rows, tiny_rows, loads))
    data.update(scale=scale_rows, tiny_scale=tiny_rows, load_seconds=loads)
    text = "\n".join(parts)
    (args.out / "benchmarks_results.json").write_text(json.dumps(data, indent=2))
    (args.out / "BENCHMARKS.run.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
