"""The one timing core: stop rules, input rotation, the timed loop, latency
statistics and the fixed reference workloads."""

from .loop import (ColdStart, InputRotation, Measurement, bare_loop_ns, measure_cold_start, measure_session,
                   peak_rss_mb, release_freed_heap, time_calls, time_pairs)
from .stats import SUMMARY_KEYS, LatencyStats, Summary
from .stop_rule import BENCH, CEILING, CEILING_QUICK, PRESETS, PROFILE, QUICK, REGRESSION_BLOCK, StopRule

__all__ = ["BENCH", "CEILING", "CEILING_QUICK", "PRESETS", "PROFILE", "QUICK", "REGRESSION_BLOCK", "SUMMARY_KEYS",
           "ColdStart", "InputRotation", "LatencyStats", "Measurement", "StopRule", "Summary", "bare_loop_ns",
           "measure_cold_start", "measure_session", "peak_rss_mb", "release_freed_heap", "time_calls",
           "time_pairs"]
