"""The executor check register_spark runs: one tiny job that imports the package and loads the
models where the tasks will run, so that a missing package, a model that does not load, a wrong
Python or a task that can never be scheduled is one line at registration, not a failed query.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from ..errors import ModelError

DEFAULT_CHECK_SECONDS = 180.0
# The last check's answers, one per task (host, Python, threads, model, cache setting): what
# register_spark saw on the executors, for diagnosis.
last_probes: list[dict] = []


def check_executors(spark: Any, refs: dict, timeout: float = DEFAULT_CHECK_SECONDS) -> list[dict]:
    """Run the probe on the executors (one task per default slot); ModelError naming the cause
    and the fix when a probe fails or no task starts within `timeout` seconds."""
    context = spark.sparkContext

    def probe(_: Any) -> dict:
        """Runs on an executor: self-contained (imports inside), so it unpickles without our package
        and can say that the package is what is missing."""
        import os
        import socket
        import sys

        where = {"host": socket.gethostname(), "python": sys.executable,
                 "version": sys.version.split()[0]}  # fmt: skip
        try:
            from sentiment_udf.runtime.registry import load_aspect_model, load_model, load_tagger
        except ImportError as exc:
            return {**where, "problem": "import", "reason": str(exc)}
        try:
            model = load_model(refs["model"], **refs["options"])
            threads = refs["options"].get("threads")
            load_aspect_model(refs["aspect_model"], threads, model.english_only)
            load_tagger(refs["opinion_model"], threads)
        except Exception as exc:
            return {**where, "problem": "model", "reason": str(exc).splitlines()[0][:400]}
        from sentiment_udf.runtime.result_cache import default_cache_path

        asked = refs.get("cache")  # as open_cache reads it: None means $SENTIMENT_UDF_CACHE
        if asked is None:
            asked = os.environ.get("SENTIMENT_UDF_CACHE") or False
        cache = None if asked is False else str(default_cache_path() if asked is True else asked)
        return {**where, "problem": None, "threads": model.threads, "model": model.name,
                "cache_file": cache}  # fmt: skip

    slots = max(1, min(int(context.defaultParallelism), 64))
    group = f"sentiment-udf-check-{uuid.uuid4().hex[:8]}"
    outcome: dict[str, Any] = {}

    def run() -> None:
        context.setJobGroup(group, "sentiment_udf: executor check", interruptOnCancel=True)
        try:
            rdd = context.parallelize(range(slots), slots)
            outcome["probes"] = rdd.map(probe).collect()  # probe travels by value
        except Exception as exc:  # Py4JJavaError and friends: keep the Python-side reason
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="sentiment-udf-check", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        context.cancelJobGroup(group)
        cpus = spark.conf.get("spark.task.cpus", "1")
        raise ModelError(
            f"register_spark: the executor check did not run within {timeout:.0f} s: no executor "
            f"took its task (each task needs spark.task.cpus={cpus} cores; are there workers with "
            "that many free cores?). Fix the cluster, or pass check_executors=False"
        )
    if "error" in outcome:
        raise ModelError(f"register_spark: the executor check failed: {_reason(outcome['error'])}")
    probes: list[dict] = outcome["probes"]
    last_probes[:] = probes
    for answer in probes:
        if answer["problem"] == "import":
            raise ModelError(
                f"register_spark: executors cannot import sentiment_udf ({answer['reason']}; "
                f"{answer['python']} {answer['version']} on {answer['host']}): ship it with "
                "`sentiment-udf spark pack` (README, Spark section) or install it on the cluster"
            )
        if answer["problem"] == "model":
            raise ModelError(
                f"register_spark: the model does not load on executor {answer['host']}: "
                f"{answer['reason']}"
            )
    return probes


def _reason(exc: BaseException) -> str:
    """One line from a Spark job failure: the Python exception inside it where there is one."""
    text = str(exc)
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("pyspark.errors", "RuntimeError", "ModuleNotFoundError",
                                "ImportError", "Exception:")) or "Python in worker" in stripped:  # fmt: skip
            hint = ""
            if "Python in worker" in stripped:
                hint = (" (set spark.pyspark.python, or PYSPARK_PYTHON, to the same Python "
                        "version on the driver and executors)")  # fmt: skip
            return stripped[:400] + hint
    return (text.splitlines() or [type(exc).__name__])[0][:400]
