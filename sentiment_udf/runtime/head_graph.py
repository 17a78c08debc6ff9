"""A classifier's last layer in its ONNX graph: find the features it reads, expose them as an
output, and replace the layer with a new one (the head `train` fits). Needs the `onnx` package
(the `train` extra); nothing here runs at scoring time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError

FEATURES_OUTPUT = "features"
LOGITS_OUTPUT = "logits"
_LINEAR = {"MatMul", "Gemm", "MatMulInteger"}
_PASS_THROUGH = {"Add", "Mul", "Cast", "Identity", "Reshape", "Squeeze", "Flatten"}


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ModelError(
            "training needs the onnx package: pip install 'sentiment-udf[train]'"
        ) from None
    return onnx


def load_graph(path: Path) -> Any:
    return _onnx().load(str(path))


def feature_tensor(model: Any, path: Path) -> str:
    """The name of the float tensor the last linear layer reads (for a dynamically quantized
    layer, the input of its DynamicQuantizeLinear)."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    constants = {init.name for init in graph.initializer}
    outputs = [o.name for o in graph.output]
    if LOGITS_OUTPUT not in outputs:
        raise ModelError(f'{path}: has no "{LOGITS_OUTPUT}" output to train a head for')
    pending = [LOGITS_OUTPUT]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        node = producers.get(name)
        if node is None or name in seen:
            continue
        seen.add(name)
        if node.op_type in _LINEAR and any(i in constants for i in node.input[1:2]):
            source = node.input[0]
            before = producers.get(source)
            if before is not None and before.op_type == "DynamicQuantizeLinear":
                source = before.input[0]
            return source
        if node.op_type in _PASS_THROUGH:
            pending.extend(i for i in node.input if i not in constants)
    raise ModelError(
        f"{path}: no linear last layer found before its logits (a MatMul or Gemm with fixed "
        "weights): train needs a classifier of that shape"
    )


def with_features(model: Any, features: str) -> bytes:
    """The graph with `features` as its only output."""
    onnx = _onnx()
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    del copy.graph.output[:]
    copy.graph.output.append(
        onnx.helper.make_tensor_value_info(features, onnx.TensorProto.FLOAT, None)
    )
    _prune(copy)
    return bytes(copy.SerializeToString())


def with_head(model: Any, features: str, weights: np.ndarray, bias: np.ndarray) -> bytes:
    """The graph whose `logits` are features @ weights + bias (float32); the old last layer and
    whatever only it used are removed first (a head `train` fitted before included, so a trained
    model can be the base of another)."""
    onnx = _onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(features, onnx.TensorProto.FLOAT, None))
    _prune(copy)
    graph.initializer.extend(
        [
            numpy_helper.from_array(weights.astype(np.float32), "trained_head.weight"),
            numpy_helper.from_array(bias.astype(np.float32), "trained_head.bias"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("MatMul", [features, "trained_head.weight"], ["trained_head.raw"]),
            helper.make_node("Add", ["trained_head.raw", "trained_head.bias"], [LOGITS_OUTPUT]),
        ]
    )
    del graph.output[:]
    graph.output.append(
        helper.make_tensor_value_info(
            LOGITS_OUTPUT, onnx.TensorProto.FLOAT, ["batch", int(weights.shape[1])]
        )
    )
    _prune(copy)
    return bytes(copy.SerializeToString())


def _prune(model: Any) -> None:
    """Drop the nodes, initializers and value infos no output needs (in place)."""
    graph = model.graph
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    kept.reverse()
    del graph.node[:]
    graph.node.extend(kept)
    initializers = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    infos = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(infos)
