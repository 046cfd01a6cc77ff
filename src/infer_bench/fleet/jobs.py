"""Jobs on a fleet: one Ray task per job and target, one slot per node; what ``bench --ray`` and
``scenario --ray`` share.

Each job is one Ray task that needs the node's one ``infer_bench_slot`` (so no two
measurements overlap on a node), may only run on a node labelled
``ib.target=<target>`` (never elsewhere), runs in a worker process used for that one
call (``max_calls=1``: a fresh process per job, as a local run loads each case fresh)
and is never retried (``max_retries=0``). Each artifact's bytes go into Ray's object
store once, whatever the job count. The command's ``Handler`` records every job as it
comes back. A target that has no live node for ``unschedulable_after_s`` gets
"unschedulable" records for the jobs it still owed; a job whose node died gives
"failed: node lost" (``loss``); either way the run goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ..errors import InferBenchError
from .cluster import SLOT_RESOURCE, TARGET_LABEL, WORKER_HINT, check_target_name, connected, live_nodes_by_target
from .loss import NodeWatch, Suspect, is_suspect, named_node
from .node import NodeOutcome
from .payload import pack
from .records import FAILED, UNSCHEDULABLE, FleetInfo

DEFAULT_UNSCHEDULABLE_AFTER_S = 60.0
# Ray's GCS declares a node that stopped answering dead after 5 failed health checks: 15 s when each
# fails at once, up to 50 s when each times out (ray_config_def.h: 3 s period, 10 s timeout).
DEFAULT_NODE_DEATH_WAIT_S = 60.0
POLL_S = 0.5  # how often the driver looks at finished tasks and live nodes


@dataclass(frozen=True)
class FleetOptions:
    """Which cluster, which targets (empty: every target with a live node at the start), and how long
    to wait for a target's node to appear and for a dying node to be declared dead."""

    address: str
    targets: tuple[str, ...] = ()
    unschedulable_after_s: float = DEFAULT_UNSCHEDULABLE_AFTER_S
    node_death_wait_s: float = DEFAULT_NODE_DEATH_WAIT_S

    def __post_init__(self):
        object.__setattr__(self, "targets", tuple(self.targets))
        if not isinstance(self.address, str) or not self.address:
            raise InferBenchError("--ray needs the cluster's address.", "pass e.g. --ray 10.0.0.5:6379 or --ray auto.")
        for t in self.targets:
            check_target_name(t)
        if len(set(self.targets)) != len(self.targets):
            raise InferBenchError(f"--targets {','.join(self.targets)} names a target twice.", "name each once.")
        for name, what in (("unschedulable_after_s", "--unschedulable-after (the wait for a target's node)"),
                           ("node_death_wait_s", "node_death_wait_s (the wait for a dying node to be declared dead)")):
            if not getattr(self, name) > 0:
                raise InferBenchError(f"{what} is {getattr(self, name)}; it must be > 0 seconds.",
                                      "pass a positive number of seconds.")


@dataclass(frozen=True)
class Job:
    """One task: ``args`` lead the node function's arguments (the artifact's payload and the target
    follow), ``artifact`` is what travels (checked against ``sha256`` on the node), ``subject`` is
    the command's own description of the job (a bench Case, a scenario Target)."""

    label: str
    target: str
    artifact: Path
    sha256: str
    args: tuple = ()
    subject: object = None


class Handler(Protocol):
    """What a command does with its jobs' answers (results written as they come)."""

    def measured(self, job: Job, outcome: NodeOutcome) -> str:
        """Record a job its node ran without error; return the progress line's note."""

    def not_run(self, job: Job, reason: str, info: FleetInfo) -> None:
        """Record a job that gave no measurement (failed, node lost, unschedulable), saying why."""


