"""Tables people read: benchmark results sorted fastest first, against the report's way."""

from __future__ import annotations

from collections import defaultdict

from .bench import REFERENCE_RUNTIME
from .results import BenchResult
from .stats import format_speedup


def _variant(r: BenchResult) -> tuple:
    return (r.model, r.format, r.quantization, r.runtime, r.device)


def reference_ms(results, model: str, batch_size: int, device: str = "cpu") -> float | None:
    """p50 per-row ms of the report's way (keras_predict, fp32 .keras) for a model at a batch size."""
    for r in results:
        if (not r.skipped and r.model == model and r.runtime == REFERENCE_RUNTIME and r.format == "keras"
                and r.batch_size == batch_size and r.device == device):
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
            vs = "reference" if (r.runtime == REFERENCE_RUNTIME and r.format == "keras") else (
                format_speedup(ref, p["p50"]) if ref else "n/a")
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
            groups[r.skipped_reason].add((r.model, r.format, r.quantization, r.runtime, r.device))
    return [f"{len(cases)} case(s) skipped ({', '.join(sorted({c[3] + ' on ' + c[4] for c in cases}))}): {reason}"
            for reason, cases in groups.items()]


LATENCY_HEADERS = ["model", "format", "quant", "runtime", "device", "p50 ms/row", "p90", "p99", "rows/s",
                   "load ms", "1st call ms", "MB", f"vs {REFERENCE_RUNTIME}"]


def best_batch_rows(results) -> list[list]:
    """Per variant: the throughput-optimal batch size and its rows/s, fastest first per model."""
    best: dict[tuple, BenchResult] = {}
    for r in results:
        if r.skipped:
            continue
        k = _variant(r)
        if k not in best or r.throughput_rows_per_s > best[k].throughput_rows_per_s:
            best[k] = r
    rows = sorted(best.values(), key=lambda r: (r.model, -r.throughput_rows_per_s))
    return [[r.model, r.format, r.quantization, r.runtime, r.device, r.batch_size,
             f"{r.throughput_rows_per_s:,.0f}", f"{r.per_row_ms['p50']:.4f}"] for r in rows]


BEST_BATCH_HEADERS = ["model", "format", "quant", "runtime", "device", "best batch", "rows/s", "p50 ms/row"]
