"""``bench --ray``: every case of the matrix, once on each target, as fleet jobs (``jobs``).

Each (case, target) is one job: ``node.run_on_node`` measures it with
``bench.run_case`` on one of the target's nodes. Results are written as each
case comes back; a case that gave no measurement (failed, node lost,
unschedulable) gets one skipped record per batch size saying why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..bench import BenchPlan, Case, plan_cases
from ..results import BenchResult, ResultsWriter
from .jobs import DEFAULT_NODE_DEATH_WAIT_S, DEFAULT_UNSCHEDULABLE_AFTER_S, FleetOptions, Job, run_jobs
from .node import NodeOutcome, run_on_node
from .records import FleetInfo, not_run


@dataclass(frozen=True)
class FleetPlan:
    """A ``bench`` plan sent to a Ray cluster: which cluster, which targets, how long to wait for a node."""

    bench: BenchPlan
    address: str
    targets: tuple[str, ...] = ()  # empty: every target that has a live node when the run starts
    unschedulable_after_s: float = DEFAULT_UNSCHEDULABLE_AFTER_S
    node_death_wait_s: float = DEFAULT_NODE_DEATH_WAIT_S
    needs_tensorflow = False  # the driver only dispatches; each node configures TensorFlow itself

    def __post_init__(self):
        object.__setattr__(self, "targets", self.options.targets)  # validated there

    @property
    def options(self) -> FleetOptions:
        return FleetOptions(self.address, self.targets, self.unschedulable_after_s, self.node_death_wait_s)

    @property
    def threads(self) -> int | None:
        return self.bench.threads


def _meta(case: Case) -> dict:
    e = case.entry
    return dict(model=e.model, format=e.format, quantization=case.quantization, runtime=case.runtime,
                device=case.device)


@dataclass
class _BenchHandler:
    """Each case's records into the results file as it comes back."""

    batch_sizes: tuple
    writer: ResultsWriter
    results: list = field(default_factory=list)

    def _add(self, results: list[BenchResult]) -> None:
        for r in results:
            self.writer.add(r)
        self.results += results

    def measured(self, job: Job, outcome: NodeOutcome) -> str:
        self._add(list(outcome.results))
        first = outcome.results[0]
        return (f"skipped: {first.skipped_reason}" if first.skipped else
                f"batch {first.batch_size} p50 {first.per_row_ms['p50']:.3f} ms/row")

    def not_run(self, job: Job, reason: str, info: FleetInfo) -> None:
        self._add(not_run(_meta(job.subject), self.batch_sizes, reason, info))


def run_fleet(plan: FleetPlan, writer: ResultsWriter, nodes_block: dict,
              log: Callable[[str], None] = print) -> list[BenchResult]:
    """Run every case of ``plan.bench`` once on each target; results go to ``writer`` as cases finish.

    ``nodes_block``: the dict that the results file's ``environment["fleet"]["nodes"]`` holds; each
    node's environment and fingerprint are added to it when the node's first case comes back.
    """
    cases = plan_cases(plan.bench, log)
    handler = _BenchHandler(tuple(plan.bench.batch_sizes), writer)

    def jobs_for(target: str) -> list[Job]:
        return [Job(c.label, target, c.path, c.entry.sha256, (c, plan.bench), c) for c in cases]

    run_jobs(plan.options, run_on_node, jobs_for, handler, nodes_block, log)
    return handler.results
