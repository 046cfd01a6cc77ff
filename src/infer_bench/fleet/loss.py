"""Whether a task that died took its node with it: "failed: node lost" only when the node really died.

Ray 2.52 fails a normal task whose worker stopped answering in one of two ways
(``normal_task_submitter.cc``, ``HandleGetWorkerFailureCause``): the owner asks the
task's raylet why the worker died; if the raylet answers (the node is up: the worker
process crashed or was killed) the error is ``WorkerCrashedError``; if the raylet
cannot be reached it is ``NodeDiedError`` ("dead or unavailable", naming the node).
``ActorDiedError`` is the actor form of the same events; fleet jobs are tasks, not
actors. A result that finished but lived only on a node that then died is an
``ObjectLostError``. None of these proves a death on its own (a raylet can be
unreachable and alive; a raylet shutting down can still answer), so each becomes a
``Suspect`` until the cluster's node table settles it: a node of the task's target
(the one the error names, when it names one) that the driver saw alive and then saw
dead makes it "failed: node lost"; none gone within ``wait_s`` makes it an ordinary
"failed: <error>" (the worker process died, or the node was cut off for a while).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .records import NODE_LOST

# What Ray raises for a task whose worker or node went away (see the module docstring).
SUSPECT_ERRORS = ("NodeDiedError", "WorkerCrashedError", "ObjectLostError")
# Ray 2.52's NodeDiedError message: "... Node IP: 127.0.0.1, node ID: <56 hex digits>. ..."
_NODE_ID = re.compile(r"node ID: ([0-9a-f]{56})")


def is_suspect(ray, exc: Exception) -> bool:
    """Whether ``exc`` may mean that the task's node died (else it is an ordinary failure)."""
    return isinstance(exc, tuple(getattr(ray.exceptions, name) for name in SUSPECT_ERRORS))


def named_node(exc: Exception) -> str | None:
    """The node id a ``NodeDiedError`` message names, None when it names none."""
    m = _NODE_ID.search(str(exc))
    return m.group(1) if m else None


@dataclass(frozen=True)
class Suspect:
    """A task that died with a ``SUSPECT_ERRORS`` error at ``since`` (the driver's monotonic clock)."""

    job: object  # the dispatcher's Job
    error: str  # "NodeDiedError: ..."
    since: float
    node_id: str | None = None  # the node the error names, if any


@dataclass
class NodeWatch:
    """Every labelled node the driver has seen alive (and its target), and when it first saw each one gone."""

    seen: dict = field(default_factory=dict)  # node id -> target
    gone: dict = field(default_factory=dict)  # node id -> monotonic time it was first seen dead or missing

    def update(self, live_by_target: dict, now: float) -> None:
        """Note the live nodes of one look at the cluster (``cluster.live_nodes_by_target``)."""
        live = {n["NodeID"]: t for t, nodes in live_by_target.items() for n in nodes}
        self.seen.update(live)
        for node_id in self.seen:
            if node_id not in live:  # Ray never revives a dead node's id: once gone, gone
                self.gone.setdefault(node_id, now)

    def verdict(self, suspect: Suspect, now: float, wait_s: float) -> str | None:
        """The record's reason for ``suspect``, or None while the cluster has not settled it yet.

        Without a named node, any node of the job's target counts if it went away within
        ``wait_s`` of the error: a node that left long before cannot have run this task.
        """
        target = suspect.job.target
        candidates = ([suspect.node_id] if suspect.node_id else
                      [n for n, t in self.seen.items() if t == target])
        for node_id in candidates:
            gone = self.gone.get(node_id)
            if gone is not None and (suspect.node_id or gone >= suspect.since - wait_s):
                return f"{NODE_LOST} (node {node_id[:12]} left the cluster; Ray: {suspect.error.split(':')[0]})"
        if now - suspect.since < wait_s:
            return None
        return (f"failed: {suspect.error} (no node of {target} left the cluster within {wait_s:g} s: the worker "
                "process died, not the node)")
