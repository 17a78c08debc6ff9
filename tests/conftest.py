from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

import sentiment_udf
from tests.tiny_model import build_tiny_model

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} is missing: these tests need ../shared/data beside the checkout")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture()
def con(tiny_model):
    """A fresh in-memory DuckDB connection with the functions over the tiny model."""
    connection = duckdb.connect()
    sentiment_udf.register(connection, tiny_model)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def embedded_con():
    """An in-memory DuckDB connection with the functions over the embedded model (one per module)."""
    connection = duckdb.connect()
    sentiment_udf.register(connection)
    yield connection
    connection.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (the CI variable set) a skip is a failure: every component must be installed there,
    so a missing extra cannot pass green by skipping dbt, Spark, the Hub or export."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, where every component must be present: {reason}"


class ModelRuns:
    """Texts sent to the model (not answered from the memo) since the fixture began."""

    def __init__(self) -> None:
        from sentiment_udf.runtime.activity import TEXTS_SCORED

        self._counter = TEXTS_SCORED
        self._start = TEXTS_SCORED.value

    def __call__(self) -> int:
        return self._counter.value - self._start

    def reset(self) -> None:
        self._start = self._counter.value


@pytest.fixture()
def no_memo():
    """The in-process memo emptied and switched off for the test, so that each side of a
    comparison really runs the model; yields a ModelRuns to prove it did."""
    from sentiment_udf.runtime.result_cache import MEMO

    size = MEMO.max_bytes
    MEMO.clear()
    MEMO.max_bytes = 0
    try:
        yield ModelRuns()
    finally:
        MEMO.max_bytes = size
