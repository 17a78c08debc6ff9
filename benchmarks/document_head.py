"""Does a head on the encoder's hidden state beat the document label's two thresholds?

python benchmarks/document_head.py ../shared/data/reviews_stars_dev.csv

Reads the embedded default model's hidden state for each review (title and text, first 511
tokens and the last): the pre-classifier activation, and the last layer's mean over tokens;
fits a 3-class logistic head (negative 1-2 stars, middle 3, positive 4-5; L2; 3-star reviews
weighted twice, so each star weighs the same) and two offsets on the middle and positive logits
chosen for the star-balanced accuracy. 5-fold cross-validation by review_id hash, as
document_label.py; the offsets are tuned inside each training part (4-fold, nested), never on
the fold measured. Needs `onnx` and `torch` (the test extras).
"""

from __future__ import annotations

import json
import sys
import time

import duckdb
import numpy as np
import onnx
import onnxruntime as ort
import torch

sys.path.insert(0, ".")
from benchmarks.document_label import fold  # noqa: E402
from sentiment_udf import load_model  # noqa: E402

LAYERS = {
    "pre_classifier": "/Relu_output_0",
    "last_layer_mean": "/distilbert/transformer/layer.5/output_layer_norm/LayerNormalization_output_0",
}
L2 = (0.003, 0.01, 0.03)
OFFSETS = np.arange(-1.5, 3.0, 0.1)


def hidden_states(model, texts: list[str]) -> dict[str, np.ndarray]:
    graph = onnx.load(str(model.files.onnx))
    for name in LAYERS.values():
        graph.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    ids = [e.ids for e in model.encoder.tokenizer.encode_batch(texts)]
    ids = [e if len(e) <= 512 else e[:511] + [e[-1]] for e in ids]
    out: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(ids), 16):
        batch = ids[start : start + 16]
        width = max(map(len, batch))
        input_ids = np.zeros((len(batch), width), np.int64)
        for row, seq in enumerate(batch):
            input_ids[row, : len(seq)] = seq
        mask = (np.arange(width)[None, :] < np.array([len(s) for s in batch])[:, None]).astype(np.int64)
        logits, relu, last = session.run(None, {"input_ids": input_ids, "attention_mask": mask})
        pooled = (last * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        for key, value in (("margin", logits[:, 1:] - logits[:, :1]), ("pre_classifier", relu),
                           ("last_layer_mean", pooled)):
            out.setdefault(key, []).append(value)
    return {k: np.vstack(v) for k, v in out.items()}


def fit_head(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mean, scale = x.mean(0), x.std(0) + 1e-6
    xt = torch.tensor(((x - mean) / scale).astype(np.float64))
    yt = torch.tensor(y)
    weight = torch.tensor(np.where(y == 1, 2.0, 1.0))
    w = torch.zeros(x.shape[1], 3, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        ce = torch.nn.functional.cross_entropy(xt @ w + b, yt, reduction="none")
        value = (ce * weight).sum() / weight.sum() + l2 * (w**2).sum()
        value.backward()
        return value

    opt.step(loss)
    return mean, scale, w.detach().numpy(), b.detach().numpy()


def logits(head, x: np.ndarray) -> np.ndarray:
    mean, scale, w, b = head
    return ((x - mean) / scale) @ w + b


def classes(stars: np.ndarray) -> np.ndarray:
    """0 negative (1-2 stars), 1 middle (3), 2 positive (4-5)."""
    return np.where(stars <= 2, 0, np.where(stars == 3, 1, 2))


def per_star(pred: np.ndarray, stars: np.ndarray) -> list[float]:
    want = classes(stars)
    return [float(np.mean(pred[stars == s] == want[stars == s])) for s in range(1, 6)]


def star_accuracy(pred: np.ndarray, stars: np.ndarray) -> float:
    return float(np.mean(per_star(pred, stars)))


def tune_offsets(scores: np.ndarray, stars: np.ndarray) -> tuple[float, float]:
    best = max(
        (star_accuracy((scores + [0, a, c]).argmax(1), stars), a, c) for a in OFFSETS for c in OFFSETS
    )
    return best[1], best[2]


def cross_validated(x: np.ndarray, stars: np.ndarray, folds: np.ndarray, l2: float) -> np.ndarray:
    y = classes(stars)
    pred = np.zeros(len(y), int)
    for k in range(5):
        train = np.flatnonzero(folds != k)
        inner = np.zeros((len(train), 3))
        for j in range(5):
            if j == k:
                continue
            part = folds[train] == j
            inner[part] = logits(fit_head(x[train][~part], y[train][~part], l2), x[train][part])
        a, c = tune_offsets(inner, stars[train])
        test = folds == k
        pred[test] = (logits(fit_head(x[train], y[train], l2), x[test]) + [0, a, c]).argmax(1)
    return pred


def main(source: str) -> None:
    rows = duckdb.sql(f"SELECT * FROM read_csv('{source}')").to_arrow_table().to_pylist()
    model = load_model()
    texts = model.inputs([r["title"] for r in rows], [r["text"] for r in rows])
    started = time.perf_counter()
    states = hidden_states(model, [t or "" for t in texts])
    stars = np.array([r["stars"] for r in rows])
    folds = np.array([fold(r["review_id"]) for r in rows])
    report: dict = {"reviews": len(rows), "hidden_state_seconds": round(time.perf_counter() - started)}
    for name in ("margin", "pre_classifier", "last_layer_mean"):
        x = states["margin"] if name == "margin" else np.hstack([states[name], states["margin"]])
        for l2 in L2:
            pred = cross_validated(x, stars, folds, l2)
            report[f"{name} l2={l2}"] = {
                "accuracy": round(star_accuracy(pred, stars), 4),
                "per_star": [round(a, 3) for a in per_star(pred, stars)],
            }
            print(name, l2, report[f"{name} l2={l2}"], flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