@dataclass
class _Run:
    """The driver's state while tasks are out."""

    options: FleetOptions
    handler: Handler
    nodes_block: dict  # the results file's environment["fleet"]["nodes"], filled as nodes report
    log: Callable[[str], None]
    total: int
    pending: dict = field(default_factory=dict)  # ObjectRef -> Job
    suspects: list = field(default_factory=list)  # tasks that died: node lost or not, the cluster will tell
    missing_since: dict = field(default_factory=dict)  # target -> when it was first seen without a live node
    watch: NodeWatch = field(default_factory=NodeWatch)
    done: int = 0

    def _progress(self, job: Job, note: str) -> None:
        self.done += 1
        self.log(f"[{self.done}/{self.total}] {job.target}: {job.label}: {note}")

    def not_run(self, job: Job, reason: str, info: FleetInfo) -> None:
        self.handler.not_run(job, reason, info)
        self._progress(job, reason)

    def outcome(self, job: Job, outcome: NodeOutcome) -> None:
        info = outcome.info
        # The node's environment goes into the file before its first result does (same write).
        self.nodes_block.setdefault(info.node_id, {
            "target": job.target, "labels": info.labels, "fingerprint": outcome.fingerprint,
            "fingerprint_fields": outcome.fingerprint_fields, "environment": outcome.environment})
        if outcome.error:
            self.not_run(job, outcome.error, info)
        else:
            self._progress(job, f"{self.handler.measured(job, outcome)} (node {info.node_id[:8]})")

    def failed(self, ray, job: Job, exc: Exception) -> None:
        """A task that raised instead of returning an outcome (its node function catches its own errors)."""
        brief = f"{type(exc).__name__}: {str(exc).split('. ')[0]}"
        if is_suspect(ray, exc):
            self.suspects.append(Suspect(job, brief, time.monotonic(), named_node(exc)))
        else:
            cause = getattr(exc, "cause", None) or exc
            self.not_run(job, f"failed: {type(cause).__name__}: {cause}", _info(job, FAILED))

    def look(self, ray) -> None:
        """Settle suspects whose node's fate is known; give up on targets without a node for too long."""
        now = time.monotonic()
        live = live_nodes_by_target(ray)
        self.watch.update(live, now)
        for suspect in list(self.suspects):
            reason = self.watch.verdict(suspect, now, self.options.node_death_wait_s)
            if reason is not None:
                self.suspects.remove(suspect)
                self.not_run(suspect.job, reason, _info(suspect.job, FAILED, suspect.node_id))
        for target in sorted({job.target for job in self.pending.values()}):
            if target in live:
                self.missing_since.pop(target, None)
                continue
            since = self.missing_since.setdefault(target, now)
            if now - since >= self.options.unschedulable_after_s:
                self._unschedulable(ray, target, now - since)

    def _unschedulable(self, ray, target: str, waited_s: float) -> None:
        reason = (f"unschedulable: no live node labelled {TARGET_LABEL}={target} with the {SLOT_RESOURCE} "
                  f"resource for {waited_s:.0f} s")
        for ref, job in list(self.pending.items()):
            if job.target == target:
                ray.cancel(ref)
                del self.pending[ref]
                self.not_run(job, reason, _info(job, UNSCHEDULABLE))


def _info(job: Job, status: str, node_id: str | None = None) -> FleetInfo:
    """The fleet info of a job that gave no outcome (``node_id``: the node it was lost with, if known)."""
    return FleetInfo(target=job.target, status=status, artifact_sha256=job.sha256, node_id=node_id)


def resolve_targets(ray, options: FleetOptions, log: Callable[[str], None]) -> tuple[str, ...]:
    """The targets to run on: those named, else every target that has a live node now."""
    live = live_nodes_by_target(ray)
    targets = options.targets or tuple(sorted(live))
    if not targets:
        raise InferBenchError(f"No live node of the Ray cluster at {options.address} carries a {TARGET_LABEL} label "
                              f"and the {SLOT_RESOURCE} resource.", WORKER_HINT + ".")
    log(f"Fleet: target(s) {', '.join(targets)}; live nodes: "
        + (", ".join(f"{t}: {len(n)}" for t, n in sorted(live.items())) or "none"))
    return targets


def run_jobs(options: FleetOptions, node_function: Callable, jobs_for: Callable[[str], list[Job]], handler: Handler,
             nodes_block: dict, log: Callable[[str], None] = print) -> None:
    """Run ``jobs_for(target)`` for every target, each job as ``node_function(*job.args, payload, target)``
    on one of the target's nodes; every job ends in one ``handler`` call.

    ``nodes_block``: the results file's ``environment["fleet"]["nodes"]``; each node's environment
    and fingerprint are added to it when the node's first job comes back.
    """
    with connected(options.address) as ray:
        jobs = [job for target in resolve_targets(ray, options, log) for job in jobs_for(target)]
        payloads = {}
        for job in jobs:
            if job.sha256 not in payloads:
                payloads[job.sha256] = ray.put(pack(job.artifact, job.sha256))
        # max_calls is fixed when the remote function is made (Ray refuses it in .options()).
        task = ray.remote(num_cpus=0, resources={SLOT_RESOURCE: 1}, max_calls=1, max_retries=0)(node_function)
        run = _Run(options, handler, nodes_block, log, total=len(jobs))
        run.look(ray)  # the nodes alive at the start are the ones a later loss is checked against
        for job in jobs:
            routed = task.options(label_selector={TARGET_LABEL: job.target})
            run.pending[routed.remote(*job.args, payloads[job.sha256], job.target)] = job
        last_look = time.monotonic()
        while run.pending or run.suspects:
            if run.pending:
                ready, _ = ray.wait(list(run.pending), num_returns=1, timeout=POLL_S)
            else:
                ready = []
                time.sleep(POLL_S)  # only tasks that died are left: wait for the cluster to settle them
            for ref in ready:
                job = run.pending.pop(ref)
                try:
                    run.outcome(job, ray.get(ref))
                except ray.exceptions.RayError as exc:
                    run.failed(ray, job, exc)
            if time.monotonic() - last_look >= POLL_S:
                run.look(ray)
                last_look = time.monotonic()
