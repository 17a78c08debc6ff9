from __future__ import annotations

import csv
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def dev_reviews() -> list[dict[str, str]]:
    with shared_file("reviews_dev.csv").open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))
