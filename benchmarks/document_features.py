"""Per-review signals for the document label, written once to a Parquet file (the expensive half):
the whole-review score (title + text, and text alone) and the scores of the text's sentences.

python benchmarks/document_features.py ../shared/data/reviews_stars_dev.csv OUT.parquet
python benchmarks/document_features.py ../shared/data/reviews_dev.csv OUT.parquet
"""

from __future__ import annotations

import sys
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sentiment_udf import load_model
from sentiment_udf.analysis.sentences import score_sentences


def main(source: str, out: str) -> None:
    rows = duckdb.sql(f"SELECT * FROM read_csv('{source}')").to_arrow_table().to_pylist()
    model = load_model()
    started = time.perf_counter()
    titles = [r.get("title") for r in rows]
    texts = [r["text"] for r in rows]
    whole = model.predict_proba(model.inputs(titles, texts))[:, model.score_index]
    alone = model.predict_proba(texts)[:, model.score_index]
    sentences = score_sentences(model, texts)
    table = pa.table(
        {
            **{k: [r.get(k) for r in rows] for k in rows[0] if k not in ("title", "text")},
            "title_text_score": pa.array(whole, mask=np.isnan(whole)),
            "text_score": pa.array(alone, mask=np.isnan(alone)),
            "sentence_scores": [
                None if s is None else [x.score for x in s] for s in sentences
            ],
            "sentence_lengths": [
                None if s is None else [x.length for x in s] for s in sentences
            ],
        }
    )
    pq.write_table(table, out)
    print(f"{len(rows)} reviews in {time.perf_counter() - started:.0f} s -> {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
