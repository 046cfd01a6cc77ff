"""The CLI side of the fleet: ``bench --ray``, ``scenario --ray`` and ``merge`` (plan in, printed tables out)."""

from __future__ import annotations

from tabulate import tabulate

from ..environment import capture_environment
from ..present.fleet import FLEET_SUMMARY_HEADERS, fleet_summary_rows
from ..results import ResultsWriter
from ..results.bench import save_results_to
from ..scenario.figure import draw_search
from .dispatch import FleetPlan, run_fleet
from .merge import MergePlan, MergeSource, merge_results
from .scenario_fleet import ScenarioFleetPlan, run_scenario_fleet
from .scenario_file import FleetScenarioWriter
from .scenario_text import scenario_sections


def fleet_environment(plan: FleetPlan | ScenarioFleetPlan) -> dict:
    """The results file's environment: the driver's (it only dispatched), and a ``fleet`` block that
    every node's own environment and fingerprint are added to as its first case comes back."""
    environment = capture_environment(plan.threads)
    environment["fleet"] = {"address": plan.address, "targets": list(plan.targets), "nodes": {}}
    return environment


def _print_summary(results, batch_sizes, fmt: str) -> None:
    for b in batch_sizes:
        rows = fleet_summary_rows(results, b)
        if rows:
            print(f"\nPer-row p50 at batch {b}, per target (never compared across targets):")
            print(tabulate(rows, headers=FLEET_SUMMARY_HEADERS, tablefmt=fmt))
    not_run = sorted({f"{r.extra['fleet']['target']}: {r.model} {r.format}/{r.quantization} via {r.runtime}: "
                      f"{r.skipped_reason}" for r in results if r.skipped})
    for line in not_run:
        print(f"not measured: {line}")


def run_fleet_command(plan: FleetPlan) -> int:
    """Run the matrix on every target, print per-target tables and where the one results file is."""
    environment = fleet_environment(plan)
    writer = ResultsWriter(plan.bench.json_path or plan.bench.results_dir, environment)
    results = run_fleet(plan, writer, environment["fleet"]["nodes"])
    _print_summary(results, plan.bench.batch_sizes, plan.bench.table_format)
    print(f"\nResults: {writer.path} (`infer-bench report` writes one section per target)")
    return 0


def run_scenario_fleet_command(plan: ScenarioFleetPlan) -> int:
    """Run the scenario on every target, print one section per target, write the file (and search figures)."""
    environment = fleet_environment(plan)
    writer = FleetScenarioWriter(plan.scenario.results_dir, plan.scenario.json_path, environment)
    file = run_scenario_fleet(plan, writer, environment["fleet"]["nodes"])
    print()
    print("\n".join(scenario_sections(file)))
    for entry in file.entries:
        if entry.record is not None and entry.record.search:
            figure = writer.path.with_name(f"{writer.path.stem}-{entry.info.target}.png")
            print(f"Figure ({entry.info.target}): {draw_search(entry.record, figure)}")
    print(f"Results: {writer.path}")
    return 0


def plan_merge(args) -> MergePlan:
    """``merge`` options as a plan (the output refused now if it exists)."""
    return MergePlan(tuple(MergeSource.parse(f) for f in args.files), args.out)


def run_merge_command(plan: MergePlan) -> int:
    """Merge the files, print the targets and where the merged file is."""
    merged = merge_results(list(plan.sources))
    path = save_results_to(merged, plan.out)
    _print_summary(list(merged.results), sorted({r.batch_size for r in merged.results}), "github")
    print(f"\nMerged {len(plan.sources)} files into {path}")
    return 0
