"""Where one core's time goes inside onnxruntime, per operator type, for the shipped model scoring
reviews one text per run (as the runtime does); and the same session with onnxruntime's
SkipLayerNormalization fusion left on, side by side. Prints Markdown.

    python benchmarks/profile_ops.py [--rows 300] [--model NAME|PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compute_limit import matmul_peak  # noqa: E402

from sentiment_udf import SentimentModel  # noqa: E402
from sentiment_udf.runtime.onnx_session import DISABLED_FUSIONS, session_options  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "reviews_bench.parquet"
# Operators that are only an int8 product of activations with a weight matrix (prepacked, so the
# profile lists no weight: the size comes from the activations in and the result out).
# QAttention adds fp32 attention to its int8 projection, so it has no rate of its own here.
INT8_PRODUCTS = {"DynamicQuantizeMatMul", "MatMulIntegerToFloat"}


def session(path: Path, disabled: list[str], profile_dir: str | None) -> ort.InferenceSession:
    options = session_options()
    if profile_dir:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(profile_dir) / "profile")
    return ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
    )


def run_all(s: ort.InferenceSession, sequences: list[np.ndarray]) -> float:
    names = {i.name for i in s.get_inputs()}
    started = time.perf_counter()
    for ids in sequences:
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros_like(ids)
        s.run(None, feed)
    return len(sequences) / (time.perf_counter() - started)


def op_profile(path: Path, sequences: list[np.ndarray]) -> tuple[dict, dict]:
    """Microseconds per operator type, and int8 multiply-adds per operator type."""
    with tempfile.TemporaryDirectory() as scratch:
        s = session(path, DISABLED_FUSIONS, scratch)
        run_all(s, sequences)
        events = json.loads(Path(s.end_profiling()).read_text())
    micros: dict[str, float] = defaultdict(float)
    macs: dict[str, float] = defaultdict(float)
    for event in events:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        op = event["args"]["op_name"]
        micros[op] += event["dur"]
        if op in INT8_PRODUCTS:
            (rows_in,) = event["args"]["input_type_shape"][0].values()
            (rows_out,) = event["args"]["output_type_shape"][0].values()
            macs[op] += float(np.prod(rows_out)) * rows_in[-1]
    return micros, macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--model", default=None)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    model = SentimentModel(args.model, threads=1)
    texts = [
        r[0]
        for r in duckdb.execute(
            "SELECT review FROM read_parquet(?) LIMIT ?", [str(BENCH), args.rows]
        ).fetchall()
    ]
    sequences = [np.array([s], dtype=np.int64) for s in model.encoder.truncated(texts)]
    tokens = sum(s.shape[1] for s in sequences)
    path = model.files.onnx

    rates: dict[str, list[float]] = {"as shipped (fusion off)": [], "SkipLayerNorm fusion on": []}
    sessions = {
        "as shipped (fusion off)": session(path, DISABLED_FUSIONS, None),
        "SkipLayerNorm fusion on": session(path, [], None),
    }
    for _ in range(args.runs):
        for name, s in sessions.items():
            rates[name].append(run_all(s, sequences))
    micros, macs = op_profile(path, sequences)
    peak = matmul_peak(int8=True, threads=1)
    total = sum(micros.values())

    print(f"{len(sequences)} reviews_bench rows, {tokens / len(sequences):.1f} tokens on average,")
    print(
        f"one text per run, 1 onnxruntime thread; int8 MatMul peak of one core {peak / 1e9:.0f} GOP/s"
    )
    print()
    print("| session | rows/s on one core (median) | min | max |")
    print("|---|---|---|---|")
    for name, values in rates.items():
        print(
            f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |"
        )
    print()
    print("| operator | share of time | ms per row | int8 GOP/s | of one core's int8 peak |")
    print("|---|---|---|---|---|")
    for op, us in sorted(micros.items(), key=lambda kv: -kv[1]):
        if us / total < 0.005:
            continue
        rate = f"{2 * macs[op] / (us / 1e6) / 1e9:.0f}" if op in macs else ""
        share = f"{2 * macs[op] / (us / 1e6) / peak:.0%}" if op in macs else ""
        print(f"| {op} | {us / total:.1%} | {us / 1e3 / len(sequences):.2f} | {rate} | {share} |")


if __name__ == "__main__":
    main()
