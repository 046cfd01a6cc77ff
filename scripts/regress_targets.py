"""Show the regression gate's targets (issue 20) on this machine; rerun it any time.

Four kinds of fresh ``infer-bench regress`` processes, as CI runs them, N of each:

1. unchanged code: nothing may be flagged;
2. unchanged code while another process streams memory on the spare core
   (``--memory-contention``, what a busy CI neighbour does): nothing may be flagged;
3. a real 25% slowdown (a spin after each call, the test-only
   ``--inject-slowdown``) of each of three cases at once: a compute-bound one,
   a memory-bound batch-1 one and LiteRT's batch-8 AlexNet. Each must be
   reported in every run, and no other case;
4. the same slowdowns under memory contention.

Prints one line per run, then a table of rates; exits 1 if a target is missed.
Usage: python scripts/regress_targets.py [--runs 10] [--baseline benchmarks/baseline.json]
                                       [--kinds unchanged,contended,slowed,slowed-contended]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from infer_bench.regress import DEFAULT_BASELINE
from infer_bench.results.regress import RegressOutcome

SLOWED_CASES = ("simple_cnn/onnx/fp32/onnxruntime/b1", "alexnet_fashion/onnx/fp32/onnxruntime/b1",
                "alexnet_fashion/tflite/fp32/litert/b8")
SLOWDOWN = 0.25
KINDS = {"unchanged": ("unchanged", (), False), "contended": ("unchanged, memory contention", (), True),
         "slowed": ("25% slower x3", SLOWED_CASES, False),
         "slowed-contended": ("25% slower x3, memory contention", SLOWED_CASES, True)}


def run_regress(baseline: str, slowed: tuple[str, ...] = (), contention: bool = False) -> RegressOutcome:
    """One fresh ``infer-bench regress`` process; its --json outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "regress.json"
        cmd = [sys.executable, "-m", "infer_bench", "regress", "--baseline", baseline, "--json", str(out)]
        for case in slowed:
            cmd += ["--inject-slowdown", f"{case}={SLOWDOWN}"]
        if contention:
            cmd.append("--memory-contention")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        if proc.returncode not in (0, 1):
            sys.exit(f"infer-bench regress failed:\n{proc.stderr[-2000:]}")
        return RegressOutcome.load(out)


def describe(outcome: RegressOutcome, cases) -> str:
    """The named cases' measured change, and what was flagged."""
    by_case = {c.case: c for c in outcome.comparisons}
    changes = ", ".join(f"{c.split('/')[0]}/{c.split('/')[3]}/{c.split('/')[4]} {by_case[c].change_pct:+.1f}%"
                        for c in cases)
    host = max((c.host_change_pct or 0.0) for c in outcome.comparisons)
    return f"flagged: {', '.join(outcome.regressed) or 'nothing'}; {changes}; host up to {host:+.0f}% slower"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline", default=str(DEFAULT_BASELINE))
    parser.add_argument("--kinds", default=",".join(KINDS), help="which kinds of runs, comma-separated")
    args = parser.parse_args()
    unknown = set(args.kinds.split(",")) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; use some of {', '.join(KINDS)}")
    kinds = [KINDS[k] for k in args.kinds.split(",")]
    rows, ok, start = [], True, time.perf_counter()
    for label, slowed, contention in kinds:
        false_alarms, caught = 0, {c: 0 for c in slowed}
        for i in range(args.runs):
            t0 = time.perf_counter()
            outcome = run_regress(args.baseline, slowed, contention)
            false_alarms += bool(set(outcome.regressed) - set(slowed))
            for case in slowed:
                caught[case] += case in outcome.regressed
            print(f"{label} {i + 1}/{args.runs}: {describe(outcome, SLOWED_CASES)} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
        detection = ", ".join(f"{c}: {n}/{args.runs}" for c, n in caught.items()) or "-"
        rows.append([label, f"{false_alarms}/{args.runs}", detection])
        ok = ok and false_alarms == 0 and all(n == args.runs for n in caught.values())
    print(f"\n{len(kinds) * args.runs} runs in {time.perf_counter() - start:.0f} s")
    print(tabulate(rows, headers=["runs", "runs flagging an unchanged case", "slowed cases reported"],
                   tablefmt="github"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
