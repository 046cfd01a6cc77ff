"""The gate's statistics (pure): spread, the bootstrap of a median, the comparison, pooling a baseline.

Everything here works on lists of paired ratios (candidate block time /
reference block time per round) and is tested with hand-computed numbers; nothing measures.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..results.regress import CaseBaseline, CaseComparison

BOOTSTRAP_SAMPLES = 2000
CONFIDENCE = 0.95

__all__ = ["BOOTSTRAP_SAMPLES", "CONFIDENCE", "CaseComparison", "bootstrap_medians", "compare_ratios",
           "pool_processes", "relative_spread_pct"]


def relative_spread_pct(ratios: Sequence[float]) -> float:
    """Interquartile range / median of a case's rounds, in percent: how much it swings by itself."""
    r = np.asarray(ratios, dtype=float)
    q1, med, q3 = np.percentile(r, [25, 50, 75])
    return float((q3 - q1) / med * 100)


def bootstrap_medians(sample: np.ndarray, rng: np.random.Generator, samples: int = BOOTSTRAP_SAMPLES) -> np.ndarray:
    """The medians of ``samples`` resamples of ``sample`` (each as large as it, drawn with replacement)."""
    return np.median(rng.choice(sample, size=(samples, sample.size), replace=True), axis=1)


def compare_ratios(case: str, baseline: float | Sequence[float], current: Sequence[float], threshold_pct: float,
                   seed: int = 0, allowance_pct: float = 0.0, host_change_pct: float | None = None) -> CaseComparison:
    """Compare current per-round ratios with the baseline's (a list of rounds, or one ratio).

    Both samples are bootstrapped, so a noisy baseline widens the interval as
    much as a noisy run does. The threshold applied is the largest of
    ``threshold_pct``, the baseline's own spread (interquartile range over
    median) and ``allowance_pct`` (how much slower the unchanged case ran in
    its slowest baseline process, those under memory contention included): a
    case that swings by 25% between processes, or by 60% when a neighbour
    streams memory, on an unchanged machine cannot be judged at 10%.
    Regressed when the lower end of the 95% interval is above that threshold;
    improved when the upper end is below minus it. ``host_change_pct`` (how
    much slower the reference ran than in the baseline) is carried along for
    the output.
    """
    current = np.asarray(current, dtype=float)
    base = np.atleast_1d(np.asarray(baseline, dtype=float))
    for name, arr in (("current ratios", current), ("baseline ratios", base)):
        if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{case}: {name} must be positive finite numbers, got {arr.tolist()}")
    rng = np.random.default_rng(seed)
    boot_now = bootstrap_medians(current, rng)
    boot_base = bootstrap_medians(base, rng)
    change = (boot_now / boot_base - 1.0) * 100.0
    alpha = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(change, [alpha, 100 - alpha])
    candidates = {"global": threshold_pct, "machine": float(allowance_pct)}
    if base.size >= 4:  # fewer rounds give no meaningful quartiles
        candidates["spread"] = relative_spread_pct(base)
    reason = max(candidates, key=candidates.get)
    threshold = candidates[reason]
    med, base_med = float(np.median(current)), float(np.median(base))
    return CaseComparison(case, base_med, med, (med / base_med - 1) * 100, float(low), float(high), threshold, reason,
                          float(np.mean(change > threshold)), bool(low > threshold), bool(high < -threshold),
                          None if host_change_pct is None else round(float(host_change_pct), 1))


def pool_processes(per_process: Sequence[dict[str, dict[str, list[float]]]],
                   contended: Sequence[dict[str, dict[str, list[float]]]]) -> dict[str, CaseBaseline]:
    """Per case: the ratios of every quiet process pooled, each process's median and the machine allowance.

    Each process is {case: {"ratios": [...], "reference_ms": [...]}}, one entry
    per round. The allowance is how much slower than the pooled median the
    unchanged case ran in the slowest of all the processes, quiet and
    contended (in percent, at least 0). Ratios and medians are rounded to 5
    decimals, the allowance to one, as baseline.json stores them.
    """
    if not per_process or not contended:
        raise ValueError("need at least one quiet and one contended process's ratios")
    cases = {}
    for name in per_process[0]:
        pooled = [x for proc in per_process for x in proc[name]["ratios"]]
        quiet = float(np.median(pooled))
        medians = [float(np.median(proc[name]["ratios"])) for proc in per_process]
        under = [float(np.median(proc[name]["ratios"])) for proc in contended]
        reference_ms = float(np.median([x for proc in per_process for x in proc[name]["reference_ms"]]))
        cases[name] = CaseBaseline(quiet, tuple(round(x, 5) for x in pooled), tuple(round(m, 5) for m in medians),
                                   tuple(round(m, 5) for m in under),
                                   round(max(0.0, (max(*under, *medians) / quiet - 1) * 100), 1),
                                   round(reference_ms, 5))
    return cases
