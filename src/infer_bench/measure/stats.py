"""Latency statistics derived from raw per-call times.

The raw samples (nanoseconds per ``run`` call) are the truth; every number
here is computed from them on demand and cached, never stored on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Thresholds for the plain-words noise warnings, in one place.
NOISY_P99_RATIO = 2.0  # p99 above this multiple of the median -> "noisy"
NOISY_STD_FRACTION = 0.25  # std above this fraction of the mean -> "noisy"
FEW_CALLS = 100  # below this many calls p99 rests on one or two samples

SUMMARY_KEYS = ("p50", "p90", "p99", "mean", "std", "min", "max")


@dataclass(frozen=True)
class Summary:
    """p50/p90/p99/mean/std/min/max of one series, in milliseconds."""

    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, values_ms: np.ndarray) -> Summary:
        """Summarise ``values_ms``. Percentiles use numpy's default (linear)
        interpolation; ``std`` is the sample standard deviation (n - 1), 0 for
        a single value."""
        p50, p90, p99 = np.percentile(values_ms, [50, 90, 99])
        std = float(np.std(values_ms, ddof=1)) if len(values_ms) > 1 else 0.0
        return cls(
            p50=float(p50),
            p90=float(p90),
            p99=float(p99),
            mean=float(np.mean(values_ms)),
            std=std,
            min=float(np.min(values_ms)),
            max=float(np.max(values_ms)),
        )

    def to_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in SUMMARY_KEYS}


@dataclass(frozen=True)
class LatencyStats:
    """Statistics over raw per-call times.

    ``calls_ns``: the time of each timed ``run`` call in nanoseconds (ints > 0).
    ``batch_size``: rows per call. Per-row times are call times divided by
    ``batch_size``. ``throughput_rows_per_s`` is ``batch_size * calls`` divided
    by the *sum of the timed call times* (not wall-clock time of the loop, so
    harness overhead between calls is not counted against the runtime).
    """

    calls_ns: tuple[int, ...]
    batch_size: int = 1

    def __post_init__(self):
        calls = tuple(self.calls_ns)
        if not calls:
            raise ValueError("calls_ns is empty: need at least one timed call")
        for i, v in enumerate(calls):
            # bool is an int subclass; a True here is a bug upstream, not 1 ns.
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise ValueError(f"calls_ns[{i}]={v!r}: every per-call time must be an int > 0 (nanoseconds)")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} must be an int >= 1")
        # Normalise to a tuple of plain ints (numpy ints do not survive json).
        object.__setattr__(self, "calls_ns", tuple(int(v) for v in calls))
        object.__setattr__(self, "batch_size", int(self.batch_size))

    @property
    def calls(self) -> int:
        """Number of timed calls."""
        return len(self.calls_ns)

    @cached_property
    def _call_ms(self) -> np.ndarray:
        return np.asarray(self.calls_ns, dtype=np.float64) / 1e6

    @cached_property
    def per_call_ms(self) -> Summary:
        """Summary of the time of one ``run`` call (one batch), in ms."""
        return Summary.of(self._call_ms)

    @cached_property
    def per_row_ms(self) -> Summary:
        """Summary of call time / batch_size (time per image), in ms."""
        return Summary.of(self._call_ms / self.batch_size)

    @cached_property
    def total_s(self) -> float:
        """Sum of the timed call times, in seconds."""
        return sum(self.calls_ns) / 1e9

    @cached_property
    def throughput_rows_per_s(self) -> float:
        """Rows (images) per second: batch_size * calls / sum of call times."""
        return self.batch_size * self.calls / self.total_s

    def to_dict(self) -> dict:
        """``{"per_row_ms": {...}, "per_call_ms": {...}, "throughput_rows_per_s": x, "calls": n}``."""
        return {
            "per_row_ms": self.per_row_ms.to_dict(),
            "per_call_ms": self.per_call_ms.to_dict(),
            "throughput_rows_per_s": self.throughput_rows_per_s,
            "calls": self.calls,
        }

    def noise_warnings(self) -> list[str]:
        """Plain-words warnings about how far these numbers can be trusted."""
        out = []
        s = self.per_call_ms
        if s.p50 > 0 and s.p99 > NOISY_P99_RATIO * s.p50:
            out.append(f"p99 is {s.p99 / s.p50:.1f}x the median: noisy")
        if s.mean > 0 and s.std / s.mean > NOISY_STD_FRACTION:
            out.append(f"std is {100 * s.std / s.mean:.0f}% of the mean: noisy")
        if self.calls < FEW_CALLS:
            out.append(f"only {self.calls} timed calls: p99 rests on very few samples")
        return out
