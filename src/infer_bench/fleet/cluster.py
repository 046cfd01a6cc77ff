"""The Ray cluster: connecting, and which targets (``ib.target`` node labels) have a live node.

Ray is imported only inside these functions, so a run without ``--ray`` never
loads it, and a machine without the ``fleet`` extra gets a clear error.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from typing import Iterator

from ..errors import InferBenchError

TARGET_LABEL = "ib.target"  # the node label naming a node's target
SLOT_RESOURCE = "infer_bench_slot"  # the one-slot custom resource: one measurement at a time per node
# Ray's rule for label values (ray/_private/label_utils.py): 63 characters at most, alphanumeric at both ends.
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
WORKER_HINT = (f"start one worker per target: `ray start --address HEAD:6379 --labels {TARGET_LABEL}=NAME "
               f"--resources '{{\"{SLOT_RESOURCE}\": 1}}'` (docs/fleet.md)")


def import_ray():
    """The ``ray`` module, or an error saying how to install it."""
    if importlib.util.find_spec("ray") is None:
        raise InferBenchError("--ray needs Ray, which is not installed.",
                              'install the fleet extra: pip install -e ".[fleet]".')
    import ray  # lazy: only `bench --ray` needs it

    return ray


def check_target_name(name: str) -> str:
    """``name`` if it is a valid node label value, else an error saying what one looks like."""
    if not isinstance(name, str) or not _LABEL_VALUE.match(name):
        raise InferBenchError(f"Target {name!r} is not a valid node label value.",
                              "use 1-63 letters, digits, '.', '_' or '-', starting and ending with a letter or "
                              "digit, e.g. --targets xeon-amx,graviton3.")
    return name


@contextlib.contextmanager
def connected(address: str) -> Iterator[object]:
    """Connect to the Ray cluster at ``address`` for the block (or reuse this process's connection)."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InferBenchError(f"Cannot connect to the Ray cluster at {address!r} ({exc}).",
                              "start the head with `ray start --head --num-cpus=0` and pass its address "
                              "(HOST:6379), or check that this machine can reach it.") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def live_nodes_by_target(ray) -> dict[str, list[dict]]:
    """{target label: [live node, ...]} of the nodes that carry a target label and the slot resource.

    A labelled node without the slot resource is left out: a case sent there could never be
    scheduled, so it does not count as a live node of its target.
    """
    out: dict[str, list[dict]] = {}
    for node in ray.nodes():
        target = (node.get("Labels") or {}).get(TARGET_LABEL)
        if node.get("Alive") and target and (node.get("Resources") or {}).get(SLOT_RESOURCE, 0) >= 1:
            out.setdefault(target, []).append(node)
    return out
