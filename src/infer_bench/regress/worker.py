"""One ``regress`` measurement in a fresh process: ``python -m infer_bench.regress.worker '<json spec>'``.

Used by ``infer-bench regress`` for the check itself, to record a baseline over
several processes and to confirm a flagged case in a new one (see
``runner.measure_in_fresh_process``, which writes the spec). Writes
{case: {"ratios": [...], "reference_ms": [...]}} (one entry per round) to the spec's ``out``; with the spec's ``log`` set,
prints its progress lines to stdout for the parent to pass on.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

from ..errors import InferBenchError
from ..results import store
from ..runtimes.devices import configure_tensorflow
from .runner import measure_cases


def _quiet(message: str) -> None:
    """The log of a worker whose parent does not pass its lines on."""


def main(argv: list[str]) -> int:
    """Measure the spec's cases and write their paired ratios; a user-fixable problem is printed plainly, exit 2."""
    spec = json.loads(argv[0])
    try:
        # This process is its own main: it fixes TensorFlow's threads once, before anything uses TensorFlow.
        configure_tensorflow(spec["threads"])
        pairs = measure_cases(spec["cases"], spec["rounds"], spec["threads"], seed=spec["seed"],
                               data_dir=spec["data_dir"], with_contention=spec["with_contention"],
                               slowdowns=spec["slowdowns"], reference_paths=spec.get("reference_paths"),
                               log=partial(print, flush=True) if spec.get("log") else _quiet)
    except InferBenchError as exc:
        print(exc, file=sys.stderr)
        return 2
    store.write_new(Path(spec["out"]), pairs, what="regress worker ratios")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
