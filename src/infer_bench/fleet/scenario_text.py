"""A fleet scenario file as text: one Markdown section per target, nothing compared across targets.

Each section shows, per machine setup (fingerprint) that answered, the node and its
CPU and LoadGen's answer exactly as a local ``scenario`` prints it; then the
targets' jobs that gave no answer, with the reason. Printed by ``scenario --ray``;
a report can place the same lines under its own heading.
"""

from __future__ import annotations

from ..scenario.table import format_record
from .scenario_file import FleetScenarioFile, TargetScenario

NOTE = ("Each target is a different machine: its LoadGen verdicts and rates hold for that machine only and are "
        "never compared with, or pooled into, another target's.")


def _answer(entry: TargetScenario) -> list[str]:
    env = entry.record.environment
    node = entry.info.node_id or "?"
    return [f"Node `{node[:12]}` ({env.get('cpu_model', 'unknown CPU')}, {env.get('logical_cores', '?')} logical "
            f"cores).", "", format_record(entry.record), ""]


def target_section(target: str, groups: dict) -> list[str]:
    """One target's lines: the answers of each machine setup (fingerprint) on its own, then what did not run."""
    blocks = [[f"Fingerprint `{fp}`.", "", *(line for e in entries for line in _answer(e))]
              for fp, entries in groups.items() if fp is not None]
    mixed = ([f"**{len(blocks)} different machine setups answered for this target**: each is shown on its own.", ""]
             if len(blocks) > 1 else [])
    not_run = [f"- {e.reason}" for e in groups.get(None, [])]
    return [f"## Target `{target}`", "", *mixed, *(line for b in blocks for line in b),
            *(["Did not run:", "", *not_run, ""] if not_run else [])]


def scenario_sections(file: FleetScenarioFile) -> list[str]:
    """The note, then every target's section in the order the targets answered."""
    lines = [NOTE, ""]
    for target, groups in file.groups().items():
        lines += target_section(target, groups)
    return lines
