"""pytest-benchmark suite: the matrix of ``infer-bench bench``, built from the same ``BenchPlan``.

Artifacts come from ``$INFER_BENCH_EXPORTED`` (default ``exported/``); without
them the suite stops at once and names the command that makes them
(``infer-bench train-export``; ``--quick`` for a smoke run): it never trains as
a side effect. ``$INFER_BENCH_BATCH_SIZES`` (default ``1,32``),
``$INFER_BENCH_DEVICES`` (default ``cpu,cuda``; CUDA cases skip with the reason
where there is no GPU) and ``$INFER_BENCH_THREADS`` (default: all cores) choose
the matrix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
EXPORTED = Path(os.environ.get("INFER_BENCH_EXPORTED", REPO / "exported"))
BATCH_SIZES = [int(b) for b in os.environ.get("INFER_BENCH_BATCH_SIZES", "1,32").split(",")]
DEVICES = os.environ.get("INFER_BENCH_DEVICES", "cpu,cuda").split(",")
THREADS = int(os.environ["INFER_BENCH_THREADS"]) if os.environ.get("INFER_BENCH_THREADS") else None

_cases = None
_plan = None


def plan():
    """The ``BenchPlan`` of this suite (validated, TensorFlow configured once for it)."""
    global _plan
    if _plan is None:
        from infer_bench.bench import BenchPlan
        from infer_bench.runtimes.devices import configure_tensorflow

        _plan = BenchPlan(exported=EXPORTED, devices=DEVICES, batch_sizes=BATCH_SIZES, threads=THREADS)
        _plan.validate()
        configure_tensorflow(THREADS)
    return _plan


def bench_cases():
    """(model, format, quantization, runtime, device, batch) tuples, built once per session."""
    global _cases
    if _cases is None:
        from infer_bench.bench import plan_cases
        from infer_bench.manifest import load_manifest

        if not load_manifest(EXPORTED, missing_ok=True).models:
            pytest.exit(f"benchmarks: no exported models in {EXPORTED}. Fix: run `infer-bench train-export "
                        f"--out {EXPORTED}` first (`--quick` for a smoke run in minutes).", returncode=2)
        _cases = [(c, b) for c in plan_cases(plan(), log=lambda m: None) for b in BATCH_SIZES]
    return _cases


def pytest_generate_tests(metafunc):
    if "bench_case" in metafunc.fixturenames:
        cases = bench_cases()
        metafunc.parametrize("bench_case", cases, ids=[
            f"{c.entry.model}-{c.entry.format}-{c.quantization}-{c.runtime}-{c.device}-b{b}" for c, b in cases])


def pytest_benchmark_update_machine_info(config, machine_info):
    """Extend pytest-benchmark's machine info with the environment block of ``bench`` results."""
    from infer_bench.environment import capture_environment

    machine_info["infer_bench_environment"] = capture_environment()


@pytest.fixture(scope="session")
def bench_plan():
    return plan()


@pytest.fixture(scope="session")
def inputs_cache():
    return {}


class _OneSession:
    """Keeps only the last loaded session alive: cases are ordered so batches of one artifact are adjacent."""

    def __init__(self):
        self.key, self.session = None, None

    def get(self, key, load):
        if key != self.key:
            if self.session is not None:
                self.session.close()
            self.key, self.session = key, None
            self.session = load()
        return self.session


@pytest.fixture(scope="session")
def session_cache():
    cache = _OneSession()
    yield cache
    if cache.session is not None:
        cache.session.close()
