"""The trained document label (sentiment_overall on the star model) and sentiment_stars, measured
through SQL beside the old rule, on reviews the star model never trained on.

python benchmarks/document_stars.py [--data ../shared/data] [--out benchmarks/results/document_stars.json]

Sets: reviews_stars_dev.csv (1,000 reviews per star; the issue's figures; its 1-2 and 4-5 star
reviews were among the *review* model's training data) and the English `holdout` rows of
reviews_multilingual.parquet (the corpus's train split held out of every model of ours; no
titles). Stars 1-2 count as negative, 3 as neutral-or-mixed, 4-5 as positive; the three-class
accuracy weighs each star equally (the mean of the per-star accuracies). The old rule is
document_label() on sentiment_score and sentiment_sentences (what sentiment_overall was before).
`mixed` share on reviews_dev.csv (binary-labelled reviews: few should be mixed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sentiment_udf  # noqa: E402
from sentiment_udf.analysis.overall import document_label  # noqa: E402

WANT = {1: "negative", 2: "negative", 3: "middle", 4: "positive", 5: "positive"}


def correct(label: str | None, stars: int) -> bool:
    want = WANT[stars]
    return label in ("neutral", "mixed") if want == "middle" else label == want


def figures(rows: list[tuple]) -> dict:
    """rows: (stars, overall, old rule, expected stars)."""
    stars = np.array([r[0] for r in rows])
    out: dict = {"rows": len(rows)}
    for key, col in (("trained", 1), ("old_rule", 2)):
        per = [float(np.mean([correct(r[col], s) for r in rows if r[0] == s])) for s in range(1, 6)]
        labels = [r[col] for r in rows]
        out[key] = {
            "three_class": round(float(np.mean(per)), 4),
            "per_star": [round(p, 3) for p in per],
            "negative_on_1_2": round(float(np.mean([r[col] == "negative" for r in rows if r[0] <= 2])), 4),
            "positive_on_4_5": round(float(np.mean([r[col] == "positive" for r in rows if r[0] >= 4])), 4),
            "shares": {lab: round(labels.count(lab) / len(labels), 4)
                       for lab in ("positive", "negative", "neutral", "mixed")},
        }
    expected = np.array([r[3] for r in rows], dtype=float)
    out["stars_mae"] = round(float(np.mean(np.abs(expected - stars))), 4)
    out["stars_mae_rounded"] = round(float(np.mean(np.abs(np.rint(expected) - stars))), 4)
    out["stars_accuracy_rounded"] = round(float(np.mean(np.rint(expected) == stars)), 4)
    return out


def score(con: duckdb.DuckDBPyConnection, source: str, titled: bool) -> list[tuple]:
    title = "title, " if titled else ""
    rows = con.execute(
        f"SELECT stars, sentiment_overall({title}text), sentiment_score({title}text), "
        f"[s.score FOR s IN sentiment_sentences(text)], sentiment_stars({title}text) FROM {source}"
    ).fetchall()
    return [(s, overall, document_label(whole, sentences), stars)
            for s, overall, whole, sentences, stars in rows if overall is not None]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/document_stars.json"))
    args = ap.parse_args()
    con = duckdb.connect()
    sentiment_udf.register(con)
    started = time.perf_counter()
    dev = f"read_csv('{args.data / 'reviews_stars_dev.csv'}')"
    holdout = (f"(SELECT * FROM read_parquet('{args.data / 'reviews_multilingual.parquet'}') "
               "WHERE lang = 'en' AND split = 'holdout' AND stars IS NOT NULL)")
    result = {
        "command": "python benchmarks/document_stars.py",
        "date": time.strftime("%Y-%m-%d"),
        "stars_dev_title_and_text": figures(score(con, dev, titled=True)),
        "stars_dev_text": figures(score(con, dev, titled=False)),
        "en_holdout_text": figures(score(con, holdout, titled=False)),
    }
    mixed = con.execute(
        "SELECT avg((sentiment_overall(title, text) = 'mixed')::INT), "
        "avg((sentiment_overall(title, text) = 'neutral')::INT), "
        "avg((sentiment_overall(title, text) = label)::INT) "
        f"FROM read_csv('{args.data / 'reviews_dev.csv'}')"
    ).fetchone()
    result["reviews_dev"] = {"mixed": round(mixed[0], 4), "neutral": round(mixed[1], 4),
                             "overall_equals_label": round(mixed[2], 4)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
