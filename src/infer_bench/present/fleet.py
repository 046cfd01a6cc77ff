"""The report of a fleet results file (``bench --ray`` or ``merge``): one section per target.

Each target's section holds its machine (the node's own environment block),
its deployment decisions and its latency tables, computed from that target's
results alone: the best artifact is chosen within a target, never across
targets, and no number of one target appears in another's tables. A target
whose nodes had two fingerprints gets one sub-section per fingerprint (its
results are not comparable either). Cases that did not run (unschedulable,
failed) are listed with their reasons.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable

from ..fleet.records import MEASURED, SKIPPED, fleet_info
from ..fleet.scenario_file import load_fleet_scenario
from ..fleet.scenario_text import scenario_sections
from ..fsutil import write_bytes_atomic
from ..results.bench import BenchResult, ResultsFile
from ..results.check import CheckReport
from .markdown import md_table, missing
from .sections import CMD_CHECK, decision_section, latency_section, machine_section

REPORT_NAME = "report.md"
COMPARABILITY_NOTE = ("Each target is a different machine: its numbers are compared only with its own. "
                      "Speed ratios between targets are not shown; the same artifact (same sha256) was measured "
                      "on every target, so choices can still be read side by side.")


def is_fleet_file(results_file: ResultsFile) -> bool:
    """Whether ``results_file`` holds fleet records (``bench --ray`` or ``merge``)."""
    return "fleet" in results_file.environment or any(fleet_info(r) is not None for r in results_file.results)


def target_groups(results: list[BenchResult]) -> dict[str, dict[str | None, list[BenchResult]]]:
    """{target: {fingerprint: results}}, in first-seen order; cases that never ran on a node sit under None."""
    out: dict[str, dict[str | None, list[BenchResult]]] = {}
    for r in results:
        info = fleet_info(r)
        target = info.target if info is not None else "local"
        fingerprint = info.fingerprint if info is not None and info.status in (MEASURED, SKIPPED) else None
        out.setdefault(target, {}).setdefault(fingerprint, []).append(r)
    return out


def _demote(lines: list[str], levels: int) -> list[str]:
    """Headings moved ``levels`` deeper (a section of the single-machine report inside a target's section)."""
    return [("#" * levels + line) if line.startswith("#") else line for line in lines]


def _node_environment(results_file: ResultsFile, fingerprint: str) -> dict:
    """The environment block of a node with ``fingerprint`` (the first such node), {} if none is recorded."""
    for node in ((results_file.environment.get("fleet") or {}).get("nodes") or {}).values():
        if node.get("fingerprint") == fingerprint:
            return node.get("environment") or {}
    return {}


def _not_run_lines(results: list[BenchResult]) -> list[str]:
    """One line per case (all batch sizes) that never ran on a node, with its reason."""
    seen = dict.fromkeys(f"{r.model} {r.format}/{r.quantization} via {r.runtime}: {r.skipped_reason}" for r in results)
    return [f"- {line}" for line in seen]


def target_section(results_file: ResultsFile, target: str, groups: dict, check: CheckReport | None,
                   out_dir: Path) -> list[str]:
    """One target's section: per fingerprint its machine, decisions and latency; then what did not run."""
    lines = [f"## Target `{target}`", ""]
    measured = [fp for fp in groups if fp is not None]
    if len(measured) > 1:
        lines += [f"**{len(measured)} different machine setups answered for this target** (fingerprints "
                  f"{', '.join(measured)}): each is shown on its own, none is pooled.", ""]
    for fp in measured:
        rf = ResultsFile(environment=_node_environment(results_file, fp), results=tuple(groups[fp]),
                         created=results_file.created)
        nodes = sorted({fleet_info(r).node_id for r in groups[fp]})
        shown = [n if n.startswith("local:") else n[:12] for n in nodes]  # Ray ids: 56 hex digits
        lines += [f"Fingerprint `{fp}`, node(s) {', '.join(f'`{n}`' for n in shown)}.", ""]
        lines += _demote(machine_section(rf), 1)
        lines += _demote(decision_section(rf, check), 1)
        lines += _demote(latency_section(list(groups[fp]), {}, out_dir), 1)
    if None in groups:
        lines += ["### Cases that did not run", ""] + _not_run_lines(groups[None]) + [""]
    if not measured:
        lines += [missing(f"No case ran on a node labelled {target}."), ""]
    return lines


def fleet_sections(results_file: ResultsFile, check: CheckReport | None, out_dir: Path) -> list[str]:
    """Every target's section, in the order the targets first appear."""
    lines = [COMPARABILITY_NOTE, ""]
    for target, groups in target_groups(list(results_file.results)).items():
        lines += target_section(results_file, target, groups, check, out_dir)
    return lines


def write_fleet_report(results_file: ResultsFile, bench_path: Path, check: CheckReport | None,
                       check_path: Path | None, out_dir: Path, log: Callable[[str], None] = print,
                       scenario_path: Path | None = None) -> Path:
    """Write ``out_dir/report.md`` for a fleet results file: one section per target, then the newest
    ``scenario --ray`` file's sections per target (``scenario_path``) when there is one. Returns its path."""
    targets = target_groups(list(results_file.results))
    lines = ["# Inference benchmark report: fleet", "",
             f"Generated {datetime.now().astimezone().isoformat(timespec='seconds')} from `{bench_path}` "
             f"({len(targets)} target(s): {', '.join(f'`{t}`' for t in targets)}).", ""]
    lines += fleet_sections(results_file, check, out_dir)
    if scenario_path is not None:
        lines += ["## Deployment scenarios per target", "", f"From `{scenario_path}` (`infer-bench scenario --ray`).", ""]
        lines += [("#" + line) if line.startswith("#") else line
                  for line in scenario_sections(load_fleet_scenario(scenario_path))]
    lines += ["## Inputs", "", f"- benchmark results: `{bench_path}`",
              f"- accuracy check: {f'`{check_path}`' if check_path else f'none (run {CMD_CHECK})'}",
              f"- fleet scenarios: {f'`{scenario_path}`' if scenario_path else 'none (infer-bench scenario --ray)'}",
              ""]
    path = Path(out_dir) / REPORT_NAME
    write_bytes_atomic(path, "\n".join(lines).encode())
    log(f"report: wrote {path} ({len(targets)} target section(s))")
    return path


def fleet_summary_rows(results: list[BenchResult], batch_size: int) -> list[list[str]]:
    """Rows for the CLI: per target and fingerprint, each measured case's p50 ms/row at ``batch_size``."""
    rows = []
    for target, groups in target_groups(results).items():
        for fp, rs in groups.items():
            for r in rs:
                if fp is not None and not r.skipped and r.batch_size == batch_size:
                    rows.append([target, fp, f"{r.model} {r.format}/{r.quantization}", r.runtime,
                                 f"{r.per_row_ms['p50']:.4f}"])
    return rows


FLEET_SUMMARY_HEADERS = ["target", "fingerprint", "artifact", "runtime", "p50 ms/row"]
