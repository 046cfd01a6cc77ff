"""The accuracy check as text: the results table and the progress lines printed while it runs."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from ..results.check import FAIL, CheckReport, CheckResult

TABLE_HEADERS = ["model", "format", "quantization", "ref acc", "acc", "Δ pts", "agreement", "max abs diff",
                 "random max abs diff", "verdict"]


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.2%}"


def _sci(x: float | None) -> str:
    return "" if x is None else f"{x:.1e}"


def table_rows(report: CheckReport) -> list[list[str]]:
    """One row per artifact for ``TABLE_HEADERS``."""
    rows = []
    for r in report.entries:
        model = r.model + (f" ({Path(r.path).name})" if r.extra else "")
        delta = r.accuracy_delta_pts
        verdict = r.verdict if r.passed else f"{FAIL}: " + "; ".join(r.reasons)
        rows.append([model, r.format, r.quantization, _pct(r.reference_accuracy), _pct(r.test_accuracy),
                     "" if delta is None else f"{delta:+.2f}", _pct(r.test.top1_agreement if r.test else None),
                     _sci(r.test.max_abs_diff if r.test else None),
                     _sci(r.random.max_abs_diff if r.random else None), verdict])
    return rows


def format_table(report: CheckReport, tablefmt: str = "github") -> str:
    """The results as a table: what each precision costs in accuracy points, and the verdicts."""
    return tabulate(table_rows(report), headers=TABLE_HEADERS, tablefmt=tablefmt, disable_numparse=True)


def progress_line(k: int, n: int, r: CheckResult) -> str:
    """The line logged after the ``k``-th of ``n`` artifacts, e.g. "[1/9] simple_cnn onnx/fp32: PASS (...)"."""
    head = f"[{k}/{n}] {r.label}: {r.verdict}"
    if r.test is not None:
        head += (f" (acc {r.reference_accuracy:.1%} → {r.test_accuracy:.1%}, agreement {r.test.top1_agreement:.1%},"
                 f" {r.seconds:.1f} s)")
    else:
        head += f" ({r.seconds:.1f} s)"
    return head + ("" if r.passed else ": " + "; ".join(r.reasons))


def summary_line(report: CheckReport) -> str:
    """The last progress line: how many artifacts pass, and how long the check took."""
    passed = sum(r.passed for r in report.entries)
    return f"{passed}/{len(report.entries)} artifacts pass ({report.seconds:.1f} s)"
