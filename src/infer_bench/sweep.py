"""``infer-bench bench --sweep``: each case at every layout of concurrent sessions x intra-op threads.

The question it answers: with C cores, is one session of C threads the best use
of them, or are k sessions of C/k threads each (k requests in flight at once)?
Each point loads ``sessions`` sessions of ``threads`` threads (OpenVINO: one
compiled model with that many streams; ``runtimes.concurrent``), warms each up,
and times them all at once (``measure.measure_concurrent``): the pooled per-call
latency and the rows per second of wall time. The cases are ``bench``'s own
(``plan_cases``: the same filters, skips and test images).

Layouts by default: sessions and threads from 1, 2, 4 ... up to the core count
(and the core count), keeping those with sessions x threads <= cores; lists the
user passes are all run, a layout above the core count flagged "oversubscribed".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

from .bench import BenchPlan, Case, case_rotation, case_skip_reason, plan_cases
from .errors import InferBenchError
from .measure.concurrent import ConcurrentRunError, measure_concurrent
from .results.sweep import SweepPoint, SweepWriter
from .runtimes import PrecisionUnavailable, execution_details, get_runtime
from .runtimes.concurrent import executed_layout, load_sessions, sweep_unsupported_reason
from .runtimes.devices import cpu_count

DEFAULT_SWEEP_BATCH_SIZES = (1,)


def default_counts(cores: int) -> tuple[int, ...]:
    """1, 2, 4 ... below ``cores``, and ``cores``."""
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return tuple(counts + [cores])


@dataclass(frozen=True)
class SweepPlan:
    """A bench plan (its cases and batch sizes) and the layouts to measure each case at.

    ``sessions`` / ``threads``: the counts to combine; empty = ``default_counts``,
    and then only the layouts that fit the cores are kept.
    """

    bench: BenchPlan
    sessions: tuple[int, ...] = ()
    threads: tuple[int, ...] = ()
    needs_tensorflow = False  # TensorFlow's runtimes are skipped (sweep_unsupported_reason)

    def __post_init__(self):
        for name in ("sessions", "threads"):
            values = getattr(self, name)
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                flag = "--sessions" if name == "sessions" else "--sweep-threads"
                raise InferBenchError(f"{flag} {','.join(map(str, values))}: every count must be an integer >= 1.",
                                      f"pass e.g. {flag} 1,2.")
        if self.bench.threads is not None:
            raise InferBenchError("--threads sets one thread count, --sweep varies it.",
                                  "drop --threads, and pass the counts to sweep with --sweep-threads 1,2.")

    def layouts(self, cores: int | None = None) -> list[tuple[int, int]]:
        """(sessions, threads per session) to measure, fewest sessions then most threads first."""
        cores = cores or cpu_count()
        sessions = self.sessions or default_counts(cores)
        threads = self.threads or default_counts(cores)
        pairs = [(s, t) for s in sorted(set(sessions)) for t in sorted(set(threads), reverse=True)]
        if self.sessions and self.threads:  # both given: every layout asked for, oversubscribed ones flagged
            return pairs
        fit = [(s, t) for s, t in pairs if s * t <= cores]
        return fit or [(s, min(threads)) for s in sorted(set(sessions))]


def _point(case: Case, batch_size: int, sessions: int, threads: int | None, cores: int, **kw) -> SweepPoint:
    e = case.entry
    return SweepPoint(model=e.model, format=e.format, quantization=case.quantization, runtime=case.runtime,
                      device=case.device, batch_size=batch_size, sessions=sessions, threads=threads,
                      oversubscribed=threads is not None and sessions * threads > cores, **kw)


def sweep_layout(case: Case, plan: SweepPlan, sessions: int, threads: int, rotation, cores: int) -> list[SweepPoint]:
    """Every batch size of ``case`` with ``sessions`` x ``threads``; a layout the runtime did not run
    as asked is a skipped point naming what it ran."""
    bench = plan.bench
    sizes = bench.batch_sizes

    def skipped(reason: str) -> list[SweepPoint]:
        return [_point(case, b, sessions, threads, cores, skipped_reason=reason) for b in sizes]

    runtime = get_runtime(case.runtime)
    options = bench.load_options(case.device, case.precision)
    try:
        made = load_sessions(runtime, case.path, replace(options, threads=threads), sessions)
    except PrecisionUnavailable as exc:
        return skipped(exc.problem)
    try:
        ran_sessions, ran_threads, problem = executed_layout(made)
        if problem or ran_threads != threads:
            return skipped(problem or f"{case.runtime} ran {ran_threads} thread(s) per session for the {threads} "
                                      f"asked for")
        out = []
        for b in sizes:
            for s in made:  # one untimed call each, in turn: per-size set-up is not timed, nor raced
                s.run(rotation.first(b))
            try:
                m = measure_concurrent([s.run for s in made], rotation, b, bench.stop_rule)
            except ConcurrentRunError as exc:
                raise InferBenchError(f"{case.label} with {sessions} x {threads}: {exc}",
                                      "run the case alone with `infer-bench bench` to see its own error.") from exc
            details = execution_details(made[0])
            out.append(_point(case, b, ran_sessions, ran_threads, cores,
                              per_call_ms=m.stats.per_call_ms.to_dict(),
                              throughput_rows_per_s=m.throughput_rows_per_s, window_s=m.window_ns / 1e9,
                              calls_per_session=m.calls_per_session, raw_calls_ns=m.calls_ns,
                              warnings=tuple(m.stats.noise_warnings()),
                              extra={"execution": details} if details else {}))
        return out
    finally:
        for s in made:
            s.close()


def sweep_case(case: Case, plan: SweepPlan, inputs_cache: dict, cores: int) -> list[SweepPoint]:
    """Every layout of ``plan`` for one case (skipped points say why)."""
    layouts = plan.layouts(cores)
    reason = case_skip_reason(case) or sweep_unsupported_reason(get_runtime(case.runtime))
    if reason:
        return [_point(case, b, s, t, cores, skipped_reason=reason)
                for s, t in layouts for b in plan.bench.batch_sizes]
    rotation = case_rotation(case, plan.bench, inputs_cache)
    out = []
    for s, t in layouts:
        out += sweep_layout(case, plan, s, t, rotation, cores)
    return out


def run_sweep(plan: SweepPlan, writer: SweepWriter, log: Callable[[str], None] = print) -> list[SweepPoint]:
    """Sweep every case of ``plan``; each case's points go to ``writer`` as it finishes."""
    cases = plan_cases(plan.bench, log)
    cores = cpu_count()
    layouts = plan.layouts(cores)
    log(f"Sweeping {len(cases)} cases x {len(layouts)} layouts (sessions x threads: "
        f"{', '.join(f'{s} x {t}' for s, t in layouts)}) at batch {', '.join(map(str, plan.bench.batch_sizes))}, "
        f">= {plan.bench.min_time_s:g} s each, on {cores} cores")
    points, cache, start = [], {}, time.perf_counter()
    for k, case in enumerate(cases, 1):
        t0 = time.perf_counter()
        case_points = sweep_case(case, plan, cache, cores)
        writer.add(case_points)
        points += case_points
        measured = [p for p in case_points if not p.skipped and p.batch_size == plan.bench.batch_sizes[0]]
        if measured:
            best = max(measured, key=lambda p: p.throughput_rows_per_s)
            summary = f"most rows/s: {best.layout} ({best.throughput_rows_per_s:,.0f} rows/s)"
        else:
            summary = f"skipped: {case_points[0].skipped_reason}" if case_points else "nothing to measure"
        log(f"[{k}/{len(cases)}] {case.label}: {summary} ({time.perf_counter() - t0:.1f} s; "
            f"{time.perf_counter() - start:.0f} s elapsed)")
    return points
