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


# The models of the session's quick export. alexnet_catsdogs is left out: its quick training and
# export took 2.5 of CI's 20 minutes, and everything it would exercise here runs the same code as
# alexnet_fashion (same layers, exporters and runtimes; only the input size differs). Its data
# (test_data.py), its build (test_models.py) and a model at 224x224x3 (test_errors.py's
# adapt test, through simple_cnn) are tested elsewhere; `infer-bench run` trains all three.
QUICK_EXPORT_MODELS = ["simple_cnn", "alexnet_fashion"]


@pytest.fixture(scope="session")
def quick_export(tmp_path_factory):
    """``train-export --quick`` of ``QUICK_EXPORT_MODELS`` into a temporary folder (a few minutes, once)."""
    from infer_bench.train_export import Plan, run_train_export

    out = tmp_path_factory.mktemp("exported")
    lines: list[str] = []
    manifest = run_train_export(Plan(models=QUICK_EXPORT_MODELS, out=out, quick=True), log=lines.append)
    return manifest, lines


def write_tiny_manifest(folder: Path, name: str, paths: dict) -> None:
    """A manifest for hand-made artifacts of a 28x28x1, 10-class test model: ``paths`` maps (format, quantization) to files."""
    from infer_bench.manifest import Manifest, entry_for

    manifest = Manifest(folder)
    manifest.models[name] = {"dataset": "fashion_mnist", "quick": True, "binary": False}
    for (fmt, quantization), path in paths.items():
        manifest.add(entry_for(manifest, path, model=name, format=fmt, quantization=quantization,
                               input_shape=[None, 28, 28, 1], input_dtype="float32", output_shape=[None, 10],
                               source_sha256="x", source_test_accuracy=0.0, quick=True))
    manifest.save()
