"""`sentiment-udf train` (head only) on the product domain of reviews_dev.csv, cross-validated:
five folds by a hash of the text; each fold's model is trained (the CLI, as a user runs it) on the
other four (its own --holdout 0.05 aside) and scored through SQL on the fold it never saw.

    python benchmarks/domain_cv.py [--data ../shared/data] [--work /tmp/domain_cv]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

import sentiment_udf

CLI = str(Path(sys.executable).parent / "sentiment-udf")
FOLDS = 5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/domain_cv"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = (
        f"(SELECT title || '. ' || text AS text, domain AS label, "
        f"hash(title || '. ' || text) % {FOLDS} AS fold "
        f"FROM read_csv('{args.data.absolute() / 'reviews_dev.csv'}'))"
    )
    accuracies, seconds = [], []
    for fold in range(FOLDS):
        out = args.work / f"fold{fold}"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        done = subprocess.run(
            [CLI, "train", str(out), "-q", "--holdout", "0.05", "--query",
             f"SELECT text, label FROM {rows} WHERE fold <> {fold}"],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        seconds.append(time.perf_counter() - started)
        con = duckdb.connect()
        sentiment_udf.register(con, model=out)
        (accuracy,) = con.execute(
            f"SELECT avg((classify_sentiment(text) = label)::INT) FROM {rows} WHERE fold = {fold}"
        ).fetchone()
        accuracies.append(round(accuracy, 4))
        print(f"fold {fold}: {accuracy:.4f} ({seconds[-1]:.1f} s)", flush=True)
    report = {
        "command": "python benchmarks/domain_cv.py",
        "date": time.strftime("%Y-%m-%d"),
        "folds": accuracies,
        "mean": round(statistics.mean(accuracies), 4),
        "stdev": round(statistics.stdev(accuracies), 4),
        "train_seconds_median": round(statistics.median(seconds), 1),
    }
    out_file = Path(__file__).parent / "results" / "domain_cv.json"
    out_file.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
