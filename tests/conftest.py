"""Shared fixtures: the real shipped data and one quick end-to-end export per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shipped datasets (``../shared/data`` beside the checkout)."""
    from infer_bench.data import find_fashion_mnist

    folder, _ = find_fashion_mnist(download=False)
    return folder.parent


@pytest.fixture(scope="session")
def quick_export(tmp_path_factory):
    """``train-export --quick`` of all three models into a temporary folder (a few minutes, once)."""
    from infer_bench.train_export import Plan, run_train_export

    out = tmp_path_factory.mktemp("exported")
    lines: list[str] = []
    manifest = run_train_export(Plan(out=out, quick=True), log=lines.append)
    return manifest, lines
