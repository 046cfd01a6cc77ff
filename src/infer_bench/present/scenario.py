"""The report's "Deployment scenarios" section: every usable ``infer-bench scenario`` record in one
line each, then the newest record in full.

``load_scenarios`` reads every ``scenario-*.json`` of the results folder, and every
target's record inside a ``fleet-scenario-*.json`` (``scenario --ray``; its records
carry their node's environment), leaves out a damaged one saying why, and keeps those
measured on the benchmark results' machine setup (``scenario_decide.split_by_machine``):
the decision table's LoadGen rows and this section's list read the same records. The
newest ``scenario-*.json`` is shown as ``scenario`` printed it (LoadGen's verdict, the
runs, a search's winner), with the search's figure copied beside the report's other
figures; if it was measured on another machine setup it is left out, saying why, like
an explanation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import InferBenchError
from ..fsutil import write_bytes_atomic
from ..results.bench import ResultsFile
from ..results.machine import machine_differences
from ..results import store
from ..results.scenario import KIND, ScenarioRecord, load_scenario
from ..fleet.scenario_file import KIND as FLEET_KIND, load_fleet_scenario
from ..scenario.table import format_record
from .markdown import image, missing
from .scenario_decide import (ScenarioFile, ScenarioInputs, check_record, executed_threads, ran_precision,
                              search_winner, serving_words, split_by_machine)

CMD_SCENARIO = "`infer-bench scenario`"
FIGURE_NAME = "scenario-search.png"


def copy_search_figure(record_path: Path | None, fig_dir: Path) -> Path | None:
    """The search figure written beside ``record_path`` (``scenario-<time>.png``), copied into ``fig_dir``."""
    if record_path is None or not record_path.with_suffix(".png").is_file():
        return None
    target = fig_dir / FIGURE_NAME
    write_bytes_atomic(target, record_path.with_suffix(".png").read_bytes())
    return target


def _checked(f: ScenarioFile, files: list, unreadable: list, log: Callable[[str], None]) -> None:
    """Append ``f`` to ``files``, or to ``unreadable`` when the list or the rows cannot read it."""
    try:
        check_record(f, record_line)  # what the list and the rows read, read once here
    except InferBenchError as exc:
        problem = exc.problem.rstrip(".")
        log(f"report: {problem}; leaving {f.name} out")
        unreadable.append((f.path, f"could not be used: {problem}"))
        return
    files.append(f)


def fleet_records(path: Path, log: Callable[[str], None] = print) -> tuple[list[ScenarioFile], list]:
    """The records inside one ``fleet-scenario-*.json``, one ``ScenarioFile`` per target that measured
    (its ``target`` named), and ``(path, why)`` for the file when unreadable and for each target
    without a record or whose record the rows cannot read."""
    try:
        fleet = load_fleet_scenario(path)
    except InferBenchError as exc:
        problem = exc.problem.rstrip(".")
        log(f"report: {problem}; leaving {path.name} out")
        return [], [(path, f"could not be used: {problem}")]
    files, left_out = [], []
    for entry in fleet.entries:
        if entry.record is None:
            left_out.append((path, f"target {entry.info.target}: no record ({entry.reason})"))
        else:
            _checked(ScenarioFile(path, entry.record, entry.info.target), files, left_out, log)
    return files, left_out


def load_scenarios(results_dir: Path, environment: dict, log: Callable[[str], None] = print) -> ScenarioInputs:
    """Every ``scenario-*.json`` in ``results_dir`` and every target's record in its
    ``fleet-scenario-*.json`` files, split into usable (same machine setup as ``environment``) and
    left out (another setup; a target without a record; or unreadable: damaged, another schema
    version, or missing what the decision rows read). Nothing is pooled across machines: a
    record counts only where its own environment matches ``environment``."""
    files, unreadable = [], []
    for path in store.paths(results_dir, KIND):
        try:
            record = load_scenario(path)
        except InferBenchError as exc:
            problem = exc.problem.rstrip(".")
            log(f"report: {problem}; leaving {path.name} out")
            unreadable.append((path, f"could not be used: {problem}"))
            continue
        _checked(ScenarioFile(path, record), files, unreadable, log)
    for path in store.paths(results_dir, FLEET_KIND):
        found, left_out = fleet_records(path, log)
        files += found
        unreadable += left_out
    return split_by_machine(files, environment, unreadable)


def _ms(x) -> str:
    return "?" if x is None else f"{x:.2f} ms"


def key_figure(f: ScenarioFile) -> str:
    """The verdict and the one figure that matters for the record's scenario, in words."""
    record = f.record
    if record.search:
        slo = record.search["slo_ms"]
        winner = search_winner(f)
        if winner is None:
            return f"no VALID configuration at p99 <= {slo:g} ms ({record.search['loadgen_runs']} LoadGen runs)"
        return (f"VALID; most QPS at p99 <= {slo:g} ms: {winner.value:,.1f} with "
                f"{serving_words(winner.threads, winner.run.config)}")
    run = record.runs[0]
    s, lat = run.summary, run.summary.latency_ms
    if record.scenario == "offline":
        rate = s.figures.get("samples_per_second", 0)
        return f"{s.validity}; {rate:,.1f} samples/s (batches of {run.config.max_batch})"
    if record.scenario == "server":
        slo = record.settings.get("slo_ms")
        return (f"{s.validity} at {run.target_qps or 0:,.1f} QPS ({run.config.label}); p99 {_ms(lat.get('p99'))}"
                + ("" if slo is None else f" (bound {slo:g} ms)"))
    early = ", ".join(f"{k} {v:.2f} ms" for k, v in s.early_stopping_ms.items())
    pct = s.target_percentile or "p90"
    return f"{s.validity}; {pct} {_ms(lat.get(pct))}" + (f" (early-stopping estimates: {early})" if early else "")


