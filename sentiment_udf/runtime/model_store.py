"""Models on disk: list the embedded and local ones, describe and verify one, pull from the
Hugging Face Hub, export a PyTorch checkpoint to ONNX. Hub and torch are optional extras."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ModelError
from .file_modes import as_umask_makes
from .left_behind import hold_folder, remove_left_folders, remove_unheld_folders
from .model import SentimentModel
from .model_files import (
    EMBEDDED_MODELS_DIR,
    MANIFEST_NAME,
    is_term_tagger,
    locate,
    models_dir,
    resolve_folder,
    sha256,
    write_manifest,
)
from .term_tagger import TermTagger

SOURCE_NAME = "SOURCE.json"
# What an export writes into its fresh folder (a killed export's is removed by the next).
EXPORT_FILES = frozenset({"model.onnx", "config.json", "tokenizer.json", SOURCE_NAME, MANIFEST_NAME})
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


def _load_checked(model: str | Path) -> SentimentModel | TermTagger:
    """Load a model folder the way its kind is used (a classifier, or the term tagger)."""
    if is_term_tagger(locate(model)):
        return TermTagger(model)
    return SentimentModel(model)


def verify_model(model: str | Path | None = None) -> dict:
    """Load the model (checksums, signature, tokenizer fit) and score two probe reviews."""
    if model is not None and is_term_tagger(locate(model)):
        tagger = TermTagger(model)
        probes = ["The battery lasts all day but the screen is dim.", "Great food, rude waiter."]
        return {
            "model": tagger.name,
            "task": "opinion targets (BIO token tagger)",
            "checksums_verified": tagger.checksums_verified,
            "probes": {
                text: [text[a:b] for a, b in spans] for text, spans in zip(probes, tagger.tag(probes))
            },
        }
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


REPO_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?(?:/[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?)?$")


def check_repo_id(repo_id: str) -> str:
    """`repo_id` when it is a Hub repository id ("org/name" or "name"); else ModelError. Such an
    id names exactly one folder below the models folder: never "." or "..", never a path."""
    if not isinstance(repo_id, str) or not REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise ModelError(
            f"{repo_id!r} is not a Hugging Face repository id (expected 'org/name': letters, "
            "digits, '-', '_' and '.', no '..' or '--')"
        )
    return repo_id


def pull(repo_id: str, folder: Path | None = None, revision: str | None = None) -> Path:
    """Download a Hub repo's ONNX model, tokenizer and config into models_dir()/<org--name>.

    The files go into a fresh temporary folder beside the target, are loaded there, and only
    then renamed into place: a failed pull removes nothing but that temporary folder. An
    existing target is replaced only if an earlier pull of the same repository made it."""
    check_repo_id(repo_id)
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelError(
            "pulling needs huggingface_hub: pip install 'sentiment-udf[hub]'"
        ) from None
    base = folder or models_dir()
    target = base / repo_id.replace("/", "--")
    _check_replaceable(target, repo_id)
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".pull-", dir=base))  # ours alone: mode 0700, new
    held = hold_folder(scratch)  # a later pull leaves it alone while we run
    try:
        remove_unheld_folders(base, r"\.pull-[A-Za-z0-9_]{8}", ("model", "previous"))
        download = scratch / "model"
        try:
            snapshot_download(
                repo_id,
                revision=revision,
                local_dir=download,
                allow_patterns=PULL_PATTERNS,
                etag_timeout=10,
            )
        except Exception as exc:  # offline, unknown repo, HTTP errors: all one message
            reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise ModelError(f"could not download {repo_id!r}: {reason}") from None
        shutil.rmtree(download / ".cache", ignore_errors=True)
        (download / SOURCE_NAME).write_text(
            json.dumps(
                {"origin": "huggingface_hub", "repo_id": repo_id, "revision": revision}, indent=2
            )
        )
        try:
            _load_checked(download)
        except ModelError as exc:
            raise ModelError(
                f"downloaded {repo_id!r}, but it does not load (nothing was kept): {exc}"
            ) from None
        _move_into_place(download, target, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        os.close(held)
    return target


def _check_replaceable(target: Path, repo_id: str) -> None:
    """Refuse to replace a folder that no pull of `repo_id` made (a user's own model, say)."""
    if not (target.exists() or target.is_symlink()):
        return
    source = target / SOURCE_NAME
    try:
        made_by = json.loads(source.read_text()) if source.is_file() else {}
    except (OSError, ValueError):
        made_by = {}
    if target.is_symlink() or not target.is_dir() or made_by.get("repo_id") != repo_id:
        raise ModelError(
            f"{target} exists and was not pulled from {repo_id!r}; remove or rename it, or "
            "pull into another --models-dir"
        )


def _move_into_place(download: Path, target: Path, scratch: Path) -> None:
    """Rename the new folder into place; an earlier pull's folder is moved into `scratch` first
    (removed with it), so the target is never missing for long and never half written."""
    if target.exists():
        target.rename(scratch / "previous")
    download.rename(target)


def export(checkpoint: Path, out: Path, int8: bool = False) -> Path:
    """Export a Hugging Face PyTorch checkpoint (a sequence classifier or a token tagger) to a
    loadable folder. `out` must not exist or be an empty folder (never a link); the model is
    made whole in a fresh folder beside it and renamed into place, so nothing is written through
    a link and no unrelated file enters its manifest."""
    from .export import export_checkpoint

    _check_export_target(checkpoint, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_left_folders(out, ("export",), EXPORT_FILES)
    fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        export_checkpoint(checkpoint, fresh, int8=int8)
        (fresh / SOURCE_NAME).write_text(
            json.dumps({"origin": "export", "checkpoint": str(checkpoint), "int8": int8}, indent=2)
        )
        write_manifest(fresh)
        _load_checked(fresh)
        _check_export_target(checkpoint, out)  # unchanged while we worked
        if out.is_dir():
            out.rmdir()  # empty (checked): fails rather than remove anything that appeared
        os.rename(fresh, out)
        as_umask_makes(out, folder=True)  # mkdtemp made it private; a model folder is not
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return out


def _check_export_target(checkpoint: Path, out: Path) -> None:
    if out.is_symlink():
        raise ModelError(f"{out} is a symbolic link: export into a new folder (never through a link)")
    if out.exists() and out.resolve() == checkpoint.resolve():
        raise ModelError(f"{out} is the checkpoint folder: export into another folder")
    if out.exists() and not out.is_dir():
        raise ModelError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise ModelError(f"{out} is not empty: export into a new or empty folder")


__all__ = [
    "MANIFEST_NAME",
    "ModelInfo",
    "export",
    "list_models",
    "model_info",
    "pull",
    "verify_model",
]
