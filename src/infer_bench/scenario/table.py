"""The scenario results as text: one row per LoadGen run, one per searched configuration, the verdict lines."""

from __future__ import annotations

from tabulate import tabulate

from ..results.scenario import ScenarioRecord, ScenarioRun

RUN_HEADERS = ["config", "target QPS", "result", "samples/s", "p50 ms", "p90 ms", "p99 ms", "early-stop est. ms",
               "queries", "mean batch"]
SEARCH_HEADERS = ["config (workers x threads, batching)", "1x p50 ms", "naive QPS (workers x 1000/p50)",
                  "best VALID QPS", "LoadGen runs", "stopped"]


def _ms(x) -> str:
    return "" if x is None else f"{x:.2f}"


def _early(run: ScenarioRun) -> str:
    """LoadGen's early-stopping estimates; for Server, whether its p99 rule held and how many queries were late."""
    s = run.summary
    if s.early_stopping_ms:
        return ", ".join(f"{k} {v:.2f}" for k, v in s.early_stopping_ms.items())
    if s.scenario == "Server":
        late = "" if s.over_bound is None else f", {s.over_bound} over bound"
        return ("met" if s.constraints.get("early_stopping") else "NOT met") + late
    return "n/a" if s.scenario == "Offline" else "too few queries"


def run_rows(record: ScenarioRecord) -> list[list[str]]:
    """One row per LoadGen run for ``RUN_HEADERS``."""
    rows = []
    for r in record.runs:
        lat = r.summary.latency_ms
        qps = "" if r.target_qps is None else f"{r.target_qps:.1f}"
        through = r.summary.throughput
        rows.append([r.config.label, qps, r.summary.validity, "" if through is None else f"{through:.1f}",
                     _ms(lat.get("p50")), _ms(lat.get("p90")), _ms(lat.get("p99")), _early(r),
                     "" if r.summary.queries is None else str(r.summary.queries),
                     f"{r.batches.get('mean_batch', 0):.2f}"])
    return rows


def search_rows(record: ScenarioRecord) -> list[list[str]]:
    """One row per searched configuration for ``SEARCH_HEADERS``."""
    rows = []
    for c in (record.search or {}).get("configs", []):
        best = "none" if c["best_qps"] is None else f"{c['best_qps']:.1f}"
        rows.append([c["label"], f"{c['p50_ms']:.2f}", f"{c['naive_qps']:.0f}", best, str(len(c["probes"])),
                     c["stopped"]])
    return rows


def format_record(record: ScenarioRecord, tablefmt: str = "github") -> str:
    """The whole answer: the runs (the search's configurations first), then the verdict lines."""
    t = record.target
    parts = [f"{t['model']} {t['format']}/{t['quantization']} via {t['runtime']} on {t['device']} "
             f"(threads per session: {', '.join(map(str, t['executed']['threads']))}; data: {t['data']})"]
    if record.search:
        parts += ["", tabulate(search_rows(record), headers=SEARCH_HEADERS, tablefmt=tablefmt, disable_numparse=True)]
    parts += ["", tabulate(run_rows(record), headers=RUN_HEADERS, tablefmt=tablefmt, disable_numparse=True), ""]
    parts += verdict_lines(record)
    return "\n".join(parts)


def verdict_lines(record: ScenarioRecord) -> list[str]:
    """What the runs concluded, in words."""
    if record.search:
        s = record.search
        head = f"Search: {s['loadgen_runs']} LoadGen runs in {s['seconds']:.0f} s."
        w = s["winner"]
        if w is None:
            return [head, f"No configuration gave a VALID result at p99 <= {s['slo_ms']:g} ms."]
        return [head, f"Most QPS at p99 <= {s['slo_ms']:g} ms: {w['qps']:.1f} with {w['label']} "
                      f"(the naive workers x 1000/p50 estimate said {w['naive_qps']:.0f})."]
    run = record.runs[0]
    lines = [f"LoadGen: {run.summary.validity}" + (f" ({'; '.join(run.summary.recommendations)})"
                                                   if run.summary.recommendations else "")]
    lines.append(f"LoadGen logs: {run.log_dir}")
    return lines