def record_line(f: ScenarioFile) -> str:
    """One line of the list: file, model, artifact as it ran, runtime, threads, scenario, verdict, figure."""
    t = f.record.target
    threads = "+".join(map(str, executed_threads(t)))
    return (f"- `{f.name}`: {t['model']} {t['format']}/{ran_precision(t)} (`{Path(t['artifact']).name}`) "
            f"via {t['runtime']} on {t['device']} (threads per session: {threads}), {f.record.scenario}"
            f"{' (search)' if f.record.search else ''}: "
            f"{key_figure(f)}")


def records_lines(inputs: ScenarioInputs | None, newest: Path | None) -> list[str]:
    """Every usable record in one line each (oldest first), then those left out, except ``newest``
    (its own block says why)."""
    if inputs is None:
        return []
    lines = []
    if inputs.usable:
        lines += [f"{len(inputs.usable)} LoadGen record(s) measured on this machine setup, oldest first "
                  "(the decision table's LoadGen rows are chosen among them):", ""]
        lines += [record_line(f) for f in inputs.usable] + [""]
    others = [(p, why) for p, why in inputs.left_out if p != newest]
    if others:
        lines += ["Left out:", ""] + [f"- `{p.name}`: {why}" for p, why in others] + [""]
    return lines


def scenario_section(record: ScenarioRecord | None, path: Path | None, problem: str | None,
                     results_file: ResultsFile, figure: Path | None, out_dir: Path,
                     inputs: ScenarioInputs | None = None) -> list[str]:
    """The section's Markdown lines: ``inputs``' records one line each (None: no list), then the newest
    record in full; absent or unusable records get one line naming the command."""
    lines = ["## Deployment scenarios (MLPerf LoadGen)", ""] + records_lines(inputs, path)
    if record is None:
        text = (f"No LoadGen scenario run found; run {CMD_SCENARIO} (e.g. `--find-max-qps --slo-ms 10`)."
                if problem is None else f"The scenario record could not be used ({problem}); run {CMD_SCENARIO}.")
        return lines + [missing(text), ""]
    diffs = machine_differences(results_file.environment, record.environment, requested_threads=False)
    if diffs:
        return lines + [missing(f"`{path}` was measured on another machine setup than the benchmark results "
                                f"({'; '.join(diffs)}); left out. Run {CMD_SCENARIO} here."), ""]
    lines += [f"From `{path}` ({record.scenario}; LoadGen's own logs in `{record.log_root}`).", "",
              format_record(record), ""]
    if figure is not None:
        lines += [image(figure, out_dir, "p99 against offered QPS per configuration"), ""]
    return lines
