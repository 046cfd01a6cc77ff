"""What runs on a fleet node, in a fresh worker process per job: the local code, unchanged.

``on_node`` is what every job does there: it unpacks and verifies the artifact
bytes, captures the node's own environment and fingerprint, and calls the
command's measurement on the verified file. ``run_on_node`` is ``bench``'s:
``bench.run_case`` (the function a local ``bench`` calls) under the same plan.
Any error becomes a "failed: ..." outcome that still names the node: a job is
never retried.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..bench import BenchPlan, Case, run_case
from ..environment import capture_environment
from ..runtimes import get_runtime
from ..runtimes.devices import configure_tensorflow
from .fingerprint import fingerprint_of
from .payload import Payload, unpack
from .records import FAILED, MEASURED, SKIPPED, FleetInfo, with_fleet

TENSORFLOW_FORMATS = ("keras", "savedmodel")  # a runtime loading these runs on TensorFlow
# Ray sets these in a task's worker when the task asks for no CPU (OMP_NUM_THREADS=1) and no GPU
# (CUDA_VISIBLE_DEVICES=""); a local bench has neither, and they would hide a node's GPUs.
RAY_TASK_VARIABLES = ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")


@dataclass(frozen=True)
class NodeOutcome:
    """What a node sends back for one job: its results and the node's environment.

    ``results``: what the command's measurement gave (bench: ``BenchResult`` records with their fleet
    info attached; scenario: the record and its LoadGen logs)."""

    results: tuple
    environment: dict
    fingerprint: str
    fingerprint_fields: dict
    info: FleetInfo
    error: str | None = None  # "failed: ..." when the job broke on the node


def _node_identity() -> tuple[str, dict]:
    """(node id, labels) of the Ray node this worker runs on."""
    import ray  # lazy: only fleet workers import Ray

    ctx = ray.get_runtime_context()
    labels = ctx.get_node_labels() or {}
    return ctx.get_node_id(), {str(k): (v if isinstance(v, str) else ",".join(map(str, v))) for k, v in labels.items()
                               if not str(k).startswith("ray.io/")}


def undo_ray_task_variables(initial_environ: Path = Path("/proc/self/environ")) -> list[str]:
    """Remove the ``RAY_TASK_VARIABLES`` Ray set for this task (absent from the environment the process
    started with, so neither the user nor ``ray start`` set them); returns the names removed.

    Runs before any runtime library is loaded, so they read the environment a local run has.
    """
    try:
        started_with = {item.split(b"=", 1)[0].decode(errors="replace")
                        for item in initial_environ.read_bytes().split(b"\0") if item}
    except OSError:  # no /proc: leave the environment as it is (the record still says what it was)
        return []
    removed = [name for name in RAY_TASK_VARIABLES if name in os.environ and name not in started_with]
    for name in removed:
        del os.environ[name]
    return removed


def on_node(payload: Payload, target: str, threads: int | None, uses_tensorflow: bool,
            measure: Callable[[Path, Path, dict], tuple]) -> NodeOutcome:
    """Verify ``payload`` here and return ``measure(artifact path, scratch folder, node environment)``
    as this node's outcome; the scratch folder and the artifact are deleted afterwards.

    Called inside a Ray task that holds the node's one ``infer_bench_slot`` (nothing else measures
    on this node meanwhile) in a worker process used for this one call. ``threads``: what the
    measurement runs with (the environment block records it; TensorFlow is configured with it).
    """
    start = time.time()  # wall clock: the driver compares intervals of several processes on one node
    undo_ray_task_variables()
    node_id, labels = _node_identity()
    environment = capture_environment(threads)
    fingerprint, fields = fingerprint_of(environment)
    results: tuple = ()
    error = None
    try:
        with tempfile.TemporaryDirectory(prefix="infer-bench-fleet-") as tmp:
            path = unpack(payload, Path(tmp))
            if uses_tensorflow:
                configure_tensorflow(threads)  # as the CLI does before a TensorFlow runtime runs
            results = tuple(measure(path, Path(tmp), environment))
    except Exception as exc:  # noqa: BLE001 - any failure is this job's record; the run goes on
        error = f"failed: {type(exc).__name__}: {exc}"
    status = FAILED if error else (SKIPPED if all(getattr(r, "skipped", False) for r in results) else MEASURED)
    info = FleetInfo(target=target, status=status, artifact_sha256=payload.sha256, node_id=node_id, labels=labels,
                     fingerprint=fingerprint, start_unix=start, end_unix=time.time(), pid=os.getpid())
    return NodeOutcome(results, environment, fingerprint, fields, info, error)


def run_on_node(case: Case, plan: BenchPlan, payload: Payload, target: str) -> NodeOutcome:
    """Measure ``case`` here as a local ``bench`` would, from the artifact bytes in ``payload``."""
    uses_tensorflow = bool(set(get_runtime(case.runtime).formats) & set(TENSORFLOW_FORMATS))
    outcome = on_node(payload, target, plan.threads, uses_tensorflow,
                      lambda path, _scratch, _env: run_case(replace(case, path=path), plan, {}, lambda _line: None))
    return replace(outcome, results=tuple(with_fleet(r, outcome.info) for r in outcome.results))
