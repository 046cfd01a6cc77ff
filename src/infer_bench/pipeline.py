"""``infer-bench run``: the whole answer in one command.

Without a model it trains and exports the report's three models
(``train-export``); with ``MODEL.keras --data D`` it exports that model
(``export``). Then it benchmarks, checks, explains and writes the report, and
ends by printing the decision table and the report's path. Each step reuses
what is up to date where the step itself does (exports are reused when their
model and recipe are unchanged); the measuring steps always measure anew.

Memory: every step that runs TensorFlow or a runtime runs in a fresh process
(``isolate.run_isolated``) and hands its memory back when it ends, so the run
needs what its largest step needs, not the sum of what each step left behind
(one process peaked at 6.0 GiB on the report's models). A report model is
trained in one process and exported in the next (training's graphs and the
ONNX export's copies of the weights never meet). This process never imports
TensorFlow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from tabulate import tabulate

from .bench import DEFAULT_MIN_CALLS, DEFAULT_MIN_TIME_S, BenchPlan, run_bench
from .check import DEFAULT_TOLERANCES, RANDOM_ROWS, run_check, save_check
from .environment import capture_environment
from .errors import InferBenchError
from .explain import run_explain
from .export.calibration import CALIBRATION_IMAGES
from .models import MODELS
from .present.decide import DECISION_HEADERS, decision_rows
from .present.report import write_report
from .present.scenario import load_scenarios
from .present.scenario_decide import all_decisions
from .isolate import run_isolated
from .results import ResultsWriter, load_results
from .results.check import CheckReport, load_check, merge_reports
from .train_export import Plan as TrainExportPlan, run_train_export
from .user_export import ExportPlan, run_export

# Rough share of the run each step takes on 2 cores, for the time-left estimate:
# the report's models (train 26 min, check 2, bench 4.5, explain 1, report 0.3),
# --quick, and a user's model (export 2-3 min for a MobileNet-sized model).
STEP_WEIGHTS = {"report": (26.0, 2.0, 4.5, 1.0, 0.3), "quick": (2.0, 0.3, 1.0, 0.7, 0.2),
                "user": (2.5, 1.0, 2.5, 1.0, 0.3)}
STEPS = ("export", "check", "bench", "explain", "report")
SMALL_MODEL_PARAMETERS = 1_000_000  # trained and exported in one process (see train_export_isolated)
BENCH_BATCHES = {"full": (1, 8, 32), "quick": (1,)}
QUICK_MIN_TIME_S = 0.1
QUICK_MIN_CALLS = 20  # not bench's 100: model.predict's 100 calls took 22 s per model
QUICK_CHECK_ROWS = 256  # --quick checks the first 256 test rows (a smoke run: its models are barely trained)
QUICK_RANDOM_ROWS = 64  # and 64 random images (the default 256 doubled the time of each 224x224 artifact)
# --quick judges with the same budgets but repairs nothing: a barely trained model's int8 agreement
# says nothing about its layers, and each repair attempt re-exports (minutes for the 224x224 AlexNet).
QUICK_TOLERANCES = {name: replace(row, repair_max_attempts=0) for name, row in DEFAULT_TOLERANCES.items()}


@dataclass(frozen=True)
class RunPlan:
    """One ``run``: which models, where everything goes, how thorough."""

    model_path: Path | None = None
    data: str | None = None
    quick: bool = False
    exported: Path = Path("exported")
    results_dir: Path = Path("results")
    report_dir: Path = Path("report")
    name: str | None = None
    output: str | None = None
    scale: str | None = None
    calibration_images: int = CALIBRATION_IMAGES
    data_dir: str | None = None
    unsafe_keras: bool = False
    threads: int | None = None
    needs_tensorflow = False  # every TensorFlow step runs in a process of its own, which sets its threads

    def __post_init__(self):
        if self.model_path is not None and self.data is None:
            raise InferBenchError("A model was given without its data.",
                                  "pass --data DIR (a folder of class folders), --data FILE.npz or a shipped "
                                  "dataset's name (fashion_mnist, cats_vs_dogs).")
        if self.model_path is None and self.data is not None:
            raise InferBenchError("--data was given without a model.",
                                  "pass the model too (`infer-bench run MODEL.keras --data D`), or drop --data "
                                  "to run the report's three models.")
        if self.threads is not None and self.threads < 1:
            raise InferBenchError(f"--threads {self.threads} must be >= 1.", "omit it to use all cores.")

    def export_plan(self) -> ExportPlan | None:
        """The ``export`` step of a user's model (validated now), or None for the report's models."""
        if self.model_path is None:
            return None
        return ExportPlan(model_path=self.model_path, data=self.data, name=self.name, exported=self.exported,
                          output=self.output, scale=self.scale, calibration_images=self.calibration_images,
                          data_dir=self.data_dir, unsafe_keras=self.unsafe_keras)


# --- the steps, each run in its own process (module-level: a spawned child imports them by name) ---


def _tensorflow_threads(threads: int | None) -> None:
    from .runtimes.devices import configure_tensorflow

    configure_tensorflow(threads)  # once per process, before anything touches TensorFlow


def train_export_step(plan: TrainExportPlan, threads: int | None, *, log) -> None:
    """``train-export`` of ``plan`` (one model, or its .keras file only)."""
    _tensorflow_threads(threads)
    run_train_export(plan, log)


def export_step(plan: ExportPlan, threads: int | None, *, log) -> None:
    """``export`` of a user's model."""
    _tensorflow_threads(threads)
    run_export(plan, log)


