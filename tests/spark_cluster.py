"""A real Spark standalone cluster for tests: a Master and Workers, each its own JVM started with
pyspark's spark-class and bound to 127.0.0.1, stopped (with their executors) when done."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"spark process exited: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"spark process did not listen on {port}: {log.read_text()[-2000:]}")


@contextmanager
def standalone_cluster(folder: Path, workers: int = 2, cores: int = 1, memory: str = "1g"):
    """Yield the master URL of a running cluster of `workers` workers of `cores` cores each."""
    import pyspark

    home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_NO_DAEMONIZE": "1"}  # fmt: skip
    for chosen in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):  # workers: what the driver names
        env.pop(chosen, None)
    spark_class = str(home / "bin" / "spark-class")
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> tuple[subprocess.Popen, Path]:
        log = folder / f"{name}.log"
        process = subprocess.Popen(
            [spark_class, *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        processes.append(process)
        return process, log

    port = free_port()
    try:
        master, log = start(
            "master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
            "--port", str(port), "--webui-port", str(free_port()),
        )  # fmt: skip
        _wait_for_port(port, master, log)
        url = f"spark://127.0.0.1:{port}"
        for n in range(workers):
            work = folder / f"work-{n}"
            work.mkdir()
            worker_port = free_port()
            process, log = start(
                f"worker-{n}", "org.apache.spark.deploy.worker.Worker", url, "--host",
                "127.0.0.1", "--port", str(worker_port), "--webui-port", str(free_port()),
                "--cores", str(cores), "--memory", memory, "--work-dir", str(work),
            )  # fmt: skip
            _wait_for_port(worker_port, process, log)
        yield url
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # the worker's executors too
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
