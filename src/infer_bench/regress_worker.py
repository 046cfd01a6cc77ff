"""One ``regress`` measurement in a fresh process: ``python -m infer_bench.regress_worker '<json spec>'``.

Used by ``infer-bench regress`` to record a baseline over several processes and
to confirm a flagged case in a new one (see ``regress.measure_in_fresh_process``,
which writes the spec). Writes {case: [ratio per round]} to the spec's ``out``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import InferBenchError
from .fsutil import write_json_atomic
from .regress import measure_cases


def main(argv: list[str]) -> int:
    """Measure the spec's cases and write their ratios; a user-fixable problem is printed plainly, exit 2."""
    spec = json.loads(argv[0])
    try:
        ratios = measure_cases(spec["cases"], spec["rounds"], spec["threads"], seed=spec["seed"],
                               data_dir=spec["data_dir"], with_contention=spec["with_contention"],
                               slowdowns=spec["slowdowns"], log=lambda message: None)
    except InferBenchError as exc:
        print(exc, file=sys.stderr)
        return 2
    write_json_atomic(Path(spec["out"]), ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
