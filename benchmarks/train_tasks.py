"""`sentiment-udf train` on three real tasks, as a user runs it (the CLI, in a subprocess): wall
time, rows/s, peak memory, the card's held-out figures, and each model measured where it is used.

    python benchmarks/train_tasks.py [--data ../shared/data] [--work /tmp/train_tasks]
        [--only TASK ...] [--fine-tune-base ../shared/models/sentiment-en-reviews-v2/checkpoint]

- stars: the English star-rated Amazon reviews of reviews_multilingual.parquet (marc, en; never
  the stars dev file), 3 classes (1-2 negative, 3 neutral, 4-5 positive) and 5 (the stars);
  each measured on reviews_stars_dev.csv (1,000 reviews per star, not trained on) through SQL,
  beside today's sentiment_overall rule: three-class accuracy with stars weighted equally,
  recall of 1-2 stars as negative and 4-5 as positive, and (5 classes) the mean absolute error
  of the expected star rating.
- aspects: aspects_dev.csv's training rows as (sentence, aspect) pairs on the aspect model's
  encoder; measured by sentiment_aspects on the holdout rows beside the shipped aspect model.
- domain: the product domain of reviews_dev.csv (books, dvd, electronics, kitchen): labels that
  are not sentiment; the card's held-out figures.
Results go to benchmarks/results/train_tasks.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

import sentiment_udf

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "sentiment-udf")
THREE = "CASE WHEN stars <= 2 THEN 'negative' WHEN stars = 3 THEN 'neutral' ELSE 'positive' END"


def tasks(data: Path, fine_tune_base: Path | None = None) -> dict[str, list[str]]:
    marc = f"FROM '{data / 'reviews_multilingual.parquet'}' WHERE source = 'marc' AND lang = 'en'"
    aspects = f"FROM read_csv('{data / 'aspects_dev.csv'}') WHERE split <> 'holdout'"
    chosen = {
        "domain": [
            "--query",
            f"SELECT title || '. ' || text AS text, domain AS label "
            f"FROM read_csv('{data / 'reviews_dev.csv'}')",
        ],
        "aspects": [
            "--query", f"SELECT sentence AS text, aspect, polarity AS label {aspects}",
            "--base", "sentiment-en-aspects-v1", "--pair-column", "aspect",
        ],  # fmt: skip
        "stars3": ["--query", f"SELECT text, {THREE} AS label {marc}"],
        "stars5": ["--query", f"SELECT text, stars AS label {marc}"],
    }
    if fine_tune_base is not None:  # the same rows, the encoder trained too (torch)
        tuned = ["--fine-tune", "--base", str(fine_tune_base)]
        chosen["domain_fine_tuned"] = chosen["domain"] + tuned
        chosen["aspects_fine_tuned"] = chosen["aspects"][:2] + ["--pair-column", "aspect", *tuned]
    return chosen


def run_train(name: str, args: list[str], work: Path) -> dict:
    out = work / name
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(work / f"{name}.training", ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run([CLI, "train", str(out), "-q", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name}: {done.stderr}")
    training = json.loads((out / "TRAINING.json").read_text())
    rows = sum(training["rows"]["per_class"].values())
    return {
        "command": f"sentiment-udf train {out} {' '.join(args)}",
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "holdout": training["holdout_figures"],
        "head": training.get("head"),
        "fine_tune": training.get("fine_tune"),
    }


def star_figures(stars: np.ndarray, three: list[str | None]) -> dict:
    """Three-class accuracy, stars weighted equally; negative recall of 1-2, positive of 4-5."""
    truth = np.where(stars <= 2, "negative", np.where(stars == 3, "middle", "positive"))
    said = np.array(["middle" if t in ("neutral", "mixed") else t for t in three])
    per_star = [float(np.mean(said[stars == s] == truth[stars == s])) for s in range(1, 6)]
    return {
        "three_class_accuracy": round(float(np.mean(per_star)), 4),
        "negative_recall_1_2": round(float(np.mean(said[stars <= 2] == "negative")), 4),
        "positive_recall_4_5": round(float(np.mean(said[stars >= 4] == "positive")), 4),
        "per_star": [round(x, 4) for x in per_star],
    }


def measure_stars(data: Path, work: Path) -> dict:
    dev = f"read_csv('{data / 'reviews_stars_dev.csv'}')"
    con = duckdb.connect()
    sentiment_udf.register(con)
    base = con.execute(
        f"SELECT stars, sentiment_overall(title, text) FROM {dev} ORDER BY review_id"
    ).fetchall()
    stars = np.array([r[0] for r in base])
    shipped = [r[1] for r in base]
    results = {"sentiment_overall as shipped on the run's date": star_figures(stars, shipped)}
    sentiment_udf.register(con, model=work / "stars3", prefix="s3_")
    three = con.execute(f"SELECT s3_classify_sentiment(title, text) FROM {dev} ORDER BY review_id")
    results["stars3 (trained, 3 classes)"] = star_figures(stars, [r[0] for r in three.fetchall()])
    sentiment_udf.register(con, model=work / "stars5", prefix="s5_")
    probs = con.execute(
        f"SELECT s5_sentiment(title, text).probabilities FROM {dev} ORDER BY review_id"
    ).fetchall()
    p = np.array([[row[0][str(s)] for s in range(1, 6)] for row in probs])
    expected = p @ np.arange(1, 6)
    grouped = np.stack([p[:, :2].sum(1), p[:, 2], p[:, 3:].sum(1)], axis=1)
    labels = np.array(["negative", "neutral", "positive"])[grouped.argmax(1)]
    five = star_figures(stars, list(labels))
    five["mae_expected_stars"] = round(float(np.mean(np.abs(expected - stars))), 4)
    five["mae_argmax_stars"] = round(float(np.mean(np.abs(p.argmax(1) + 1 - stars))), 4)
    results["stars5 (trained, 5 classes, grouped)"] = five
    return results


def measure_aspects(data: Path, work: Path) -> dict:
    holdout = f"FROM read_csv('{data / 'aspects_dev.csv'}') WHERE split = 'holdout'"
    results = {}
    models = {
        "shipped aspect model": None,
        "trained on aspects_dev": work / "aspects",
        "fine-tuned on aspects_dev": work / "aspects_fine_tuned",
    }
    for name, model in models.items():
        if model is not None and not model.is_dir():
            continue
        con = duckdb.connect()
        sentiment_udf.register(con, aspect_model=model)
        rows = con.execute(
            f"SELECT polarity, sentiment_aspects(sentence, [aspect])[1].label {holdout} "
            "ORDER BY sentence_id, aspect"
        ).fetchall()
        truth = np.array([r[0] for r in rows])
        said = np.array([r[1] for r in rows])
        f1 = []
        for label in ("negative", "neutral", "positive"):
            tp = np.sum((said == label) & (truth == label))
            f1.append(2 * tp / max(np.sum(said == label) + np.sum(truth == label), 1))
        results[name] = {
            "rows": len(rows),
            "accuracy": round(float(np.mean(said == truth)), 4),
            "macro_f1": round(float(np.mean(f1)), 4),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/train_tasks"))
    parser.add_argument("--only", nargs="*", help="task names (default: all)")
    parser.add_argument(
        "--fine-tune-base",
        type=Path,
        help="a checkpoint folder: also the domain and aspect tasks with --fine-tune from it",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": f"{sys.platform}, {__import__('os').cpu_count()} cores"}
    for name, task_args in tasks(args.data, args.fine_tune_base).items():
        if args.only and name not in args.only:
            continue
        report[name] = run_train(name, task_args, args.work)
        print(name, json.dumps(report[name]), flush=True)
    if not args.only or {"stars3", "stars5"} <= set(args.only):
        report["stars_on_reviews_stars_dev"] = measure_stars(args.data, args.work)
        print(json.dumps(report["stars_on_reviews_stars_dev"], indent=1), flush=True)
    if not args.only or {"aspects", "aspects_fine_tuned"} & set(args.only):
        report["aspects_on_holdout"] = measure_aspects(args.data, args.work)
        print(json.dumps(report["aspects_on_holdout"], indent=1), flush=True)
    name = "train_tasks.json" if not args.only else f"train_tasks_{'_'.join(args.only)}.json"
    out = ROOT / "benchmarks" / "results" / name
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
