"""Command line: parse arguments into a validated plan, call one stage function, print.

Every command is a pair: ``build_plan(args)`` refuses bad options before any
work starts (the error names the option, the value and what is allowed), and
``run(plan)`` calls the stage and prints its answer. TensorFlow is configured
once, here, before a stage that uses it. Nothing trains as a side effect: a
command that needs exports fails at once naming ``infer-bench train-export``.

Every user-fixable problem is an ``InferBenchError``: printed as one paragraph,
exit status 2, no traceback (``--debug`` shows it). Ctrl-C and SIGTERM end the
run cleanly with status 130 after saying what was kept.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) hides our own
# output; users can still set TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tabulate import tabulate  # noqa: E402

from .bench import DEFAULT_BATCH_SIZES, BenchPlan, run_bench  # noqa: E402
from .check import format_table, parse_overrides, run_check, save_check, tolerances_with_overrides  # noqa: E402
from .cli_args import build_parser as parser_for  # noqa: E402
from .environment import capture_environment  # noqa: E402
from .errors import InferBenchError, note_stop_signal  # noqa: E402
from .explain import format_explanation, run_explain  # noqa: E402
from .fleet.command import plan_merge, run_fleet_command, run_merge_command, run_scenario_fleet_command  # noqa: E402
from .fleet.dispatch import FleetPlan  # noqa: E402
from .fleet.scenario_fleet import ScenarioFleetPlan  # noqa: E402
from .manifest import load_manifest  # noqa: E402
from .pipeline import RunPlan, run_pipeline, train_export_isolated  # noqa: E402
from .plans import (CheckPlan, ExplainPlan, RegressPlan, ReportPlan, ScenarioPlan, check_models,  # noqa: E402
                    parse_slowdowns, require_exports)
from .present.report import write_report  # noqa: E402
from .present.tables import (BEST_BATCH_HEADERS, LATENCY_HEADERS, best_batch_rows, latency_rows,  # noqa: E402
                             skipped_summary)
from .regress import REGRESS_HEADERS, outcome_rows, run_regress, verdict_lines  # noqa: E402
from .present.sweep import format_sweep  # noqa: E402
from .results import ResultsWriter  # noqa: E402
from .results.sweep import SweepWriter  # noqa: E402
from .runtimes.devices import configure_tensorflow  # noqa: E402
from .scenario.figure import draw_search  # noqa: E402
from .scenario.loadgen_run import LoadGenInterrupted, end_interrupted  # noqa: E402
from .scenario.runner import run_scenario, run_search  # noqa: E402
from .scenario.table import format_record  # noqa: E402
from .sweep import DEFAULT_SWEEP_BATCH_SIZES, SweepPlan, run_sweep  # noqa: E402
from .train_export import Plan as TrainExportPlan, artifact_table  # noqa: E402
from .present.calibration import draw_study, format_study  # noqa: E402
from .quant.calibration_study import StudyPlan, parse_sizes, run_calibration_study  # noqa: E402
from .user_export import ExportPlan, run_export  # noqa: E402


# --- train-export ---------------------------------------------------------------------------------


def plan_train_export(args) -> TrainExportPlan:
    """``train-export`` options as a plan."""
    if args.epochs is not None and args.epochs < 1:
        raise InferBenchError(f"--epochs {args.epochs} must be at least 1.", "pass a positive number of epochs.")
    return TrainExportPlan(models=list(check_models(args.models)), out=args.out, data_dir=args.data_dir,
                           epochs=args.epochs, quick=args.quick, force=args.force, strategy=args.strategy,
                           seed=args.seed, training_precision=args.training_precision)


def run_train_export_command(plan: TrainExportPlan) -> int:
    """Train and export, then print the artifact table and any missed accuracy target."""
    try:
        train_export_isolated(plan, None)  # each model's training and exports in processes of their own
        manifest = load_manifest(plan.out)
    except BaseException as exc:
        if was_interrupted(exc):
            _report_kept(plan.out, plan.models)
        raise
    print()
    print(tabulate(artifact_table(manifest, plan.models),
                   headers=["model", "format", "quantization", "MB", "source test acc", "path"], tablefmt="github"))
    print(f"\nManifest: {manifest.path}")
    for name in plan.models:
        info = manifest.models.get(name, {})
        if info and not info.get("quick") and info["test_accuracy"] < info["target_accuracy"]:
            print(f"warning: {name} test accuracy {info['test_accuracy']:.2%} is below its "
                  f"{info['target_accuracy']:.0%} target", file=sys.stderr)
    return 0


# --- export and run (a user's model) -------------------------------------------------------------


def plan_export(args) -> ExportPlan:
    """``export`` options as a plan (the model path, name and scale checked now)."""
    return ExportPlan(model_path=args.model, data=args.data, name=args.name, exported=args.exported,
                      output=args.output, scale=args.scale, calibration_images=args.calibration_images,
                      unsafe_keras=args.unsafe_keras, force=args.force)


def run_export_command(plan: ExportPlan) -> int:
    """Export the user's model, then print its artifact table."""
    manifest = run_export(plan)
    print()
    print(tabulate(artifact_table(manifest, [plan.model_name]),
                   headers=["model", "format", "quantization", "MB", "source test acc", "path"], tablefmt="github"))
    print(f"\nManifest: {manifest.path}\nNext: `infer-bench bench --models {plan.model_name} --exported "
          f"{plan.exported}`, or the whole answer with `infer-bench run {plan.model_path} --data {plan.data}`.")
    return 0


