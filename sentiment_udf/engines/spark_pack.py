"""What a Spark cluster needs to run the functions on executors that lack the package, made from
this environment: `sentiment-udf spark pack`.

Two files, for two kinds of cluster:
- `sentiment_udf.zip`: the package with its embedded models, for clusters whose executors have the
  dependencies already (cluster libraries on Databricks, EMR, Dataproc: numpy, onnxruntime,
  tokenizers, pyarrow, sentencex, pycld2). Ship it with spark.submit.pyFiles (or addPyFile); the
  models are extracted to each executor's cache on first use.
- `sentiment_udf_env.tar.gz` (unless dependencies=False): the package and every runtime dependency
  as installed here (this platform, this Python), without pyspark, py4j and duckdb (executors do
  not use it); for executors with a bare Python of the same version. Ship it with spark.archives
  and put the unpacked folder on the executors' PYTHONPATH.
"""

from __future__ import annotations

import os
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from .file_lock import exclusive_lock, fresh_file, remove_killed_temporaries

PACKAGE_ZIP = "sentiment_udf.zip"
ENV_ARCHIVE = "sentiment_udf_env.tar.gz"
ENV_ALIAS = "sentiment_udf_env"
LOCK_NAME = ".sentiment_udf.pack.lock"
# Installed on every Spark node already (pyspark, py4j) or not used by executors (duckdb).
LEFT_OUT = {"pyspark", "py4j", "duckdb", "sentiment-udf"}


@dataclass(frozen=True)
class Pack:
    package_zip: Path
    env_archive: Path | None
    distributions: list[str]  # "name version" of each dependency in the env archive
    python: str  # major.minor the env archive was made for

    def settings(self) -> dict[str, str]:
        """Spark settings that use the pack (the env archive when there is one)."""
        if self.env_archive is None:
            return {"spark.submit.pyFiles": str(self.package_zip)}
        return {
            "spark.archives": f"{self.env_archive}#{ENV_ALIAS}",
            "spark.executorEnv.PYTHONPATH": ENV_ALIAS,
        }

    def instructions(self) -> str:
        lines = [f"Wrote {self.package_zip}"]
        if self.env_archive is not None:
            lines.append(
                f"Wrote {self.env_archive} ({len(self.distributions)} packages, for Python "
                f"{self.python} on {sys.platform}; executors need that Python, nothing else)"
            )
        flags = " ".join(f"--conf {k}={v}" for k, v in self.settings().items())
        lines += [
            "",
            f"spark-submit {flags} your_job.py",
            "",
            "SparkSession.builder"
            + "".join(f'.config("{k}", "{v}")' for k, v in self.settings().items()),
            "",
            "Clusters whose executors have the dependencies (cluster libraries): ship only "
            f"{self.package_zip.name} with --py-files {self.package_zip}.",
        ]
        return "\n".join(lines)


def pack(out: Path, dependencies: bool = True) -> Pack:
    """Write the package zip (and the env archive) into `out` (made if missing), which must not
    lie inside the package folder (the zip would take in its own growing file)."""
    package = Path(__file__).parents[1]
    if out.is_symlink():
        raise ValueError(f"{out} is a link: name the folder itself")
    if out.resolve().is_relative_to(package.resolve()):
        raise ValueError(f"{out} is inside the package folder {package}: write the pack elsewhere")
    out.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out / LOCK_NAME, f"the pack in {out}"):
        for name in (PACKAGE_ZIP, ENV_ARCHIVE):  # what a killed pack left (no pack writes now)
            remove_killed_temporaries(out / name)
        package_zip = out / PACKAGE_ZIP
        _write_atomically(package_zip, lambda path: _zip_package(package, path))
        if not dependencies:
            return Pack(package_zip, None, [], _python())
        found = runtime_distributions()
        archive = out / ENV_ARCHIVE
        _write_atomically(archive, lambda path: _tar_environment(package, found, path))
    return Pack(package_zip, archive, [f"{d.name} {d.version}" for d in found], _python())


def runtime_distributions() -> list[metadata.Distribution]:
    """The installed distributions sentiment-udf needs at run time (no extras), recursively."""
    found: dict[str, metadata.Distribution] = {}
    todo = _requirements("sentiment-udf")
    while todo:
        name = _normal(todo.pop())
        if name in found or name in LEFT_OUT:
            continue
        found[name] = metadata.distribution(name)
        todo += _requirements(name)
    return sorted(found.values(), key=lambda d: _normal(d.name))


def _requirements(name: str) -> list[str]:
    names = []
    for line in metadata.distribution(name).requires or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _zip_package(package: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zipped:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, path.relative_to(package.parent).as_posix())


def _tar_environment(package: Path, found: list[metadata.Distribution], target: Path) -> None:
    with tarfile.open(target, "w:gz", compresslevel=1) as tar:
        tar.add(package, arcname=package.name, filter=_no_caches)
        for distribution in found:
            for file in distribution.files or []:
                source = Path(str(distribution.locate_file(file)))
                relative = Path(str(file))
                if (
                    ".." in relative.parts
                    or relative.is_absolute()
                    or "__pycache__" in relative.parts
                ):
                    continue  # scripts installed outside site-packages, compiled caches
                if source.is_file():
                    tar.add(source, arcname=relative.as_posix(), recursive=False)


def _no_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if "__pycache__" in info.name.split("/") else info


def _write_atomically(target: Path, write) -> None:
    """Write into a fresh temporary file beside `target` (the umask's mode, never through a
    link), then rename it into place."""
    with fresh_file(target.parent, f".{target.name}.") as temporary:
        write(temporary)
        os.replace(temporary, target)
