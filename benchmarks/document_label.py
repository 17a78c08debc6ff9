"""Choose and measure the document label (sentiment_overall) on reviews_stars_dev.csv.

python benchmarks/document_features.py ../shared/data/reviews_stars_dev.csv stars.parquet
python benchmarks/document_features.py ../shared/data/reviews_dev.csv dev.parquet
python benchmarks/document_label.py stars.parquet dev.parquet

Stars 1-2 count as negative, 3 as neutral-or-mixed, 4-5 as positive; "3-class accuracy" weighs
each star rating equally (the mean of the five per-star accuracies). Every fitted number is
chosen on four folds and measured on the fifth (5-fold cross-validation by review_id hash).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, ".")
from sentiment_udf.analysis.overall import (  # noqa: E402
    azure_sentence_rule,
    document_label,
)

EXPECTED = {1: "negative", 2: "negative", 3: "middle", 4: "positive", 5: "positive"}
LABELS = ("positive", "negative", "neutral", "mixed")


def load(path):
    rows = pq.read_table(path).to_pylist()
    return [r for r in rows if r["title_text_score"] is not None and r["sentence_scores"]]


def fold(review_id: str) -> int:
    return int(hashlib.md5(str(review_id).encode()).hexdigest(), 16) % 5


def three_class(label: str, stars: int) -> bool:
    want = EXPECTED[stars]
    return label in ("neutral", "mixed") if want == "middle" else label == want


def star_accuracy(rows, labels) -> float:
    per = [np.mean([three_class(lab, r["stars"]) for r, lab in zip(rows, labels) if r["stars"] == s])
           for s in range(1, 6)]
    return float(np.mean(per))


def macro_f1(rows, labels) -> float:
    truth = [EXPECTED[r["stars"]] for r in rows]
    pred = ["middle" if lab in ("neutral", "mixed") else lab for lab in labels]
    f1s = []
    for c in ("negative", "middle", "positive"):
        tp = sum(t == c and p == c for t, p in zip(truth, pred))
        fp = sum(t != c and p == c for t, p in zip(truth, pred))
        fn = sum(t == c and p != c for t, p in zip(truth, pred))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s))


def shares(rows, labels) -> dict:
    out = {}
    for s in range(1, 6):
        got = [lab for r, lab in zip(rows, labels) if r["stars"] == s]
        out[s] = {k: round(got.count(k) / len(got), 3) for k in LABELS}
    return out


def label_one(r, low, high, share):
    del share  # measured: a share of mixed sentences that overrides the score never helped
    return document_label(r["title_text_score"], r["sentence_scores"], low, high, 0.4)


def label_all(rows, low, high, share):
    return [label_one(r, low, high, share) for r in rows]


GRID_LOW = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4]
GRID_HIGH = [0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
GRID_SHARE: list[float | None] = [None]


def fit(rows, shares=GRID_SHARE):
    best = None
    for low, high, share in itertools.product(GRID_LOW, GRID_HIGH, shares):
        acc = star_accuracy(rows, label_all(rows, low, high, share))
        if best is None or acc > best[0]:
            best = (acc, low, high, share)
    return best[1:]


def main(stars_path: str, dev_path: str) -> None:
    rows = load(stars_path)
    old = [azure_sentence_rule(r["sentence_scores"], 0.4) for r in rows]
    report = {"reviews": len(rows)}
    for variant, grid in (("new_label", [None]),):
        cv_labels: list[str | None] = [None] * len(rows)
        chosen = []
        for k in range(5):
            params = fit([r for r in rows if fold(r["review_id"]) != k], grid)
            chosen.append(params)
            for i, r in enumerate(rows):
                if fold(r["review_id"]) == k:
                    cv_labels[i] = label_one(r, *params)
        report[f"{variant}_cross_validated"] = {
            "accuracy": round(star_accuracy(rows, cv_labels), 4),
            "macro_f1": round(macro_f1(rows, cv_labels), 4),
            "negative_of_1_2_stars": round(np.mean([lab == "negative" for r, lab in zip(rows, cv_labels) if r["stars"] <= 2]), 4),
            "positive_of_4_5_stars": round(np.mean([lab == "positive" for r, lab in zip(rows, cv_labels) if r["stars"] >= 4]), 4),
            "shares": shares(rows, cv_labels), "parameters_per_fold": chosen,
        }
    low, high, share = fit(rows)  # the shipped parameters: fitted on the whole file
    report["old_rule"] = {"accuracy": round(star_accuracy(rows, old), 4),
                          "macro_f1": round(macro_f1(rows, old), 4), "shares": shares(rows, old)}
    report["shipped_parameters"] = {"low": low, "high": high, "mixed_share": share}
    dev = pq.read_table(dev_path).to_pylist()
    dev = [r for r in dev if r["title_text_score"] is not None and r["sentence_scores"]]
    for name, fn in (("old_rule", lambda r: azure_sentence_rule(r["sentence_scores"], 0.4)),
                     ("new_label", lambda r: label_one(r, low, high, share))):
        labels = [fn(r) for r in dev]
        polar = [(lab, r["label"]) for lab, r in zip(labels, dev) if lab in ("positive", "negative")]
        report[f"reviews_dev_{name}"] = {
            "mixed": round(labels.count("mixed") / len(labels), 4),
            "neutral": round(labels.count("neutral") / len(labels), 4),
            "coverage": round(len(polar) / len(labels), 4),
            "binary_accuracy_on_covered": round(float(np.mean([a == b for a, b in polar])), 4),
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
