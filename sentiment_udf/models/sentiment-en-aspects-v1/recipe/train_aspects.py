#!/usr/bin/env python3
"""Fine-tune the default review model into an aspect-polarity model (negative / neutral / positive), on CPU.

usage: train_aspects.py CHECKPOINT_DIR ASPECTS_DEV_CSV OUT_DIR [epochs=4] [lr=3e-5] [head_lr=5e-4]
Input is the pair (sentence, aspect): "[CLS] sentence [SEP] aspect [SEP]" (BERT-SPC style).
Sentences whose id hashes to 0 mod 10 are held out to pick the epoch. The encoder starts from the
review model; the classification head is new and learns at a higher rate.
"""

import csv
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import DistilBertForSequenceClassification

ck, data, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 4
lr = float(sys.argv[5]) if len(sys.argv) > 5 else 3e-5
LABELS = ["negative", "neutral", "positive"]
torch.manual_seed(0)
random.seed(0)
torch.set_num_threads(2)
tok = Tokenizer.from_file(str(ck / "tokenizer.json"))
tok.enable_truncation(128, strategy="only_first")

rows = list(csv.DictReader(open(data, encoding="utf-8")))


def held(sid):
    return int(hashlib.md5(sid.encode()).hexdigest(), 16) % 10 == 0


def enc(rs):
    es = tok.encode_batch([(r["sentence"], r["aspect"]) for r in rs])
    return [(e.ids, LABELS.index(r["polarity"])) for e, r in zip(es, rs)]


train = enc([r for r in rows if not held(r["sentence_id"])])
val = enc([r for r in rows if held(r["sentence_id"])])
print(f"train {len(train)} val {len(val)}", flush=True)

base = DistilBertForSequenceClassification.from_pretrained(ck)
cfg = base.config
cfg.id2label = dict(enumerate(LABELS))
cfg.label2id = {l: i for i, l in enumerate(LABELS)}
cfg.num_labels = 3
model = DistilBertForSequenceClassification(cfg)
# Encoder from the review model; a fresh head (the review head's features are polarity only).
state = {k: v for k, v in base.state_dict().items() if k.startswith("distilbert.")}
model.load_state_dict(state, strict=False)
HEAD_LR = float(sys.argv[6]) if len(sys.argv) > 6 else 5e-4


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
        json.dump(
            {
                "epoch": ep,
                "val_acc": acc,
                "lr": lr,
                "epochs": epochs,
                "train": len(train),
                "val": len(val),
            },
            open(out / "training.json", "w"),
        )
print("best val", best)
