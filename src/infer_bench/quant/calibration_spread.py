"""The calibration study's spread, pure: per model, format and calibration size, min/median/max over seeds.

For each (model, format, size) the seeds' points give the lowest, median and
highest top-1 agreement and accuracy drop (points, Keras minus int8), and how
many seeds met the int8 budget. A point without figures (its re-quantization
failed) counts in ``failed`` and not in the spread.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from ..results.calibration import CalibrationPoint


@dataclass(frozen=True)
class Spread:
    """Lowest, median and highest of some values (None each when there are none)."""

    low: float | None
    median: float | None
    high: float | None

    @classmethod
    def of(cls, values) -> Spread:
        """The spread of ``values`` (Nones left out)."""
        values = sorted(v for v in values if v is not None)
        if not values:
            return cls(None, None, None)
        return cls(values[0], statistics.median(values), values[-1])

    @property
    def width(self) -> float | None:
        """Highest minus lowest (None without values)."""
        return None if self.low is None else self.high - self.low


@dataclass(frozen=True)
class SpreadRow:
    """One (model, format, calibration size) over its seeds."""

    model: str
    format: str
    size: int
    images: int  # calibration images actually used (the smallest over the seeds)
    seeds: int  # points, measured or not
    failed: int  # points without figures
    passed: int  # points that meet the int8 budget
    agreement: Spread  # top-1 agreement, a share
    drop_pts: Spread  # accuracy drop in points (positive: int8 lost accuracy)


def spread_rows(points) -> list[SpreadRow]:
    """One row per (model, format, size), in the order the points first name them, sizes ascending."""
    groups: dict[tuple[str, str, int], list[CalibrationPoint]] = {}
    for p in points:
        groups.setdefault((p.model, p.format, p.size), []).append(p)
    order = {}
    for model, fmt, _ in groups:
        order.setdefault((model, fmt), len(order))
    rows = []
    for (model, fmt, size), group in sorted(groups.items(), key=lambda kv: (order[kv[0][:2]], kv[0][2])):
        measured = [p for p in group if p.measured]
        rows.append(SpreadRow(model, fmt, size, min(p.images for p in group), len(group), len(group) - len(measured),
                              sum(p.passed for p in group), Spread.of(p.top1_agreement for p in measured),
                              Spread.of(p.accuracy_drop_pts for p in measured)))
    return rows
