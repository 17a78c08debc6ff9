"""What a classifier's last layer reads, for each text (or text pair): the frozen features a
trained head is fitted on. The same tokens, one text per run, as scoring uses."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort

from .activity import TEXTS_ANSWERED
from .batching import pad
from .cancellation import check_cancelled
from .encoding import TextEncoder
from .head_graph import feature_tensor, load_graph, with_features
from .model_files import ModelFiles
from .onnx_session import DISABLED_FUSIONS, session_options


class FeatureReader:
    """The base model's features: `read(texts)` or `read(texts, seconds)` for a pair model."""

    def __init__(self, files: ModelFiles, max_length: int, threads: int | None = None) -> None:
        self.files = files
        self.graph = load_graph(files.onnx)
        self.tensor = feature_tensor(self.graph, files.onnx)
        self.encoder = TextEncoder(files.tokenizer, max_length)
        self.session = ort.InferenceSession(
            with_features(self.graph, self.tensor),
            session_options(),
            providers=["CPUExecutionProvider"],
            disabled_optimizers=DISABLED_FUSIONS,
        )
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.threads = threads or os.cpu_count() or 1

    def read(self, texts: Sequence[str], seconds: Sequence[str] | None = None) -> np.ndarray:
        """Features, shape (len(texts), width), float32."""
        starts: list[int] | None = None
        if seconds is None:
            sequences = self.encoder.truncated(texts)
        else:
            sequences, starts = self.encoder.pairs(texts, seconds)
        with ThreadPoolExecutor(self.threads) as pool:
            rows = list(
                pool.map(
                    lambda i: self._run(sequences[i], None if starts is None else starts[i]),
                    range(len(sequences)),
                )
            )
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)

    def _run(self, sequence: list[int], second_start: int | None) -> np.ndarray:
        check_cancelled()
        ids, mask = pad([sequence])
        types = np.zeros_like(ids)
        if second_start is not None:
            types[0, second_start:] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        (features,) = self.session.run(None, {n: feed[n] for n in self.inputs})
        TEXTS_ANSWERED.add(1)  # the progress line moves within a chunk
        return np.asarray(features).reshape(-1)
