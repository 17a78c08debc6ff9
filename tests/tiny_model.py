"""Build a tiny but real ONNX sequence classifier (mean of token embeddings, then a linear layer)
in the Hugging Face folder layout, reusing the embedded model's tokenizer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sentiment_udf.runtime.model_files import EMBEDDED_MODEL_NAME, EMBEDDED_MODELS_DIR

EMBEDDED = EMBEDDED_MODELS_DIR / EMBEDDED_MODEL_NAME


def build_tiny_model(
    folder: Path,
    labels: tuple[str, ...] = ("negative", "positive"),
    vocab_rows: int = 30522,
    config_labels: tuple[str, ...] | None = None,
    seed: int = 0,
    broken: str | None = None,
) -> Path:
    """Write config.json, tokenizer.json and model.onnx to `folder`; return it. `broken`: a model
    that loads but cannot score: "per_token" (one logit per token, so the output's width is
    the input's length) or "nan" (NaN logits)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    dim = 8
    embeddings = rng.normal(size=(vocab_rows, dim)).astype(np.float32)
    weights = rng.normal(size=(dim, len(labels))).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["embeddings", "input_ids"], ["tokens"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis_last"], ["mask_3d"]),
        helper.make_node("Mul", ["tokens", "mask_3d"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis_seq"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask_f", "axis_seq"], ["count"], keepdims=1),
        helper.make_node("Div", ["summed", "count"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "weights"], ["raw"]),
    ]
    if broken == "per_token":
        nodes[-1] = helper.make_node("ReduceSum", ["masked", "axis_last"], ["logits"], keepdims=0)
    elif broken == "nan":
        nodes.append(helper.make_node("Mul", ["raw", "nan"], ["logits"]))
    else:
        nodes.append(helper.make_node("Identity", ["raw"], ["logits"]))
    graph = helper.make_graph(
        nodes,
        "tiny_classifier",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(labels)])],
        initializer=[
            numpy_helper.from_array(embeddings, "embeddings"),
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis_last"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis_seq"),
        ]
        + (
            [numpy_helper.from_array(np.array([np.nan], dtype=np.float32), "nan")]
            if broken == "nan"
            else []
        ),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, folder / "model.onnx")
    names = config_labels or labels
    config = {
        "id2label": {str(i): name for i, name in enumerate(names)},
        "max_position_embeddings": 512,
    }
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copy(EMBEDDED / "tokenizer.json", folder / "tokenizer.json")
    return folder


def build_tiny_checkpoint(folder: Path, layers: int = 1) -> Path:
    """A tiny real Hugging Face checkpoint (DistilBERT, width 16, random weights, safetensors)
    with the embedded tokenizer: what `models export` and `train --fine-tune` take. Needs torch
    and transformers (the export extra)."""
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    torch.manual_seed(0)
    config = DistilBertConfig(
        vocab_size=30522, dim=16, hidden_dim=32, n_layers=layers, n_heads=2,
        max_position_embeddings=512, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )  # fmt: skip
    DistilBertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    shutil.copyfile(EMBEDDED / "tokenizer.json", folder / "tokenizer.json")
    return folder
