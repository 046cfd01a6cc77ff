"""Compare two ``infer-bench bench`` results files case by case (p50 per row).

Usage: python scripts/compare_runs.py A.json B.json [--tolerance-pct 10]
Prints each case's p50 in both runs and their ratio; exits 1 if any case differs by
more than the tolerance (used to show that back-to-back runs agree). Files measured on
different machines (CPU model, core count, library versions, threads) are refused with
a message naming the differing fields: their timings are not comparable.
"""

from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from infer_bench.errors import InferBenchError
from infer_bench.results import load_results, require_same_machine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--tolerance-pct", type=float, default=10.0)
    args = parser.parse_args()

    try:
        file_a, file_b = load_results(args.a), load_results(args.b)
        require_same_machine(file_a.environment, file_b.environment, args.a, args.b)
    except InferBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def index(results_file):
        return {(r.model, r.format, r.quantization, r.runtime, r.device, r.batch_size): r
                for r in results_file.results if not r.skipped}

    a, b = index(file_a), index(file_b)
    rows, worst = [], 0.0
    for key in sorted(set(a) & set(b)):
        pa, pb = a[key].per_row_ms["p50"], b[key].per_row_ms["p50"]
        diff = (pb / pa - 1) * 100
        worst = max(worst, abs(diff))
        rows.append(["/".join(map(str, key)), f"{pa:.4f}", f"{pb:.4f}", f"{diff:+.1f}%",
                     "ok" if abs(diff) <= args.tolerance_pct else "DIFFERS"])
    print(tabulate(rows, headers=["case", "p50 ms/row A", "p50 ms/row B", "B vs A", f"within {args.tolerance_pct:g}%"],
                   tablefmt="github"))
    within = sum(r[-1] == "ok" for r in rows)
    print(f"\n{within} of {len(rows)} cases agree within {args.tolerance_pct:g}% (worst {worst:.1f}%)")
    return 0 if within == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
