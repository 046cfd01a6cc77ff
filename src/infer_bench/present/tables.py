"""Tables people read: benchmark results sorted fastest first, against the report's way.

Rows are lists of strings for ``tabulate`` (``bench`` prints them) or
``markdown.md_table`` (the report writes them); the headers sit beside them.
"""

from __future__ import annotations

from collections import defaultdict

from ..catalog import REFERENCE_RUNTIME
from ..results.bench import BenchResult
from .wording import compare_speed, format_speedup


def variant(r: BenchResult) -> tuple[str, str, str, str, str]:
    """(model, format, quantization, runtime, device): one artifact run one way, at any batch size."""
    return (r.model, r.format, r.quantization, r.runtime, r.device)


def is_reference(r: BenchResult) -> bool:
    """True for the report's way: the fp32 .keras model run with ``REFERENCE_RUNTIME`` (model.predict)."""
    return r.runtime == REFERENCE_RUNTIME and r.format == "keras"


def best_by_variant(results) -> dict[tuple, BenchResult]:
    """``{variant: result}`` at each variant's highest-throughput batch size; skipped cases left out.

    Keys are in the order the variants first appear; a tie keeps the first result.
    """
    best: dict[tuple, BenchResult] = {}
    for r in results:
        if r.skipped:
            continue
        k = variant(r)
        if k not in best or r.throughput_rows_per_s > best[k].throughput_rows_per_s:
            best[k] = r
    return best


def reference_ms(results, model: str, batch_size: int, device: str = "cpu") -> float | None:
    """p50 per-row ms of the report's way (keras_predict, fp32 .keras) for a model at a batch size."""
    for r in results:
        if (not r.skipped and r.model == model and is_reference(r) and r.batch_size == batch_size
                and r.device == device):
            return r.per_row_ms["p50"]
    return None


def latency_rows(results, batch_size: int = 1) -> list[list]:
    """One row per variant at ``batch_size``, per model fastest first, with "x faster than keras_predict"."""
    rows = []
    by_model = defaultdict(list)
    for r in results:
        if r.batch_size == batch_size:
            by_model[r.model].append(r)
    for model, rs in by_model.items():
        ref = reference_ms(results, model, batch_size)
        measured = sorted((r for r in rs if not r.skipped), key=lambda r: r.per_row_ms["p50"])
        for r in measured:
            p = r.per_row_ms
            vs = "reference" if is_reference(r) else (format_speedup(ref, p["p50"]) if ref else "n/a")
            rows.append([model, r.format, r.quantization, r.runtime, r.device, f"{p['p50']:.4f}", f"{p['p90']:.4f}",
                         f"{p['p99']:.4f}", f"{r.throughput_rows_per_s:,.0f}",
                         "" if r.load_ms is None else f"{r.load_ms:.0f}",
                         "" if r.first_inference_ms is None else f"{r.first_inference_ms:.1f}",
                         f"{r.bytes / 1e6:.2f}" if r.bytes else "", vs])
    return rows


def skipped_summary(results) -> list[str]:
    """One line per distinct skip reason: how many cases, which runtimes, and why."""
    groups = defaultdict(set)
    for r in results:
        if r.skipped:
            groups[r.skipped_reason].add(variant(r))
    return [f"{len(cases)} case(s) skipped ({', '.join(sorted({c[3] + ' on ' + c[4] for c in cases}))}): {reason}"
            for reason, cases in groups.items()]


LATENCY_HEADERS = ["model", "format", "quant", "runtime", "device", "p50 ms/row", "p90", "p99", "rows/s",
                   "load ms", "1st call ms", "MB", f"vs {REFERENCE_RUNTIME}"]


def best_batch_rows(results) -> list[list]:
    """Per variant: the throughput-optimal batch size and its rows/s, fastest first per model."""
    rows = sorted(best_by_variant(results).values(), key=lambda r: (r.model, -r.throughput_rows_per_s))
    return [[r.model, r.format, r.quantization, r.runtime, r.device, r.batch_size,
             f"{r.throughput_rows_per_s:,.0f}", f"{r.per_row_ms['p50']:.4f}"] for r in rows]


BEST_BATCH_HEADERS = ["model", "format", "quant", "runtime", "device", "best batch", "rows/s", "p50 ms/row"]


def model_best_batch_rows(results, model: str) -> list[list[str]]:
    """The report's per-model table: each variant at its best batch, highest throughput first,
    against keras_predict on the CPU at its own best batch (compared as time per row)."""
    best = {k[1:]: r for k, r in best_by_variant(r for r in results if r.model == model).items()}
    base = best.get(("keras", "fp32", REFERENCE_RUNTIME, "cpu"))
    rows = []
    for r in sorted(best.values(), key=lambda r: -r.throughput_rows_per_s):
        if r is base:
            vs = "reference"
        elif base is None:
            vs = "n/a"
        else:
            vs = compare_speed(base.throughput_rows_per_s, r.throughput_rows_per_s, higher_is_better=True)
        rows.append([r.format, r.quantization, r.runtime, r.device, str(r.batch_size),
                     f"{r.throughput_rows_per_s:,.0f}", f"{r.per_row_ms['p50']:.4f}", vs])
    return rows


MODEL_BEST_BATCH_HEADERS = ["format", "quant", "runtime", "device", "best batch", "rows/s", "p50 ms/row",
                            f"vs {REFERENCE_RUNTIME} at its best batch (CPU)"]
