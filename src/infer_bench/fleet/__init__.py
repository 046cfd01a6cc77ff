"""Benchmarking (``bench --ray``) and LoadGen scenarios (``scenario --ray``) on a fleet of labelled
machines on Ray, and merging results of separate targets.

Importing this package does not import Ray: only connecting to a cluster
(``cluster.connected``) and the node-side code do, so ``bench`` without
``--ray`` costs nothing extra. See docs/fleet.md.
"""

from .cluster import SLOT_RESOURCE, TARGET_LABEL
from .dispatch import FleetPlan, run_fleet
from .fingerprint import fingerprint_differences, fingerprint_of
from .jobs import FleetOptions
from .merge import MergePlan, MergeSource, merge_results, pool
from .records import FleetInfo, fleet_info
from .scenario_fleet import ScenarioFleetPlan, run_scenario_fleet
from .scenario_file import FleetScenarioFile, TargetScenario, load_fleet_scenario

__all__ = ["SLOT_RESOURCE", "TARGET_LABEL", "FleetInfo", "FleetOptions", "FleetPlan", "FleetScenarioFile", "MergePlan",
           "MergeSource", "ScenarioFleetPlan", "TargetScenario", "fingerprint_differences", "fingerprint_of",
           "fleet_info", "load_fleet_scenario", "merge_results", "pool", "run_fleet", "run_scenario_fleet"]