def plan_run(args) -> RunPlan:
    """``run`` options as a plan."""
    return RunPlan(model_path=args.model, data=args.data, quick=args.quick, exported=args.exported,
                   results_dir=args.results_dir, report_dir=args.report_dir, name=args.name, output=args.output,
                   scale=args.scale, calibration_images=args.calibration_images, data_dir=args.data_dir,
                   unsafe_keras=args.unsafe_keras, threads=args.threads)


def run_run_command(plan: RunPlan) -> int:
    """The whole pipeline; it prints the decision table and the report's path."""
    run_pipeline(plan)
    return 0


# --- bench ----------------------------------------------------------------------------------------


def plan_bench(args) -> BenchPlan | SweepPlan | FleetPlan:
    """``bench`` options as a plan (a sweep plan with --sweep); the exports it needs must exist."""
    if (args.sessions or args.sweep_threads) and not args.sweep:
        raise InferBenchError("--sessions and --sweep-threads set the layouts of a sweep.",
                              "add --sweep, or drop them to time the batch matrix.")
    if args.sweep and args.ray is not None:
        raise InferBenchError("--sweep runs on this machine only, not with --ray.",
                              "drop --ray, or run `infer-bench bench --sweep` on each target.")
    batch_sizes = args.batch_sizes or list(DEFAULT_SWEEP_BATCH_SIZES if args.sweep else DEFAULT_BATCH_SIZES)
    plan = BenchPlan(exported=args.exported, models=args.models, formats=args.formats,
                     quantizations=args.quantizations, runtimes=args.runtimes, devices=args.devices,
                     batch_sizes=batch_sizes, min_time_s=args.min_time, threads=args.threads,
                     artifacts=args.artifact, data_dir=args.data_dir, dataset=args.dataset, adapt=args.adapt,
                     unsafe_keras=args.unsafe_keras, json_path=args.json, results_dir=args.results_dir,
                     table_format=args.table_format)
    if not plan.artifacts or plan.models:
        require_exports(plan.exported, plan.models, "`infer-bench bench`")
    if args.sweep:
        return SweepPlan(plan, tuple(args.sessions), tuple(args.sweep_threads))
    if args.ray is not None:  # the same plan, sent to a Ray cluster's labelled nodes (fleet/)
        return FleetPlan(plan, args.ray, tuple(args.targets), args.unschedulable_after)
    return plan


def run_bench_command(plan: BenchPlan) -> int:
    """Benchmark every case, then print the latency tables and where the results are."""
    if isinstance(plan, FleetPlan):
        return run_fleet_command(plan)
    if isinstance(plan, SweepPlan):
        return run_sweep_command(plan)
    writer = ResultsWriter(plan.json_path or plan.results_dir, capture_environment(plan.threads))
    try:
        results = run_bench(plan, writer.results_file.environment, writer)
    except BaseException as exc:
        if was_interrupted(exc) and writer.path:
            print(f"\nInterrupted: {len(writer.results_file.results)} finished result(s) kept in {writer.path}; "
                  "the unfinished case was dropped.", file=sys.stderr)
        raise
    fmt = plan.table_format
    for b in plan.batch_sizes:
        print(f"\nPer-row latency at batch {b} (fastest first per model; reference: the report's "
              "model.predict on the .keras file):")
        print(tabulate(latency_rows(results, b), headers=LATENCY_HEADERS, tablefmt=fmt))
    for line in skipped_summary(results):
        print(line)
    print("\nThroughput-optimal batch size per variant:")
    print(tabulate(best_batch_rows(results), headers=BEST_BATCH_HEADERS, tablefmt=fmt))
    print(f"\nResults: {writer.path}")
    return 0


def run_sweep_command(plan: SweepPlan) -> int:
    """Sweep every case over its layouts, then print one table and one sentence per case."""
    writer = SweepWriter(plan.bench.results_dir, plan.bench.json_path, capture_environment(None))
    try:
        points = run_sweep(plan, writer)
    except BaseException as exc:
        if was_interrupted(exc) and writer.path:
            print(f"\nInterrupted: the finished cases are kept in {writer.path}; the unfinished one was dropped.",
                  file=sys.stderr)
        raise
    print(format_sweep(points, plan.bench.table_format))
    print(f"\nResults: {writer.path}")
    return 0


