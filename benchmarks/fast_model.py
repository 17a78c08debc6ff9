"""The distilled fast model against the default one: accuracy, calibration, agreement and cold
SQL speed, side by side in one run (medians of interleaved rounds, the memo emptied each time).

python benchmarks/fast_model.py --rows 400 --rounds 3 --agreement-rows 5000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import approaches  # noqa: E402
from run import machine  # noqa: E402

import sentiment_udf  # noqa: E402
from sentiment_udf.runtime.result_cache import MEMO  # noqa: E402

DATA = Path("../shared/data")
MODELS = {"default": None, "fast": "fast"}


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of P(positive) in ten equal-width bins."""
    total = 0.0
    for b in range(bins):
        upper = p <= (b + 1) / bins if b == bins - 1 else p < (b + 1) / bins
        inside = (p >= b / bins) & upper
        if inside.any():
            total += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return float(total)


def quality(agreement_rows: int) -> dict:
    dev = duckdb.sql(f"SELECT * FROM read_csv('{DATA / 'reviews_dev.csv'}')").fetchall()
    titles, texts = [r[1] for r in dev], [r[2] for r in dev]
    truth = np.array([r[0] == "positive" for r in dev], float)
    bench = [r[0] for r in duckdb.sql(
        f"SELECT review FROM read_parquet('{DATA / 'reviews_bench.parquet'}') "
        f"LIMIT {agreement_rows}").fetchall()]
    out: dict = {}
    labels = {}
    for name, ref in MODELS.items():
        model = sentiment_udf.load_model(ref)
        row = {}
        for form, inputs in (("text", texts), ("title+text", model.inputs(titles, texts))):
            p = model.predict_proba(inputs)[:, model.score_index]
            ok = ~np.isnan(p)
            row[f"accuracy {form}"] = round(float(((p > 0.5) == truth)[ok].sum() / len(p)), 4)
            row[f"ECE {form}"] = round(ece(p[ok], truth[ok]), 4)
        labels[name] = model.predict(bench)
        out[name] = row
    same = [a == b for a, b in zip(labels["default"], labels["fast"]) if a is not None]
    out["agreement on reviews_bench"] = {"rows": len(same), "share": round(float(np.mean(same)), 4)}
    return out


def speed(rows: int, rounds: int) -> dict:
    bench = DATA / "reviews_bench.parquet"
    texts = [r[0] for r in duckdb.sql(
        f"SELECT review FROM read_parquet('{bench}') LIMIT {rows}").fetchall()]
    connections = {}
    for name, ref in MODELS.items():
        con = duckdb.connect()
        sentiment_udf.register(con, ref)
        con.execute(f"CREATE TABLE r AS SELECT review FROM read_parquet('{bench}') LIMIT {rows}")
        connections[name] = con

    def sql(con):
        return lambda: con.execute("SELECT count(classify_sentiment(review)) FROM r").fetchall()[0][0]

    cases = {
        "HF pipeline, torch CPU, batch 1": lambda: approaches.hf_pipeline(texts, 1),
        **{f"SELECT classify_sentiment(review), {name} model": sql(con)
           for name, con in connections.items()},
    }
    approaches.hf_pipeline(texts[:4], 1)  # load the pipeline outside the timing
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            MEMO.clear()
            started = time.perf_counter()
            done = case()
            rates[name].append(done / (time.perf_counter() - started))
            print(f"{name}: {rates[name][-1]:.1f} rows/s", file=sys.stderr)
    return {name: {"median": round(statistics.median(r), 1), "runs": [round(x, 1) for x in r]}
            for name, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--agreement-rows", type=int, default=5000)
    args = parser.parse_args()
    report = {"machine": machine(), "quality": quality(args.agreement_rows),
              "speed": speed(args.rows, args.rounds)}
    s = report["speed"]
    fast = s["SELECT classify_sentiment(review), fast model"]["median"]
    default = s["SELECT classify_sentiment(review), default model"]["median"]
    hf = s["HF pipeline, torch CPU, batch 1"]["median"]
    report["ratios"] = {"fast / default": round(fast / default, 2),
                        "fast / HF batch 1": round(fast / hf, 2),
                        "default / HF batch 1": round(default / hf, 2)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
