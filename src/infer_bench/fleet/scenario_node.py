"""What ``scenario --ray`` runs on a node: the local ``scenario`` code on the verified artifact.

The driver resolves the artifact (manifest entry, input data, runtime) once; the node
gets that ``Target`` and the plan, and runs ``run_scenario`` (or ``run_search``) as a
local ``infer-bench scenario`` would, with this node's own cores when ``--threads``
was not given. LoadGen writes its logs into the job's scratch folder; they travel
back as bytes (a sorted tar with its sha256) with the record.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..fsutil import sha256_of
from ..plans import ScenarioPlan
from ..results.scenario import ScenarioRecord
from ..scenario.runner import run_scenario, run_search
from ..scenario.target import Target
from .node import NodeOutcome, on_node
from .payload import Payload, pack


@dataclass(frozen=True)
class NodeScenario:
    """A node's scenario answer: the record (log paths on the node) and LoadGen's logs, named by the target."""

    record: ScenarioRecord
    logs: Payload


def node_plan(plan: ScenarioPlan, served: Target, threads: int | None) -> ScenarioPlan:
    """``plan`` as this node runs it: the artifact by path (the manifest stayed on the driver) and
    ``threads`` (None: this node's cores shared among the workers, as a local run chooses)."""
    return replace(plan, model=None, artifact=served.path, threads=threads, json_path=None)


def run_scenario_on_node(plan: ScenarioPlan, served: Target, threads: int | None, payload: Payload,
                         target: str) -> NodeOutcome:
    """Run ``plan``'s LoadGen test (or ``--find-max-qps`` search) here on the artifact in ``payload``.

    Called in a Ray task holding the node's one slot, in a worker process used for this one call.
    """
    here = node_plan(plan, served, threads)

    def measure(path: Path, scratch: Path, environment: dict) -> tuple:
        run = run_search if here.find_max_qps else run_scenario
        record = run(replace(here, artifact=path, results_dir=scratch / "results"), environment, lambda _line: None,
                     target=replace(served, path=path))
        root = Path(record.log_root)
        return (NodeScenario(record, replace(pack(root, sha256_of(root)), name=target)),)

    return on_node(payload, target, here.threads, served.uses_tensorflow, measure)
