"""The record of ``scenario --ray`` (``results/fleet-scenario-*.json``): one LoadGen answer per target.

File shape (``SCHEMA_VERSION`` 1)::

    {"schema_version": 1, "created": "...",
     "environment": {...the driver's..., "fleet": {"address", "targets", "nodes": {node id: {target, labels,
                     fingerprint, fingerprint_fields, environment}}}},
     "targets": [{"fleet": {...FleetInfo...}, "record": {...a scenario-*.json record...} | null,
                  "reason": null | "failed: node lost (...)" | "unschedulable: ..."}, ...]}

Each ``record`` is what a local ``infer-bench scenario`` writes, measured on the node
(its ``environment`` is the node's, its log paths point at the copy of LoadGen's logs
beside this file). Entries are grouped by (target, fingerprint) and never pooled:
a LoadGen verdict holds for the machine setup that gave it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InferBenchError
from ..results import store
from ..results.scenario import ScenarioRecord
from .records import FAILED, MEASURED, UNSCHEDULABLE, FleetInfo

SCHEMA_VERSION = 1
KIND = "fleet-scenario"  # not "scenario-...": the single-machine report's newest-scenario lookup never picks it
WHAT = "fleet scenario"
REGENERATE = "infer-bench scenario --ray ADDRESS"


@dataclass(frozen=True)
class TargetScenario:
    """One target's answer: the node's record (status measured), or why there is none (failed, unschedulable)."""

    info: FleetInfo
    record: ScenarioRecord | None = None
    reason: str | None = None

    def __post_init__(self):
        if (self.record is None) == (self.reason is None):
            raise InferBenchError("a fleet scenario entry holds a record or a reason, exactly one.",
                                  "record what the node measured, or why it measured nothing.")
        wanted = (MEASURED,) if self.record is not None else (FAILED, UNSCHEDULABLE)
        if self.info.status not in wanted:
            raise InferBenchError(f"a fleet scenario entry of status {self.info.status!r} cannot "
                                  f"{'hold a record' if self.record else 'lack one'}.",
                                  f"use status {' or '.join(wanted)}.")

    @property
    def fingerprint(self) -> str | None:
        """The machine setup that answered (None: no node ran it)."""
        return self.info.fingerprint if self.record is not None else None

    def to_dict(self) -> dict:
        return {"fleet": self.info.to_dict(), "record": None if self.record is None else self.record.to_dict(),
                "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict) -> TargetScenario:
        record = d.get("record")
        return cls(FleetInfo.from_dict(d["fleet"]), None if record is None else ScenarioRecord.from_dict(record),
                   d.get("reason"))


@dataclass(frozen=True)
class FleetScenarioFile:
    """Everything one ``scenario --ray`` run gave, one entry per target."""

    created: str
    environment: dict
    entries: tuple[TargetScenario, ...] = ()

    def groups(self) -> dict[str, dict[str | None, list[TargetScenario]]]:
        """{target: {fingerprint: entries}} in first-seen order; entries no node ran sit under None."""
        out: dict[str, dict[str | None, list[TargetScenario]]] = {}
        for e in self.entries:
            out.setdefault(e.info.target, {}).setdefault(e.fingerprint, []).append(e)
        return out

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "created": self.created, "environment": self.environment,
                "targets": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, d: dict) -> FleetScenarioFile:
        return cls(d["created"], d.get("environment", {}), tuple(TargetScenario.from_dict(e) for e in d["targets"]))


def load_fleet_scenario(path: str | os.PathLike) -> FleetScenarioFile:
    """Read a fleet scenario file back (its schema version checked)."""
    return FleetScenarioFile.from_dict(store.read(path, SCHEMA_VERSION, WHAT, REGENERATE))


class FleetScenarioWriter:
    """Writes the file again after every target's answer, so an interrupted run keeps the finished ones:
    a new ``fleet-scenario-<time>.json`` in ``results_dir``, or ``json_path`` (refused if it exists)."""

    def __init__(self, results_dir: Path, json_path: Path | None, environment: dict):
        if json_path is not None and Path(json_path).exists():
            raise store.exists_error(Path(json_path), WHAT)  # before minutes of LoadGen, not after
        self.results_dir, self.json_path = Path(results_dir), json_path
        self.file = FleetScenarioFile(store.now_iso(), environment)
        self.path: Path | None = None

    def add(self, entry: TargetScenario) -> Path:
        """Append ``entry`` and write the file (created at the first entry, rewritten atomically after)."""
        self.file = replace(self.file, entries=(*self.file.entries, entry))
        data = self.file.to_dict()
        if self.path is None:
            self.path = store.write(data, KIND, self.file.created, self.results_dir, self.json_path, what=WHAT)
        else:
            store.rewrite(self.path, data)
        return self.path
