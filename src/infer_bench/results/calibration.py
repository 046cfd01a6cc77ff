"""The record of ``infer-bench calibration-study`` (``results/calibration-*.json``): typed and versioned.

File shape (``SCHEMA_VERSION`` 1)::

    {"schema_version": 1, "created": "...", "environment": {...}, "exported": "exported",
     "sizes": [64, 256, 1024], "seeds": [42, 43, 44], "test_rows": 10000 | null, "seconds": 812.4,
     "tolerances": {"static_int8": {...}},
     "points": [{"model", "format", "size", "seed", "images", "runtime", "reference_accuracy",
                 "test_accuracy", "top1_agreement", "reasons", "error", "seconds"}, ...]}

One point is one static int8 artifact re-quantized on ``images`` training images
(``size`` asked for; fewer when the training split is smaller) drawn with
``seed``, and checked against the Keras original on the held-out split by
``check`` itself. ``runtime`` is the runtime that ran it; ``error`` says why a
point has no figures (its re-quantization or its check failed), and ``reasons``
why it misses the int8 budget (empty: it passes).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InferBenchError
from . import store

SCHEMA_VERSION = 1
KIND = "calibration"  # files are results/calibration-<time>.json
WHAT = "calibration study"
REGENERATE = "infer-bench calibration-study"
POINT_KEYS = ("model", "format", "size", "seed", "images", "runtime", "reference_accuracy", "test_accuracy",
              "top1_agreement", "reasons", "error", "seconds")
STUDY_KEYS = ("created", "exported", "sizes", "seeds", "test_rows", "seconds", "tolerances", "points")


def _bad(problem: str) -> InferBenchError:
    return InferBenchError(problem + ".", f"run `{REGENERATE}` to write a fresh file.")


def _whole(value, name: str, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _bad(f"{name} is {value!r}, not a whole number >= {minimum}")


def _share(value, name: str) -> None:
    if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                              or not math.isfinite(value) or not 0 <= value <= 1):
        raise _bad(f"{name} is {value!r}, not a share between 0 and 1 (or null)")


@dataclass(frozen=True)
class CalibrationPoint:
    """One re-quantized artifact and how it fared against the Keras original (None figures: ``error``)."""

    model: str
    format: str
    size: int  # calibration images asked for
    seed: int
    images: int  # calibration images used (fewer than ``size`` when the training split is smaller)
    runtime: str | None
    reference_accuracy: float | None
    test_accuracy: float | None
    top1_agreement: float | None
    reasons: tuple[str, ...] = ()
    error: str = ""
    seconds: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "reasons", tuple(self.reasons))
        where = f"calibration point {self.model} {self.format} size {self.size} seed {self.seed}"
        if not self.model or not self.format:
            raise _bad("a calibration point names no model or format")
        _whole(self.size, f"{where}: size", 1)
        _whole(self.seed, f"{where}: seed", 0)
        _whole(self.images, f"{where}: images", 0)
        for name in ("reference_accuracy", "test_accuracy", "top1_agreement"):
            _share(getattr(self, name), f"{where}: {name}")
        if (self.top1_agreement is None) == (not self.error):
            raise _bad(f"{where}: a point has either figures or an error, not both or neither")

    @property
    def measured(self) -> bool:
        """True when the artifact was made and checked (it has figures)."""
        return not self.error

    @property
    def accuracy_drop_pts(self) -> float | None:
        """Keras accuracy minus the artifact's, in points (positive: it lost accuracy)."""
        if self.test_accuracy is None or self.reference_accuracy is None:
            return None
        return (self.reference_accuracy - self.test_accuracy) * 100

    @property
    def passed(self) -> bool:
        """True when it was measured and meets the int8 budget."""
        return self.measured and not self.reasons

    def to_dict(self) -> dict:
        """JSON form, keys in ``POINT_KEYS`` order."""
        return {k: list(self.reasons) if k == "reasons" else getattr(self, k) for k in POINT_KEYS}

    @classmethod
    def from_dict(cls, data) -> CalibrationPoint:
        """Read one entry of the file's ``points``."""
        if not isinstance(data, dict) or any(k not in data for k in POINT_KEYS):
            raise _bad(f"a calibration point lacks one of {', '.join(POINT_KEYS)}")
        return cls(**{k: tuple(data[k]) if k == "reasons" else data[k] for k in POINT_KEYS})


@dataclass(frozen=True)
class CalibrationStudy:
    """Every point of one study, with the sizes and seeds it used and the budget it judged by."""

    created: str
    exported: str
    sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    test_rows: int | None  # held-out rows each check ran on (None: the whole split)
    seconds: float
    tolerances: dict
    points: tuple[CalibrationPoint, ...]
    environment: dict | None = None

    def __post_init__(self):
        for name in ("sizes", "seeds", "points"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.sizes or not self.seeds:
            raise _bad("a calibration study without sizes or seeds")
        if not all(isinstance(p, CalibrationPoint) for p in self.points):
            raise _bad("a calibration study's points must be CalibrationPoint records")

    def to_dict(self) -> dict:
        """The versioned JSON form (no ``environment`` key when there is none)."""
        out = {"schema_version": SCHEMA_VERSION, "created": self.created}
        if self.environment is not None:
            out["environment"] = self.environment
        out.update(exported=self.exported, sizes=list(self.sizes), seeds=list(self.seeds), test_rows=self.test_rows,
                   seconds=self.seconds, tolerances=self.tolerances, points=[p.to_dict() for p in self.points])
        return out

    @classmethod
    def from_dict(cls, data, source: str = WHAT) -> CalibrationStudy:
        """Read the file's JSON object (its schema version checked)."""
        store.check_version(data, SCHEMA_VERSION, source, WHAT, REGENERATE)
        lacking = [k for k in STUDY_KEYS if k not in data]
        if lacking:
            raise _bad(f"{source} lacks {', '.join(lacking)}")
        if not isinstance(data["points"], list):
            raise _bad(f"{source}: points is not a list")
        return cls(data["created"], data["exported"], tuple(data["sizes"]), tuple(data["seeds"]), data["test_rows"],
                   data["seconds"], data["tolerances"], tuple(CalibrationPoint.from_dict(p) for p in data["points"]),
                   data.get("environment"))

    def save(self, results_dir: str | os.PathLike, json_path: str | os.PathLike | None = None) -> Path:
        """Write a new file (``json_path``, refused if it exists, else ``calibration-<time>.json``)."""
        return store.write(self.to_dict(), KIND, self.created, results_dir, json_path, what=WHAT)


def load_calibration_study(path: str | os.PathLike) -> CalibrationStudy:
    """Read a ``calibration-*.json`` back; a clear error when missing, damaged or of another version."""
    return CalibrationStudy.from_dict(store.read(path, SCHEMA_VERSION, WHAT, REGENERATE), str(path))


def latest_calibration_study(results_dir: str | os.PathLike) -> Path | None:
    """The newest ``calibration-*.json`` in ``results_dir`` (None: none)."""
    return store.latest(results_dir, KIND)
