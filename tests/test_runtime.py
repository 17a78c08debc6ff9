"""The model runtime on its own: batching, encoding, loading errors (real onnxruntime, no DuckDB)."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from sentiment_udf import ModelError, SentimentModel, load_model
from sentiment_udf.runtime.batching import pad, plan_batches
from sentiment_udf.runtime.encoding import join_title
from tests.tiny_model import EMBEDDED, build_tiny_model


def test_plan_batches_covers_every_row_once_within_budget():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 300, size=500).tolist()
    batches = plan_batches(lengths, token_budget=1024, max_rows=16)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(500))
    for batch in batches:
        assert len(batch) <= 16
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 1024


def test_pad_right_pads_and_masks():
    ids, mask = pad([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == np.int64 and mask.dtype == np.int64


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        ("Great", "Works well.", "Great. Works well."),
        ("Great!", "Works well.", "Great! Works well."),
        ("Why?", "It broke.", "Why? It broke."),
        (None, "It broke.", "It broke."),
        ("  ", "It broke.", "It broke."),
        ("Title", None, None),
        ("Title", "   ", None),
    ],
)
def test_join_title_follows_the_training_rule(title, text, expected):
    assert join_title(title, text) == expected


def test_truncation_keeps_max_length_tokens_and_matches_full_tokenization(tiny_model):
    model = SentimentModel(tiny_model, max_length=64)
    text = " ".join(f"word{i} excellent" for i in range(5000))
    (ids,) = model.encoder.truncated([text])
    full = model.encoder.tokenizer.encode(text).ids
    assert len(ids) == 64
    assert ids[:-1] == full[:63] and ids[-1] == full[-1]  # [CLS] body... [SEP]


def test_identical_texts_are_scored_once(tiny_model, monkeypatch):
    from sentiment_udf.runtime.result_cache import MEMO

    MEMO.clear()  # answers remembered by other tests would hide the model runs counted here
    model = SentimentModel(tiny_model)
    scored = []
    original = model._run
    monkeypatch.setattr(
        model, "_run", lambda seqs, *rest: scored.append(len(seqs)) or original(seqs, *rest)
    )
    probs = model.predict_proba(["same text"] * 50 + ["other text", None, " "])
    assert sum(scored) == 2
    again = model.predict_proba(["same text", "other text"])  # the in-process memo answers
    assert sum(scored) == 2 and np.array_equal(again, probs[[0, 50]])
    assert np.allclose(probs[:50], probs[0])
    assert np.isnan(probs[51]).all() and np.isnan(probs[52]).all()
    assert np.allclose(probs[:51].sum(axis=1), 1.0)


def test_chunk_mode_is_the_token_weighted_mean_of_windows(tiny_model):
    model = SentimentModel(tiny_model, max_length=32, long_text="chunk")
    text = " ".join(["good"] * 40 + ["bad"] * 25)  # 65 tokens: windows of 30, 30 and 5
    windows = model.encoder.windows([text])[0]
    assert [len(w) for w in windows] == [32, 32, 7]
    # Each window's text scored whole (it fits), by the model without chunking: the expected
    # mean is built from the words, not from the code under test.
    whole = SentimentModel(tiny_model, max_length=32)
    window_texts = [" ".join(["good"] * 30), " ".join(["good"] * 10 + ["bad"] * 20), "bad " * 5]
    per_window = whole.predict_proba(window_texts)
    weights = np.array([32, 32, 7], dtype=float)
    expected = (per_window * weights[:, None]).sum(axis=0) / weights.sum()
    assert np.allclose(model.predict_proba([text])[0], expected)
    truncated = whole.predict_proba([text])[0]
    assert not np.allclose(truncated, expected)


def test_one_model_is_shared_per_process(tiny_model):
    assert load_model(tiny_model) is load_model(str(tiny_model))
    assert load_model(tiny_model) is not load_model(tiny_model, max_length=128)


def test_embedded_model_loads_with_verified_checksums():
    model = load_model()
    assert model.labels == ("negative", "positive")
    assert model.checksums_verified
    assert model.max_length == 512


def _expect_error(model_dir, *fragments, **options):
    with pytest.raises(ModelError) as caught:
        SentimentModel(model_dir, **options)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_folder(tmp_path):
    _expect_error(tmp_path / "nope", "model folder not found", str(tmp_path / "nope"))


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json"])
def test_missing_file(tiny_model, tmp_path, name):
    folder = shutil.copytree(tiny_model, tmp_path / "m")
    (folder / name).unlink()
    _expect_error(folder, name, "file not found")


def test_missing_onnx(tiny_model, tmp_path):
    folder = shutil.copytree(tiny_model, tmp_path / "m")
    (folder / "model.onnx").unlink()
    _expect_error(folder, "no .onnx file")


def test_truncated_onnx(tiny_model, tmp_path):
    folder = shutil.copytree(tiny_model, tmp_path / "m")
    data = (folder / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(data[: len(data) // 3])
    _expect_error(folder, "model.onnx", "not a loadable ONNX model")


def test_garbage_tokenizer(tiny_model, tmp_path):
    folder = shutil.copytree(tiny_model, tmp_path / "m")
    (folder / "tokenizer.json").write_text("{not json")
    _expect_error(folder, "tokenizer.json", "not a tokenizers file")


def test_tokenizer_that_does_not_fit_the_model(tmp_path):
    folder = build_tiny_model(tmp_path / "small_vocab", vocab_rows=1000)
    _expect_error(folder, "tokenizer.json", "does not fit model.onnx", "30521")


def test_wrong_label_count(tmp_path):
    folder = build_tiny_model(tmp_path / "m", config_labels=("neg", "neu", "pos"))
    _expect_error(folder, "config.json", "3 labels", "2 logits")


def test_config_without_labels(tiny_model, tmp_path):
    folder = shutil.copytree(tiny_model, tmp_path / "m")
    (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 512}))
    _expect_error(folder, "config.json", "id2label")


def test_max_length_beyond_positions(tiny_model):
    _expect_error(tiny_model, "max_length=1024", "max_position_embeddings", max_length=1024)


def test_checksum_mismatch_of_a_shipped_model(tmp_path):
    folder = tmp_path / "copy"
    folder.mkdir()
    for path in EMBEDDED.iterdir():
        if path.name == "model.onnx":
            (folder / path.name).symlink_to(path)
        else:
            shutil.copy(path, folder / path.name)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "negative", "1": "positive "}
    (folder / "config.json").write_text(json.dumps(config))
    _expect_error(folder, "config.json", "checksum does not match")


def test_runtime_does_not_import_duckdb(tiny_model):
    import subprocess

    code = (
        "import sys, sentiment_udf.runtime.model as r; "
        f"r.SentimentModel({str(tiny_model)!r}); assert 'duckdb' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_layers_import_only_downwards():
    """runtime/ knows no engine or CLI; engines/ know no CLI (the folders are the layers)."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "sentiment_udf"
    forbidden = {
        "runtime": ("engines", "cli", "analysis"),
        "engines": ("cli",),
        "analysis": ("engines", "cli"),
    }
    for layer, above in forbidden.items():
        for module in (package / layer).glob("*.py"):
            source = module.read_text()
            imports = re.findall(r"from \.\.(\w+)", source) + re.findall(
                r"(?:from|import)\s+sentiment_udf\.(\w+)", source
            )
            assert not set(imports) & set(above), (module.name, imports)


