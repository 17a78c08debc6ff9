"""Find and describe the files of a model folder (Hugging Face layout), and check their checksums."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError

EMBEDDED_MODEL_NAME = "sentiment-en-reviews-v2"
EMBEDDED_FAST_MODEL_NAME = "sentiment-en-reviews-fast"
EMBEDDED_ASPECT_MODEL_NAME = "sentiment-en-aspects-v1"
EMBEDDED_TAGGER_MODEL_NAME = "sentiment-en-targets-v1"
EMBEDDED_MULTILINGUAL_MODEL_NAME = "sentiment-multi-reviews-v1"
EMBEDDED_STARS_MODEL_NAME = "sentiment-en-stars-v1"
# Short names of the embedded models: register(con, model="fast"), --model fast.
MODEL_ALIASES = {"default": EMBEDDED_MODEL_NAME, "fast": EMBEDDED_FAST_MODEL_NAME,
                 "aspects": EMBEDDED_ASPECT_MODEL_NAME, "targets": EMBEDDED_TAGGER_MODEL_NAME,
                 "multilingual": EMBEDDED_MULTILINGUAL_MODEL_NAME,
                 "stars": EMBEDDED_STARS_MODEL_NAME}



def _zip_holding(path: Path) -> Path | None:
    """The zip archive `path` lies inside (a package imported from a .zip), else None."""
    for parent in path.parents:
        if parent.is_file():
            return parent
    return None


def _embedded_models_dir() -> Path:
    """The embedded models' folder: beside the package, or, when the package was imported from
    a zip (Spark's --py-files, addPyFile), extracted from it into the user's cache."""
    beside = Path(__file__).parents[1] / "models"
    archive = None if beside.is_dir() else _zip_holding(beside)
    if archive is None:
        return beside
    from .embedded_zip import extracted_models

    return extracted_models(archive, beside.relative_to(archive).as_posix() + "/")


EMBEDDED_MODELS_DIR = _embedded_models_dir()
MANIFEST_NAME = "MANIFEST.json"
ONNX_PREFERENCE = ("model.onnx", "model_fp32.onnx")


@dataclass(frozen=True)
class ModelFiles:
    """Where a model's files are and what its config says: the model described as data."""

    name: str
    folder: Path
    onnx: Path
    tokenizer: Path
    config: Path
    labels: tuple[str, ...]
    max_positions: int | None
    input_pair: tuple[str, str] | None = None  # e.g. ("sentence", "aspect"): a pair classifier
    languages: tuple[str, ...] = ("en",)  # config.json "languages": what the model reads


def is_term_tagger(files: ModelFiles) -> bool:
    """Whether the folder holds a BIO token tagger (labels O, B-..., I-...), not a classifier."""
    return any(label.startswith("b-") for label in files.labels) and any(
        label.startswith("i-") for label in files.labels
    )


def models_dir() -> Path:
    """Where pulled and exported models live: $SENTIMENT_UDF_MODELS, else the user's cache."""
    if os.environ.get("SENTIMENT_UDF_MODELS"):
        return Path(os.environ["SENTIMENT_UDF_MODELS"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "sentiment-udf" / "models"


def resolve_folder(model: str | Path | None) -> Path:
    """The folder of `model`: None is the embedded model; "fast", "default" and "aspects" name
    the embedded ones; else a path, an embedded model's name, or a folder in models_dir()."""
    if model is None:
        return EMBEDDED_MODELS_DIR / EMBEDDED_MODEL_NAME
    if not isinstance(model, (str, Path)):
        raise TypeError(f"model must be a name or a folder (str or Path), not {model!r}")
    if isinstance(model, str) and model in MODEL_ALIASES:
        return EMBEDDED_MODELS_DIR / MODEL_ALIASES[model]
    path = Path(model).expanduser()
    if path.exists() or isinstance(model, Path) or os.sep in str(model):
        return path
    for base in (EMBEDDED_MODELS_DIR, models_dir()):
        if (base / str(model)).is_dir():
            return base / str(model)
    return path


def _not_found(model: str | Path | None, root: Path) -> str:
    """Where a model was looked for, and which models there are."""
    named = model is not None and not isinstance(model, Path) and os.sep not in str(model)
    if not named:
        return f"model folder not found: {root}"
    bases = [EMBEDDED_MODELS_DIR, models_dir()]
    known = sorted(p.name for base in bases if base.is_dir() for p in base.iterdir() if p.is_dir())
    return (
        f"model folder not found: no model named {str(model)!r} (looked in "
        f"{', '.join(str(b) for b in bases)}); models: {', '.join(known) or 'none'}"
    )


def locate(model: str | Path | None = None, onnx_file: str | None = None) -> ModelFiles:
    """Describe the model folder `model`; raise ModelError naming the file at fault."""
    root = resolve_folder(model)
    if not root.is_dir():
        raise ModelError(_not_found(model, root))
    # config.json and tokenizer.json at the root (the Hub's ONNX repositories, with the model
    # under onnx/) or all three under onnx/ (our release layout); the .onnx file at the root
    # first, then under onnx/.
    subfolder = root / "onnx"
    folder = subfolder if not (root / "config.json").is_file() and subfolder.is_dir() else root
    config = _require(folder, "config.json")
    tokenizer = _require(folder, "tokenizer.json")
    has_root_onnx = onnx_file is None and any(root.glob("*.onnx"))
    onnx_folder = root if has_root_onnx or not subfolder.is_dir() else subfolder
    if onnx_file is not None and (root / onnx_file).is_file():
        onnx_folder = root
    onnx = _pick_onnx(onnx_folder, onnx_file)
    settings = _read_json(config)
    return ModelFiles(
        name=root.name,
        folder=folder,
        onnx=onnx,
        tokenizer=tokenizer,
        config=config,
        labels=_labels(settings, config),
        max_positions=_max_positions(settings, config),
        input_pair=_input_pair(settings, config),
        languages=_languages(settings, config),
    )


def _require(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.exists():
        raise ModelError(
            f"{path}: file not found (a model folder needs config.json, "
            "tokenizer.json and an .onnx file)"
        )
    return regular_file(path)


def regular_file(path: Path) -> Path:
    """`path` if it is a regular file (after links); ModelError for a FIFO, a device or a folder,
    which would hang or fail a reader."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise ModelError(f"{path}: not a regular file (a FIFO, device or folder is refused)")
    return path


def _pick_onnx(folder: Path, onnx_file: str | None) -> Path:
    if onnx_file is not None:
        return _require(folder, onnx_file)
    for name in ONNX_PREFERENCE:
        if (folder / name).exists():
            return regular_file(folder / name)
    found = sorted(folder.glob("*.onnx"))
    if len(found) == 1:
        return regular_file(found[0])
    if not found:
        raise ModelError(f"{folder}: no .onnx file found")
    names = ", ".join(p.name for p in found)
    raise ModelError(f"{folder}: several .onnx files ({names}); choose one with onnx_file=")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def _labels(settings: dict, config: Path) -> tuple[str, ...]:
    id2label = settings.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise ModelError(f"{config}: no 'id2label' mapping of class ids to label names")
    if not all(isinstance(k, str) and k.isdigit() and k == str(int(k)) for k in id2label):
        raise ModelError(
            f"{config}: 'id2label' keys must be class ids 0..n-1 written as \"0\", \"1\", ..., "
            f"not {sorted(map(str, id2label))}"
        )
    ids = sorted(int(key) for key in id2label)
    if ids != list(range(len(ids))):
        raise ModelError(f"{config}: 'id2label' keys must be class ids 0..n-1, got {ids}")
    if not all(isinstance(v, str) and v.strip() for v in id2label.values()):
        raise ModelError(f"{config}: 'id2label' values must be label names (text)")
    labels = tuple(label_name(id2label[str(i)]).lower() for i in ids)
    if len(set(labels)) != len(labels):
        raise ModelError(f"{config}: 'id2label' repeats a label: {labels}")
    return labels


def label_name(value: object) -> str:
    """A label as it is compared and written: its text, trimmed, in Unicode NFC ('café' typed
    precomposed or with a combining accent is one label)."""
    return unicodedata.normalize("NFC", str(value).strip())


def config_positions(config: Path) -> int | None:
    """A config.json's max_position_embeddings, checked (None where it does not say); for a
    checkpoint folder, which locate() does not take (no ONNX file)."""
    return _max_positions(_read_json(config), config)


def _max_positions(settings: dict, config: Path) -> int | None:
    value = settings.get("max_position_embeddings")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ModelError(
            f"{config}: 'max_position_embeddings' must be a whole number of at least 2, "
            f"not {value!r}"
        )
    return value


def _input_pair(settings: dict, config: Path) -> tuple[str, str] | None:
    """config.json's "input_pair": the names of the two texts a pair classifier takes."""
    pair = settings.get("input_pair")
    if pair is None:
        return None
    if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(n, str) for n in pair)):
        raise ModelError(
            f'{config}: \'input_pair\' must name the two inputs, e.g. ["sentence", "aspect"]'
        )
    return (pair[0], pair[1])


def _languages(settings: dict, config: Path) -> tuple[str, ...]:
    """config.json's "languages" (ISO 639-1 codes the model was measured on); English if absent."""
    found = settings.get("languages", ["en"])
    if not (isinstance(found, list) and found and all(isinstance(c, str) and c for c in found)):
        raise ModelError(f'{config}: \'languages\' must list ISO 639-1 codes, e.g. ["en", "de"]')
    return tuple(c.lower() for c in found)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path) -> Path:
    """Record the SHA-256 of every file in `folder` (used when we ship a model)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST_NAME)
    manifest = {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size} for p in files}
    target = folder / MANIFEST_NAME
    target.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return target


def used_file_checksums(files: ModelFiles) -> dict[str, str]:
    """SHA-256 of the files a model reads (from MANIFEST.json where it lists them, as checked at
    load; else computed)."""
    manifest_path = files.folder / MANIFEST_NAME
    listed = read_manifest(manifest_path) if manifest_path.is_file() else {}
    out = {}
    for path in (files.onnx, files.tokenizer, files.config):
        entry = listed.get(path.name) if path.parent == files.folder else None
        out[path.name] = entry["sha256"] if isinstance(entry, dict) else sha256(path)
    return out


def read_manifest(path: Path) -> dict[str, dict]:
    """MANIFEST.json checked: {file name: {"sha256": hex, "bytes": n}}, every name a plain file
    name of the model folder (never a path out of it)."""
    listed = _read_json(path)
    for name, entry in listed.items():
        if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise ModelError(f"{path}: lists {name!r}, which is not a file of the model folder")
        valid = (
            isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("bytes"), int)
            and not isinstance(entry.get("bytes"), bool)
        )
        if not valid:
            raise ModelError(
                f'{path}: the entry for {name!r} must be {{"sha256": "<hex>", "bytes": <n>}}'
            )
    return listed


def verify_manifest(folder: Path) -> bool:
    """Check the files against MANIFEST.json; False when the folder has none, ModelError on a mismatch."""
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        return False
    for name, expected in read_manifest(manifest_path).items():
        path = folder / name
        if not path.is_file():
            raise ModelError(f"{path}: listed in {MANIFEST_NAME} but missing")
        if path.stat().st_size != expected["bytes"] or sha256(path) != expected["sha256"]:
            raise ModelError(
                f"{path}: checksum does not match {MANIFEST_NAME} "
                "(the file is damaged or was changed; reinstall sentiment-udf)"
            )
    return True