# --- check, explain, report -----------------------------------------------------------------------


def plan_check(args) -> CheckPlan:
    """``check`` options as a plan (tolerance overrides parsed and merged now)."""
    use_manifest = not args.artifact or args.models
    return CheckPlan(exported=args.exported if use_manifest else None, models=tuple(args.models),
                     artifacts=tuple(args.artifact), reference=args.reference,
                     tolerances=tolerances_with_overrides(parse_overrides(args.tolerance)), limit=args.limit,
                     data_dir=args.data_dir, results_dir=args.results_dir, json_path=args.json)


def run_check_command(plan: CheckPlan) -> int:
    """Check every artifact; exit 1 when any fails its tolerance."""
    report = run_check(plan.exported, models=list(plan.models) or None, data_dir=plan.data_dir,
                       tolerances=plan.tolerances, extra_artifacts=list(plan.artifacts), reference=plan.reference,
                       limit=plan.limit)
    print()
    print(format_table(report))
    path = save_check(report, plan.results_dir, plan.json_path)
    failed = [e for e in report.entries if not e.passed]
    print(f"\n{len(report.entries) - len(failed)} of {len(report.entries)} artifacts PASS; report: {path}")
    return 1 if failed else 0


def plan_explain(args) -> ExplainPlan:
    """``explain`` options as a plan; fails at once on a folder without exports."""
    return ExplainPlan(exported=args.exported, results_dir=args.results_dir, json_path=args.json,
                       threads=args.threads)


def run_explain_command(plan: ExplainPlan) -> int:
    """Explain the speed gaps and print the explanation."""
    explanation = run_explain(plan.exported, plan.results_dir, plan.json_path, threads=plan.threads)
    print(format_explanation(explanation))
    return 0


def plan_report(args) -> ReportPlan:
    """``report`` options as a plan."""
    return ReportPlan(exported=args.exported, results_dir=args.results_dir, out=args.out)


def run_report_command(plan: ReportPlan) -> int:
    """Write the Markdown report and print its path."""
    print(f"Report: {write_report(plan.exported, plan.results_dir, plan.out)}")
    return 0


# --- regress --------------------------------------------------------------------------------------


def plan_regress(args) -> RegressPlan:
    """``regress`` options as a plan."""
    return RegressPlan(baseline=args.baseline, threshold_pct=args.threshold, rounds=args.rounds,
                       threads=args.threads, update_baseline=args.update_baseline,
                       memory_contention=args.memory_contention, slowdowns=parse_slowdowns(args.inject_slowdown),
                       json_path=args.json, data_dir=args.data_dir)


def run_regress_command(plan: RegressPlan) -> int:
    """Compare the fast set with the baseline (or record a new one); exit 1 on a confirmed regression."""
    outcome = run_regress(plan.baseline, plan.threshold_pct, plan.rounds, plan.threads, plan.update_baseline,
                          plan.slowdowns, plan.data_dir, with_contention=plan.memory_contention)
    if plan.update_baseline:
        return 0
    print(tabulate(outcome_rows(outcome), headers=REGRESS_HEADERS, tablefmt="github"))
    if plan.json_path:
        outcome.save(plan.json_path)
    for line in verdict_lines(outcome):
        print(line)
    return 1 if outcome.regressed else 0


# --- scenario -------------------------------------------------------------------------------------


def plan_scenario(args) -> ScenarioPlan:
    """``scenario`` options as a plan (server when --find-max-qps names no scenario)."""
    scenario = args.scenario or ("server" if args.find_max_qps else "single-stream")
    plan = ScenarioPlan(scenario=scenario, exported=args.exported, model=args.model, artifact=args.artifact,
                        format=args.format, quantization=args.quantization, runtime=args.runtime, mlperf=args.mlperf,
                        duration_s=args.duration_s, min_queries=args.min_queries, target_qps=args.target_qps,
                        slo_ms=args.slo_ms, find_max_qps=args.find_max_qps, search_batching=not args.no_batching,
                        max_runs=args.max_runs, workers=args.workers, threads=args.threads, max_batch=args.max_batch,
                        max_wait_ms=args.max_wait_ms, rows=args.rows, data_dir=args.data_dir,
                        results_dir=args.results_dir, json_path=args.json)
    if args.ray is not None:  # the same plan, once on each target of a Ray cluster (fleet/); nodes choose their own threads
        return ScenarioFleetPlan(plan, args.ray, tuple(args.targets), args.unschedulable_after, node_threads=args.threads)
    return plan


