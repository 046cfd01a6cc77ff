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
    if r.passed and r.repair is not None and r.repair.repaired:  # a PASS that needed layers in float says so
        head += f", repaired: {', '.join(r.repair.float_layers)} kept in float"
    return head + ("" if r.passed else ": " + "; ".join(r.reasons))


def summary_line(report: CheckReport) -> str:
    """The last progress line: how many artifacts pass, and how long the check took."""
    passed = sum(r.passed for r in report.entries)
    return f"{passed}/{len(report.entries)} artifacts pass ({report.seconds:.1f} s)"


LAYER_HEADERS = ["keras layer", "noise added", "output SQNR dB", "rel error", "own grid SQNR dB", "clipped"]
LAYER_ROWS_SHOWN = 8  # worst layers per artifact in the text table (the JSON keeps all)


def repair_line(r: CheckResult) -> str:
    """One line on the repair of ``r`` (empty when none was needed)."""
    repair = r.repair
    if repair is None:
        return ""
    if not repair.repaired:
        return f"not repaired: {repair.why}"
    line = (f"repaired: kept in float {', '.join(repair.float_layers)} ({len(repair.attempts)} attempt(s); "
            f"failed original kept as {Path(repair.original_path).name})")
    if repair.speed_cost is not None:
        line += (f"; batch-1 latency {repair.original_ms:.3f} -> {repair.repaired_ms:.3f} ms "
                 f"({repair.speed_cost:.2f}x)")
    # Bench results taken before the repair timed the failed original: say so where the user looks.
    return line + "; rerun `infer-bench bench` for its full timings"


def format_layer_tables(report: CheckReport, tablefmt: str = "github", shown: int = LAYER_ROWS_SHOWN) -> str:
    """Per int8 artifact, its worst layers (``layer_errors``) and what its repair did; empty if none."""
    blocks = []
    for r in report.entries:
        if not r.layer_errors and not r.layer_error_note:
            continue
        head = f"{r.label} ({r.runtime or 'not run'}): per-layer int8 error, worst first"
        if not r.layer_errors:
            blocks.append(f"{r.label}: no per-layer errors ({r.layer_error_note})")
            continue
        rows = [[e.keras_layer, f"{e.noise_added:.1e}", f"{e.sqnr_db:.1f}", f"{e.rel_error:.2%}",
                 f"{e.grid_sqnr_db:.1f}", f"{e.clipped:.2%}"] for e in r.layer_errors[:shown]]
        text = head + "\n" + tabulate(rows, headers=LAYER_HEADERS, tablefmt=tablefmt, disable_numparse=True)
        if len(r.layer_errors) > shown:
            text += f"\n({len(r.layer_errors) - shown} more layers in the JSON)"
        line = repair_line(r)
        blocks.append(text + (f"\n{line}" if line else ""))
    return "\n\n".join(blocks)
