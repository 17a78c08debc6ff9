"""The embedded models of a package imported from a zip (Spark's --py-files), extracted once per
content into the user's cache and checked before each use.

The folder is named by the content (each member's name, size and CRC), so every zip of the same
release shares one copy. Nothing is written or trusted through a link: a link anywhere in the
cache path, a copy whose files differ from the zip's in size or manifest, or a cache that cannot
be written sends the extraction to a private temporary folder (removed at exit) instead of
failing the import.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
import time
import zipfile
from pathlib import Path

STALE_EXTRACTION_S = 3600  # an .extracting-* folder older than this was left by a killed run


def cache_root() -> Path:
    """$XDG_CACHE_HOME/sentiment-udf/embedded (a relative XDG_CACHE_HOME is ignored, as the
    XDG specification says), else ~/.cache/sentiment-udf/embedded."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    home = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return home / "sentiment-udf" / "embedded"


def members(archive: Path, inner: str) -> dict[str, zipfile.ZipInfo]:
    """The zip's files under `inner` (a folder inside it), by their path relative to it."""
    with zipfile.ZipFile(archive) as zipped:
        found = {}
        for info in zipped.infolist():
            relative = info.filename[len(inner) :]
            parts = relative.split("/")
            if info.filename.startswith(inner) and not info.is_dir() and ".." not in parts:
                found[relative] = info
        return found


def content_tag(files: dict[str, zipfile.ZipInfo]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\x00{files[name].file_size}\x00{files[name].CRC}\x00".encode())
    return digest.hexdigest()[:16]


def extracted_models(archive: Path, inner: str) -> Path:
    """The folder holding the models of `archive` under `inner`, extracted where needed."""
    files = members(archive, inner)
    root = cache_root()
    target = root / content_tag(files)
    try:
        if _intact(target / "models", files, archive):
            return target / "models"
        _make_folders(root)
        _remove_stale_extractions(root)
        return _extract_into_place(archive, files, root, target)
    except OSError:
        return _extract_privately(archive, files)


def _intact(models: Path, files: dict[str, zipfile.ZipInfo], archive: Path) -> bool:
    """Whether `models` is a plain folder (no link on the way from the cache root) holding every
    file of the zip as a plain file of the same size, and the same manifests byte for byte (the
    model loader checks every file against its manifest)."""
    for path in (models, *models.parents[:3]):
        if os.path.islink(path):
            return False
    if not models.is_dir():
        return False
    with zipfile.ZipFile(archive) as zipped:
        for name, info in files.items():
            path = models / name
            try:
                found = os.lstat(path)
            except OSError:
                return False
            if not stat.S_ISREG(found.st_mode) or found.st_size != info.file_size:
                return False
            if name.endswith("MANIFEST.json") and path.read_bytes() != zipped.read(info):
                return False
    return True


def _make_folders(root: Path) -> None:
    """The cache folders, made one by one; OSError where one is a link or not a folder."""
    for folder in reversed((root, *root.parents[:1])):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(parents=folder == root.parent)
        if os.path.islink(folder) or not folder.is_dir():
            raise OSError(f"{folder} is a link or not a folder")


def _remove_stale_extractions(root: Path) -> None:
    """Scratch folders of extractions killed long ago (ours by name, plain folders only)."""
    now = time.time()
    for path in root.glob(".extracting-*"):
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode) and now - info.st_mtime > STALE_EXTRACTION_S:
                shutil.rmtree(path)


def _unpack(archive: Path, files: dict[str, zipfile.ZipInfo], folder: Path) -> None:
    with zipfile.ZipFile(archive) as zipped:
        for name, info in files.items():
            out = folder / name
            out.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(info) as source, open(out, "xb") as sink:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)


def _extract_into_place(
    archive: Path, files: dict[str, zipfile.ZipInfo], root: Path, target: Path
) -> Path:
    """Unpack into a fresh scratch folder, then rename it into place whole. A damaged or planted
    copy at `target` is moved into the scratch folder first and removed with it."""
    scratch = Path(tempfile.mkdtemp(dir=root, prefix=".extracting-"))
    try:
        _unpack(archive, files, scratch / "new" / "models")
        if os.path.lexists(target) and not _intact(target / "models", files, archive):
            os.rename(target, scratch / "old")  # a link is moved, never followed
        with contextlib.suppress(OSError):  # another process got there first: theirs is as good
            os.rename(scratch / "new", target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not _intact(target / "models", files, archive):
        raise OSError(f"{target}: extraction did not hold")
    return target / "models"


def _extract_privately(archive: Path, files: dict[str, zipfile.ZipInfo]) -> Path:
    """A private copy for this process (the cache is unusable), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="sentiment-udf-models-"))
    atexit.register(shutil.rmtree, folder, True)
    _unpack(archive, files, folder / "models")
    return folder / "models"
