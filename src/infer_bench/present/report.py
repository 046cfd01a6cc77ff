"""``infer-bench report``: one Markdown page from what is on disk, with its figures.

Reads the newest ``bench-*.json`` (required), the newest ``check-*.json``,
``explain-*.json`` and ``scenario-*.json`` (optional) from the results folder, every
``scenario-*.json`` of the same machine setup (the decision table's LoadGen rows), and the export manifest
(optional), and writes ``OUT/report.md`` plus ``OUT/figures/*.png``. A missing
optional input becomes a short section that names the command that makes it;
no number is ever filled in. An explanation measured on another machine setup
than the benchmark results is left out, not mixed in. Every file is written
atomically.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable

from ..errors import InferBenchError
from ..fsutil import write_bytes_atomic
from ..manifest import load_manifest
from ..results.bench import ResultsFile, latest_results, load_results
from ..results.check import latest_check, load_check
from ..results.explain import Explanation, latest_explanation, load_explanation
from ..results.machine import machine_differences
from ..results.scenario import latest_scenario, load_scenario
from ..results.store import latest
from ..results.sweep import latest_sweep, load_sweep
from .sweep import by_variant, draw_sweep, other_setup, sweep_section
from . import figures
from .fleet import is_fleet_file, write_fleet_report
from .int8 import int8_section, layer_sqnr
from .scenario import CMD_SCENARIO, copy_search_figure, load_scenarios, scenario_section
from .sections import (CMD_BENCH, CMD_CHECK, CMD_EXPLAIN, CMD_TRAIN_EXPORT, accuracy_section, decision_section,
                       explain_section, latency_section, machine_section, training_section)

REPORT_NAME = "report.md"
FIGURES_DIR = "figures"


# --- finding and loading inputs ---------------------------------------------------------------


def load_optional(folder: Path, latest, load, log) -> tuple[object | None, Path | None, str | None]:
    """(record, path, problem) for the newest optional input; ``problem`` says why the record is None.

    ``latest(folder)`` finds the newest file (None: there is none, and no
    problem); ``load(path)`` reads it into its record. A file that is
    damaged, incomplete or of another schema version costs its section, not the report.
    """
    path = latest(folder)
    if path is None:
        return None, None, None
    try:
        return load(path), path, None
    except InferBenchError as exc:
        problem = exc.problem.rstrip(".")  # it goes inside a sentence of the report
        log(f"report: {problem}; leaving its section out")
        return None, path, problem


def other_machine(results_file: ResultsFile, bench_path: Path, explain: Explanation, explain_path: Path) -> str | None:
    """Why ``explain`` cannot be shown beside these bench results (None when it can).

    Its ceilings and latencies were measured on the machine it names; beside
    timings from another CPU, core count, library set or thread setting they
    would mislead. An explanation that names no machine (written before it
    recorded one) is used as before.
    """
    if explain.environment is None:
        return None
    diffs = machine_differences(results_file.environment, explain.environment)
    if not diffs:
        return None
    return f"{explain_path} was measured on another machine setup than {bench_path}: {'; '.join(diffs)}"


def _load_manifest(exported: Path, log):
    """(manifest or None, problem or None): a damaged manifest costs the training section, not the report."""
    if not exported.is_dir():
        return None, None
    try:
        return load_manifest(exported, missing_ok=True), None
    except InferBenchError as exc:
        log(f"report: {exc.problem}; leaving the training section out")
        return None, exc.problem


# --- figures ----------------------------------------------------------------------------------


def _draw(figs: dict, key: str, fn, *args, log) -> None:
    """Draw one figure; a drawing failure is reported and leaves that figure out, not the report."""
    try:
        path = fn(*args)
    except Exception as exc:  # noqa: BLE001 - a broken figure must not cost the whole report
        log(f"report: figure {key} failed ({type(exc).__name__}: {exc}); left out")
        return
    if path is not None:
        figs[key] = path


def _draw_all(results, explain, exported: Path, manifest, fig_dir: Path, log, check=None) -> tuple[dict, dict]:
    """({figure key: path}, {model: training-curve path}) of every figure the inputs allow."""
    figs: dict[str, Path] = {}
    _draw(figs, "int8_layers", layer_sqnr, check, fig_dir / "int8-layer-sqnr.png", log=log)
    if any(not r.skipped for r in results):
        _draw(figs, "latency_bars", figures.latency_bars, results, fig_dir / "latency-batch1.png", log=log)
        _draw(figs, "latency_vs_batch", figures.latency_vs_batch, results, fig_dir / "latency-vs-batch.png", log=log)
        _draw(figs, "roofline", figures.roofline, results, explain, fig_dir / "roofline.png", log=log)
    _draw(figs, "layer_times", figures.layer_times, explain, fig_dir / "layer-times.png", log=log)
    curves: dict[str, Path] = {}
    if manifest is not None and manifest.models:
        try:
            curves = figures.training_curves(exported, manifest.models, fig_dir)
        except Exception as exc:  # noqa: BLE001
            log(f"report: training curves failed ({type(exc).__name__}: {exc}); left out")
    return figs, curves


# --- the report -------------------------------------------------------------------------------


def write_report(exported: Path, results_dir: Path, out_dir: Path = Path("report"),
                 log: Callable[[str], None] = print) -> Path:
    """Write ``out_dir/report.md`` and ``out_dir/figures/*.png`` from the newest inputs on disk.

    ``results_dir`` must hold at least one ``bench-*.json``; the newest
    ``check-*.json`` and ``explain-*.json`` there, and ``exported``'s manifest,
    are used when present (the explanation only when it was measured on the
    same machine setup as the bench results). Returns the path of ``report.md``.
    """
    exported, results_dir, out_dir = Path(exported), Path(results_dir), Path(out_dir)
    bench_path = latest_results(results_dir)
    if bench_path is None:
        raise InferBenchError(f"No benchmark results in {results_dir} (no bench-*.json).",
                              f"run {CMD_BENCH} first, or pass --results-dir DIR.")
    results_file = load_results(bench_path)
    results = list(results_file.results)
    check, check_path, check_problem = load_optional(results_dir, latest_check, load_check, log)
    if is_fleet_file(results_file):  # one section per target: nothing compared or pooled across targets
        return write_fleet_report(results_file, bench_path, check, check_path, out_dir, log,
                                  latest(results_dir, "fleet-scenario"))
    explain, explain_path, explain_problem = load_optional(results_dir, latest_explanation, load_explanation, log)
    if explain is not None:
        explain_problem = other_machine(results_file, bench_path, explain, explain_path)
        if explain_problem is not None:
            log(f"report: {explain_problem}; leaving its section and figures out")
            explain = None
    scenario, scenario_path, scenario_problem = load_optional(results_dir, latest_scenario, load_scenario, log)
    scenarios = load_scenarios(results_dir, results_file.environment, log)  # all of them: the decision rows
    sweep, sweep_path, sweep_problem = load_optional(results_dir, latest_sweep, load_sweep, log)
    manifest, manifest_problem = _load_manifest(exported, log)
    if check is None:
        log(f"report: no accuracy check in {results_dir}; run {CMD_CHECK} for the accuracy sections")
    if explain is None:
        log(f"report: no explanation in {results_dir}; run {CMD_EXPLAIN} for the roofline and per-layer figures")

    fig_dir = out_dir / FIGURES_DIR
    figs, curves = _draw_all(results, explain, exported, manifest, fig_dir, log, check)
    scenario_figure = copy_search_figure(scenario_path if scenario is not None else None, fig_dir)
    sweep_figure = None
    if sweep is not None and by_variant(sweep.points) and not other_setup(sweep.environment, results_file.environment):
        _draw(figs, "sweep", draw_sweep, sweep.points, fig_dir / "threads-sessions.png", log=log)
        sweep_figure = figs.get("sweep")

    bench_models = list(dict.fromkeys(r.model for r in results))
    measured = sum(1 for r in results if not r.skipped)
    lines = ["# Inference benchmark report", "",
             f"Generated {datetime.now().astimezone().isoformat(timespec='seconds')} from `{bench_path}` "
             f"({measured} measured and {len(results) - measured} skipped case(s); models: {', '.join(bench_models)}).",
             ""]
    if manifest is not None and any(info.get("quick") for info in manifest.models.values()):
        lines += [f"> **Note:** `{exported}` holds `--quick` smoke models: timings are real, accuracies are not.", ""]
    lines += machine_section(results_file)
    lines += decision_section(results_file, check, scenarios)
    lines += latency_section(results, figs, out_dir)
    lines += accuracy_section(check, check_path, check_problem)
    lines += int8_section(check, figs.get("int8_layers"), out_dir)
    lines += explain_section(explain, explain_path, explain_problem, results, figs, out_dir)
    lines += scenario_section(scenario, scenario_path, scenario_problem, results_file, scenario_figure, out_dir,
                              scenarios)
    lines += sweep_section(sweep, sweep_path, sweep_problem, results_file.environment, sweep_figure, out_dir)
    lines += training_section(exported, manifest, manifest_problem, bench_models, curves, out_dir)
    has_manifest = manifest is not None and bool(manifest.models)
    lines += ["## Inputs", "",
              f"- benchmark results: `{bench_path}`",
              f"- accuracy check: {f'`{check_path}`' if check_path else f'none (run {CMD_CHECK})'}",
              f"- explanation: {f'`{explain_path}`' if explain_path else f'none (run {CMD_EXPLAIN})'}",
              f"- LoadGen scenario: {f'`{scenario_path}`' if scenario_path else f'none (run {CMD_SCENARIO})'}",
              f"- threads x sessions sweep: {f'`{sweep_path}`' if sweep_path else 'none (run `infer-bench bench --sweep`)'}",
              f"- export manifest: {f'`{manifest.path}`' if has_manifest else f'none (run {CMD_TRAIN_EXPORT})'}",
              ""]
    report_path = out_dir / REPORT_NAME
    write_bytes_atomic(report_path, "\n".join(lines).encode())
    log(f"report: wrote {report_path} and {len(figs) + len(curves)} figure(s) in {fig_dir}")
    return report_path
