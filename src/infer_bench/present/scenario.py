"""The report's "Deployment scenarios" section: the newest ``infer-bench scenario`` record, when there is one.

LoadGen's verdict, the runs and (after a ``--find-max-qps`` search) the winning
configuration, as ``scenario`` printed them, with the search's figure copied
beside the report's other figures. A record measured on another machine setup
than the benchmark results is left out, saying why, like an explanation.
"""

from __future__ import annotations

from pathlib import Path

from ..fsutil import write_bytes_atomic
from ..results.bench import ResultsFile
from ..results.machine import machine_differences
from ..results.scenario import ScenarioRecord
from ..scenario.table import format_record
from .markdown import image, missing

CMD_SCENARIO = "`infer-bench scenario`"
FIGURE_NAME = "scenario-search.png"


def copy_search_figure(record_path: Path | None, fig_dir: Path) -> Path | None:
    """The search figure written beside ``record_path`` (``scenario-<time>.png``), copied into ``fig_dir``."""
    if record_path is None or not record_path.with_suffix(".png").is_file():
        return None
    target = fig_dir / FIGURE_NAME
    write_bytes_atomic(target, record_path.with_suffix(".png").read_bytes())
    return target


def scenario_section(record: ScenarioRecord | None, path: Path | None, problem: str | None,
                     results_file: ResultsFile, figure: Path | None, out_dir: Path) -> list[str]:
    """The section's Markdown lines; absent or unusable records get one line naming the command."""
    lines = ["## Deployment scenarios (MLPerf LoadGen)", ""]
    if record is None:
        text = (f"No LoadGen scenario run found; run {CMD_SCENARIO} (e.g. `--find-max-qps --slo-ms 10`)."
                if problem is None else f"The scenario record could not be used ({problem}); run {CMD_SCENARIO}.")
        return lines + [missing(text), ""]
    diffs = machine_differences(results_file.environment, record.environment)
    if diffs:
        return lines + [missing(f"`{path}` was measured on another machine setup than the benchmark results "
                                f"({'; '.join(diffs)}); left out. Run {CMD_SCENARIO} here."), ""]
    lines += [f"From `{path}` ({record.scenario}; LoadGen's own logs in `{record.log_root}`).", "",
              format_record(record), ""]
    if figure is not None:
        lines += [image(figure, out_dir, "p99 against offered QPS per configuration"), ""]
    return lines
