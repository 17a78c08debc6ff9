#!/usr/bin/env python3
"""Retrain the aspect-polarity model (negative / neutral / positive of a (sentence, aspect) pair)
from the default review model, on CPU, with more data than v1: sentiment-en-aspects-v2's recipe.

usage: train_aspects.py CHECKPOINT_DIR DATA_DIR OUT_DIR [--extra SOURCES] [--epochs 4] [--lr 8e-5]

Data (DATA_DIR is ../shared/data): the `train` rows of aspects_dev.csv (SemEval-2014) and, with
--extra, the named sources of aspects_extra.csv (sentences that are also SemEval-2014 ones are
dropped; SemEval-2015 and 2016 repeat each other: deduped on (sentence, aspect, offsets)).
Unlike v1 (whose epoch was picked on the holdout rows), the epoch is picked on training sentences
whose text hashes to 0 mod 10, so the holdout rows stay unseen for the figures.
Input "[CLS] sentence [SEP] aspect [SEP]"; the encoder starts from the review model, the head is
new and learns at a higher rate (head lr 5e-4).
"""

import argparse
import csv
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import DistilBertForSequenceClassification

ap = argparse.ArgumentParser()
ap.add_argument("checkpoint", type=Path)
ap.add_argument("data", type=Path)
ap.add_argument("out", type=Path)
ap.add_argument("--extra", default="")
ap.add_argument("--epochs", type=int, default=4)
ap.add_argument("--lr", type=float, default=8e-5)
ap.add_argument("--head-lr", type=float, default=5e-4)
ap.add_argument("--limit", type=int, default=0, help="first N pairs only (smoke runs)")
ap.add_argument("--threads", type=int, default=2, help="torch threads (one per free core)")
args = ap.parse_args()
ck, out = args.checkpoint, args.out
epochs, lr, HEAD_LR = args.epochs, args.lr, args.head_lr
LABELS = ["negative", "neutral", "positive"]
torch.manual_seed(0)
random.seed(0)
torch.set_num_threads(args.threads)
tok = Tokenizer.from_file(str(ck / "tokenizer.json"))
tok.enable_truncation(128, strategy="only_first")

with open(args.data / "aspects_dev.csv", encoding="utf-8") as f:
    rows = [r for r in csv.DictReader(f) if r["split"] == "train"]
semeval14 = {r["sentence"] for r in rows}
extra = [s for s in args.extra.split(",") if s]
seen = set()
with open(args.data / "aspects_extra.csv", encoding="utf-8") as f:
    for r in csv.DictReader(f):
        key = (r["sentence"], r["aspect"], r["start"], r["end"])
        if r["source"] in extra and r["sentence"] not in semeval14 and key not in seen:
            seen.add(key)
            rows.append(r)
if args.limit:
    rows = rows[: args.limit]


def held(sentence):
    return int(hashlib.md5(sentence.encode()).hexdigest(), 16) % 10 == 0


def enc(rs):
    es = tok.encode_batch([(r["sentence"], r["aspect"]) for r in rs])
    return [(e.ids, LABELS.index(r["polarity"])) for e, r in zip(es, rs)]


train = enc([r for r in rows if not held(r["sentence"])])
val = enc([r for r in rows if held(r["sentence"])]) or train[:2]
print(f"train {len(train)} val {len(val)} extra {extra}", flush=True)

base = DistilBertForSequenceClassification.from_pretrained(ck)
cfg = base.config
cfg.id2label = dict(enumerate(LABELS))
cfg.label2id = {name: i for i, name in enumerate(LABELS)}
cfg.input_pair = ["sentence", "aspect"]  # read by sentiment-udf: a pair classifier
cfg.num_labels = 3
model = DistilBertForSequenceClassification(cfg)
# Encoder from the review model; a fresh head (the review head's features are polarity only).
state = {k: v for k, v in base.state_dict().items() if k.startswith("distilbert.")}
model.load_state_dict(state, strict=False)


def batches(items, bs, shuffle):
    idx = list(range(len(items)))
    if shuffle:
        random.shuffle(idx)
    for i in range(0, len(idx), bs):
        chunk = [items[j] for j in idx[i : i + bs]]
        n = max(len(c[0]) for c in chunk)
        ids = torch.zeros((len(chunk), n), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for k, (s, _) in enumerate(chunk):
            ids[k, : len(s)] = torch.tensor(s)
            mask[k, : len(s)] = 1
        yield ids, mask, torch.tensor([c[1] for c in chunk])


def evaluate(items):
    model.eval()
    correct = 0
    conf = np.zeros((3, 3), int)
    with torch.no_grad():
        for ids, mask, y in batches(items, 64, False):
            p = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
            correct += (p == y).sum().item()
            for a, b in zip(y.tolist(), p.tolist()):
                conf[a, b] += 1
    model.train()
    return correct / len(items), conf


bs = 16
steps = epochs * ((len(train) + bs - 1) // bs)
enc_params = [p for n, p in model.named_parameters() if n.startswith("distilbert.")]
head_params = [p for n, p in model.named_parameters() if not n.startswith("distilbert.")]
opt = torch.optim.AdamW(
    [{"params": enc_params, "lr": lr}, {"params": head_params, "lr": HEAD_LR}], weight_decay=0.01
)
sched = torch.optim.lr_scheduler.LambdaLR(
    opt,
    lambda s: (
        min(1.0, s / (0.1 * steps)) * max(0.0, (steps - s) / (0.9 * steps))
        if s >= 0.1 * steps
        else s / (0.1 * steps)
    ),
)
acc0, _ = evaluate(val)
print(f"epoch 0 val acc {acc0:.4f}", flush=True)
best = -1
t0 = time.time()
model.train()
for ep in range(1, epochs + 1):
    for ids, mask, y in batches(train, bs, True):
        loss = torch.nn.functional.cross_entropy(
            model(input_ids=ids, attention_mask=mask).logits, y
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
    acc, conf = evaluate(val)
    print(
        f"epoch {ep} val acc {acc:.4f} ({time.time() - t0:.0f} s) confusion {conf.tolist()}",
        flush=True,
    )
    if acc > best:
        best = acc
        model.save_pretrained(out)
        (out / "tokenizer.json").write_text((ck / "tokenizer.json").read_text())
        for f in ("tokenizer_config.json",):
            if (ck / f).exists():
                (out / f).write_text((ck / f).read_text())
        (out / "training.json").write_text(
            json.dumps(
                {
                    "epoch": ep,
                    "val_acc": acc,
                    "lr": lr,
                    "epochs": epochs,
                    "train": len(train),
                    "val": len(val),
                    "extra": extra,
                    "head_lr": HEAD_LR,
                    "seconds": round(time.time() - t0),
                }
            )
        )
print("best val", best)
