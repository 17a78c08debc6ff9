"""The machine's matrix-multiply peak as onnxruntime reaches it, and the model's FLOPs per token."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def matmul_peak(
    int8: bool, threads: int, m: int = 1024, k: int = 1024, n: int = 1024, seconds: float = 3.0
) -> float:
    """Operations per second of one large MatMul (fp32) or MatMulInteger (u8 x s8) in onnxruntime."""
    rng = np.random.default_rng(0)
    if int8:
        weights = numpy_helper.from_array(rng.integers(-127, 127, (k, n), dtype=np.int8), "B")
        node = helper.make_node("MatMulInteger", ["A", "B"], ["C"])
        a_type, c_type = TensorProto.UINT8, TensorProto.INT32
        feed = {"A": rng.integers(0, 255, (m, k), dtype=np.uint8)}
    else:
        weights = numpy_helper.from_array(rng.normal(size=(k, n)).astype(np.float32), "B")
        node = helper.make_node("MatMul", ["A", "B"], ["C"])
        a_type, c_type = TensorProto.FLOAT, TensorProto.FLOAT
        feed = {"A": rng.normal(size=(m, k)).astype(np.float32)}
    graph = helper.make_graph(
        [node],
        "peak",
        [helper.make_tensor_value_info("A", a_type, [m, k])],
        [helper.make_tensor_value_info("C", c_type, [m, n])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    session.run(None, feed)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, feed)
        runs += 1
    return 2.0 * m * k * n * runs / (time.perf_counter() - started)


def flops_per_token(
    onnx_path: Path, hidden: int = 384, layers: int = 6, attention_span: float = 100.0
) -> float:
    """Multiply-adds x 2 per token, from the graph's weight matrices (MatMul, MatMulInteger,
    Gemm, Attention, QAttention), plus attention's scores and weighted sum over
    `attention_span` tokens (the token-weighted mean length)."""
    model = onnx.load(str(onnx_path))
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    weight_ops = {"MatMul": 1, "MatMulInteger": 1, "Gemm": 1, "Attention": 1, "QAttention": 1}
    total = 0.0
    for node in model.graph.node:
        if node.op_type in weight_ops:
            shape = shapes.get(node.input[weight_ops[node.op_type]])
            if shape is not None and len(shape) == 2:
                total += 2.0 * shape[0] * shape[1]
    return total + layers * 2 * 2 * attention_span * hidden
