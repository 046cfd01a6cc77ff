"""Latency regression checks that hold on a noisy 2-core machine (``infer-bench regress``).

Method (why each part is there):

1. **Ratios, not times.** Every case is timed right next to a fixed calibration
   workload (an ONNX Runtime fp32 MatMul on the same threads). The recorded
   figure is case time / calibration time. A faster or slower machine, or a
   neighbour that slows the whole machine for a while, moves both and cancels.
2. **Interleaved rounds.** Each round visits the cases in a fresh (seeded)
   order, calibration block then case block, so slow periods spread over all
   cases instead of hitting one.
3. **Medians and a confidence bound.** Each block is the median of its calls;
   a case's figure is the median over rounds, and a bootstrap of that median
   gives a 95% interval of the change against the baseline. A case is flagged
   only when the *lower* bound of that interval is above its threshold.
4. **A baseline from several fresh processes, and a threshold per case.** Some
   cases run at a different speed in each new process on a shared VM host
   (``alexnet_fashion`` at batch 1 streams 85 MB of weights per call, and how
   fast depends on where they land in memory: 41-64x the calibration across six
   quiet processes), and slow further when another tenant streams through
   memory. So the baseline pools ``BASELINE_PROCESSES`` fresh processes, adds
   ``CONTENDED_PROCESSES`` run under :class:`MemoryContention`, and a case's
   threshold is the largest of the global one, its pooled spread (IQR /
   median) and its machine allowance (how much slower than the pooled median
   it ran in the slowest of those processes). A case that the machine alone
   moves by 40% is only judged beyond 40%; the steady ones keep 10%. The check
   itself also runs in a fresh process.
5. **Confirm before failing.** When a case is flagged, the set is measured
   again in a fresh process; the case is reported as regressed only if that
   measurement flags it too.
6. **Same machine only.** A baseline recorded on another CPU, core count,
   library versions or thread count is refused: its ratios say nothing here.

Modules: ``stats`` (pure statistics), ``fastset`` (the cases and their cached
exports), ``contention`` (the memory-streaming neighbour), ``runner`` (the
measurements and the check), ``worker`` (the fresh-process entry point),
``table`` (the outcome in words). The records are in ``results.regress``.
"""

from ..results.regress import Baseline, CaseBaseline, CaseComparison, RegressOutcome
from .contention import CONTENTION_MIB, MemoryContention, require_spare_core
from .fastset import CACHE_DIR, FAST_SET, case_id, fast_set_artifacts, resolve_cases
from .runner import (BASELINE_PROCESSES, CALIBRATION_SIZE, CONTENDED_PROCESSES, DEFAULT_BASELINE, DEFAULT_ROUNDS,
                     DEFAULT_THREADS, DEFAULT_THRESHOLD_PCT, make_baseline, measure_cases, measure_in_fresh_process,
                     measure_ratios, record_baseline, run_regress, with_slowdown)
from .stats import compare_ratios, pool_processes, relative_spread_pct
from .table import REGRESS_HEADERS, outcome_rows, verdict_lines


__all__ = ["BASELINE_PROCESSES", "CACHE_DIR", "CALIBRATION_SIZE", "CONTENDED_PROCESSES", "CONTENTION_MIB",
           "DEFAULT_BASELINE", "DEFAULT_ROUNDS", "DEFAULT_THREADS", "DEFAULT_THRESHOLD_PCT", "FAST_SET",
           "REGRESS_HEADERS", "Baseline", "CaseBaseline", "CaseComparison", "MemoryContention", "RegressOutcome",
           "case_id", "compare_ratios", "fast_set_artifacts", "make_baseline", "measure_cases",
           "measure_in_fresh_process", "measure_ratios", "outcome_rows", "pool_processes", "record_baseline",
           "relative_spread_pct", "require_spare_core", "resolve_cases", "run_regress", "verdict_lines",
           "with_slowdown"]
