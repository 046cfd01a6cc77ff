"""``scenario --ray``: the same LoadGen test (or Server search) once on each target, as fleet jobs (``jobs``).

The artifact is resolved on the driver (as a local ``scenario`` resolves it) and its
bytes travel; each target's job runs ``scenario_node.run_scenario_on_node`` on one of
its nodes. Every answer is written as it comes back: the node's record, with its
LoadGen logs copied to ``<results>/scenario-<time>-logs/<target>/``, or why there is
none (failed, node lost, unschedulable).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..plans import ScenarioPlan, check_threads
from ..results.scenario import ScenarioRecord
from ..scenario.runner import new_log_root
from ..scenario.table import verdict_lines
from ..scenario.target import resolve_target
from .jobs import DEFAULT_NODE_DEATH_WAIT_S, DEFAULT_UNSCHEDULABLE_AFTER_S, FleetOptions, Job, run_jobs
from .node import NodeOutcome
from .payload import unpack
from .records import FleetInfo
from .scenario_file import FleetScenarioFile, FleetScenarioWriter, TargetScenario
from .scenario_node import run_scenario_on_node


@dataclass(frozen=True)
class ScenarioFleetPlan:
    """A ``scenario`` plan sent to a Ray cluster's targets.

    ``node_threads``: ``--threads`` as given; None lets each node share its own cores among the
    workers (``scenario.threads`` is the driver's share, which another machine would not have).
    """

    scenario: ScenarioPlan
    address: str
    targets: tuple[str, ...] = ()  # empty: every target that has a live node when the run starts
    unschedulable_after_s: float = DEFAULT_UNSCHEDULABLE_AFTER_S
    node_threads: int | None = None
    node_death_wait_s: float = DEFAULT_NODE_DEATH_WAIT_S
    needs_tensorflow = False  # the driver only dispatches; each node configures TensorFlow itself

    def __post_init__(self):
        object.__setattr__(self, "targets", self.options.targets)  # validated there
        check_threads(self.node_threads)

    @property
    def options(self) -> FleetOptions:
        return FleetOptions(self.address, self.targets, self.unschedulable_after_s, self.node_death_wait_s)

    @property
    def threads(self) -> int | None:
        return self.node_threads


def relocate(record: ScenarioRecord, log_root: Path, artifact: Path) -> ScenarioRecord:
    """``record`` as the driver keeps it: LoadGen's logs at ``log_root`` (copied from the node's scratch
    folder) and the artifact at the driver's path (the node ran a verified copy of its bytes)."""
    old = Path(record.log_root)
    runs = tuple(replace(r, log_dir=str(log_root / Path(r.log_dir).relative_to(old))) for r in record.runs)
    return replace(record, log_root=str(log_root), runs=runs, target={**record.target, "artifact": str(artifact)})


@dataclass
class _ScenarioHandler:
    """Each target's answer into the file (and its logs beside it) as it comes back."""

    writer: FleetScenarioWriter
    log_root: Path

    def measured(self, job: Job, outcome: NodeOutcome) -> str:
        answer = outcome.results[0]
        record = relocate(answer.record, unpack(answer.logs, self.log_root), job.artifact)
        self.writer.add(TargetScenario(outcome.info, record))
        lines = verdict_lines(record)
        return lines[-1] if record.search else lines[0]

    def not_run(self, job: Job, reason: str, info: FleetInfo) -> None:
        self.writer.add(TargetScenario(info, reason=reason))


def run_scenario_fleet(plan: ScenarioFleetPlan, writer: FleetScenarioWriter, nodes_block: dict,
                       log: Callable[[str], None] = print) -> FleetScenarioFile:
    """Run ``plan.scenario`` once on each target; each answer goes to ``writer`` as it comes back.

    ``nodes_block``: the file's ``environment["fleet"]["nodes"]``, filled as nodes report.
    """
    served = resolve_target(plan.scenario)
    handler = _ScenarioHandler(writer, new_log_root(plan.scenario.results_dir, writer.file.created))

    def jobs_for(target: str) -> list[Job]:
        args = (plan.scenario, served, plan.node_threads)
        return [Job(served.label, target, served.path, served.entry.sha256, args, served)]

    run_jobs(plan.options, run_scenario_on_node, jobs_for, handler, nodes_block, log)
    return writer.file
