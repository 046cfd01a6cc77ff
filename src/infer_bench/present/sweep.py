"""What a threads x sessions sweep says: one table per case and one sentence each (pure).

The baseline of every case is one session with the most threads measured (what
``bench`` times: one request at a time, all cores on it). Each layout is put
against it as a throughput ratio and a p50 latency change, so the sentence reads
"2 sessions x 1 thread: 1.7x the throughput of 1 x 2 at +20% p50 latency".
"""

from __future__ import annotations

from collections import defaultdict

from tabulate import tabulate

from ..results.machine import machine_differences
from ..results.sweep import SweepPoint
from .figures import _figure, _save
from .markdown import image, md_table, missing

SWEEP_HEADERS = ["sessions x threads", "p50 ms/call", "p99 ms/call (calls)", "rows/s", "vs baseline"]


def by_variant(points) -> dict[tuple, list[SweepPoint]]:
    """Measured points grouped by ``SweepPoint.variant`` (artifact, runtime, device, batch), in first-seen order."""
    groups: dict[tuple, list[SweepPoint]] = defaultdict(list)
    for p in points:
        if not p.skipped:
            groups[p.variant].append(p)
    return dict(groups)


def baseline(points: list[SweepPoint]) -> SweepPoint | None:
    """One session with the most threads among ``points`` (None if no single-session point)."""
    single = [p for p in points if p.sessions == 1 and p.threads is not None]
    return max(single, key=lambda p: p.threads) if single else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def versus(p: SweepPoint, base: SweepPoint) -> str:
    """"1.7x the throughput at +20% p50 latency" (of ``p`` against ``base``)."""
    ratio = p.throughput_rows_per_s / base.throughput_rows_per_s
    change = 100 * (p.per_call_ms["p50"] / base.per_call_ms["p50"] - 1)
    return f"{ratio:.2f}x the throughput at {change:+.0f}% p50 latency"


def sweep_rows(points: list[SweepPoint]) -> list[list[str]]:
    """Rows of one variant's table, in the order measured; the baseline row says so."""
    base = baseline(points)
    rows = []
    for p in points:
        flag = " (oversubscribed)" if p.oversubscribed else ""
        if p is base:
            vs = "baseline"
        else:
            vs = versus(p, base) if base else ""
        rows.append([f"{p.layout}{flag}", f"{p.per_call_ms['p50']:.3f}",
                     f"{p.per_call_ms['p99']:.3f} ({sum(p.calls_per_session):,})",
                     f"{p.throughput_rows_per_s:,.0f}", vs])
    return rows


def variant_label(points: list[SweepPoint]) -> str:
    p = points[0]
    return f"{p.model} {p.format}/{p.quantization} via {p.runtime} on {p.device}, batch {p.batch_size}"


def sweep_sentence(points: list[SweepPoint]) -> str:
    """One plain sentence: the layout with the most rows per second, against the baseline."""
    base = baseline(points)
    best = max(points, key=lambda p: p.throughput_rows_per_s)
    what = f"{_plural(best.sessions, 'session')} x {_plural(best.threads or 0, 'thread')}"
    if base is None:
        return f"{variant_label(points)}: most rows/s with {what} ({best.throughput_rows_per_s:,.0f})."
    if best is base:
        others = [p for p in points if p is not base]
        tail = f"; the next best, {max(others, key=lambda p: p.throughput_rows_per_s).layout}, gives " + versus(
            max(others, key=lambda p: p.throughput_rows_per_s), base) if others else ""
        return f"{variant_label(points)}: {base.layout} (one request at a time) has the most rows/s{tail}."
    return (f"{variant_label(points)}: {what}: {versus(best, base).replace('the throughput', 'the throughput of ' + base.layout)}.")


def format_sweep(points, table_format: str = "github") -> str:
    """What ``bench --sweep`` prints: per case its label, table and sentence; then the skip reasons."""
    blocks = [f"\n{variant_label(pts)}:\n{tabulate(sweep_rows(pts), headers=SWEEP_HEADERS, tablefmt=table_format)}"
              f"\n{sweep_sentence(pts)}" for pts in by_variant(points).values()]
    return "\n".join(blocks + skipped_lines(points))


def skipped_lines(points) -> list[str]:
    """One line per distinct skip reason, with the cases it covers."""
    reasons: dict[str, set] = defaultdict(set)
    for p in points:
        if p.skipped:
            reasons[p.skipped_reason].add(f"{p.model} {p.format}/{p.quantization} via {p.runtime}")
    return [f"Skipped ({len(cases)} case(s): {', '.join(sorted(cases)[:3])}{' ...' if len(cases) > 3 else ''}): "
            f"{reason}" for reason, cases in reasons.items()]


# --- the report's section and figure -------------------------------------------------------------


def other_setup(sweep_env: dict, bench_env: dict) -> list[str]:
    """The machine differences between a sweep and the bench results, thread settings aside
    (a sweep varies the threads itself)."""
    return machine_differences(bench_env, sweep_env, requested_threads=False)


def draw_sweep(points, path):
    """Rows/s against p50 latency per call, one panel per model, one line per variant through its
    layouts (each point labelled "sessions x threads"). Returns the path."""
    groups = by_variant(points)
    models = list(dict.fromkeys(v[0] for v in groups))
    fig = _figure(6.0 * len(models), 4.2)
    for i, model in enumerate(models, 1):
        ax = fig.add_subplot(1, len(models), i)
        for variant, pts in groups.items():
            if variant[0] != model:
                continue
            pts = sorted(pts, key=lambda p: p.per_call_ms["p50"])
            xs = [p.per_call_ms["p50"] for p in pts]
            ys = [p.throughput_rows_per_s for p in pts]
            label = f"{variant[1]}/{variant[2]} {variant[3]}" + (f" b{variant[5]}" if variant[5] != 1 else "")
            ax.plot(xs, ys, marker="o", label=label)
            for p, x, y in zip(pts, xs, ys):
                ax.annotate(p.layout, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        ax.set_title(model)
        ax.set_xscale("log")
        ax.set_xlabel("p50 ms per call (all sessions pooled)")
        ax.set_ylabel("rows/s, all sessions")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def sweep_section(sweep, sweep_path, problem: str | None, bench_env: dict, figure, out_dir) -> list[str]:
    """The report's "Threads and sessions" lines (none without a sweep file: it is not part of `run`)."""
    if sweep is None and problem is None:
        return []
    lines = ["## Threads and sessions", ""]
    if sweep is None:
        return lines + [missing(problem), ""]
    diffs = other_setup(sweep.environment, bench_env)
    if diffs:
        return lines + [missing(f"`{sweep_path}` was measured on another machine setup than the benchmark "
                                f"results ({'; '.join(diffs)}); left out."), ""]
    lines += [f"From `{sweep_path}` (`infer-bench bench --sweep`): each variant run as k sessions of t intra-op "
              "threads at once (OpenVINO: k streams of one compiled model), latency per call pooled over the "
              "sessions, rows/s over the wall time; the baseline is one session with the most threads.", ""]
    for pts in by_variant(sweep.points).values():
        lines += [f"**{variant_label(pts)}**", "", md_table(sweep_rows(pts), SWEEP_HEADERS), "",
                  sweep_sentence(pts), ""]
    lines += skipped_lines(sweep.points)
    if figure is not None:
        lines += ["", image(figure, out_dir, "rows per second against latency per layout"), ""]
    return lines
