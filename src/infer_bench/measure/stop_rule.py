"""When a timed loop stops: a frozen ``StopRule`` and its named presets.

These presets are the only place the suite's warm-up and stop numbers live;
bench, the pytest-benchmark suite, explain, the profiler, the regression gate
and the machine ceilings all time through ``measure.time_calls`` with one of
them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np


def check_int(name: str, value, minimum: int) -> None:
    """Refuse anything but an int >= ``minimum`` (bool is an int subclass: True is a bug, not 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an int >= {minimum}")


@dataclass(frozen=True)
class StopRule:
    """Warm-up calls, then timed calls until BOTH ``min_time_s`` (summed call
    time) and ``min_calls`` are reached, or ``max_calls`` timed calls were made
    (``max_calls`` wins over ``min_calls``).

    With ``per_row`` set, ``min_calls`` and ``warmup_calls`` count rows, not
    calls: at batch size b the rule asks for ceil(min_calls / b) timed calls
    (at least ``MIN_CALLS_FLOOR``) and ceil(warmup_calls / b) warm-up calls (at
    least ``MIN_WARMUP_FLOOR``); ``at_batch`` turns it into a per-call rule.
    """

    min_time_s: float
    min_calls: int
    warmup_calls: int
    max_calls: int | None = None
    per_row: bool = False

    MIN_CALLS_FLOOR = 10
    MIN_WARMUP_FLOOR = 2

    def __post_init__(self):
        check_int("min_calls", self.min_calls, 1)
        check_int("warmup_calls", self.warmup_calls, 0)
        if self.max_calls is not None:
            check_int("max_calls", self.max_calls, 1)
        if not (isinstance(self.min_time_s, (int, float)) and not isinstance(self.min_time_s, bool)
                and math.isfinite(self.min_time_s) and self.min_time_s >= 0):
            raise ValueError(f"min_time_s={self.min_time_s!r} must be a finite number >= 0")

    def at_batch(self, batch_size: int) -> StopRule:
        """The per-call rule at ``batch_size`` (itself when the rule already counts calls)."""
        check_int("batch_size", batch_size, 1)
        if not self.per_row:
            return self
        return replace(self, per_row=False,
                       min_calls=max(self.MIN_CALLS_FLOOR, math.ceil(self.min_calls / batch_size)),
                       warmup_calls=max(self.MIN_WARMUP_FLOOR, math.ceil(self.warmup_calls / batch_size)))

    def with_min_time(self, min_time_s: float) -> StopRule:
        """The same rule with another minimum time (``bench --min-time``)."""
        return replace(self, min_time_s=min_time_s)

    @classmethod
    def fixed(cls, calls: int, warmup_calls: int = 0) -> StopRule:
        """Exactly ``calls`` timed calls after ``warmup_calls`` untimed ones."""
        return cls(min_time_s=0.0, min_calls=calls, warmup_calls=warmup_calls, max_calls=calls)


# bench and benchmarks/: >= 1 s and about 100 rows' worth of calls, after about 10 rows' worth.
BENCH = StopRule(min_time_s=1.0, min_calls=100, warmup_calls=10, per_row=True)
# explain's short re-measurements of batch-1 latency.
QUICK = StopRule(min_time_s=0.3, min_calls=20, warmup_calls=3)
# The profiler's un-profiled wall-clock pass (its run count is set per model).
PROFILE = StopRule.fixed(200, warmup_calls=10)
# One block of the regression gate: >= 40 ms and >= 5 calls, no warm-up (the
# gate warms every session once before its first round).
REGRESSION_BLOCK = StopRule(min_time_s=0.04, min_calls=5, warmup_calls=0)
# Machine ceilings (one untimed cold call first): full and --quick.
CEILING = StopRule(min_time_s=0.6, min_calls=5, warmup_calls=0, max_calls=50)
CEILING_QUICK = StopRule.fixed(3)

PRESETS = {"bench": BENCH, "quick": QUICK, "profile": PROFILE, "regression_block": REGRESSION_BLOCK,
           "ceiling": CEILING, "ceiling_quick": CEILING_QUICK}
