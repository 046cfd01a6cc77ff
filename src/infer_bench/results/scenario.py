"""The record of ``infer-bench scenario`` (``results/scenario-*.json``): LoadGen's verdicts, versioned.

File shape (``SCHEMA_VERSION`` 1)::

    {"schema_version": 1, "created": "...", "environment": {...},
     "target": {"model", "format", "quantization", "artifact", "runtime", "device", "data",
                "executed": {"threads": [1, 1], "providers": [...], "precision": "fp32" | null}},
     "scenario": "server", "settings": {...ScenarioSettings...}, "log_root": "results/scenario-...-logs",
     "runs": [{"config": {"workers", "threads", "max_batch", "max_wait_ms"}, "target_qps": 120.0,
               "summary": {...LoadGenSummary: validity, figures, latency_ms, early_stopping_ms...},
               "batches": {"batches", "mean_batch", "by_size"}, "log_dir": "...", "seconds": 3.1}, ...],
     "search": null | {"slo_ms", "loadgen_runs", "seconds", "configs": [{"config", "p50_ms", "naive_qps",
               "best_qps", "stopped"}], "winner": null | {"config", "qps", "naive_qps"}}}

``target.executed`` is what ran (each worker session's own thread count, the
runtime's providers, the precision a runtime that reports one executed), never
what was asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InferBenchError
from ..scenario.settings import SCENARIOS
from ..scenario.summary import LoadGenSummary
from ..scenario.sut import PoolConfig
from . import store

SCHEMA_VERSION = 1
KIND = "scenario"
WHAT = "scenario"
REGENERATE = "infer-bench scenario"
TARGET_KEYS = ("model", "format", "quantization", "artifact", "runtime", "device", "data", "executed")


@dataclass(frozen=True)
class ScenarioRun:
    """One LoadGen run: the configuration served, the offered rate (Server), and LoadGen's summary."""

    config: PoolConfig
    summary: LoadGenSummary
    log_dir: str
    seconds: float
    batches: dict = field(default_factory=dict)  # batches run by size (the SUT's batch_stats)
    target_qps: float | None = None

    def __post_init__(self):
        if self.seconds < 0:
            raise InferBenchError(f"a run of {self.seconds} s is impossible.", "record the measured duration.")

    @property
    def valid(self) -> bool:
        return self.summary.valid

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "target_qps": self.target_qps, "summary": self.summary.to_dict(),
                "batches": dict(self.batches), "log_dir": self.log_dir, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: dict) -> "ScenarioRun":
        return cls(config=PoolConfig(**d["config"]), summary=LoadGenSummary.from_dict(d["summary"]),
                   log_dir=d["log_dir"], seconds=d["seconds"], target_qps=d.get("target_qps"),
                   batches=d.get("batches", {}))


@dataclass(frozen=True)
class ScenarioRecord:
    """Everything one ``scenario`` command measured."""

    created: str
    environment: dict
    target: dict
    scenario: str
    settings: dict
    log_root: str
    runs: tuple[ScenarioRun, ...]
    search: dict | None = None

    def __post_init__(self):
        missing = [k for k in TARGET_KEYS if k not in self.target]
        if missing:
            raise InferBenchError(f"a scenario record's target lacks {', '.join(missing)}.",
                                  "build it with scenario.runner (it fills every key).")
        if self.scenario not in SCENARIOS:
            raise InferBenchError(f"scenario {self.scenario!r} is not one of {', '.join(SCENARIOS)}.",
                                  "record the scenario LoadGen ran.")
        if not self.runs:
            raise InferBenchError("a scenario record without a LoadGen run.", "record at least one run.")

    @property
    def winner(self) -> dict | None:
        """The search's winning configuration and rate (None: no search, or nothing VALID)."""
        return (self.search or {}).get("winner")

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "created": self.created, "environment": self.environment,
                "target": dict(self.target), "scenario": self.scenario, "settings": dict(self.settings),
                "log_root": self.log_root, "runs": [r.to_dict() for r in self.runs], "search": self.search}

    @classmethod
    def from_dict(cls, d: dict) -> "ScenarioRecord":
        return cls(created=d["created"], environment=d.get("environment", {}), target=d["target"],
                   scenario=d["scenario"], settings=d["settings"], log_root=d["log_root"],
                   runs=tuple(ScenarioRun.from_dict(r) for r in d["runs"]), search=d.get("search"))

    def save(self, results_dir: str | os.PathLike, json_path: str | os.PathLike | None = None) -> Path:
        """Write a new file (``json_path``, refused if it exists, else ``scenario-<time>.json``)."""
        return store.write(self.to_dict(), KIND, self.created, results_dir, json_path, what=WHAT)


def load_scenario(path: str | os.PathLike) -> ScenarioRecord:
    """Read a scenario file back (its schema version checked)."""
    return ScenarioRecord.from_dict(store.read(path, SCHEMA_VERSION, WHAT, REGENERATE))


def latest_scenario(results_dir: str | os.PathLike) -> Path | None:
    """The newest ``scenario-*.json`` in ``results_dir`` (None: none)."""
    return store.latest(results_dir, KIND)
