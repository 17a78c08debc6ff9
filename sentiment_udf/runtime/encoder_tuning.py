"""Fine-tune a Hugging Face sequence classifier whole (its encoder and a new head) with torch:
batches of similar length, AdamW with warm-up then linear decay, the head at a higher rate, the
state saved every SAVE_EVERY steps (a stopped run resumes where it stopped) and the epoch that
scores best on the validation rows kept. Needs torch and transformers (the export extra)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from ..errors import ModelError

BATCH = 16
SAVE_EVERY = 50
STATE_FILE = "state.safetensors"  # tensors only: nothing of ours is ever unpickled
BEST_WEIGHTS = "best.safetensors"


@dataclass(frozen=True)
class TuningPlan:
    """How to fine-tune: epochs, the encoder's and the new head's learning rates, the seed."""

    epochs: int = 2
    learning_rate: float = 5e-5
    head_rate: float = 5e-4
    seed: int = 0


@dataclass(frozen=True)
class Tuned:
    """The best epoch's checkpoint folder, that epoch, and its validation accuracy."""

    checkpoint: Path
    epoch: int
    validation_accuracy: float


@dataclass(frozen=True)
class Example:
    ids: list[int]
    target: int


def encode(
    tokenizer_file: Path,
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    targets: Sequence[int],
    max_length: int,
) -> list[Example]:
    """Token ids of each text (or text and pair) cut to max_length, with its class."""
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(max_length)
    tokenizer.no_padding()
    inputs: list[Any] = list(texts) if pairs is None else list(zip(texts, pairs))
    done = tokenizer.encode_batch(inputs)
    return [Example(e.ids, int(t)) for e, t in zip(done, targets)]


def tune_encoder(
    base: Path,
    labels: Sequence[str],
    fit: list[Example],
    validation: list[Example],
    state: Path,
    plan: TuningPlan,
    progress: Callable[[int, int], None] | None = None,
) -> Tuned:
    """Fine-tune `base` (a checkpoint folder) on `fit`; the best epoch on `validation` is saved
    as a checkpoint folder under `state`. A state left in `state` by a stopped run is
    continued."""
    torch, auto = _torch()
    from safetensors.torch import load_model, save_model

    torch.manual_seed(plan.seed)
    model = auto.from_pretrained(
        base,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        ignore_mismatched_sizes=True,
        use_safetensors=True,
    )
    prefix = model.base_model_prefix + "."
    named = list(model.named_parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in named if n.startswith(prefix)], "lr": plan.learning_rate},
            {"params": [p for n, p in named if not n.startswith(prefix)], "lr": plan.head_rate},
        ],
        weight_decay=0.01,
    )
    per_epoch = len(_batches(fit, 1, plan.seed))
    total = plan.epochs * per_epoch
    warm = max(1, int(0.06 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: s / warm if s < warm else max(0.0, (total - s) / max(1, total - warm))
    )
    where: dict[str, Any] = {"epoch": 1, "step": 0, "best": -1.0, "best_epoch": 0}
    saved = state / STATE_FILE
    if saved.is_file() and not saved.is_symlink():
        where = _load_state(saved, model, optimizer, schedule)

    def save() -> None:
        _save_state(saved, model, optimizer, schedule, where)

    model.train()
    while where["epoch"] <= plan.epochs:
        batches = _batches(fit, int(where["epoch"]), plan.seed)
        rows_before = np.cumsum([0] + [len(b) for b in batches]) + (where["epoch"] - 1) * len(fit)
        for number in range(int(where["step"]), len(batches)):
            ids, mask, targets = _tensors(torch, batches[number])
            loss = torch.nn.functional.cross_entropy(
                model(input_ids=ids, attention_mask=mask).logits, targets
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            where["step"] = number + 1
            if where["step"] % SAVE_EVERY == 0:
                save()
            if progress is not None:  # rows trained on, of all epochs' rows
                progress(int(rows_before[number + 1]), plan.epochs * len(fit))
        accuracy = _accuracy(torch, model, validation or fit)
        if accuracy > where["best"]:
            where["best"], where["best_epoch"] = accuracy, where["epoch"]
            save_model(model, str(state / BEST_WEIGHTS))
        where = {**where, "epoch": where["epoch"] + 1, "step": 0}
        save()
    load_model(model, str(state / BEST_WEIGHTS))
    checkpoint = state / "checkpoint"
    model.save_pretrained(checkpoint, safe_serialization=True)
    (checkpoint / "tokenizer.json").write_bytes((base / "tokenizer.json").read_bytes())
    return Tuned(checkpoint, int(where["best_epoch"]), float(where["best"]))


def _save_state(path: Path, model: Any, optimizer: Any, schedule: Any, where: dict) -> None:
    """Model and optimizer tensors in one safetensors file, the rest as JSON in its header."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    optimizer_state = optimizer.state_dict()
    for number, values in optimizer_state["state"].items():
        for key, value in values.items():
            tensors[f"optimizer.{number}.{key}"] = _torch_tensor(value)
    header = {
        "where": where,
        "schedule": schedule.state_dict(),
        "param_groups": optimizer_state["param_groups"],
    }
    scratch = path.with_suffix(".partial")
    save_file(tensors, str(scratch), metadata={"state": json.dumps(header)})
    scratch.replace(path)


def _load_state(path: Path, model: Any, optimizer: Any, schedule: Any) -> dict[str, Any]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as opened:
        header = json.loads(opened.metadata()["state"])
    model.load_state_dict(
        {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    )
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, number, key = name.split(".", 2)
            state.setdefault(int(number), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": header["param_groups"]})
    schedule.load_state_dict(header["schedule"])
    return dict(header["where"])


def _torch_tensor(value: Any) -> Any:
    import torch

    return value.detach().contiguous() if torch.is_tensor(value) else torch.tensor(value)


def _torch() -> tuple[Any, Any]:
    try:
        import torch
        from transformers import AutoModelForSequenceClassification
        from transformers.utils import logging as transformers_logging
    except ImportError:
        raise ModelError(
            "--fine-tune needs torch and transformers: pip install --no-deps torch==2.13.0 "
            "--index-url https://download.pytorch.org/whl/cpu, then pip install '.[export]'"
        ) from None
    transformers_logging.set_verbosity_error()  # not its report of the head we replace
    transformers_logging.disable_progress_bar()
    return torch, AutoModelForSequenceClassification


def _batches(examples: list[Example], epoch: int, seed: int) -> list[list[Example]]:
    """Batches of similar length in an order fixed by the epoch (a resume sees the same)."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(len(examples)))
    rng.shuffle(order)
    pool = BATCH * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(examples[i].ids))
        batches += [[examples[i] for i in chunk[k : k + BATCH]] for k in range(0, len(chunk), BATCH)]
    rng.shuffle(batches)
    return batches


def _tensors(torch: Any, batch: list[Example]) -> tuple[Any, Any, Any]:
    width = max(len(e.ids) for e in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, example in enumerate(batch):
        ids[row, : len(example.ids)] = torch.tensor(example.ids)
        mask[row, : len(example.ids)] = 1
    return ids, mask, torch.tensor([e.target for e in batch])


def _accuracy(torch: Any, model: Any, examples: list[Example]) -> float:
    model.eval()
    right = 0
    with torch.no_grad():
        ordered = sorted(examples, key=lambda e: len(e.ids))
        for start in range(0, len(ordered), 64):
            ids, mask, targets = _tensors(torch, ordered[start : start + 64])
            predicted = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
            right += int((predicted == targets).sum())
    model.train()
    return right / len(examples)
