"""Validated, frozen plans for the commands that have no plan type of their own.

``cli`` turns arguments into one of these (or into ``bench.BenchPlan`` /
``train_export.Plan``) before any work starts, so a bad option fails at once
with a message that names the option, the value and what is allowed. Each plan
says whether its command needs TensorFlow and with how many threads, so
``cli.main`` configures TensorFlow once, before the stage runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import InferBenchError, unknown_name
from .manifest import MANIFEST_NAME, load_manifest
from .models import MODELS
from .results.store import exists_error
from .runtimes import RUNTIMES
from .runtimes.devices import cpu_count
from .scenario.settings import MLPERF_SERVER_SLO_MS, SCENARIOS, ScenarioSettings
from .scenario.sut import PoolConfig

MIN_REGRESS_ROUNDS = 3  # fewer rounds give no confidence bound


def known_models(exported: Path | None = None) -> list[str]:
    """The report's models, then the models a user exported into ``exported`` (if it has a manifest)."""
    user = [] if exported is None else [m for m in load_manifest(exported, missing_ok=True).models if m not in MODELS]
    return [*MODELS, *user]


def check_models(names, exported: Path | None = None) -> tuple[str, ...]:
    """``names`` as a tuple, each a report model or one exported into ``exported`` (else an error listing them)."""
    known = known_models(exported)
    for n in names:
        if n not in known:
            raise unknown_name("model", n, known)
    return tuple(names)


def check_threads(threads: int | None) -> None:
    """``--threads`` is None (all cores) or >= 1."""
    if threads is not None and threads < 1:
        raise InferBenchError(f"--threads {threads} must be >= 1.", "omit it to use all cores.")


def refuse_existing(json_path: Path | None, what: str) -> None:
    """An explicit ``--json`` path that already exists is refused before any work (never overwritten)."""
    if json_path is not None and Path(json_path).exists():
        raise exists_error(Path(json_path), what)


def require_exports(exported: Path, models=(), command: str = "this command") -> None:
    """Fail at once, naming the command that makes them, when ``exported`` lacks the artifacts asked for.

    Nothing trains as a side effect: training takes minutes to half an hour,
    so it only runs when asked for with ``infer-bench train-export``.
    """
    exported = Path(exported)
    manifest = load_manifest(exported, missing_ok=True)
    missing = [m for m in models if m not in manifest.models]
    if not manifest.models or missing:
        what = f"no artifacts for {', '.join(missing)}" if manifest.models else f"no {MANIFEST_NAME} with exported models"
        only = f" --models {','.join(missing)}" if missing else ""
        raise InferBenchError(
            f"{exported} has {what}, so {command} has nothing to work on.",
            f"run `infer-bench train-export{only} --out {exported}` first (about 25 minutes on 2 cores; "
            "`--quick` for a smoke run in minutes).")


@dataclass(frozen=True, kw_only=True)
class WritesResults:
    """Where a measuring command writes its results file, and its thread count."""

    results_dir: Path = Path("results")
    json_path: Path | None = None  # an explicit file instead of a new one in results_dir; refused if it exists
    threads: int | None = None
    needs_tensorflow = True


@dataclass(frozen=True, kw_only=True)
class CheckPlan(WritesResults):
    """What one ``check`` run compares (``tolerances`` already merged with the overrides)."""

    exported: Path | None
    models: tuple[str, ...] = ()
    artifacts: tuple[Path, ...] = ()
    reference: Path | None = None
    tolerances: dict = field(default_factory=dict)
    limit: int | None = None
    data_dir: str | None = None

    def __post_init__(self):
        check_models(self.models, self.exported)
        if self.artifacts and self.reference is None:
            raise InferBenchError("--artifact needs --reference X.keras to compare against.",
                                  "pass the Keras model the artifact was exported from with --reference.")
        if self.limit is not None and self.limit < 1:
            raise InferBenchError(f"--limit {self.limit} must be at least 1.", "omit it to check the full test set.")
        refuse_existing(self.json_path, "check")  # before minutes of checking, not after
        if self.exported is not None:
            require_exports(self.exported, self.models, "`infer-bench check`")


@dataclass(frozen=True, kw_only=True)
class ExplainPlan(WritesResults):
    """What one ``explain`` run explains; it reads bench results from, and writes to, ``results_dir``."""

    exported: Path

    def __post_init__(self):
        check_threads(self.threads)
        refuse_existing(self.json_path, "explanation")
        require_exports(self.exported, (), "`infer-bench explain`")


@dataclass(frozen=True)
class ReportPlan:
    """Where ``report`` reads its inputs and writes the report."""

    exported: Path
    results_dir: Path = Path("results")
    out: Path = Path("report")
    threads: int | None = None
    needs_tensorflow = False


@dataclass(frozen=True)
class RegressPlan:
    """One ``regress`` run: a comparison with the baseline, or (``update_baseline``) a new baseline."""

    baseline: Path | None  # None: the file in benchmarks/ recorded on this machine setup (regress.baselines)
    threshold_pct: float
    rounds: int
    threads: int
    update_baseline: bool = False
    memory_contention: bool = False
    slowdowns: dict = field(default_factory=dict)
    json_path: Path | None = None
    data_dir: str | None = None
    # The gate measures in fresh worker processes that configure TensorFlow themselves.
    needs_tensorflow = False

    def __post_init__(self):
        if self.rounds < MIN_REGRESS_ROUNDS:
            raise InferBenchError(f"--rounds {self.rounds} is too few for a confidence bound.",
                                  f"use at least {MIN_REGRESS_ROUNDS} (default 9).")
        if self.threshold_pct <= 0:
            raise InferBenchError(f"--threshold {self.threshold_pct} must be a positive percentage.",
                                  "e.g. --threshold 10.")
        check_threads(self.threads)
        if self.update_baseline and (self.memory_contention or self.slowdowns):
            raise InferBenchError("--update-baseline measures unchanged code, quiet and under contention itself.",
                                  "drop --memory-contention and --inject-slowdown when updating the baseline.")
        refuse_existing(self.json_path, "regress")


