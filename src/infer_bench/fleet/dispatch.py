"""``bench --ray``: send every case to each target's nodes on Ray, one case at a time per node.

Each (case, target) is one Ray task that needs the node's one
``infer_bench_slot`` (so no two measurements overlap on a node), may only run
on a node labelled ``ib.target=<target>`` (never elsewhere), runs in a worker
process used for that one call (``max_calls=1``: a fresh process per case, as
a local run loads each case fresh) and is never retried (``max_retries=0``).
Results are written as each case comes back. A target that has no live node
for ``unschedulable_after_s`` gets "unschedulable" records for the cases it
still owed; a node that dies mid-case gives "failed: node lost"; either way
the run goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..bench import BenchPlan, Case, plan_cases
from ..errors import InferBenchError
from ..results import BenchResult, ResultsWriter
from .cluster import SLOT_RESOURCE, TARGET_LABEL, WORKER_HINT, check_target_name, connected, live_nodes_by_target
from .node import NodeOutcome, run_on_node
from .payload import pack
from .records import FAILED, NODE_LOST, UNSCHEDULABLE, FleetInfo, not_run

DEFAULT_UNSCHEDULABLE_AFTER_S = 60.0
POLL_S = 0.5  # how often the driver looks at finished tasks and live nodes


@dataclass(frozen=True)
class FleetPlan:
    """A ``bench`` plan sent to a Ray cluster: which cluster, which targets, how long to wait for a node."""

    bench: BenchPlan
    address: str
    targets: tuple[str, ...] = ()  # empty: every target that has a live node when the run starts
    unschedulable_after_s: float = DEFAULT_UNSCHEDULABLE_AFTER_S
    needs_tensorflow = False  # the driver only dispatches; each node configures TensorFlow itself

    def __post_init__(self):
        object.__setattr__(self, "targets", tuple(self.targets))
        if not isinstance(self.address, str) or not self.address:
            raise InferBenchError("--ray needs the cluster's address.", "pass e.g. --ray 10.0.0.5:6379 or --ray auto.")
        for t in self.targets:
            check_target_name(t)
        if len(set(self.targets)) != len(self.targets):
            raise InferBenchError(f"--targets {','.join(self.targets)} names a target twice.", "name each once.")
        if not self.unschedulable_after_s > 0:
            raise InferBenchError(f"The unschedulable timeout {self.unschedulable_after_s} must be > 0 seconds.",
                                  "pass a positive number of seconds.")

    @property
    def threads(self) -> int | None:
        return self.bench.threads


def _meta(case: Case) -> dict:
    e = case.entry
    return dict(model=e.model, format=e.format, quantization=case.quantization, runtime=case.runtime,
                device=case.device)


@dataclass
class _Run:
    """The driver's state while tasks are out: what each pending task is, and which targets lack a node."""

    plan: FleetPlan
    writer: ResultsWriter
    nodes_block: dict  # the results file's environment["fleet"]["nodes"], filled as nodes report
    log: Callable[[str], None]
    pending: dict = field(default_factory=dict)  # ObjectRef -> (Case, target)
    missing_since: dict = field(default_factory=dict)  # target -> when it was first seen without a live node
    results: list = field(default_factory=list)
    done: int = 0
    total: int = 0

    def record(self, case: Case, target: str, results: list[BenchResult], note: str) -> None:
        for r in results:
            self.writer.add(r)
        self.results += results
        self.done += 1
        self.log(f"[{self.done}/{self.total}] {target}: {case.label}: {note}")

    def record_not_run(self, case: Case, target: str, reason: str, info: FleetInfo) -> None:
        """A case that gave no measurement (failed, lost, unschedulable): one record per batch size, saying why."""
        self.record(case, target, not_run(_meta(case), self.plan.bench.batch_sizes, reason, info), reason)

    def outcome(self, case: Case, target: str, outcome: NodeOutcome) -> None:
        info = outcome.info
        # The node's environment goes into the file before its first result does (same write).
        self.nodes_block.setdefault(info.node_id, {
            "target": target, "labels": info.labels, "fingerprint": outcome.fingerprint,
            "fingerprint_fields": outcome.fingerprint_fields, "environment": outcome.environment})
        if outcome.error:
            self.record_not_run(case, target, outcome.error, info)
            return
        first = outcome.results[0]
        note = (f"skipped: {first.skipped_reason}" if first.skipped else
                f"batch {first.batch_size} p50 {first.per_row_ms['p50']:.3f} ms/row")
        self.record(case, target, list(outcome.results), f"{note} (node {info.node_id[:8]})")

    def lost(self, case: Case, target: str, reason: str) -> None:
        self.record_not_run(case, target, reason, FleetInfo(target=target, status=FAILED,
                                                            artifact_sha256=case.entry.sha256))

    def unschedulable(self, ray, target: str, waited_s: float) -> None:
        reason = (f"unschedulable: no live node labelled {TARGET_LABEL}={target} with the {SLOT_RESOURCE} "
                  f"resource for {waited_s:.0f} s")
        for ref, (case, t) in list(self.pending.items()):
            if t == target:
                ray.cancel(ref)
                del self.pending[ref]
                self.record_not_run(case, target, reason, FleetInfo(target=target, status=UNSCHEDULABLE,
                                                                    artifact_sha256=case.entry.sha256))


