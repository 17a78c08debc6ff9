"""Aspect-level accuracy through SQL on the holdout rows of aspects_dev.csv (SemEval-2014 laptops
and restaurants), and the share of reviews_dev.csv that sentiment_overall calls mixed or neutral.

    python benchmarks/aspects.py [--data ../shared/data]

Approaches, all through SELECT on a DuckDB connection:
- whole sentence: classify_sentiment(sentence) of the review model for every aspect of it;
- aspect model, sentence: sentiment_aspects(sentence, [aspect]) (the shipped default);
- aspect model, clause: the same functions given only the clause around the mention.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb

import sentiment_udf
from sentiment_udf.engines.analysis_functions import AnalysisFunctions
from sentiment_udf.engines.duckdb_functions import _aspects_type

HOLDOUT = "SELECT * FROM read_csv(?) WHERE split = 'holdout'"


def connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    registration = sentiment_udf.register(con)
    clause = AnalysisFunctions(lambda: registration.model, lambda: registration.aspect_model)
    con.create_function(
        "sentiment_aspects_clause",
        clause.aspects("sentiment_aspects_clause", context="clause"),
        None,
        _aspects_type(),
        type="arrow",
        null_handling="special",
    )
    return con


def aspect_accuracy(con: duckdb.DuckDBPyConnection, data: Path) -> list[dict]:
    predictions = {
        "whole sentence (review model)": "classify_sentiment(sentence)",
        "aspect model, sentence": "sentiment_aspects(sentence, [aspect])[1].label",
        "aspect model, clause": "sentiment_aspects_clause(sentence, [aspect])[1].label",
    }
    rows = []
    for name, expression in predictions.items():
        for domain, n, three, polar, polar_n, unmatched in con.execute(
            f"SELECT domain, count(*), avg((p = polarity)::INT), "
            f"avg((p = polarity)::INT) FILTER (polarity <> 'neutral'), "
            f"count(*) FILTER (polarity <> 'neutral'), count(*) FILTER (p = 'unknown') "
            f"FROM (SELECT *, {expression} AS p FROM ({HOLDOUT})) GROUP BY domain ORDER BY domain",
            [str(data / "aspects_dev.csv")],
        ).fetchall():
            rows.append(
                {
                    "approach": name,
                    "domain": domain,
                    "aspects": n,
                    "three_class": round(three, 4),
                    "positive_negative": round(polar, 4),
                    "positive_negative_n": polar_n,
                    "not_found": unmatched,
                }
            )
    return rows


def overall_shares(con: duckdb.DuckDBPyConnection, data: Path) -> list[dict]:
    """For each neutral band: shares of the overall labels on reviews_dev.csv, and how often a
    positive/negative call agrees with the star label."""
    con.execute(
        "CREATE OR REPLACE TABLE dev AS SELECT *, sentiment_sentences(text) AS s FROM read_csv(?)",
        [str(data / "reviews_dev.csv")],
    )
    out = []
    for band in (0.0, 0.1, 0.2, 0.3, 0.4, 0.45, 0.49):
        label = (
            f"CASE WHEN len(list_filter(s, lambda x: x.score >= {0.5 + band} AND x.score > 0.5)) > 0 "
            f"AND len(list_filter(s, lambda x: x.score <= {0.5 - band} AND x.score < 0.5)) > 0 "
            f"THEN 'mixed' WHEN len(list_filter(s, lambda x: x.score >= {0.5 + band} AND x.score > 0.5)) > 0 "
            f"THEN 'positive' WHEN len(list_filter(s, lambda x: x.score <= {0.5 - band} AND x.score < 0.5)) > 0 "
            "THEN 'negative' ELSE 'neutral' END"
        )
        mixed, neutral, decided, agree = con.execute(
            f"SELECT avg((o = 'mixed')::INT), avg((o = 'neutral')::INT), "
            f"avg((o IN ('positive', 'negative'))::INT), "
            f"avg((o = label)::INT) FILTER (o IN ('positive', 'negative')) "
            f"FROM (SELECT label, {label} AS o FROM dev)"
        ).fetchall()[0]
        out.append(
            {
                "band": band,
                "mixed": round(mixed, 4),
                "neutral": round(neutral, 4),
                "decided": round(decided, 4),
                "decided_agree_with_stars": round(agree, 4),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--overall-only", action="store_true")
    args = parser.parse_args()
    con = connection()
    if not args.overall_only:
        print(json.dumps({"aspects": aspect_accuracy(con, args.data)}, indent=1))
    print(json.dumps({"overall": overall_shares(con, args.data)}, indent=1))
    check = con.execute(
        "SELECT avg((sentiment_overall(text) = 'mixed')::INT), "
        "avg((sentiment_overall(text) = 'neutral')::INT) FROM dev"
    ).fetchall()[0]
    print(json.dumps({"sentiment_overall default band": {"mixed": check[0], "neutral": check[1]}}))


if __name__ == "__main__":
    main()
