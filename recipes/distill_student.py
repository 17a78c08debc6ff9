#!/usr/bin/env python3
"""Distil the default review model into a 4-layer student, on a CPU (torch, transformers, onnxruntime).

usage:
  distill_student.py teacher CHECKPOINT TEACHER_ONNX DATA_DIR WORK_DIR [--limit N]
      tokenize the texts once and store the teacher's logits (fp32 ONNX) in WORK_DIR/teacher.parquet
  distill_student.py train CHECKPOINT WORK_DIR [--layers 0,2,4,5] [--epochs 1] [--max-steps N]
      train the student on the stored logits (KL at temperature T), checkpointing every 200 steps
      to WORK_DIR/state.pt; run it again to resume where it stopped. Writes WORK_DIR/student/.
Then: sentiment-udf models export WORK_DIR/student OUT --int8

Texts: a fixed sample of ../shared/data/distill_texts.parquet (per source, reviews over movie
sentences) plus every row of reviews_bench.parquet. A text with a title is given as
"<title>. <text>" for half of its rows (the input form of the default model's card). Every text is
cut to MAX_TOKENS tokens for the teacher and the student alike.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

MAX_TOKENS = 128
SAMPLE = {  # texts per source of distill_texts.parquet (all where fewer)
    "imdb": 10000,
    "sst2": 12000,
    "blitzer": 10000,
    "amazon_reviews_multi": 10000,  # Amazon product reviews
    "pycaret_amazon": 20000,  # Amazon app reviews
    "uci": 2000,
}
TEMPERATURE = 2.0
SEED = 0


def join_title(title: str | None, text: str) -> str:
    title = (title or "").strip()
    if not title:
        return text
    return f"{title} {text}" if title[-1] in ".!?" else f"{title}. {text}"


def load_texts(data: Path, limit: int | None) -> list[str]:
    import pyarrow.parquet as pq

    rng = random.Random(SEED)
    texts: list[str] = []
    table = pq.read_table(data / "distill_texts.parquet").to_pylist()
    by_source: dict[str, list[dict]] = {}
    for row in table:
        by_source.setdefault(row["source"], []).append(row)
    for source, rows in sorted(by_source.items()):
        want = next((n for key, n in SAMPLE.items() if source.startswith(key)), 2000)
        rng.shuffle(rows)
        texts += [_form(rng, r["title"], r["text"]) for r in rows[:want]]
    for row in pq.read_table(data / "reviews_bench.parquet").to_pylist():
        texts.append(_form(rng, row["title"], row["review"]))
    texts = [t for t in texts if t and t.strip()]
    rng.shuffle(texts)
    return texts[:limit] if limit else texts


def _form(rng: random.Random, title: str | None, text: str | None) -> str:
    text = text or ""
    return join_title(title, text) if title and rng.random() < 0.5 else text


def teacher(args: argparse.Namespace) -> None:
    import numpy as np
    import onnxruntime as ort
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tokenizers import Tokenizer

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    texts = load_texts(Path(args.data), args.limit)
    tok = Tokenizer.from_file(str(Path(args.checkpoint) / "tokenizer.json"))
    tok.enable_truncation(MAX_TOKENS)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.teacher_onnx, options, providers=["CPUExecutionProvider"])
    ids_all: list[list[int]] = []
    logits_all: list[np.ndarray] = []
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    start = time.time()
    for n in range(0, len(order), 64):
        chunk = [texts[i] for i in order[n : n + 64]]
        enc = tok.encode_batch(chunk)
        width = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), width), np.int64)
        mask = np.zeros_like(ids)
        for k, e in enumerate(enc):
            ids[k, : len(e.ids)] = e.ids
            mask[k, : len(e.ids)] = 1
        out = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        ids_all += [e.ids for e in enc]
        logits_all.append(out.astype(np.float32))
        if n % 6400 == 0:
            print(f"teacher {n}/{len(texts)} {time.time() - start:.0f} s", flush=True)
    logits = np.concatenate(logits_all)
    table = pa.table(
        {
            "ids": pa.array(ids_all, pa.list_(pa.int32())),
            "logits": pa.array(list(logits), pa.list_(pa.float32())),
        }
    )
    pq.write_table(table, work / "teacher.parquet.tmp")
    (work / "teacher.parquet.tmp").rename(work / "teacher.parquet")
    seconds = time.time() - start
    info = {"texts": len(texts), "max_tokens": MAX_TOKENS, "seconds": round(seconds, 1)}
    (work / "teacher.json").write_text(json.dumps(info, indent=2))
    print(f"teacher logits for {len(texts)} texts in {seconds:.0f} s", flush=True)


def make_student(checkpoint: Path, layers: list[int]):
    from transformers import DistilBertForSequenceClassification

    model = DistilBertForSequenceClassification.from_pretrained(checkpoint)
    keep = model.distilbert.transformer.layer
    model.distilbert.transformer.layer = type(keep)([keep[i] for i in layers])
    model.config.n_layers = len(layers)
    return model


def train(args: argparse.Namespace) -> None:
    import numpy as np
    import pyarrow.parquet as pq
    import torch
    import torch.nn.functional as F

    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    table = pq.read_table(work / "teacher.parquet")
    ids = table.column("ids").to_pylist()
    teacher_logits = torch.tensor(np.array(table.column("logits").to_pylist(), np.float32))
    layers = [int(x) for x in args.layers.split(",")]
    model = make_student(Path(args.checkpoint), layers)
    batches = _length_batches(ids, args.batch, args.epochs)
    total = min(len(batches), args.max_steps or len(batches))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, int(0.06 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / (total - warmup)))
    )
    state_path = work / "state.pt"
    step, seen, spent = 0, 0, 0.0
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, seen, spent = state["step"], state["seen"], state["seconds"]
        torch.set_rng_state(state["rng"])
        print(f"resumed at step {step}/{total}", flush=True)
    model.train()
    start, losses = time.time() - spent, []
    while step < total:
        rows = batches[step]
        width = max(len(ids[i]) for i in rows)
        x = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros_like(x)
        for k, i in enumerate(rows):
            x[k, : len(ids[i])] = torch.tensor(ids[i])
            mask[k, : len(ids[i])] = 1
        target = F.softmax(teacher_logits[rows] / TEMPERATURE, dim=-1)
        logits = model(input_ids=x, attention_mask=mask).logits
        loss = F.kl_div(
            F.log_softmax(logits / TEMPERATURE, dim=-1), target, reduction="batchmean"
        ) * (TEMPERATURE**2)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        step, seen = step + 1, seen + len(rows)
        losses.append(loss.item())
        if step % 50 == 0 or step == total:
            rate = seen / (time.time() - start)
            print(f"step {step}/{total} loss {np.mean(losses[-50:]):.4f} {rate:.1f} samples/s",
                  flush=True)
        if step % 200 == 0 or step == total:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(),
                    "step": step,
                    "seen": seen,
                    "seconds": time.time() - start,
                    "rng": torch.get_rng_state(),
                },
                work / "state.pt.tmp",
            )
            (work / "state.pt.tmp").replace(state_path)
    out = work / "student"
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        source = Path(args.checkpoint) / name
        if source.is_file():
            (out / name).write_bytes(source.read_bytes())
    info = {
        "layers_kept": layers,
        "steps": step,
        "samples": seen,
        "seconds": round(time.time() - start, 1),
        "batch": args.batch,
        "lr": args.lr,
        "temperature": TEMPERATURE,
    }
    (work / "training.json").write_text(json.dumps(info, indent=2))
    print(f"student written to {out}: {json.dumps(info)}", flush=True)


def _length_batches(ids: list[list[int]], size: int, epochs: int) -> list[list[int]]:
    """Batches of similar length (less padding), in a seeded random order, epoch after epoch."""
    rng = random.Random(SEED)
    out: list[list[int]] = []
    for _ in range(epochs):
        order = list(range(len(ids)))
        rng.shuffle(order)
        for n in range(0, len(order), size * 50):  # sort within pools of 50 batches
            pool = sorted(order[n : n + size * 50], key=lambda i: len(ids[i]))
            chunk = [pool[k : k + size] for k in range(0, len(pool), size)]
            rng.shuffle(chunk)
            out += chunk
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("teacher")
    t.add_argument("checkpoint")
    t.add_argument("teacher_onnx")
    t.add_argument("data")
    t.add_argument("work")
    t.add_argument("--limit", type=int)
    t.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("train")
    s.add_argument("checkpoint")
    s.add_argument("work")
    s.add_argument("--layers", default="0,2,4,5")
    s.add_argument("--epochs", type=int, default=1)
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--lr", type=float, default=1e-4)
    s.add_argument("--max-steps", type=int)
    s.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    teacher(args) if args.command == "teacher" else train(args)


if __name__ == "__main__":
    main()
