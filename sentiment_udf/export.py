"""Hugging Face PyTorch checkpoint to ONNX (the `export` extra: torch and transformers)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from .errors import ModelError


def export_checkpoint(checkpoint: Path, out: Path, int8: bool = False) -> Path:
    """Write model.onnx, config.json and tokenizer.json for `checkpoint` into `out`.

    `int8=True` applies dynamic int8 quantization: faster, but a text's score then depends on
    the other texts in its batch.
    """
    try:
        import torch
        from transformers import AutoModelForSequenceClassification
    except ImportError:
        raise ModelError(
            "export needs torch and transformers: "
            "pip install 'sentiment-udf[export]' 'torch==2.13.0'"
        ) from None
    for name in ("config.json", "tokenizer.json"):
        if not (checkpoint / name).is_file():
            raise ModelError(
                f"{checkpoint / name}: file not found (a checkpoint folder needs "
                "config.json, tokenizer.json and the weights)"
            )
    model = AutoModelForSequenceClassification.from_pretrained(
        checkpoint, attn_implementation="eager"
    )
    model.eval()
    ids = torch.ones((2, 16), dtype=torch.long)
    fp32 = out / ("model_fp32.onnx" if int8 else "model.onnx")
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about shapes we mark dynamic
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids)),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(out / "model.onnx"), weight_type=QuantType.QInt8)
        fp32.unlink()
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(checkpoint / name, out / name)
    return out
