"""The ways to score a column that the harness compares; each returns the number of rows scored."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import numpy as np

import sentiment_udf
from sentiment_udf.engines import bulk
from sentiment_udf.engines.sql_names import file_source
from sentiment_udf.runtime.model_files import EMBEDDED_MODEL_NAME, EMBEDDED_MODELS_DIR

EMBEDDED = EMBEDDED_MODELS_DIR / EMBEDDED_MODEL_NAME
CHECKPOINT = Path("../shared/models/sentiment-en-reviews-v2/checkpoint")


def hf_pipeline(texts: list[str], batch_size: int) -> int:
    """transformers.pipeline on torch, CPU, the same weights, rows in the given (unsorted) order."""
    from transformers import pipeline

    classifier = _hf_classifier(pipeline)
    results = classifier(texts, batch_size=batch_size, truncation=True, max_length=512)
    return len(results)


_classifier = None


def _hf_classifier(pipeline):
    global _classifier
    if _classifier is None:
        _classifier = pipeline("text-classification", model=str(CHECKPOINT), device="cpu")
    return _classifier


def naive_udf(parquet: Path, rows: int) -> int:
    """A per-row DuckDB Python UDF (type='native') calling onnxruntime on one text at a time."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(EMBEDDED / "tokenizer.json"))
    tokenizer.enable_truncation(512)
    session = ort.InferenceSession(str(EMBEDDED / "model.onnx"), providers=["CPUExecutionProvider"])

    def classify(text: str) -> str:
        ids = np.array([tokenizer.encode(text).ids], dtype=np.int64)
        logits = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
        return ("negative", "positive")[int(logits[0].argmax())]

    con = duckdb.connect()
    con.create_function("naive_classify", classify, ["VARCHAR"], "VARCHAR")
    return con.execute(
        "SELECT count(naive_classify(review)) FROM (SELECT review FROM read_parquet(?) LIMIT ?)",
        [str(parquet), rows],
    ).fetchall()[0][0]


def arrow_udf(parquet: Path, rows: int, threads: int | None = None) -> int:
    """Ours: SELECT classify_sentiment(review) FROM the file."""
    con = duckdb.connect()
    sentiment_udf.register(con, threads=threads)
    return con.execute(
        "SELECT count(classify_sentiment(review)) FROM (SELECT review FROM "
        "read_parquet(?) LIMIT ?)",
        [str(parquet), rows],
    ).fetchall()[0][0]


def onnxruntime_only(sequences: list[list[int]], threads: int | None = None) -> int:
    """The ceiling: the runtime's worker pool and session on texts tokenized beforehand (no
    DuckDB, Arrow or tokenizing in the timing)."""
    sentiment_udf.load_model(threads=threads)._score(sequences)
    return len(sequences)


def bulk_score(parquet: Path, rows: int, threads: int | None = None) -> int:
    """Ours: the `sentiment-udf score` library path, file to Parquet."""
    with tempfile.TemporaryDirectory() as scratch:
        subset = Path(scratch) / "in.parquet"
        duckdb.execute(
            f"COPY (SELECT * FROM read_parquet('{parquet}') LIMIT {int(rows)}) TO '{subset}'"
        )
        model = sentiment_udf.load_model(threads=threads)
        result = bulk.score(
            duckdb.connect(),
            file_source(subset),
            model,
            id_column="review_id",
            text_column="review",
            output=Path(scratch) / "out.parquet",
        )
        return result.rows_scored
