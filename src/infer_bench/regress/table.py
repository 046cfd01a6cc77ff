"""The check's outcome in words: table rows and headers, and the closing verdict lines."""

from __future__ import annotations

from ..results.regress import RegressOutcome

REGRESS_HEADERS = ["case", "baseline cand/ref", "now", "change", "95% interval", "threshold", "host load",
                   "verdict"]


def outcome_rows(outcome: RegressOutcome) -> list[list]:
    """Table rows, slowest change first: case, baseline and current paired ratio, change with its 95% interval,
    threshold, how much slower the reference itself ran than in the baseline (the host's load), verdict."""
    rows = []
    for c in sorted(outcome.comparisons, key=lambda c: -c.change_pct):
        if c.case in outcome.regressed:
            verdict = f"REGRESSED (confidence {c.confidence:.0%} that it is > {c.threshold_pct:.0f}% slower)"
        elif c.regressed:
            verdict = "looked slower, not confirmed in a fresh process"
        elif c.improved:
            verdict = "faster"
        else:
            verdict = "ok"
        rows.append([c.case, f"{c.baseline_ratio:.3f}", f"{c.current_ratio:.3f}", f"{c.change_pct:+.1f}%",
                     f"[{c.ci_low_pct:+.1f}%, {c.ci_high_pct:+.1f}%]",
                     f"{c.threshold_pct:.0f}%" + ("" if c.threshold_reason == "global" else f" ({c.threshold_reason})"),
                     "" if c.host_change_pct is None else f"{c.host_change_pct:+.0f}%", verdict])
    return rows


def verdict_lines(outcome: RegressOutcome) -> list[str]:
    """What follows the table: one REGRESSION line per confirmed case, or that there is none."""
    if not outcome.regressed:
        return [f"No regression above {outcome.threshold_pct:g}% in {len(outcome.comparisons)} cases."]
    return [f"REGRESSION: {c.case} is {c.change_pct:+.1f}% vs baseline (95% interval "
            f"{c.ci_low_pct:+.1f}%..{c.ci_high_pct:+.1f}% over both measurements), confirmed in a second fresh "
            "process."
            for c in outcome.comparisons if c.case in outcome.regressed]
