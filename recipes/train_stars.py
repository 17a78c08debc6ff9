#!/usr/bin/env python3
"""The star-rating model behind sentiment_stars and sentiment_overall: sentiment-en-stars-v1.

usage: train_stars.py CHECKPOINT_DIR DATA_DIR WORK_DIR [--epochs 3] [--lr 5e-5] [--max-length 256]
       then: train_stars.py CHECKPOINT_DIR DATA_DIR WORK_DIR --finish OUT_CHECKPOINT
       then: sentiment-udf models export OUT_CHECKPOINT MODEL_DIR --int8

CHECKPOINT_DIR is the default review model's release checkpoint
(../shared/models/sentiment-en-reviews-v2/checkpoint); DATA_DIR is ../shared/data.
Rows: the English `marc` rows of reviews_multilingual.parquet, split `train` (the corpus's own
train split; its dev and test texts were removed from the file). Texts whose md5 is 0 mod 10 are
kept aside to pick the epoch; the `holdout` rows and reviews_stars_dev.csv are never read here.
Five classes (1-5 stars), a new head on the review model's encoder, full fine-tune, AdamW,
linear warm-up and decay, length-sorted batches of 16. A checkpoint (model, optimizer, schedule,
position) every 100 steps in WORK_DIR/state.pt: run the same command again to resume.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import DistilBertForSequenceClassification

LABELS = ["1", "2", "3", "4", "5"]
BATCH = 16
SAVE_EVERY = 100
SEED = 0

ap = argparse.ArgumentParser()
ap.add_argument("checkpoint", type=Path)
ap.add_argument("data", type=Path)
ap.add_argument("work", type=Path)
ap.add_argument("--epochs", type=int, default=3)
ap.add_argument("--lr", type=float, default=5e-5)
ap.add_argument("--head-lr", type=float, default=5e-4)
ap.add_argument("--max-length", type=int, default=256)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--limit", type=int, default=0, help="first N rows only (smoke runs)")
ap.add_argument("--finish", type=Path, help="write the best epoch's checkpoint here and stop")
args = ap.parse_args()
torch.set_num_threads(args.threads)
args.work.mkdir(parents=True, exist_ok=True)
LOG = args.work / "train.log"


def say(text: str) -> None:
    print(text, flush=True)
    with LOG.open("a", encoding="utf-8") as log:
        log.write(text + "\n")


def held(text: str) -> bool:
    return int(hashlib.md5(text.encode()).hexdigest(), 16) % 10 == 0


rows = duckdb.sql(
    f"SELECT text, stars FROM read_parquet('{args.data / 'reviews_multilingual.parquet'}') "
    "WHERE lang = 'en' AND source = 'marc' AND split = 'train' AND stars IS NOT NULL "
    "AND trim(text) <> '' ORDER BY text"
).fetchall()
if args.limit:
    rows = rows[: args.limit]
tok = Tokenizer.from_file(str(args.checkpoint / "tokenizer.json"))
tok.enable_truncation(args.max_length)


def encode(part: list[tuple[str, int]]) -> list[tuple[list[int], int]]:
    done = tok.encode_batch([t for t, _ in part])
    return [(e.ids, s - 1) for e, (_, s) in zip(done, part)]


train = encode([r for r in rows if not held(r[0])])
val = encode([r for r in rows if held(r[0])])


def make_model() -> DistilBertForSequenceClassification:
    base = DistilBertForSequenceClassification.from_pretrained(args.checkpoint)
    cfg = base.config
    cfg.id2label = dict(enumerate(LABELS))
    cfg.label2id = {name: i for i, name in enumerate(LABELS)}
    cfg.num_labels = len(LABELS)
    model = DistilBertForSequenceClassification(cfg)
    state = {k: v for k, v in base.state_dict().items() if k.startswith("distilbert.")}
    model.load_state_dict(state, strict=False)
    return model


def batch_order(epoch: int) -> list[list[int]]:
    """Batches of similar length (little padding), in an order fixed by the epoch: resumable."""
    rng = random.Random(SEED * 1000 + epoch)
    idx = list(range(len(train)))
    rng.shuffle(idx)
    pools = [sorted(idx[i : i + BATCH * 50], key=lambda j: len(train[j][0]))
             for i in range(0, len(idx), BATCH * 50)]
    batches = [pool[i : i + BATCH] for pool in pools for i in range(0, len(pool), BATCH)]
    rng.shuffle(batches)
    return batches


def tensors(items: list[tuple[list[int], int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = max(len(ids) for ids, _ in items)
    ids = torch.zeros((len(items), n), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for k, (seq, _) in enumerate(items):
        ids[k, : len(seq)] = torch.tensor(seq)
        mask[k, : len(seq)] = 1
    return ids, mask, torch.tensor([y for _, y in items])


def evaluate(model: DistilBertForSequenceClassification) -> dict[str, float]:
    model.eval()
    order = sorted(range(len(val)), key=lambda j: len(val[j][0]))
    probs = np.zeros((len(val), len(LABELS)))
    with torch.no_grad():
        for i in range(0, len(order), 64):
            chunk = order[i : i + 64]
            ids, mask, _ = tensors([val[j] for j in chunk])
            probs[chunk] = torch.softmax(model(input_ids=ids, attention_mask=mask).logits, -1).numpy()
    model.train()
    stars = np.array([y for _, y in val]) + 1
    grouped = np.stack([probs[:, :2].sum(1), probs[:, 2], probs[:, 3:].sum(1)], 1).argmax(1)
    want = np.where(stars <= 2, 0, np.where(stars == 3, 1, 2))
    per_star = [float(np.mean(grouped[stars == s] == want[stars == s])) for s in range(1, 6)]
    expected = probs @ np.arange(1, 6)
    return {
        "three_class": round(float(np.mean(per_star)), 4),
        "star_accuracy": round(float(np.mean(probs.argmax(1) + 1 == stars)), 4),
        "mae_expected": round(float(np.mean(np.abs(expected - stars))), 4),
    }


model = make_model()
steps_per_epoch = len(batch_order(1))
total = args.epochs * steps_per_epoch
enc_params = [p for n, p in model.named_parameters() if n.startswith("distilbert.")]
head_params = [p for n, p in model.named_parameters() if not n.startswith("distilbert.")]
opt = torch.optim.AdamW(
    [{"params": enc_params, "lr": args.lr}, {"params": head_params, "lr": args.head_lr}],
    weight_decay=0.01,
)
warm = max(1, int(0.06 * total))
sched = torch.optim.lr_scheduler.LambdaLR(
    opt, lambda s: s / warm if s < warm else max(0.0, (total - s) / (total - warm))
)
state_path = args.work / "state.pt"
history: list[dict] = []
epoch, step = 1, 0
if state_path.exists():
    state = torch.load(state_path, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    epoch, step, history = state["epoch"], state["step"], state["history"]
    say(f"resumed at epoch {epoch} step {step}")

if args.finish:
    best = max(history, key=lambda h: h["three_class"])
    model.load_state_dict(torch.load(args.work / f"epoch-{best['epoch']}.pt", weights_only=True))
    model.save_pretrained(args.finish)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (args.checkpoint / name).exists():
            (args.finish / name).write_bytes((args.checkpoint / name).read_bytes())
    (args.finish / "training.json").write_text(json.dumps(
        {"best": best, "history": history, "train_rows": len(train), "validation_rows": len(val),
         "epochs": args.epochs, "lr": args.lr, "head_lr": args.head_lr,
         "max_length": args.max_length, "batch": BATCH}, indent=2))
    say(f"finished: epoch {best['epoch']} {best} -> {args.finish}")
    sys.exit(0)


def save(epoch: int, step: int) -> None:
    tmp = state_path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "epoch": epoch, "step": step, "history": history}, tmp)
    tmp.replace(state_path)


say(f"train {len(train)} validation {len(val)} steps/epoch {steps_per_epoch} epochs {args.epochs}")
model.train()
t0 = time.time()
seen = 0
while epoch <= args.epochs:
    order = batch_order(epoch)
    for b in range(step, len(order)):
        ids, mask, y = tensors([train[j] for j in order[b]])
        loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        seen += len(y)
        if (b + 1) % SAVE_EVERY == 0:
            save(epoch, b + 1)
            say(f"epoch {epoch} step {b + 1}/{len(order)} loss {loss.item():.3f} "
                f"{seen / (time.time() - t0):.1f} rows/s")
    figures = {"epoch": epoch, **evaluate(model), "seconds": round(time.time() - t0)}
    history.append(figures)
    torch.save(model.state_dict(), args.work / f"epoch-{epoch}.pt")
    say(f"validation {figures}")
    epoch, step = epoch + 1, 0
    save(epoch, 0)
say("done")
