#!/usr/bin/env python3
"""Train the opinion-target extractor: a BIO token tagger fine-tuned from the default model, on CPU.

usage: train_term_extractor.py CHECKPOINT_DIR DATA_DIR OUT_DIR [--extra SOURCES] [--epochs N]

Data (DATA_DIR is ../shared/data, see its README): the `train` rows of aspects_spans.csv (every
SemEval-2014 aspect term with exact offsets), the `train` sentences of aspects_no_terms.csv (no
term: the negatives a tagger needs) and, with --extra, the named sources of aspects_extra.csv
(for example semeval15_restaurants,semeval16_restaurants; sentences already seen are dropped).
The `holdout` rows are never read here: the figures in BENCHMARKS.md are measured on them.
Sentences of the training rows whose text hashes to 0 mod 10 are held back to pick the epoch;
--all then trains on every training sentence for that many epochs (the shipped model).

Tags: O, B-TERM, I-TERM over the tokenizer's tokens; a token is in a term when its characters are.
Writes the best epoch's Hugging Face checkpoint and training.json to OUT_DIR; then
`sentiment-udf models export OUT_DIR FOLDER --int8` makes the shipped ONNX folder.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import time
from collections import defaultdict
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import DistilBertForTokenClassification

from sentiment_udf.runtime.term_tagger import decode_spans as runtime_decode

TAGS = ["O", "B-TERM", "I-TERM"]
MAX_TOKENS = 128


def held_back(sentence: str) -> bool:
    return int(hashlib.md5(sentence.encode()).hexdigest(), 16) % 10 == 0


def read_sentences(data: Path, extra: list[str]) -> list[tuple[str, list[tuple[int, int]]]]:
    """(sentence, term spans) for every training sentence, duplicates merged."""
    spans: dict[str, set[tuple[int, int]]] = defaultdict(set)
    with open(data / "aspects_spans.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["split"] == "train":
                spans[row["sentence"]].add((int(row["start"]), int(row["end"])))
    with open(data / "aspects_no_terms.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["split"] == "train":
                spans.setdefault(row["sentence"], set())
    seen = set(spans)
    if extra:
        added: dict[str, set[tuple[int, int]]] = defaultdict(set)
        with open(data / "aspects_extra.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["source"] in extra and row["sentence"] not in seen:
                    added[row["sentence"]].add((int(row["start"]), int(row["end"])))
        spans.update(added)
    return [(s, sorted(t)) for s, t in spans.items()]


def tag_tokens(offsets: list[tuple[int, int]], special: list[int], terms: list[tuple[int, int]]):
    tags = []
    for (a, b), sp in zip(offsets, special):
        if sp or a == b:
            tags.append(-100)
            continue
        tag = 0
        for s, e in terms:
            if a >= s and b <= e:
                tag = 1 if a == s or (tags and tags[-1] not in (1, 2)) else 2
                break
        tags.append(tag)
    return tags


def decode_spans(text: str, offsets, special, tags) -> list[tuple[int, int]]:
    """Character spans of B/I runs: the runtime's own rule (sentiment_udf.runtime.term_tagger)."""
    kept = [(o, t) for o, sp, t in zip(offsets, special, tags) if not sp]
    return runtime_decode(text, [o for o, _ in kept], [t for _, t in kept], {1}, {2})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--extra", default="", help="comma-separated aspects_extra.csv sources")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--limit", type=int, default=0, help="first N sentences only (smoke runs)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (one per free core)")
    ap.add_argument(
        "--all",
        action="store_true",
        help="train on every training sentence (none held back) and keep the last epoch: the "
        "shipped model, with the epoch count a held-back run chose",
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    random.seed(0)
    torch.set_num_threads(args.threads)
    tok = Tokenizer.from_file(str(args.checkpoint / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    extra = [s for s in args.extra.split(",") if s]
    sentences = read_sentences(args.data, extra)
    if args.limit:
        sentences = sentences[: args.limit]
    encoded = tok.encode_batch([s for s, _ in sentences])
    items = []
    for (text, terms), e in zip(sentences, encoded):
        special = e.special_tokens_mask
        items.append((text, terms, e.ids, e.offsets, special, tag_tokens(e.offsets, special, terms)))
    train = [it for it in items if args.all or not held_back(it[0])]
    val = [it for it in items if held_back(it[0])] or items[:2]  # with --all: seen, not chosen on
    print(f"train {len(train)} sentences, val {len(val)}, extra {extra}", flush=True)

    model = DistilBertForTokenClassification.from_pretrained(
        args.checkpoint,
        num_labels=3,
        id2label=dict(enumerate(TAGS)),
        label2id={t: i for i, t in enumerate(TAGS)},
        ignore_mismatched_sizes=True,
    )

    def batches(rows, shuffle):
        order = list(range(len(rows)))
        if shuffle:
            random.shuffle(order)
        for i in range(0, len(order), args.batch):
            chunk = [rows[j] for j in order[i : i + args.batch]]
            n = max(len(c[2]) for c in chunk)
            ids = torch.zeros((len(chunk), n), dtype=torch.long)
            mask = torch.zeros_like(ids)
            tags = torch.full_like(ids, -100)
            for k, c in enumerate(chunk):
                ids[k, : len(c[2])] = torch.tensor(c[2])
                mask[k, : len(c[2])] = 1
                tags[k, : len(c[5])] = torch.tensor(c[5])
            yield chunk, ids, mask, tags

    def span_f1(rows) -> float:
        model.eval()
        tp = fp = fn = 0
        with torch.no_grad():
            for chunk, ids, mask, _ in batches(rows, False):
                pred = model(input_ids=ids, attention_mask=mask).logits.argmax(-1).tolist()
                for c, p in zip(chunk, pred):
                    got = set(decode_spans(c[0], c[3], c[4], p[: len(c[2])]))
                    gold = set(c[1])
                    tp += len(got & gold)
                    fp += len(got - gold)
                    fn += len(gold - got)
        model.train()
        return 2 * tp / max(1, 2 * tp + fp + fn)

    steps = args.epochs * ((len(train) + args.batch - 1) // args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warm = max(1, int(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / warm if s < warm else max(0.0, (steps - s) / (steps - warm))
    )
    best = -1.0
    t0 = time.time()
    model.train()
    for epoch in range(1, args.epochs + 1):
        for _, ids, mask, tags in batches(train, True):
            logits = model(input_ids=ids, attention_mask=mask).logits
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), tags.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
        f1 = span_f1(val)
        print(f"epoch {epoch} val span F1 {f1:.4f} ({time.time() - t0:.0f} s)", flush=True)
        if f1 > best or (args.all and epoch == args.epochs):
            best = f1
            model.save_pretrained(args.out)
            (args.out / "tokenizer.json").write_text(
                (args.checkpoint / "tokenizer.json").read_text(encoding="utf-8"), encoding="utf-8"
            )
            record = {
                "epoch": epoch,
                "val_span_f1": round(f1, 4),
                "all_training_sentences": args.all,
                "epochs": args.epochs,
                "lr": args.lr,
                "batch": args.batch,
                "extra": extra,
                "train_sentences": len(train),
                "val_sentences": len(val),
                "seconds": round(time.time() - t0),
            }
            (args.out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"best val span F1 {best:.4f}", flush=True)


if __name__ == "__main__":
    main()
