"""The record of ``infer-bench bench --sweep`` (``results/sweep-*.json``): threads x sessions, versioned.

File shape (``SCHEMA_VERSION`` 1)::

    {"schema_version": 1, "created": "...", "environment": {...},
     "points": [{"model", "format", "quantization", "runtime", "device", "batch_size",
                 "sessions": 2, "threads": 1,          # per session, as they ran (read back)
                 "per_call_ms": {...Summary...},       # every timed call of every session, pooled
                 "throughput_rows_per_s": 1234.5,      # rows of all sessions / wall time of the window
                 "window_s": 1.01, "calls_per_session": [640, 655], "raw_calls_ns": [[...], [...]],
                 "oversubscribed": false, "warnings": [...], "skipped_reason": null, "extra": {...}}, ...]}

A point is one case (artifact x runtime x device x precision) at one batch size,
with ``sessions`` sessions of ``threads`` intra-op threads each running at once.
``sessions`` and ``threads`` are what ran, never what was asked for; a point
whose runtime ran another layout is skipped with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..catalog import DEVICES, FORMATS, PRECISIONS
from ..errors import InferBenchError
from ..measure import SUMMARY_KEYS, LatencyStats
from . import store

SCHEMA_VERSION = 1
KIND = "sweep"
WHAT = "threads x sessions sweep"
REGENERATE = "infer-bench bench --sweep"
_MEASURED = ("per_call_ms", "throughput_rows_per_s", "window_s", "calls_per_session", "raw_calls_ns")


@dataclass(frozen=True)
class SweepPoint:
    """One case at one batch size with ``sessions`` x ``threads`` (see the module doc)."""

    model: str
    format: str
    quantization: str
    runtime: str
    device: str
    batch_size: int
    sessions: int
    threads: int | None
    per_call_ms: dict[str, float] | None = None
    throughput_rows_per_s: float | None = None
    window_s: float | None = None
    calls_per_session: tuple[int, ...] | None = None
    raw_calls_ns: tuple[tuple[int, ...], ...] | None = None
    oversubscribed: bool = False
    warnings: tuple[str, ...] = ()
    skipped_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.format not in FORMATS or self.quantization not in PRECISIONS or self.device not in DEVICES:
            raise ValueError(f"unknown format/quantization/device: {self.format!r}, {self.quantization!r}, "
                             f"{self.device!r}")
        for name in ("batch_size", "sessions"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be an int >= 1")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads={self.threads!r} must be an int >= 1 or None")
        object.__setattr__(self, "warnings", tuple(self.warnings))
        if self.skipped_reason is not None:
            if any(getattr(self, n) is not None for n in _MEASURED):
                raise ValueError(f"skipped point ({self.skipped_reason!r}) must not carry measurements")
            return
        if any(getattr(self, n) is None for n in _MEASURED):
            raise ValueError(f"measured point is missing one of {_MEASURED}")
        object.__setattr__(self, "calls_per_session", tuple(self.calls_per_session))
        object.__setattr__(self, "raw_calls_ns", tuple(tuple(s) for s in self.raw_calls_ns))
        if len(self.raw_calls_ns) != self.sessions or tuple(map(len, self.raw_calls_ns)) != self.calls_per_session:
            raise ValueError("raw_calls_ns must hold one list per session, as long as calls_per_session says")
        if set(self.per_call_ms) != set(SUMMARY_KEYS):
            raise ValueError(f"per_call_ms must have the keys {SUMMARY_KEYS}")
        if not self.throughput_rows_per_s > 0 or not self.window_s > 0:
            raise ValueError("throughput_rows_per_s and window_s must be > 0")

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None

    @property
    def layout(self) -> str:
        """"2 x 1": sessions x threads per session."""
        return f"{self.sessions} x {self.threads if self.threads is not None else '?'}"

    @property
    def variant(self) -> tuple[str, str, str, str, str, int]:
        """What the sweep varies the layout of: artifact, runtime, device and batch size."""
        return (self.model, self.format, self.quantization, self.runtime, self.device, self.batch_size)

    @property
    def stats(self) -> LatencyStats | None:
        """Latency statistics over the pooled calls (None for a skipped point)."""
        if self.raw_calls_ns is None:
            return None
        return LatencyStats(tuple(c for s in self.raw_calls_ns for c in s), self.batch_size)

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["warnings"] = list(self.warnings)
        if self.calls_per_session is not None:
            out["calls_per_session"] = list(self.calls_per_session)
            out["raw_calls_ns"] = [list(s) for s in self.raw_calls_ns]
        return out

    @classmethod
    def from_dict(cls, d: dict) -> SweepPoint:
        if not isinstance(d, dict):
            raise ValueError(f"a point must be a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown point fields {unknown}")
        return cls(**d)


@dataclass(frozen=True)
class SweepFile:
    """The environment (once) and every point of one sweep."""

    environment: dict
    points: tuple[SweepPoint, ...] = ()
    created: str = field(default_factory=store.now_iso)

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "created": self.created, "environment": self.environment,
                "points": [p.to_dict() for p in self.points]}

    @classmethod
    def from_dict(cls, d: dict, source: str = WHAT) -> SweepFile:
        store.check_version(d, SCHEMA_VERSION, source, WHAT, REGENERATE)
        try:
            points = tuple(SweepPoint.from_dict(p) for p in d.get("points", []))
        except (TypeError, ValueError) as e:
            raise InferBenchError(f"{source} has an invalid point: {e}", f"run `{REGENERATE}` again.") from e
        return cls(environment=d.get("environment", {}), points=points, created=d.get("created", ""))


def load_sweep(path: str | os.PathLike) -> SweepFile:
    """Read a sweep file; clear errors for a missing, damaged or other-version file."""
    return SweepFile.from_dict(store.read(path, SCHEMA_VERSION, WHAT, REGENERATE), source=str(path))


def latest_sweep(folder: str | os.PathLike) -> Path | None:
    """The newest ``sweep-*.json`` in ``folder``, or None."""
    return store.latest(folder, KIND)


class SweepWriter:
    """Rewrites the sweep file after every case, so an interrupted sweep keeps the finished ones.

    ``json_path`` is refused at once if it exists; without it a new stamped file is made in
    ``results_dir`` at the first ``add``.
    """

    def __init__(self, results_dir: str | os.PathLike, json_path: str | os.PathLike | None, environment: dict):
        self._dir, self._json = Path(results_dir), None if json_path is None else Path(json_path)
        if self._json is not None and self._json.exists():
            raise store.exists_error(self._json)
        self._file = SweepFile(environment)
        self.path: Path | None = None

    @property
    def sweep_file(self) -> SweepFile:
        return self._file

    def add(self, points) -> Path:
        """Append ``points`` and rewrite the file atomically."""
        grown = SweepFile(self._file.environment, self._file.points + tuple(points), self._file.created)
        data = grown.to_dict()
        if self.path is None:
            self.path = store.write(data, KIND, grown.created, self._dir, self._json, what=WHAT)
        else:
            store.rewrite(self.path, data)
        self._file = grown
        return self.path