# --- issue 18, hostile 11: models that load but cannot score -----------------------------------


def test_a_model_whose_output_width_follows_the_input_length_is_refused_at_load(tmp_path):
    """Three labels and a 3-token probe once passed; every query then failed in numpy."""
    folder = build_tiny_model(
        tmp_path / "m", labels=("negative", "neutral", "positive"), broken="per_token"
    )
    _expect_error(folder, "model.onnx", "logits")


def test_a_model_with_nan_logits_is_refused_at_load(tmp_path):
    folder = build_tiny_model(tmp_path / "m", broken="nan")
    _expect_error(folder, "model.onnx", "non-finite")


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"id2label": {"+1": "positive", "0": "negative"}}, "id2label"),
        ({"id2label": {"01": "positive", "0": "negative"}}, "id2label"),
        ({"id2label": {"0": 7, "1": "positive"}}, "id2label"),
        ({"max_position_embeddings": "512"}, "max_position_embeddings"),
        ({"max_position_embeddings": True}, "max_position_embeddings"),
    ],
)
def test_malformed_config_values_are_model_errors(tiny_model, tmp_path, change, fragment):
    folder = shutil.copytree(tiny_model, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **change}))
    _expect_error(folder, "config.json", fragment)


@pytest.mark.parametrize(
    "manifest, fragment",
    [
        ({"../config.json": {"sha256": "0" * 64, "bytes": 1}}, "not a file of the model folder"),
        ({"/etc/passwd": {"sha256": "0" * 64, "bytes": 1}}, "not a file of the model folder"),
        ({"config.json": "abc"}, "sha256"),
        ({"config.json": {"sha256": "0" * 64}}, "sha256"),
        ([1, 2], "JSON object"),
    ],
)
def test_a_malformed_manifest_is_a_model_error_and_is_read_inside_the_folder(
    tiny_model, tmp_path, manifest, fragment
):
    folder = shutil.copytree(tiny_model, tmp_path / "m")
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))
    _expect_error(folder, fragment)


@pytest.mark.parametrize("model", [3, 2.5, b"sentiment-en-reviews-v2", ["fast"]])
def test_a_model_of_the_wrong_type_is_one_type_error_naming_it(model):
    for make in (load_model, SentimentModel):
        with pytest.raises(TypeError, match="model must be a name or a folder"):
            make(model)


def test_texts_may_come_as_any_iterable_but_not_a_non_iterable(tiny_model, no_memo):
    """A generator failed with "object of type 'generator' has no len()" after its items were
    checked (and consumed); a number with "'int' object is not iterable"."""
    model = SentimentModel(tiny_model)
    texts = ["good", None, "awful"]
    from_generator = model.predict_proba(t for t in texts)
    from_list = model.predict_proba(texts)
    assert np.array_equal(from_generator, from_list, equal_nan=True)
    assert no_memo() >= 2  # the first side ran the model, not only the memo
    assert model.predict(iter(texts)) == model.predict(texts)
    for wrong in (3, None):
        with pytest.raises(TypeError, match="take a list of texts, not"):
            model.predict_proba(wrong)
