"""Models on disk: list the embedded and local ones, describe and verify one, pull from the
Hugging Face Hub, export a PyTorch checkpoint to ONNX. Hub and torch are optional extras."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ModelError
from .model import SentimentModel
from .model_files import (
    EMBEDDED_MODELS_DIR,
    MANIFEST_NAME,
    locate,
    models_dir,
    resolve_folder,
    sha256,
    write_manifest,
)

SOURCE_NAME = "SOURCE.json"
PULL_PATTERNS = ["*.json", "*.onnx", "*.md", "onnx/*.json", "onnx/*.onnx"]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    kind: str  # "embedded" or "local"
    labels: list[str]
    max_positions: int | None
    onnx_file: str
    size_bytes: int
    checksums: dict[str, str]
    source: dict
    terms: str | None  # the model card's "Licence and terms" section, as written there

    def to_dict(self) -> dict:
        return asdict(self)


def list_models(folder: Path | None = None) -> list[tuple[str, Path, str]]:
    """(name, path, kind) of the embedded models and of the model folders in `folder`."""
    found = [(p.name, p, "embedded") for p in sorted(EMBEDDED_MODELS_DIR.iterdir()) if p.is_dir()]
    base = folder or models_dir()
    if base.is_dir():
        for path in sorted(base.iterdir()):
            if (path / "config.json").is_file() or (path / "onnx" / "config.json").is_file():
                found.append((path.name, path, "local"))
    return found


def model_info(model: str | Path | None = None) -> ModelInfo:
    """Labels, max length, size, checksums and provenance of a model folder."""
    files = locate(model)
    root = resolve_folder(model)
    used = [files.onnx, files.tokenizer, files.config]
    source_file = root / SOURCE_NAME
    source = json.loads(source_file.read_text()) if source_file.is_file() else {}
    if not source and root.parent == EMBEDDED_MODELS_DIR:
        source = {"origin": "embedded in sentiment-udf", "model_card": str(root / "MODEL_CARD.md")}
    return ModelInfo(
        name=files.name,
        path=str(root),
        kind="embedded" if root.parent == EMBEDDED_MODELS_DIR else "local",
        labels=list(files.labels),
        max_positions=files.max_positions,
        onnx_file=files.onnx.name,
        size_bytes=sum(p.stat().st_size for p in used),
        checksums={p.name: sha256(p) for p in used},
        source=source,
        terms=card_terms(root / "MODEL_CARD.md"),
    )


def card_terms(card: Path) -> str | None:
    """The "Licence and terms" section of a model card (None without a card or section)."""
    if not card.is_file():
        return None
    section: list[str] = []
    for line in card.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            if section:
                break
            if "licence" in line.lower() or "license" in line.lower():
                section.append(line[3:].strip())
            continue
        if section:
            section.append(line)
    return "\n".join(section).strip() or None


def verify_model(model: str | Path | None = None) -> dict:
    """Load the model (checksums, signature, tokenizer fit) and score two probe reviews."""
    loaded = SentimentModel(model)
    probes = ["I love it, works perfectly.", "Broke on day one, total waste of money."]
    if loaded.files.input_pair is None:
        probs = loaded.predict_proba(probes)
        keys = probes
    else:  # a pair classifier: each probe with its aspect
        probes = ["The battery lasts all day.", "The battery died after a week."]
        probs = loaded.predict_proba_pairs(probes, ["battery", "battery"])
        keys = [f"{text} | battery" for text in probes]
    return {
        "model": loaded.name,
        "input_pair": loaded.files.input_pair,
        "checksums_verified": loaded.checksums_verified,
        "load_seconds": round(loaded.load_seconds, 3),
        "probes": {key: dict(zip(loaded.labels, map(float, p))) for key, p in zip(keys, probs)},
    }


def pull(repo_id: str, folder: Path | None = None, revision: str | None = None) -> Path:
    """Download a Hub repo's ONNX model, tokenizer and config into models_dir()/<name>."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelError(
            "pulling needs huggingface_hub: pip install 'sentiment-udf[hub]'"
        ) from None
    target = (folder or models_dir()) / repo_id.replace("/", "--")
    try:
        snapshot_download(
            repo_id,
            revision=revision,
            local_dir=target,
            allow_patterns=PULL_PATTERNS,
            etag_timeout=10,
        )
    except Exception as exc:  # offline, unknown repo, HTTP errors: all one message
        shutil.rmtree(target, ignore_errors=True)
        reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise ModelError(f"could not download {repo_id!r}: {reason}") from None
    shutil.rmtree(target / ".cache", ignore_errors=True)
    (target / SOURCE_NAME).write_text(
        json.dumps(
            {"origin": "huggingface_hub", "repo_id": repo_id, "revision": revision}, indent=2
        )
    )
    try:
        SentimentModel(target)
    except ModelError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ModelError(
            f"downloaded {repo_id!r}, but it does not load (removed it): {exc}"
        ) from None
    return target


def export(checkpoint: Path, out: Path, int8: bool = False) -> Path:
    """Export a Hugging Face PyTorch sequence-classification checkpoint to a loadable folder."""
    from .export import export_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    export_checkpoint(checkpoint, out, int8=int8)
    (out / SOURCE_NAME).write_text(
        json.dumps({"origin": "export", "checkpoint": str(checkpoint), "int8": int8}, indent=2)
    )
    write_manifest(out)
    SentimentModel(out)
    return out


__all__ = [
    "MANIFEST_NAME",
    "ModelInfo",
    "export",
    "list_models",
    "model_info",
    "pull",
    "verify_model",
]
