"""The search for the most Server QPS at p99 <= the SLO (pure: LoadGen runs are passed in as a function).

Per configuration: probe a start rate; double while VALID, halve while INVALID, then
bisect between the highest VALID and the lowest INVALID rate until they are within
``rel_tol`` of each other, or the configuration's runs are spent. A configuration that is
INVALID just above the best rate found so far cannot win and stops there. The grid is
workers x threads per worker (never more threads in all than cores) x dynamic batching
off/on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import InferBenchError
from .sut import PoolConfig

DEFAULT_REL_TOL = 0.05  # stop when the INVALID rate is within 5% of the VALID one
DEFAULT_MAX_RUNS = 7  # LoadGen runs per configuration
MIN_QPS = 1.0
SEARCH_MAX_BATCH = 8
WAIT_SHARE_OF_SLO = 0.2  # a dynamic batch waits at most a fifth of the latency bound


@dataclass(frozen=True)
class Probe:
    """One LoadGen run of the search: the target rate and LoadGen's verdict."""

    qps: float
    valid: bool


@dataclass(frozen=True)
class SearchOutcome:
    """One configuration's search: the highest VALID rate (None: none), every probe, and why it stopped."""

    best_qps: float | None
    probes: tuple[Probe, ...]
    stopped: str  # "converged", "runs spent", "below the best so far", "nothing valid"


def bracket(probes) -> tuple[float | None, float | None]:
    """(highest VALID rate, lowest INVALID rate above it); None where there is none."""
    valid = [p.qps for p in probes if p.valid]
    lo = max(valid) if valid else None
    invalid = [p.qps for p in probes if not p.valid and (lo is None or p.qps > lo)]
    return lo, (min(invalid) if invalid else None)


def next_qps(probes, start_qps: float, rel_tol: float = DEFAULT_REL_TOL, min_qps: float = MIN_QPS,
             must_beat: float | None = None) -> tuple[float | None, str]:
    """The next rate to probe, or (None, why the search is over)."""
    if not probes:
        return start_qps, ""
    lo, hi = bracket(probes)
    if must_beat is not None and hi is not None and hi <= must_beat * (1 + rel_tol):
        return None, "below the best so far"
    if lo is None:
        q = hi / 2
        return (q, "") if q >= min_qps else (None, "nothing valid")
    if hi is None:
        return lo * 2, ""
    if hi / lo - 1 <= rel_tol:
        return None, "converged"
    return (lo + hi) / 2, ""


def search_max_qps(run: Callable[[float], bool], start_qps: float, max_runs: int = DEFAULT_MAX_RUNS,
                   rel_tol: float = DEFAULT_REL_TOL, min_qps: float = MIN_QPS,
                   must_beat: float | None = None) -> SearchOutcome:
    """Search one configuration; ``run(qps)`` is one LoadGen run, True when VALID.

    ``must_beat``: the best rate of the configurations searched before; the first probe
    is just above it (a configuration that cannot beat it is done in one run)."""
    if start_qps <= 0 or max_runs < 1 or rel_tol <= 0:
        raise InferBenchError(f"search start {start_qps} QPS, {max_runs} runs, tolerance {rel_tol} must be positive.",
                              "pass a positive start rate, run count and tolerance.")
    if must_beat is not None:
        start_qps = max(start_qps, must_beat * (1 + rel_tol))
    probes: list[Probe] = []
    why = "runs spent"
    while len(probes) < max_runs:
        qps, reason = next_qps(probes, start_qps, rel_tol, min_qps, must_beat)
        if qps is None:
            why = reason
            break
        probes.append(Probe(qps, bool(run(qps))))
    else:
        # Runs spent: the last probe may already have settled it.
        _, reason = next_qps(probes, start_qps, rel_tol, min_qps, must_beat)
        why = reason or why
    return SearchOutcome(bracket(probes)[0], tuple(probes), why)


def config_grid(cores: int, slo_ms: float, max_batch: int = SEARCH_MAX_BATCH, batching: bool = True) -> list[PoolConfig]:
    """Every workers x threads split of ``cores`` (and one worker of one thread), each without and
    with dynamic batching (up to ``max_batch`` samples, waiting at most a fifth of ``slo_ms``)."""
    if cores < 1:
        raise InferBenchError(f"{cores} cores: the search needs at least one.", "pass --threads 1 or more.")
    wait = round(slo_ms * WAIT_SHARE_OF_SLO, 3)
    splits = sorted({(1, 1), *((w, cores // w) for w in range(1, cores + 1) if cores % w == 0)})
    grid = []
    for workers, threads in splits:
        grid.append(PoolConfig(workers, threads))
        if batching:
            grid.append(PoolConfig(workers, threads, max_batch, wait))
    return grid