def _failure_reason(ray, exc: Exception) -> str:
    """The record's reason for a task that raised instead of returning an outcome."""
    lost = (ray.exceptions.NodeDiedError, ray.exceptions.WorkerCrashedError, ray.exceptions.LocalRayletDiedError,
            ray.exceptions.ObjectLostError)
    if isinstance(exc, lost):
        return f"{NODE_LOST} ({type(exc).__name__})"
    cause = getattr(exc, "cause", None) or exc
    return f"failed: {type(cause).__name__}: {cause}"


def _watch_targets(ray, run: _Run) -> None:
    """Give up on targets that have had no live node for the plan's timeout (their cases: unschedulable)."""
    waiting = {t for _, t in run.pending.values()}
    live = live_nodes_by_target(ray)
    now = time.monotonic()
    for target in sorted(waiting):
        if target in live:
            run.missing_since.pop(target, None)
            continue
        since = run.missing_since.setdefault(target, now)
        if now - since >= run.plan.unschedulable_after_s:
            run.unschedulable(ray, target, now - since)


def run_fleet(plan: FleetPlan, writer: ResultsWriter, nodes_block: dict,
              log: Callable[[str], None] = print) -> list[BenchResult]:
    """Run every case of ``plan.bench`` once on each target; results go to ``writer`` as cases finish.

    ``nodes_block``: the dict that the results file's ``environment["fleet"]["nodes"]`` holds; each
    node's environment and fingerprint are added to it when the node's first case comes back.
    """
    cases = plan_cases(plan.bench, log)
    with connected(plan.address) as ray:
        live = live_nodes_by_target(ray)
        targets = plan.targets or tuple(sorted(live))
        if not targets:
            raise InferBenchError(f"No live node of the Ray cluster at {plan.address} carries a {TARGET_LABEL} label "
                                  f"and the {SLOT_RESOURCE} resource.", WORKER_HINT + ".")
        log(f"Fleet: {len(cases)} cases x {len(targets)} target(s) ({', '.join(targets)}); live nodes: "
            + (", ".join(f"{t}: {len(n)}" for t, n in sorted(live.items())) or "none"))
        payloads = {}
        for case in cases:  # each artifact's bytes go into the object store once, whatever the case count
            if case.entry.sha256 not in payloads:
                payloads[case.entry.sha256] = ray.put(pack(case.path, case.entry.sha256))
        # max_calls is fixed when the remote function is made (Ray refuses it in .options()).
        task = ray.remote(num_cpus=0, resources={SLOT_RESOURCE: 1}, max_calls=1, max_retries=0)(run_on_node)
        run = _Run(plan, writer, nodes_block, log, total=len(cases) * len(targets))
        for target in targets:
            routed = task.options(label_selector={TARGET_LABEL: target})
            for case in cases:
                run.pending[routed.remote(case, plan.bench, payloads[case.entry.sha256], target)] = (case, target)
        last_watch = 0.0
        while run.pending:
            ready, _ = ray.wait(list(run.pending), num_returns=1, timeout=POLL_S)
            for ref in ready:
                case, target = run.pending.pop(ref)
                try:
                    run.outcome(case, target, ray.get(ref))
                except ray.exceptions.RayError as exc:
                    run.lost(case, target, _failure_reason(ray, exc))
            if time.monotonic() - last_watch >= POLL_S:
                _watch_targets(ray, run)
                last_watch = time.monotonic()
        return run.results
