"""Command line: parses arguments and calls the stage modules; nothing else lives here.

Every user-fixable problem is an ``InferBenchError``: printed as one paragraph,
exit status 2, no traceback (``--debug`` shows it). Ctrl-C and SIGTERM end the
run cleanly with status 130 after saying what was kept.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) hides our own
# output; users can still set TF_CPP_MIN_LOG_LEVEL=0 to see it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .errors import InferBenchError  # noqa: E402


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _models(value: str) -> list[str]:
    from .models import get_spec

    names = _csv(value)
    for n in names:
        get_spec(n)
    return names


def _add_exported(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exported", type=Path, default=Path("exported"), metavar="DIR",
                   help="export folder holding manifest.json (default: exported/)")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every subcommand."""
    from .models import MODELS

    parser = argparse.ArgumentParser(prog="infer-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train-export", help="train the report's models on the real data and export every artifact")
    p.add_argument("--models", type=_csv, default=list(MODELS), metavar="M1,M2",
                   help=f"models to train and export (default: all: {', '.join(MODELS)})")
    p.add_argument("--epochs", type=int, default=None, help="epochs per model (default: each model's own)")
    p.add_argument("--quick", action="store_true",
                   help=f"small data subsets and one epoch: a smoke run in minutes, not a real result")
    p.add_argument("--data-dir", default=None, metavar="D", help="folder holding fashion-mnist/ and cats-vs-dogs/")
    p.add_argument("--out", type=Path, default=Path("exported"), metavar="DIR", help="export folder (default: exported/)")
    p.add_argument("--force", action="store_true", help="retrain and re-export even if artifacts are up to date")
    p.set_defaults(func=cmd_train_export)

    from .bench import DEFAULT_BATCH_SIZES, DEFAULT_MIN_TIME_S

    p = sub.add_parser("bench", help="per-row latency and throughput of every artifact in every runtime")
    _add_exported(p)
    p.add_argument("--models", type=_csv, default=[], metavar="M1,M2", help="only these models")
    p.add_argument("--formats", type=_csv, default=[], metavar="F1,F2", help="only these formats (keras, savedmodel, onnx, tflite)")
    p.add_argument("--quantizations", type=_csv, default=[], metavar="Q1,Q2",
                   help="only these precisions (fp32, fp16, dynamic_int8, static_int8)")
    p.add_argument("--runtimes", type=_csv, default=[], metavar="R1,R2",
                   help="only these runtimes (keras_predict, keras_call, tf_function, onnxruntime, litert)")
    p.add_argument("--devices", type=_csv, default=["cpu"], metavar="cpu,cuda", help="devices (default: cpu)")
    p.add_argument("--batch-sizes", type=lambda v: [int(b) for b in _csv(v)], default=list(DEFAULT_BATCH_SIZES),
                   metavar="1,8,32,128", help="batch sizes to sweep (default: 1,8,32,128)")
    p.add_argument("--min-time", type=float, default=DEFAULT_MIN_TIME_S, metavar="S",
                   help="minimum timed seconds per batch size (default: 1)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads for every CPU runtime (default: all cores)")
    p.add_argument("--artifact", type=Path, action="append", default=[], metavar="PATH",
                   help="also benchmark this .keras/.onnx/.tflite file (repeatable)")
    p.add_argument("--data-dir", default=None, metavar="D", help="folder holding the datasets")
    p.add_argument("--dataset", default=None, choices=["fashion_mnist", "cats_vs_dogs"],
                   help="feed this dataset's test images to every model (default: each model's own)")
    p.add_argument("--adapt", action="store_true",
                   help="resize images to each model's input size and convert grayscale/RGB (the report's fix)")
    p.add_argument("--unsafe-keras", action="store_true",
                   help="load .keras files with Keras safe mode off (runs code stored in them: trusted files only)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="write results here (refuses an existing file) instead of results/bench-<time>.json")
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR",
                   help="folder for timestamped results files (default: results/)")
    p.add_argument("--table-format", choices=["github", "plain", "csv"], default="github")
    p.set_defaults(func=cmd_bench)

    from .regress import DEFAULT_BASELINE, DEFAULT_ROUNDS, DEFAULT_THREADS, DEFAULT_THRESHOLD_PCT

    p = sub.add_parser("regress", help="latency regression check of a fast set against a committed baseline")
    _add_exported(p)
    p.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, metavar="PATH",
                   help=f"baseline JSON (default: {DEFAULT_BASELINE})")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD_PCT, metavar="PCT",
                   help=f"flag a case whose slowdown is above this, with 95%% confidence (default {DEFAULT_THRESHOLD_PCT:g})")
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help=f"interleaved rounds (default {DEFAULT_ROUNDS})")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"threads per runtime (default {DEFAULT_THREADS}: steadiest on a shared machine)")
    p.add_argument("--update-baseline", action="store_true",
                   help="measure and rewrite the baseline instead of comparing: 5 fresh processes, then 3 "
                        "under memory contention (a few minutes; needs a spare core)")
    p.add_argument("--memory-contention", action="store_true",
                   help="run the check while another process streams memory on a spare core, as a busy CI "
                        "neighbour does (unchanged code should still pass)")
    p.add_argument("--inject-slowdown", action="append", default=[], metavar="CASE=FRACTION",
                   help="testing the gate only: make CASE's calls FRACTION slower (e.g. simple_cnn/onnx/fp32/onnxruntime/b1=0.25)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the comparison as JSON")
    p.add_argument("--data-dir", default=None, metavar="D", help="folder holding the datasets")
    p.set_defaults(func=cmd_regress)

    p = sub.add_parser("check", help="every exported artifact against its Keras original: PASS/FAIL per precision")
    _add_exported(p)
    p.add_argument("--models", type=_csv, default=[], metavar="M1,M2", help="only these models")
    p.add_argument("--artifact", type=Path, action="append", default=[], metavar="PATH",
                   help="also check this .onnx/.tflite/.keras file or SavedModel folder (needs --reference)")
    p.add_argument("--reference", type=Path, default=None, metavar="X.keras",
                   help="the Keras model --artifact files are compared with")
    p.add_argument("--tolerance", action="append", default=[], metavar="PRECISION.FIELD=VALUE",
                   help="override a tolerance, e.g. fp16.max_abs_diff=0.02 or static_int8.min_agreement=0.97 (repeatable)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="check only the first N test rows (quick look)")
    p.add_argument("--data-dir", default=None, metavar="D", help="folder holding the datasets")
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR",
                   help="folder for the timestamped check-<time>.json (default: results/)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the report here instead (refuses an existing file)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("explain", help="why the models' speeds differ: cost model, machine ceilings, per-layer time, overhead")
    _add_exported(p)
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR",
                   help="where benchmark results are read and the explanation is written (default: results/)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH",
                   help="write the explanation here (refuses an existing file) instead of results/explain-<time>.json")
    p.add_argument("--threads", type=int, default=None, help="threads for the measurements (default: all cores)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("report", help="Markdown report with figures and a deployment decision table")
    _add_exported(p)
    p.add_argument("--results-dir", type=Path, default=Path("results"), metavar="DIR",
                   help="where bench/check/explain results are (default: results/)")
    p.add_argument("--out", type=Path, default=Path("report"), metavar="DIR", help="output folder (default: report/)")
    p.set_defaults(func=cmd_report)
    return parser


def cmd_train_export(args) -> int:
    """``infer-bench train-export``."""
    from tabulate import tabulate

    from .models import get_spec
    from .train_export import Plan, artifact_table, run_train_export

    for n in args.models:
        get_spec(n)
    if args.epochs is not None and args.epochs < 1:
        raise InferBenchError(f"--epochs {args.epochs} must be at least 1.", "pass a positive number of epochs.")
    plan = Plan(models=args.models, out=args.out, data_dir=args.data_dir, epochs=args.epochs,
                quick=args.quick, force=args.force)
    try:
        manifest = run_train_export(plan)
    except BaseException as exc:
        if was_interrupted(exc):
            _report_kept(args.out, args.models)
        raise
    print()
    print(tabulate(artifact_table(manifest, args.models),
                   headers=["model", "format", "quantization", "MB", "source test acc", "path"], tablefmt="github"))
    print(f"\nManifest: {manifest.path}")
    for name in args.models:
        info = manifest.models.get(name, {})
        if info and not info.get("quick") and info["test_accuracy"] < info["target_accuracy"]:
            print(f"warning: {name} test accuracy {info['test_accuracy']:.2%} is below its "
                  f"{info['target_accuracy']:.0%} target", file=sys.stderr)
    return 0


def _ensure_exports(exported: Path, models: list[str], data_dir) -> None:
    """Train and export first, with a message, where the manifest lacks a model."""
    from .manifest import load_manifest
    from .models import MODELS
    from .train_export import Plan, run_train_export

    manifest = load_manifest(exported, missing_ok=True)
    # Without --models, an existing export folder is taken as it is; only a folder with no
    # manifest at all (a fresh clone) gets every model trained first.
    wanted = models or ([] if manifest.path.exists() else list(MODELS))
    missing = [m for m in wanted if m not in manifest.models]
    if missing:
        print(f"No exported artifacts for {', '.join(missing)} in {exported}: training and exporting them first "
              f"(infer-bench train-export --models {','.join(missing)} --out {exported}).")
        run_train_export(Plan(models=missing, out=exported, data_dir=data_dir))


def cmd_bench(args) -> int:
    """``infer-bench bench``."""
    from tabulate import tabulate

    from .bench import BenchPlan, run_bench
    from .environment import capture_environment
    from .results import ResultsWriter
    from .tables import BEST_BATCH_HEADERS, LATENCY_HEADERS, best_batch_rows, latency_rows, skipped_summary

    plan = BenchPlan(exported=args.exported, models=args.models, formats=args.formats,
                     quantizations=args.quantizations, runtimes=args.runtimes, devices=args.devices,
                     batch_sizes=args.batch_sizes, min_time_s=args.min_time, threads=args.threads,
                     artifacts=args.artifact, data_dir=args.data_dir, dataset=args.dataset, adapt=args.adapt,
                     unsafe_keras=args.unsafe_keras)
    plan.validate()
    writer = ResultsWriter(args.json or args.results_dir, capture_environment(args.threads))
    if not args.artifact or args.models:
        _ensure_exports(args.exported, args.models, args.data_dir)
    try:
        results = run_bench(plan, writer.results_file.environment, writer)
    except BaseException as exc:
        if was_interrupted(exc) and writer.path:
            print(f"\nInterrupted: {len(writer.results_file.results)} finished result(s) kept in {writer.path}; "
                  "the unfinished case was dropped.", file=sys.stderr)
        raise
    fmt = args.table_format
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


def _slowdowns(specs: list[str]) -> dict[str, float]:
    out = {}
    for spec in specs:
        name, _, frac = spec.partition("=")
        try:
            out[name] = float(frac)
        except ValueError:
            raise InferBenchError(f"--inject-slowdown {spec!r} is not CASE=FRACTION.",
                                  "write e.g. simple_cnn/onnx/fp32/onnxruntime/b1=0.25.") from None
    return out


def cmd_regress(args) -> int:
    """``infer-bench regress``: exit 1 when a case is confirmed slower than the baseline."""
    from tabulate import tabulate

    from .fsutil import write_json_atomic
    from .regress import REGRESS_HEADERS, comparisons_to_dict, outcome_rows, run_regress

    if args.rounds < 3:
        raise InferBenchError(f"--rounds {args.rounds} is too few for a confidence bound.", "use at least 3 (default 9).")
    if args.threshold <= 0:
        raise InferBenchError(f"--threshold {args.threshold} must be a positive percentage.", "e.g. --threshold 10.")
    if args.update_baseline and (args.memory_contention or args.inject_slowdown):
        raise InferBenchError("--update-baseline measures unchanged code, quiet and under contention itself.",
                              "drop --memory-contention and --inject-slowdown when updating the baseline.")
    outcome = run_regress(args.baseline, args.threshold, args.rounds, args.threads, args.update_baseline,
                          _slowdowns(args.inject_slowdown), args.data_dir, with_contention=args.memory_contention)
    if args.update_baseline:
        return 0
    print(tabulate(outcome_rows(outcome, args.threshold), headers=REGRESS_HEADERS, tablefmt="github"))
    if args.json:
        write_json_atomic(args.json, {"schema_version": 1, "threshold_pct": args.threshold,
                                      "memory_contention": args.memory_contention,
                                      "regressed": outcome.regressed,
                                      "comparisons": comparisons_to_dict(outcome.comparisons)})
    if outcome.regressed:
        for c in outcome.comparisons:
            if c.case in outcome.regressed:
                print(f"REGRESSION: {c.case} is {c.change_pct:+.1f}% vs baseline (95% interval "
                      f"{c.ci_low_pct:+.1f}%..{c.ci_high_pct:+.1f}%), confirmed on a second measurement.")
        return 1
    print(f"No regression above {args.threshold:g}% in {len(outcome.comparisons)} cases.")
    return 0


def cmd_check(args) -> int:
    """``infer-bench check``: exit 1 when any artifact fails its tolerance."""
    import time

    from .check import format_table, run_check, save_report
    from .tolerances import parse_overrides, tolerances_with_overrides

    if args.artifact and not args.reference:
        raise InferBenchError("--artifact needs --reference X.keras to compare against.",
                              "pass the Keras model the artifact was exported from with --reference.")
    if args.limit is not None and args.limit < 1:
        raise InferBenchError(f"--limit {args.limit} must be at least 1.", "omit it to check the full test set.")
    tolerances = tolerances_with_overrides(parse_overrides(args.tolerance))
    from .runtimes.devices import configure_tensorflow

    configure_tensorflow(None)
    use_manifest = not args.artifact or args.models
    if use_manifest:
        _ensure_exports(args.exported, args.models, args.data_dir)
    report = run_check(args.exported if use_manifest else None, models=args.models or None, data_dir=args.data_dir,
                       tolerances=tolerances, extra_artifacts=args.artifact, reference=args.reference,
                       limit=args.limit)
    print()
    print(format_table(report))
    path = args.json or args.results_dir / time.strftime("check-%Y%m%d-%H%M%S.json")
    if not args.json:
        n = 2
        while path.exists():
            path = args.results_dir / time.strftime(f"check-%Y%m%d-%H%M%S-{n}.json")
            n += 1
    save_report(report, path)
    failed = [e for e in report.entries if not e.passed]
    print(f"\n{len(report.entries) - len(failed)} of {len(report.entries)} artifacts PASS; report: {path}")
    return 1 if failed else 0


def cmd_explain(args) -> int:
    """``infer-bench explain``."""
    from .explain import format_explanation, run_explain

    _ensure_exports(args.exported, [], None)
    from .runtimes.devices import configure_tensorflow

    configure_tensorflow(args.threads)
    d = run_explain(args.exported, args.results_dir, args.json, threads=args.threads)
    print(format_explanation(d))
    return 0


def cmd_report(args) -> int:
    """``infer-bench report``."""
    from .report import write_report

    path = write_report(args.exported, args.results_dir, args.out)
    print(f"Report: {path}")
    return 0


def _report_kept(folder: Path, models) -> None:
    from .manifest import load_manifest

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
    raise KeyboardInterrupt


def was_interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is how a stop signal surfaced.

    A KeyboardInterrupt raised inside a C extension's module initialisation (Ctrl-C while
    TensorFlow or tf2onnx is importing) comes out as ImportError("initialization failed"),
    and other C code may wrap it too; once a signal has arrived, any error is its effect.
    """
    return isinstance(exc, KeyboardInterrupt) or _signal_received is not None


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
        return args.func(args)
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
