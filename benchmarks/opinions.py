"""Opinion mining, measured: target extraction and (target, polarity) pairs of sentiment_opinions
on the SemEval-2014 holdout sentences, polarity of sentiment_aspects with each aspect model,
throughput beside sentiment on reviews_bench.parquet, and the top complaints of reviews_dev.csv.

    python benchmarks/opinions.py [--data ../shared/data] [--aspect-models aspects,PATH]
        [--opinion-model TAGGER_FOLDER]
        [--rows 600] [--rounds 3]

Extraction: a predicted target counts when its span is exactly a gold term's (character offsets),
over aspects_spans.csv holdout sentences plus aspects_no_terms.csv holdout sentences (no term:
every target found there is a false positive). Pairs: span and polarity both right (gold
`conflict` terms are absent from the file). All through SQL on a DuckDB connection.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

import duckdb

import sentiment_udf
from sentiment_udf.runtime.result_cache import MEMO


def holdout(data: Path) -> tuple[dict[str, str], dict[str, set], dict[str, dict]]:
    """Sentence -> domain, sentence -> gold spans, sentence -> {span: polarity}."""
    con = duckdb.connect()
    domain: dict[str, str] = {}
    spans: dict[str, set] = defaultdict(set)
    polarity: dict[str, dict] = defaultdict(dict)
    for sentence, dom, start, end, label in con.execute(
        "SELECT sentence, domain, start, \"end\", polarity FROM read_csv(?) WHERE split = 'holdout'",
        [str(data / "aspects_spans.csv")],
    ).fetchall():
        domain[sentence] = dom
        spans[sentence].add((start, end))
        polarity[sentence][(start, end)] = label
    for sentence, dom in con.execute(
        "SELECT sentence, domain FROM read_csv(?) WHERE split = 'holdout'",
        [str(data / "aspects_no_terms.csv")],
    ).fetchall():
        domain[sentence] = dom
        spans.setdefault(sentence, set())
    return domain, spans, polarity


def f1(tp: int, fp: int, fn: int) -> dict:
    p = tp / max(1, tp + fp)
    r = tp / max(1, tp + fn)
    return {"precision": round(p, 4), "recall": round(r, 4),
            "f1": round(2 * p * r / max(1e-12, p + r), 4)}  # fmt: skip


def extraction(con: duckdb.DuckDBPyConnection, data: Path) -> list[dict]:
    domain, gold, polarity = holdout(data)
    sentences = sorted(domain)
    found = con.execute(
        "SELECT s, sentiment_opinions(s) FROM unnest(?) AS t(s)", [sentences]
    ).fetchall()
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    for sentence, opinions in found:
        predicted = {(o["position"] - 1, o["position"] - 1 + o["length"]): o["label"]
                     for o in opinions or []}  # fmt: skip
        truth = gold[sentence]
        c = counts[domain[sentence]]
        hits = set(predicted) & truth
        c[0] += len(hits)
        c[1] += len(set(predicted) - truth)
        c[2] += len(truth - set(predicted))
        right = {s for s in hits if predicted[s] == polarity[sentence][s]}
        c[3] += len(right)
        c[4] += len(predicted) - len(right)
        c[5] += len(truth) - len(right)
    return [
        {"domain": d, "sentences": sum(1 for s in domain if domain[s] == d),
         "gold_terms": c[0] + c[2], "spans": f1(*c[:3]), "span_and_polarity": f1(*c[3:])}
        for d, c in sorted(counts.items())
    ]  # fmt: skip


def polarity(data: Path, aspect_models: list[str]) -> list[dict]:
    """3-class accuracy and macro-F1 of sentiment_aspects(sentence, [term]) on the holdout rows."""
    rows = []
    for name in aspect_models:
        con = duckdb.connect()
        sentiment_udf.register(con, aspect_model=None if name == "aspects" else name)
        for dom, n, acc, *f1s in con.execute(
            "WITH p AS (SELECT domain, polarity, sentiment_aspects(sentence, [aspect])[1].label "
            "AS got FROM read_csv(?) WHERE split = 'holdout'), c AS (SELECT domain, l, "
            "count(*) FILTER (got = l AND polarity = l) AS tp, count(*) FILTER (got = l AND "
            "polarity <> l) AS fp, count(*) FILTER (got <> l AND polarity = l) AS fn FROM p, "
            "unnest(['negative', 'neutral', 'positive']) AS t(l) GROUP BY ALL) "
            "SELECT domain, (SELECT count(*) FROM p WHERE p.domain = c.domain), "
            "(SELECT avg((got = polarity)::INT) FROM p WHERE p.domain = c.domain), "
            "avg(2 * tp / greatest(1, 2 * tp + fp + fn)) FROM c GROUP BY domain ORDER BY domain",
            [str(data / "aspects_dev.csv")],
        ).fetchall():
            rows.append({"aspect_model": name, "domain": dom, "aspects": n,
                         "three_class": round(acc, 4), "macro_f1": round(f1s[0], 4)})  # fmt: skip
    return rows


def throughput(con: duckdb.DuckDBPyConnection, data: Path, rows: int, rounds: int) -> dict:
    con.execute(
        "CREATE TABLE r AS SELECT review FROM read_parquet(?) LIMIT ?",
        [str(data / "reviews_bench.parquet"), rows],
    )
    queries = {
        "sentiment(review)": "SELECT count(sentiment(review)) FROM r",
        "sentiment_opinions(review)": "SELECT count(sentiment_opinions(review)) FROM r",
    }
    seconds: dict[str, list[float]] = {name: [] for name in queries}
    for _ in range(rounds):
        for name, sql in queries.items():
            MEMO.clear()  # every round scores cold
            started = time.perf_counter()
            con.execute(sql).fetchall()
            seconds[name].append(time.perf_counter() - started)
    rates = {name: rows / statistics.median(s) for name, s in seconds.items()}
    mean = con.execute("SELECT avg(len(sentiment_opinions(review))) FROM r").fetchall()[0][0]
    return {
        "rows": rows,
        "rounds": rounds,
        "rows_per_s": {k: round(v, 1) for k, v in rates.items()},
        "opinions_vs_sentiment": round(
            rates["sentiment_opinions(review)"] / rates["sentiment(review)"], 3
        ),
        "mean_opinions_per_review": round(mean, 2),
    }


def top_complaints(con: duckdb.DuckDBPyConnection, data: Path) -> list[tuple]:
    return con.execute(
        "SELECT o.target_key, count(*) AS complaints FROM read_csv(?) AS reviews, "
        "unnest(sentiment_opinions(text)) AS t(o) WHERE o.label = 'negative' "
        "GROUP BY ALL ORDER BY complaints DESC, o.target_key LIMIT 20",
        [str(data / "reviews_dev.csv")],
    ).fetchall()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--aspect-models", default="aspects")
    parser.add_argument("--opinion-model", default=None, help="a tagger folder (default: embedded)")
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: throughput,complaints")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    con = duckdb.connect()
    sentiment_udf.register(con, opinion_model=args.opinion_model)
    report: dict = {"extraction": extraction(con, args.data)}
    report["polarity"] = polarity(args.data, args.aspect_models.split(","))
    if "throughput" not in skip:
        report["throughput"] = throughput(con, args.data, args.rows, args.rounds)
    if "complaints" not in skip:
        report["top_complaints_reviews_dev"] = top_complaints(con, args.data)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
