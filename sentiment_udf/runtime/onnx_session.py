"""The onnxruntime side of a model: opening its session (one core per run, the fusions that pay),
checking its inputs and output, and turning logits into probabilities."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..errors import ModelError

KNOWN_INPUTS = {"input_ids", "attention_mask", "token_type_ids"}


# onnxruntime's fused SkipLayerNormalization kernel runs about 4x slower on CPU than the Add and
# LayerNormalization it replaces (1.9 of 11 ms per review here; BENCHMARKS.md), so keep them apart.
DISABLED_FUSIONS = ["SkipLayerNormFusion"]


def session_options() -> ort.SessionOptions:
    """Each run on one core: parallelism comes from running several texts at once."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def open_session(path: Path) -> ort.InferenceSession:
    """One session, run from several worker threads at once, each run on one core."""
    try:
        return ort.InferenceSession(
            str(path),
            session_options(),
            providers=["CPUExecutionProvider"],
            disabled_optimizers=DISABLED_FUSIONS,
        )
    except Exception as exc:
        reason = str(exc).splitlines()[0][:300]
        raise ModelError(f"{path}: not a loadable ONNX model ({reason})") from None


_PARENTS_SESSIONS: list[ort.InferenceSession] = []  # in a forked child: never run, never freed


class ForkSafeSession:
    """One onnxruntime session shared by threads, reopened on first use in a forked child (a
    session forked in the middle of a run may hold its internal locks forever, so the parent's
    is kept unfreed there: its destructor could wait on them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._session = open_session(path)
        self._stale = False
        self._lock = threading.Lock()

    def get(self) -> ort.InferenceSession:
        if self._stale:
            with self._lock:
                if self._stale:
                    _PARENTS_SESSIONS.append(self._session)
                    self._session = open_session(self.path)
                    self._stale = False
        return self._session

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._stale = True


def check_inputs(session: ort.InferenceSession, path: Path) -> list[str]:
    """The session's input names, which must be input_ids and optionally the other two."""
    names = [i.name for i in session.get_inputs()]
    if "input_ids" not in names or not set(names) <= KNOWN_INPUTS:
        raise ModelError(
            f"{path}: inputs are {sorted(names)}; expected input_ids, "
            "attention_mask (and optionally token_type_ids)"
        )
    return names


def check_signature(session: ort.InferenceSession, path: Path) -> str:
    """A classifier's output name, after checking its inputs and its [batch, labels] shape."""
    check_inputs(session, path)
    outputs = session.get_outputs()
    by_name = {o.name: o for o in outputs}
    output = by_name.get("logits", outputs[0])
    if len(output.shape) != 2:
        raise ModelError(
            f"{path}: output {output.name!r} has shape {output.shape}; "
            "expected [batch, labels] logits"
        )
    return output.name


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
