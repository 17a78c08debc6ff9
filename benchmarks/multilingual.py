"""The multilingual model and the language rule: binary accuracy on the holdout rows of each
language (1-2 stars negative, 4-5 positive, 3 set aside; labelled sources as labelled), beside
the English model with the guard off (what a user had before); the English path unchanged; and
rows/s through SQL, English and non-English side by side, and a 6-language table in one query.

python benchmarks/multilingual.py [--model FOLDER] [--limit N] [--speed-rows 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))
from run import machine  # noqa: E402

import sentiment_udf  # noqa: E402
from sentiment_udf.runtime.registry import load_model  # noqa: E402
from sentiment_udf.runtime.result_cache import MEMO  # noqa: E402

DATA = Path("../shared/data")
LABEL = "CASE WHEN stars IS NULL THEN label WHEN stars <= 2 THEN 'negative' WHEN stars >= 4 THEN 'positive' END"


def holdout(limit: int | None) -> list[tuple[str, str, str, str]]:
    """(source, lang, text, label) of the holdout rows with a binary label, `limit` per group."""
    cap = f"QUALIFY row_number() OVER (PARTITION BY source, lang ORDER BY hash(text)) <= {limit}" if limit else ""
    return duckdb.execute(
        f"SELECT source, lang, text, {LABEL} AS y FROM read_parquet(?) "
        f"WHERE split = 'holdout' AND {LABEL} IS NOT NULL {cap} ORDER BY source, lang, hash(text)",
        [str(DATA / "reviews_multilingual.parquet")],
    ).fetchall()


def accuracy(model, rows) -> dict[str, dict]:
    groups: dict[str, list] = {}
    for source, lang, text, label in rows:
        groups.setdefault(f"{source}/{lang}", []).append((text, label))
    out = {}
    for name, items in sorted(groups.items()):
        predicted = model.predict([t for t, _ in items])
        right = sum(p == y for p, (_, y) in zip(predicted, items))
        out[name] = {"rows": len(items), "accuracy": round(right / len(items), 4)}
    return out


def dev_accuracy(model) -> float:
    rows = duckdb.execute("SELECT text, label FROM read_csv(?)", [str(DATA / "reviews_dev.csv")]).fetchall()
    predicted = model.predict([t for t, _ in rows])
    return round(sum(p == y for p, (_, y) in zip(predicted, rows)) / len(rows), 4)


def sql_rate(texts: list[str], **options) -> float:
    con = duckdb.connect()
    sentiment_udf.register(con, **options)
    con.execute("CREATE TABLE t AS SELECT unnest(?) AS review", [texts])
    MEMO.clear()
    started = time.perf_counter()
    con.execute("SELECT count(classify_sentiment(review)) FROM t").fetchall()
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="multilingual")
    parser.add_argument("--limit", type=int, default=None, help="rows per source and language")
    parser.add_argument("--speed-rows", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma list of: accuracy,english,dev,speed,table")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    report: dict = {"machine": machine(), "model": args.model}
    multi = load_model(args.model, languages="any")
    english = load_model(None, languages="any")
    rows = holdout(args.limit)
    if "accuracy" not in skip:
        started = time.perf_counter()
        report["holdout_multilingual"] = accuracy(multi, rows)
        if "english" not in skip:
            report["holdout_english_guard_off"] = accuracy(english, rows)
            report["reviews_dev_english_model"] = dev_accuracy(english)
        if "dev" not in skip:
            report["reviews_dev_multilingual_model"] = dev_accuracy(multi)
        report["accuracy_seconds"] = round(time.perf_counter() - started, 1)
    if "speed" not in skip:
        by_lang: dict[str, list[str]] = {}
        for _, lang, text, _ in rows:
            by_lang.setdefault(lang, []).append(text)
        english_texts = by_lang["en"][: args.speed_rows]
        other = [t for lang in ("de", "es", "fr", "ja", "zh") for t in by_lang[lang][: args.speed_rows // 5]]
        rates: dict[str, list[float]] = {"english": [], "non_english": []}
        for _ in range(args.rounds):  # interleaved rounds, cold each time
            rates["english"].append(sql_rate(english_texts))
            rates["non_english"].append(sql_rate(other))
        medians = {k: round(statistics.median(v), 1) for k, v in rates.items()}
        report["rows_per_s_sql"] = {**medians, "ratio": round(medians["non_english"] / medians["english"], 3)}
    if "table" not in skip:
        sample = duckdb.execute(
            "SELECT lang, text FROM read_parquet(?) WHERE split = 'holdout' "
            "QUALIFY row_number() OVER (PARTITION BY lang ORDER BY hash(text)) <= 1000",
            [str(DATA / "reviews_multilingual.parquet")],
        ).fetchall()
        con = duckdb.connect()
        sentiment_udf.register(con)
        con.execute("CREATE TABLE reviews AS SELECT * FROM (SELECT unnest(?) AS lang, unnest(?) AS review)",
                    [[r[0] for r in sample], [r[1] for r in sample]])
        MEMO.clear()
        started = time.perf_counter()
        labels = con.execute(
            "SELECT lang, count(*), count(classify_sentiment(review)) FROM reviews GROUP BY lang ORDER BY lang"
        ).fetchall()
        seconds = time.perf_counter() - started
        readers = load_model().readers([r[1] for r in sample])  # the rule the query applied
        report["six_language_table"] = {
            "rows": len(sample),
            "rows_per_s": round(len(sample) / seconds, 1),
            "labelled_by_language": {lang: labelled for lang, _, labelled in labels},
            "rows_per_model": {
                name: sum(1 for r in readers if (r.name if r else "NULL (no model)") == name)
                for name in sorted({r.name if r else "NULL (no model)" for r in readers})
            },
        }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
