"""What a fleet result carries beyond a local one: where it ran, on what, with which bytes, when.

A fleet result is an ordinary ``BenchResult`` (same schema, same readers) whose
``extra["fleet"]`` holds a ``FleetInfo``: the target label, the Ray node id and
labels, the node's hardware fingerprint, the sha256 of the artifact bytes the
node verified, the node's wall-clock start and end of the case and the worker
process id. A case that could not run ("unschedulable", "failed: ...") is a
skipped result with that reason and a ``FleetInfo`` of the same status.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from ..results.bench import BenchResult

MEASURED, SKIPPED, FAILED, UNSCHEDULABLE = "measured", "skipped", "failed", "unschedulable"
STATUSES = (MEASURED, SKIPPED, FAILED, UNSCHEDULABLE)
NODE_LOST = "failed: node lost"


@dataclass(frozen=True)
class FleetInfo:
    """Where and on what one fleet result was taken (``extra["fleet"]`` of its ``BenchResult``).

    ``status``: measured, skipped (the node ran the case and the runtime declined it), failed (the
    case started and broke, never retried) or unschedulable (no live node carried the target's
    label). A case that ran on a node has ``node_id`` and ``fingerprint``; a fleet run adds both
    times (Unix seconds, the node's clock) and the worker's pid (a local file merged in has none).
    ``artifact_sha256`` is what the node verified, or would have (None for a merged local file).
    """

    target: str
    status: str
    artifact_sha256: str | None
    node_id: str | None = None
    labels: dict = field(default_factory=dict)
    fingerprint: str | None = None
    start_unix: float | None = None
    end_unix: float | None = None
    pid: int | None = None

    def __post_init__(self):
        if not isinstance(self.target, str) or not self.target:
            raise ValueError(f"target={self.target!r} must be a non-empty label")
        if self.status not in STATUSES:
            raise ValueError(f"status={self.status!r} is not one of {STATUSES}")
        if self.artifact_sha256 is not None and (not isinstance(self.artifact_sha256, str)
                                                 or len(self.artifact_sha256) != 64):
            raise ValueError(f"artifact_sha256={self.artifact_sha256!r} must be a sha256 hex digest")
        if not isinstance(self.labels, dict):
            raise ValueError(f"labels={self.labels!r} must be a dict")
        if self.status in (MEASURED, SKIPPED):
            missing = [n for n in ("node_id", "fingerprint") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"a {self.status} fleet result needs {missing}")
        for name in ("start_unix", "end_unix"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or not math.isfinite(v)):
                raise ValueError(f"{name}={v!r} must be a finite number of seconds or None")
        if self.start_unix is not None and self.end_unix is not None and self.end_unix < self.start_unix:
            raise ValueError(f"end_unix {self.end_unix} is before start_unix {self.start_unix}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FleetInfo:
        return cls(**d)


def fleet_info(result: BenchResult) -> FleetInfo | None:
    """The ``FleetInfo`` of a fleet result, None for a local one."""
    raw = result.extra.get("fleet")
    return None if raw is None else FleetInfo.from_dict(raw)


def with_fleet(result: BenchResult, info: FleetInfo) -> BenchResult:
    """``result`` with ``info`` in its ``extra["fleet"]``."""
    return replace(result, extra={**result.extra, "fleet": info.to_dict()})


def not_run(meta: dict, batch_sizes, reason: str, info: FleetInfo) -> list[BenchResult]:
    """One skipped result per batch size for a case that did not run (``meta``: model, format,
    quantization, runtime, device), each saying why and carrying ``info``."""
    return [with_fleet(BenchResult.skipped_case(**meta, batch_size=b, reason=reason), info) for b in batch_sizes]


def result_key(result: BenchResult, info: FleetInfo | None) -> tuple:
    """What identifies one measurement across files: target and fingerprint first, then the case."""
    where = (info.target, info.fingerprint) if info is not None else (None, None)
    return (*where, result.model, result.format, result.quantization, result.runtime, result.device,
            result.batch_size, result.threads)
