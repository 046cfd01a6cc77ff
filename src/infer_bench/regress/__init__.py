"""Latency regression checks that hold on a busy, noisy 2-core machine (``infer-bench regress``).

Method (why each part is there; the measurements behind it are in docs/regression-gate.md):

1. **A/B in one process.** Every case is timed as a pair: the candidate (the
   fast-set export of the code under test, run through infer-bench's runtime
   adapter) and the reference (the baseline commit's export of the same model,
   run by frozen plain runtime calls, ``reference``), block against block, in
   alternating order. The figure judged is the paired ratio candidate /
   reference. A neighbour that streams memory, or a slower host, slows both
   blocks of a pair alike: the ratio stays put while absolute times move by
   30% or more.
2. **Interleaved rounds.** Each round visits the cases in a fresh (seeded)
   order, so a slow period spreads over all cases instead of hitting one.
3. **Medians and a confidence bound.** Each block is the median of its calls;
   a case's figure is the median over rounds, and a bootstrap of that median
   gives a 95% interval of the change against the baseline. A case is flagged
   only when the *lower* bound of that interval is above its threshold.
4. **A baseline from several fresh processes, and a threshold per case.** The
   baseline pools ``BASELINE_PROCESSES`` fresh processes and adds
   ``CONTENDED_PROCESSES`` run under :class:`MemoryContention`; a case's
   threshold is the largest of the global one, its pooled spread (IQR /
   median) and its machine allowance (how far from the pooled median its
   ratio moved in the slowest of those processes).
5. **Confirm before failing.** When a case is flagged, the set is measured
   again in a fresh process; the case is reported as regressed only if that
   measurement flags it too.
6. **Same machine and libraries only.** A baseline recorded on another CPU,
   core count, library versions or thread count is refused: a library upgrade
   re-records the baseline.

Modules: ``stats`` (pure statistics), ``fastset`` (the cases and their cached
exports), ``reference`` (the reference side: frozen calls, exports rebuilt at the
baseline's commit when the export code changed), ``contention`` (the memory-streaming neighbour), ``runner`` (the
measurements and the check), ``worker`` (the fresh-process entry point),
``table`` (the outcome in words). The records are in ``results.regress``.
"""

from ..results.regress import Baseline, CaseBaseline, CaseComparison, RegressOutcome
from .contention import CONTENTION_MIB, MemoryContention, require_spare_core
from .fastset import CACHE_DIR, FAST_SET, case_id, fast_set_artifacts, resolve_cases
from .reference import EXPORT_SOURCES, ReferenceExports, reference_exports, reference_run
from .runner import (BASELINE_PROCESSES, CONTENDED_PROCESSES, DEFAULT_BASELINE, DEFAULT_ROUNDS,
                     DEFAULT_THREADS, DEFAULT_THRESHOLD_PCT, make_baseline, measure_cases, measure_in_fresh_process,
                     measure_pairs, record_baseline, run_regress, with_slowdown)
from .stats import compare_ratios, pool_processes, relative_spread_pct
from .table import REGRESS_HEADERS, outcome_rows, verdict_lines


__all__ = ["BASELINE_PROCESSES", "CACHE_DIR", "CONTENDED_PROCESSES", "EXPORT_SOURCES", "ReferenceExports",
           "reference_exports", "reference_run", "CONTENTION_MIB",
           "DEFAULT_BASELINE", "DEFAULT_ROUNDS", "DEFAULT_THREADS", "DEFAULT_THRESHOLD_PCT", "FAST_SET",
           "REGRESS_HEADERS", "Baseline", "CaseBaseline", "CaseComparison", "MemoryContention", "RegressOutcome",
           "case_id", "compare_ratios", "fast_set_artifacts", "make_baseline", "measure_cases",
           "measure_in_fresh_process", "measure_pairs", "outcome_rows", "pool_processes", "record_baseline",
           "relative_spread_pct", "require_spare_core", "resolve_cases", "run_regress", "verdict_lines",
           "with_slowdown"]