def check_step(plan: RunPlan, models: list[str], *, log) -> CheckReport:
    """``check`` of ``models`` (repairs included); the report, saved by the caller."""
    _tensorflow_threads(plan.threads)
    return run_check(plan.exported, models=models, data_dir=plan.data_dir, log=log,
                     tolerances=QUICK_TOLERANCES if plan.quick else None,
                     limit=QUICK_CHECK_ROWS if plan.quick else None,
                     random_rows=QUICK_RANDOM_ROWS if plan.quick else RANDOM_ROWS, layer_errors=not plan.quick)


def check_isolated(plan: RunPlan, models: list[str], log: Callable[[str], None] = print) -> Path:
    """``check`` of ``models``, each model in a process of its own, saved as one check file; its path.

    One process per model: a process that checked the three report models peaked at 4.4 GiB,
    each model's per-layer int8 errors adding to what the one before left behind. --quick
    measures no per-layer errors and checks 256 rows, so its models share one process (each
    process costs about 7 s, mostly importing TensorFlow)."""
    if plan.quick:
        log("--quick: int8 artifacts are judged, but their per-layer errors are not measured and nothing is "
            "repaired (smoke models are barely trained)")
    groups = [models] if plan.quick else [[model] for model in models]
    reports = [run_isolated(f"check {', '.join(group)}", check_step, plan, group, log=log) for group in groups]
    return save_check(merge_reports(reports), plan.results_dir)


def bench_step(plan: RunPlan, models: list[str], *, log) -> Path:
    """``bench`` of ``models`` at the run's batch sizes; the path of the results file."""
    _tensorflow_threads(plan.threads)
    bench = BenchPlan(exported=plan.exported, models=models, batch_sizes=BENCH_BATCHES["quick" if plan.quick else "full"],
                      min_time_s=QUICK_MIN_TIME_S if plan.quick else DEFAULT_MIN_TIME_S,
                      min_calls=QUICK_MIN_CALLS if plan.quick else DEFAULT_MIN_CALLS, threads=plan.threads,
                      results_dir=plan.results_dir, data_dir=plan.data_dir)
    writer = ResultsWriter(plan.results_dir, capture_environment(plan.threads))
    run_bench(bench, writer.results_file.environment, writer, log)
    return writer.path


def explain_step(plan: RunPlan, *, log) -> None:
    """``explain`` of every model in the export folder."""
    _tensorflow_threads(plan.threads)
    run_explain(plan.exported, plan.results_dir, threads=plan.threads, log=log)