def run_scenario_command(plan: ScenarioPlan) -> int:
    """Run LoadGen (or the search), print the table, write the record (and the search's figure)."""
    if isinstance(plan, ScenarioFleetPlan):
        return run_scenario_fleet_command(plan)
    environment = capture_environment(plan.threads)
    try:
        record = (run_search if plan.find_max_qps else run_scenario)(plan, environment)
    except LoadGenInterrupted as exc:  # LoadGen's threads may still run: only end_interrupted exits safely then
        return end_interrupted(exc, _signal_received)
    print()
    print(format_record(record))
    path = record.save(plan.results_dir, plan.json_path)
    if record.search:
        print(f"Figure: {draw_search(record, path.with_suffix('.png'))}")
    print(f"Results: {path}")
    return 0


# --- calibration-study ----------------------------------------------------------------------------


def plan_calibration_study(args) -> StudyPlan:
    """``calibration-study`` options as a plan (sizes, seeds and the budget checked now)."""
    return StudyPlan(exported=args.exported, models=tuple(args.models), sizes=parse_sizes(args.sizes),
                     seeds=args.seeds, tolerances=tolerances_with_overrides(parse_overrides(args.tolerance)),
                     limit=args.limit, data_dir=args.data_dir, results_dir=args.results_dir, json_path=args.json)


def run_calibration_study_command(plan: StudyPlan) -> int:
    """Re-quantize and check every static int8 artifact per calibration size and seed; table, figure, record."""
    study = run_calibration_study(plan, capture_environment(None))
    print()
    print(format_study(study))
    path = study.save(plan.results_dir, plan.json_path)
    figure = draw_study(study, path.with_suffix(".png"))
    print(f"\nFigure: {figure}" if figure else "\nNo figure: no point could be measured.")
    print(f"Results: {path}")
    return 0


COMMANDS = {
    "run": (plan_run, run_run_command),
    "export": (plan_export, run_export_command),
    "train-export": (plan_train_export, run_train_export_command),
    "bench": (plan_bench, run_bench_command),
    "regress": (plan_regress, run_regress_command),
    "check": (plan_check, run_check_command),
    "explain": (plan_explain, run_explain_command),
    "report": (plan_report, run_report_command),
    "scenario": (plan_scenario, run_scenario_command),
    "calibration-study": (plan_calibration_study, run_calibration_study_command),
    "merge": (plan_merge, run_merge_command),
}


# --- interruption and main ------------------------------------------------------------------------


def _report_kept(folder: Path, models) -> None:
    try:
        m = load_manifest(folder, missing_ok=True)
    except InferBenchError:
        return
    kept = m.entries(models=models)
    print(f"\nInterrupted. {len(kept)} finished artifact(s) kept in {m.path}:", file=sys.stderr)
    for e in kept:
        print(f"  {e.label}: {e.path}", file=sys.stderr)
    print("The unfinished one was discarded. Rerun the same command to continue.", file=sys.stderr)


_signal_received: int | None = None  # set by _interrupt: the run was asked to stop


def _interrupt(signum, frame):
    """SIGINT and SIGTERM both end a run cleanly, like Ctrl-C."""
    global _signal_received
    _signal_received = signum
    note_stop_signal(signum)
    raise KeyboardInterrupt


def was_interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is how a stop signal surfaced.

    A KeyboardInterrupt raised inside a C extension's module initialisation (Ctrl-C while
    TensorFlow or tf2onnx is importing) comes out as ImportError("initialization failed"),
    and other C code may wrap it too; once a signal has arrived, any error is its effect.
    """
    return isinstance(exc, KeyboardInterrupt) or _signal_received is not None


def build_parser():
    """The argparse parser for every subcommand, wired to ``COMMANDS``."""
    return parser_for(__doc__.splitlines()[0], COMMANDS)


def main(argv=None) -> int:
    """Entry point of the ``infer-bench`` console script."""
    parser = build_parser()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    # A process started in the background by a non-interactive shell inherits SIGINT as
    # ignored, and Python then leaves it ignored: Ctrl-C / kill -INT would do nothing.
    signal.signal(signal.SIGINT, _interrupt)
    try:
        args = parser.parse_args(argv)
        plan = args.build_plan(args)
        if getattr(plan, "needs_tensorflow", True):
            configure_tensorflow(getattr(plan, "threads", None))  # once, before the stage touches TensorFlow
        return args.run(plan)
    except InferBenchError as exc:
        if debug:
            traceback.print_exc()
        print(f"infer-bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, Exception) as exc:
        if was_interrupted(exc):
            print("infer-bench: interrupted.", file=sys.stderr)
            return 130
        # A bug or an unforeseen failure: still one paragraph, no traceback.
        if debug:
            traceback.print_exc()
        print(f"infer-bench: unexpected error: {type(exc).__name__}: {exc}. Rerun with --debug for the "
              "traceback; if the input looks right, please report it.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
