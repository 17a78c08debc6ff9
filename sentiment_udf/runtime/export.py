"""Hugging Face PyTorch checkpoint to an ONNX model folder (the `export` extra: torch, transformers).

The recipe that made the embedded model: export with eager attention, fuse with onnxruntime's
transformer optimizer (Attention, EmbedLayerNormalization, BiasGelu; not SkipLayerNormalization,
whose CPU kernel is slower than the Add and LayerNormalization it would replace), then, with
int8=True, dynamic int8 quantization with per-channel weights.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

from ..errors import ModelError


def export_checkpoint(checkpoint: Path, out: Path, int8: bool = False) -> Path:
    """Write model.onnx, config.json and tokenizer.json for `checkpoint` into `out`."""
    try:
        import torch
        from transformers import (
            AutoModelForSequenceClassification,
            AutoModelForTokenClassification,
        )
    except ImportError:
        raise ModelError(
            "export needs torch and transformers: pip install 'sentiment-udf[export]'"
        ) from None
    for name in ("config.json", "tokenizer.json"):
        if not (checkpoint / name).is_file():
            raise ModelError(
                f"{checkpoint / name}: file not found (a checkpoint folder needs "
                "config.json, tokenizer.json and the weights)"
            )
    if not any(checkpoint.glob("*.safetensors")):
        raise ModelError(
            f"{checkpoint}: no .safetensors weights; pickled weights (.bin, .pt) are refused, "
            "since unpickling can run code (convert them to safetensors where you trust them)"
        )
    settings = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    tagger = any(a.endswith("ForTokenClassification") for a in settings.get("architectures", []))
    # A token tagger (the opinion-target extractor) has one row of logits per token.
    auto = AutoModelForTokenClassification if tagger else AutoModelForSequenceClassification
    model = auto.from_pretrained(checkpoint, attn_implementation="eager", use_safetensors=True)
    model.eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    with tempfile.TemporaryDirectory() as scratch:
        traced = Path(scratch) / "traced.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about shapes we mark dynamic
            torch.onnx.export(
                model,
                (ids, torch.ones_like(ids)),
                str(traced),
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "logits": axes if tagger else {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        fused = Path(scratch) / "fused.onnx"
        _fuse(traced, fused, settings)
        if int8:
            _quantize(fused, out / "model.onnx")
        else:
            shutil.copyfile(fused, out / "model.onnx")
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(checkpoint / name, out / name)
    return out


def _fuse(source: Path, target: Path, config: dict) -> None:
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    heads = config.get("n_heads") or config.get("num_attention_heads") or 0
    hidden = config.get("dim") or config.get("hidden_size") or 0
    fused = optimizer.optimize_model(
        str(source),
        model_type="bert",
        num_heads=heads,
        hidden_size=hidden,
        opt_level=0,
        optimization_options=options,
    )
    fused.save_model_to_file(str(target))


def _quantize(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # not its advice to pre-process: the graph is fused already
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
