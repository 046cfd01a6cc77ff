"""Show the regression gate's two targets (issue 6) on this machine; rerun it any time.

1. No false alarm in N consecutive runs of unchanged code.
2. No false alarm in N runs of unchanged code while another process streams
   memory on the spare core (``--memory-contention``): what a busy CI
   neighbour does, and what made the gate fail CI once.
3. A real 25% slowdown of one case (a spin after each call, injected with the
   test-only --inject-slowdown) is reported in every one of N runs, and only
   that case is reported.

Each run is a fresh ``infer-bench regress`` process, as in CI (a long-lived process
drifts: its allocator and page state are not those of a new run).

Usage: python scripts/regress_targets.py [--runs 10] [--baseline benchmarks/baseline.json]
Prints one line per run and a summary; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infer_bench.regress import DEFAULT_BASELINE
from infer_bench.results.regress import RegressOutcome

SLOWED_CASE = "simple_cnn/onnx/fp32/onnxruntime/b1"
SLOWDOWN = 0.25


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", default=str(DEFAULT_BASELINE))
    parser.add_argument("--case", default=SLOWED_CASE)
    args = parser.parse_args()
    def run_regress(slowdown: str | None = None, contention: bool = False) -> RegressOutcome:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "regress.json"
            cmd = [sys.executable, "-m", "infer_bench", "regress", "--baseline", args.baseline, "--json", str(out)]
            if slowdown:
                cmd += ["--inject-slowdown", slowdown]
            if contention:
                cmd.append("--memory-contention")
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
            if proc.returncode not in (0, 1):
                sys.exit(f"infer-bench regress failed:\n{proc.stderr[-2000:]}")
            return RegressOutcome.load(out)

    def flagged(outcome: RegressOutcome) -> str:
        """The regressed cases with their change and threshold, or 'nothing'."""
        by_case = {c.case: c for c in outcome.comparisons}
        return ", ".join(f"{n} ({by_case[n].change_pct:+.1f}% vs threshold {by_case[n].threshold_pct:.0f}%)"
                         for n in outcome.regressed) or "nothing"

    false_alarms, contended_alarms, detected, wrong = 0, 0, 0, 0
    start = time.perf_counter()
    for i in range(args.runs):
        t0 = time.perf_counter()
        outcome = run_regress()
        false_alarms += bool(outcome.regressed)
        print(f"unchanged run {i + 1}/{args.runs}: flagged {flagged(outcome)} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    for i in range(args.runs):
        t0 = time.perf_counter()
        outcome = run_regress(contention=True)
        contended_alarms += bool(outcome.regressed)
        print(f"unchanged run under memory contention {i + 1}/{args.runs}: flagged {flagged(outcome)} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    for i in range(args.runs):
        t0 = time.perf_counter()
        outcome = run_regress(f"{args.case}={SLOWDOWN}")
        hit = args.case in outcome.regressed
        others = [c for c in outcome.regressed if c != args.case]
        detected += hit
        wrong += bool(others)
        change = next(c.change_pct for c in outcome.comparisons if c.case == args.case)
        print(f"slowed run {i + 1}/{args.runs}: {args.case} {'REPORTED' if hit else 'missed'} "
              f"(measured {change:+.1f}%), other cases flagged: {others or 'none'} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\nSummary ({time.perf_counter() - start:.0f} s): false alarms in unchanged runs: "
          f"{false_alarms}/{args.runs}; under memory contention: {contended_alarms}/{args.runs}; "
          f"{int(SLOWDOWN * 100)}% slowdown of {args.case} reported in "
          f"{detected}/{args.runs} runs; runs where another case was also flagged: {wrong}/{args.runs}")
    return 0 if (false_alarms == 0 and contended_alarms == 0 and detected == args.runs and wrong == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