def parse_slowdowns(specs) -> dict[str, float]:
    """``--inject-slowdown CASE=FRACTION`` options as {case: fraction}."""
    out = {}
    for spec in specs:
        name, _, frac = spec.partition("=")
        try:
            out[name] = float(frac)
        except ValueError:
            raise InferBenchError(f"--inject-slowdown {spec!r} is not CASE=FRACTION.",
                                  "write e.g. simple_cnn/onnx/fp32/onnxruntime/b1=0.25.") from None
    return out


@dataclass(frozen=True, kw_only=True)
class ScenarioPlan(WritesResults):
    """One ``scenario`` run: a LoadGen scenario, or (``find_max_qps``) the Server search under ``slo_ms``.

    ``threads``: intra-op threads per worker session (default: the cores shared among the
    workers), always explicit. ``duration_s``/``min_queries`` override the preset's.
    """

    scenario: str = "single-stream"
    exported: Path = Path("exported")
    model: str | None = None
    artifact: Path | None = None
    format: str | None = None
    quantization: str = "fp32"
    runtime: str | None = None
    mlperf: bool = False  # MLPerf's settings (600 s runs) instead of the short ones
    duration_s: float | None = None
    min_queries: int | None = None
    target_qps: float | None = None
    slo_ms: float | None = None
    find_max_qps: bool = False
    search_batching: bool = True
    max_runs: int = 7
    workers: int = 1
    max_batch: int = 1
    max_wait_ms: float = 0.0
    rows: int | None = None
    data_dir: str | None = None

    def __post_init__(self):
        if self.scenario not in SCENARIOS:
            raise unknown_name("scenario", self.scenario, SCENARIOS)
        if (self.model is None) == (self.artifact is None):
            raise InferBenchError("scenario serves one artifact: pass --model M or --artifact PATH (not both).",
                                  "e.g. --model simple_cnn --runtime onnxruntime, or --artifact model.onnx.")
        check_threads(self.threads)
        if self.find_max_qps:
            if self.scenario != "server" or self.slo_ms is None:
                raise InferBenchError("--find-max-qps searches Server rates under a latency bound.",
                                      "pass --scenario server --slo-ms X with it.")
            if self.target_qps is not None or self.workers != 1 or self.max_batch != 1:
                raise InferBenchError("--find-max-qps chooses the rate, workers and batching itself.",
                                      "drop --target-qps, --workers and --max-batch, or drop --find-max-qps.")
        elif self.slo_ms is not None and self.scenario != "server":
            raise InferBenchError(f"--slo-ms is the Server latency bound; the {self.scenario} scenario has none.",
                                  "pass --scenario server (with --target-qps Q, or --find-max-qps).")
        if self.scenario == "server" and not self.find_max_qps and self.target_qps is None:
            raise InferBenchError("the server scenario needs a rate.", "pass --target-qps Q, or --find-max-qps --slo-ms X.")
        if self.target_qps is not None and self.scenario not in ("server", "offline"):
            raise InferBenchError(f"--target-qps is for server and offline runs, not {self.scenario}.",
                                  "drop --target-qps.")
        if self.scenario != "server" and (self.workers != 1 or self.max_wait_ms):
            raise InferBenchError("--workers and --max-wait-ms configure the asynchronous server SUT only.",
                                  "pass --scenario server, or drop them (--max-batch sets offline's batch).")
        if self.max_runs < 1 or (self.rows is not None and self.rows < 1):
            raise InferBenchError(f"--max-runs {self.max_runs} and --rows {self.rows} must be >= 1.", "pass e.g. 7.")
        if self.threads is None:
            object.__setattr__(self, "threads", max(1, cpu_count() // self.workers))
        PoolConfig(self.workers, self.threads, self.max_batch, self.max_wait_ms)  # refuses bad numbers now
        self.settings(1.0)  # refuses bad durations and rates now
        refuse_existing(self.json_path, "scenario")
        if self.model is not None:
            check_models((self.model,), self.exported)
            require_exports(self.exported, (self.model,), "`infer-bench scenario`")

    @property
    def needs_tensorflow(self) -> bool:
        """Only the TensorFlow runtimes (and a .keras/SavedModel artifact's default runtime) need it."""
        if self.runtime is None:
            return self.artifact is None or Path(self.artifact).suffix not in (".onnx", ".tflite", ".xml")
        return getattr(RUNTIMES.get(self.runtime), "engine", "tensorflow") == "tensorflow"

    @property
    def pool_config(self):
        """The SUT's configuration for a single run (not the search)."""
        return PoolConfig(self.workers, self.threads, self.max_batch, self.max_wait_ms)

    def settings(self, fallback_qps: float | None = None, expected_latency_ms: float | None = None):
        """LoadGen settings; the rate is ``--target-qps``, else ``fallback_qps`` (the search's probe,
        or offline's probed rate)."""
        extra = {} if expected_latency_ms is None else {"expected_latency_ns": max(1, int(expected_latency_ms * 5e5))}
        return ScenarioSettings(
            self.scenario, "mlperf" if self.mlperf else "short",
            min_duration_ms=None if self.duration_s is None else int(self.duration_s * 1000),
            min_query_count=self.min_queries, target_qps=self.target_qps or fallback_qps,
            slo_ms=self.slo_ms if self.slo_ms is not None else MLPERF_SERVER_SLO_MS, **extra)