def train_export_isolated(plan: TrainExportPlan, threads: int | None, log: Callable[[str], None] = print) -> None:
    """``train-export`` of ``plan``, per model: a large model's training in one process, its exports
    in the next; a small one's both in one process.

    Split even with --quick: after one epoch on 512 Cats vs Dogs images the process held 2.2 GiB,
    and the ONNX export's copies of the AlexNet's weights took it to 3.8 GiB. simple_cnn's weights
    are 0.9 MB: its exports add little, and a second process would add about 7 s."""
    for model in plan.models:
        one = replace(plan, models=[model])
        if MODELS[model].parameters <= SMALL_MODEL_PARAMETERS:
            run_isolated(f"train and export {model}", train_export_step, one, threads, log=log)
            continue
        run_isolated(f"train {model}", train_export_step, replace(one, keras_only=True), threads, log=log)
        one = replace(one, force=False)  # the model was just (re)trained or is up to date: reuse it, export anew
        run_isolated(f"export {model}", train_export_step, one, threads, log=log)


class RunProgress:
    """"[run k/5] step ... (elapsed, about N min left)" lines over the whole run."""

    def __init__(self, weights, log: Callable[[str], None]):
        self.weights, self.log, self.start, self.done = weights, log, time.perf_counter(), 0

    def begin(self, step: str) -> None:
        elapsed = time.perf_counter() - self.start
        done_weight = sum(self.weights[:self.done])
        left = ("estimating time left" if not done_weight else
                f"about {elapsed / done_weight * sum(self.weights[self.done:]) / 60:.0f} min left")
        self.log(f"\n[run {self.done + 1}/{len(STEPS)}] {step} ({elapsed / 60:.1f} min elapsed, {left})")

    def end(self) -> None:
        self.done += 1


def run_pipeline(plan: RunPlan, log: Callable[[str], None] = print) -> Path:
    """Export (or train and export), check, bench, explain and report; print the decisions; return report.md."""
    export_plan = plan.export_plan()  # refuses a bad model path, name or scale before any work
    kind = "user" if export_plan else ("quick" if plan.quick else "report")
    progress = RunProgress(STEP_WEIGHTS[kind], log)

    progress.begin("export" if export_plan else "train-export")
    if export_plan:
        run_isolated("export", export_step, export_plan, plan.threads, log=log)
        models = [export_plan.model_name]
    else:
        train_export_isolated(TrainExportPlan(models=list(MODELS), out=plan.exported, data_dir=plan.data_dir,
                                              quick=plan.quick), plan.threads, log)
        models = list(MODELS)
    progress.end()

    # check before bench: it may repair a static int8 artifact (re-export with its worst layers in
    # float), and bench must time the file the decision table will name.
    progress.begin("check")
    check_path = check_isolated(plan, models, log)
    report = load_check(check_path)
    failed = [e for e in report.entries if not e.passed]
    log(f"{len(report.entries) - len(failed)} of {len(report.entries)} artifacts PASS ({check_path})")
    progress.end()

    progress.begin("bench")
    results_file = load_results(run_isolated("bench", bench_step, plan, models, log=log))
    progress.end()

    progress.begin("explain")
    run_isolated("explain", explain_step, plan, log=log)
    progress.end()

    progress.begin("report")
    path = write_report(plan.exported, plan.results_dir, plan.report_dir, log=log)
    progress.end()

    # With `infer-bench scenario` records of this machine in the results folder, their LoadGen rows
    # (most requests per second under a p99 bound, most rows per second offline) join the table.
    scenarios = load_scenarios(plan.results_dir, results_file.environment, log=lambda line: None)
    decisions = [d for d in all_decisions(results_file, report, scenarios) if d.model in models]
    log("\nDeployment decisions (every choice passed `check` and lost at most 1 accuracy point):")
    log(tabulate(decision_rows(decisions), headers=DECISION_HEADERS, tablefmt="github"))
    if failed:
        log(f"\n{len(failed)} artifact(s) failed the accuracy check and were left out of the choices: "
            + ", ".join(f"{e.model} {e.format}/{e.quantization}" for e in failed))
    log(f"\nReport: {path} ({(time.perf_counter() - progress.start) / 60:.1f} min in all)")
    return path
