"""Benchmarking a fleet of labelled machines on Ray, and merging results of separate targets.

Importing this package does not import Ray: only connecting to a cluster
(``cluster.connected``) and the node-side code do, so ``bench`` without
``--ray`` costs nothing extra. See docs/fleet.md.
"""

from .cluster import SLOT_RESOURCE, TARGET_LABEL
from .dispatch import FleetPlan, run_fleet
from .fingerprint import fingerprint_differences, fingerprint_of
from .merge import MergePlan, MergeSource, merge_results, pool
from .records import FleetInfo, fleet_info

__all__ = ["SLOT_RESOURCE", "TARGET_LABEL", "FleetInfo", "FleetPlan", "MergePlan", "MergeSource",
           "fingerprint_differences", "fingerprint_of", "fleet_info", "merge_results", "pool", "run_fleet"]
