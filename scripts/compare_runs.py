"""Compare two ``infer-bench bench`` results files case by case (p50 per row).

Usage: python scripts/compare_runs.py A.json B.json [--tolerance-pct 10]
Prints each case's p50 in both runs and their ratio; exits 1 if any case differs by
more than the tolerance (used to show that back-to-back runs agree).
"""

from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from infer_bench.results import load_results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--tolerance-pct", type=float, default=10.0)
    args = parser.parse_args()

    def index(path):
        return {(r.model, r.format, r.quantization, r.runtime, r.device, r.batch_size): r
                for r in load_results(path).results if not r.skipped}

    a, b = index(args.a), index(args.b)
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
