"""``infer-bench bench``: the benchmark matrix over artifacts x runtimes x devices x batch sizes.

One case = one artifact loaded in one runtime on one device at one precision; it
is loaded once (cold start measured then) and swept over the batch sizes with
the same loop (``measure.measure_session`` under the plan's ``StopRule``) that
``benchmarks/`` uses. Each finished case is written to the results file at once,
so an interrupted run keeps it.

A runtime that is told its precision (OpenVINO) gets one case per precision it
offers for the artifact (``runtimes.run_precisions``: an fp32 file is measured
at fp32, forced, and again as a bf16 variant). A precision the runtime will not
execute here is a skipped result with the reason, as a CUDA case without a GPU
is; a result's ``quantization`` is always the precision that executed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .adapt import check_inputs
from .catalog import DEVICES, EXECUTION_PRECISIONS, FORMATS, PRECISIONS, dataset_for_shape, identify_artifact
from .errors import InferBenchError, stop_requested, unknown_name
from .fsutil import sha256_of, size_of
from .inputs import SHIPPED_INPUT_ROWS, InputSpec, input_spec_for
from .manifest import ArtifactEntry, load_manifest, verify_entry
from .measure import BENCH, InputRotation, StopRule, measure_cold_start, measure_session, peak_rss_mb
from .plans import known_models, refuse_existing
from .results import BenchResult, ResultsWriter
from .runtimes import (RUNTIMES, LoadOptions, PrecisionUnavailable, execution_details, get_runtime, run_precisions,
                       runtime_devices, runtimes_for_format, sets_precision)
from .runtimes.devices import cuda_available_reason

DEFAULT_BATCH_SIZES = (1, 8, 32, 128)
DEFAULT_MIN_TIME_S = BENCH.min_time_s
DEFAULT_MIN_CALLS = BENCH.min_calls


@dataclass(frozen=True)
class Case:
    """One artifact in one runtime on one device, at one precision.

    ``precision``: what the runtime is told to execute in (a ``catalog.PRECISIONS``
    name: the artifact's own, or "bf16" for an fp32 artifact), for runtimes that
    are told (OpenVINO); None for those that run the artifact as it is.
    """

    entry: ArtifactEntry
    path: Path
    runtime: str
    device: str
    inputs: InputSpec | None  # None: a user's --artifact file, matched to a shipped dataset by its input shape
    precision: str | None = None

    def __post_init__(self):
        if self.precision is not None and self.precision not in PRECISIONS:
            raise unknown_name("precision", self.precision, PRECISIONS)

    @property
    def quantization(self) -> str:
        """The precision label of this case's results: the one it runs in."""
        return self.precision or self.entry.quantization

    @property
    def label(self) -> str:
        return f"{self.entry.model} {self.entry.format}/{self.quantization} via {self.runtime} on {self.device}"


@dataclass(frozen=True)
class BenchPlan:
    """What one ``bench`` run measures, validated when it is built. Empty filters mean "all"."""

    exported: Path = Path("exported")
    models: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    quantizations: list[str] = field(default_factory=list)
    runtimes: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    batch_sizes: list[int] = field(default_factory=lambda: list(DEFAULT_BATCH_SIZES))
    min_time_s: float = DEFAULT_MIN_TIME_S
    min_calls: int = DEFAULT_MIN_CALLS  # rows' worth of timed calls at least (run --quick times fewer)
    threads: int | None = None
    artifacts: list[Path] = field(default_factory=list)
    data_dir: str | None = None
    dataset: str | None = None  # feed this dataset to every case instead of each model's own
    adapt: bool = False  # resize / convert channels when the dataset does not fit a model
    unsafe_keras: bool = False
    json_path: Path | None = None  # write results here (refused if it exists) ...
    results_dir: Path = Path("results")  # ... else a new bench-<time>.json here
    table_format: str = "github"
    needs_tensorflow = True  # Keras and TensorFlow runtimes may run

    def __post_init__(self):
        self.validate()

    @property
    def stop_rule(self) -> StopRule:
        """The ``BENCH`` stop rule with this plan's minimum time and calls (what every batch size is timed under)."""
        return replace(BENCH.with_min_time(self.min_time_s), min_calls=self.min_calls)

    def load_options(self, device: str, precision: str | None = None) -> LoadOptions:
        """How every case of this plan loads its artifact on ``device`` (at ``precision``, for runtimes told one)."""
        return LoadOptions(device=device, threads=self.threads, unsafe_keras=self.unsafe_keras, precision=precision)

    def validate(self) -> None:
        """Refuse unknown names and impossible numbers before any work starts."""
        for kind, values, choices in (("model", self.models, known_models(self.exported)), ("format", self.formats, FORMATS),
                                      ("quantization", self.quantizations, PRECISIONS),
                                      ("runtime", self.runtimes, RUNTIMES), ("device", self.devices, DEVICES)):
            for v in values:
                if v not in choices:
                    raise unknown_name(kind, v, choices)
        if not self.batch_sizes or any(b < 1 for b in self.batch_sizes):
            raise InferBenchError(f"--batch-sizes {self.batch_sizes} must be positive integers.",
                                  "pass e.g. --batch-sizes 1,8,32,128.")
        if self.min_time_s < 0:
            raise InferBenchError(f"--min-time {self.min_time_s} must be >= 0 seconds.", "pass e.g. --min-time 1.")
        if self.min_calls < 1:
            raise InferBenchError(f"min_calls={self.min_calls} must be >= 1.", f"use the default, {DEFAULT_MIN_CALLS}.")
        if self.dataset is not None and self.dataset not in SHIPPED_INPUT_ROWS:
            raise unknown_name("dataset", self.dataset, SHIPPED_INPUT_ROWS)
        if self.threads is not None and self.threads < 1:
            raise InferBenchError(f"--threads {self.threads} must be >= 1.", "omit it to use all cores.")
        refuse_existing(self.json_path, "results")  # now, before minutes of benchmarking, not after


def artifact_entry_for_file(path: Path) -> ArtifactEntry:
    """A manifest-like entry for a user's own ``.keras``/``.onnx``/``.tflite`` file or SavedModel folder."""
    path = Path(path)
    if not path.exists():
        raise InferBenchError(f"--artifact {path} does not exist.", "pass the path of a .keras, .onnx or .tflite file.")
    kind = identify_artifact(path)
    return ArtifactEntry(model=kind.model, format=kind.format, quantization=kind.quantization, path=str(path.resolve()),
                         bytes=size_of(path), sha256=sha256_of(path), input_shape=[], input_dtype="float32",
                         output_shape=[], source_sha256="", source_test_accuracy=float("nan"))


def plan_cases(plan: BenchPlan, log: Callable[[str], None] = print) -> list[Case]:
    """Expand the plan into cases: manifest entries (and --artifact files) x runtimes x devices."""
    cases = []
    entries: list[tuple[ArtifactEntry, Path, InputSpec | None]] = []
    # A bf16 filter selects the fp32 artifacts it is a variant of; the cases are filtered by label below.
    artifact_quantizations = sorted({"fp32" if q in EXECUTION_PRECISIONS else q for q in plan.quantizations})
    if not plan.artifacts or plan.models:
        manifest = load_manifest(plan.exported)
        missing = [m for m in plan.models if m not in manifest.models]
        if missing:
            raise InferBenchError(f"{manifest.path} has no artifacts for {', '.join(missing)}.",
                                  f"run `infer-bench train-export --models {','.join(missing)} --out {plan.exported}`.")
        for e in manifest.entries(plan.models or None, plan.formats or None, artifact_quantizations or None):
            spec = input_spec_for(manifest.models.get(e.model, {}), e.input_shape, f"{e.model!r} in {manifest.path}")
            entries.append((e, verify_entry(manifest, e), spec))
    for p in plan.artifacts:
        e = artifact_entry_for_file(p)
        entries.append((e, Path(e.path), None))
    for entry, path, spec in entries:
        for rt in runtimes_for_format(entry.format):
            if plan.runtimes and rt not in plan.runtimes:
                continue
            runtime = get_runtime(rt)
            precisions = run_precisions(runtime, entry.quantization) if sets_precision(runtime) else (None,)
            for precision in precisions:
                if plan.quantizations and (precision or entry.quantization) not in plan.quantizations:
                    continue
                for device in plan.devices:
                    cases.append(Case(entry, path, rt, device, spec, precision))
    if not cases:
        raise InferBenchError("No benchmark case matches the filters given.",
                              "loosen --models/--formats/--quantizations/--runtimes, or check the manifest.")
    return cases


def input_rotation(inputs: InputSpec, data_dir, cache: dict, input_shape=None, adapt: bool = False) -> InputRotation:
    """Real test images of ``inputs`` (loaded once per run), checked against the model's
    ``input_shape`` (adapted if asked), rotated between calls."""
    key = (inputs, None if input_shape is None else tuple(input_shape[1:]))
    if key not in cache:
        x, _ = inputs.test_set(data_dir, limit=inputs.rotation_rows)
        if input_shape is not None:
            x = check_inputs(x, tuple(input_shape), f"The {inputs.label} test set", adapt)
        cache[key] = InputRotation(x)
    return cache[key]


def run_case(case: Case, plan: BenchPlan, inputs_cache: dict, log: Callable[[str], None]) -> list[BenchResult]:
    """Load one case, measure its cold start, then every batch size. Skips say why."""
    e = case.entry
    meta = dict(model=e.model, format=e.format, quantization=case.quantization)

    def skipped(reason: str) -> list[BenchResult]:
        return [BenchResult.skipped_case(**meta, runtime=case.runtime, device=case.device, batch_size=b, reason=reason)
                for b in plan.batch_sizes]

    reason = case_skip_reason(case)
    if reason:
        return skipped(reason)
    try:
        return _measure_case(case, plan, inputs_cache, meta)
    except PrecisionUnavailable as exc:  # compiled, but the runtime executed another precision
        return skipped(exc.problem)


def case_skip_reason(case: Case) -> str | None:
    """Why ``case`` cannot run here, decided before loading anything (device, CUDA, precision); None: it can."""
    runtime = get_runtime(case.runtime)
    if case.device not in runtime_devices(runtime):
        return f"{case.device.upper()} unavailable: {case.runtime} runs on {', '.join(runtime_devices(runtime))} only"
    if case.device == "cuda":
        reason = cuda_available_reason(case.runtime)
        if reason:
            return f"CUDA unavailable: {reason}"
    if case.precision is not None:
        return runtime.unavailable_reason(case.precision)  # decided from the CPU
    return None


def case_rotation(case: Case, plan: BenchPlan, inputs_cache: dict) -> InputRotation:
    """The real test images ``case`` is timed on (its model's dataset, or ``plan.dataset``).

    A user's own --artifact file has no manifest entry: one untimed load tells its input shape first.
    """
    inputs = InputSpec(plan.dataset) if plan.dataset else case.inputs
    input_shape = case.entry.input_shape or None
    if inputs is None or not input_shape:
        probe = get_runtime(case.runtime).load(case.path, plan.load_options(case.device, case.precision))
        input_shape = probe.input_shape
        inputs = inputs or InputSpec(dataset_for_shape(input_shape[1:], str(case.path)))
        probe.close()
    return input_rotation(inputs, plan.data_dir, inputs_cache, input_shape, plan.adapt)


def _measure_case(case: Case, plan: BenchPlan, inputs_cache: dict, meta: dict) -> list[BenchResult]:
    e = case.entry
    runtime = get_runtime(case.runtime)
    options = plan.load_options(case.device, case.precision)
    # Data is loaded before the cold start so it is not mixed into the load time.
    rotation = case_rotation(case, plan, inputs_cache)
    cold = measure_cold_start(lambda: runtime.load(case.path, options), rotation, plan.batch_sizes[0])
    session = cold.session
    out = []
    try:
        for i, b in enumerate(plan.batch_sizes):
            m = measure_session(session.run, rotation, b, plan.stop_rule)
            out.append(BenchResult.from_measurement(m, session, **meta, cold_start=cold if i == 0 else None,
                                                    bytes=e.bytes, peak_rss_mb=peak_rss_mb(),
                                                    extra=_execution_extra(session)))
    finally:
        session.close()
    return out


def _execution_extra(session) -> dict:
    """What the session says it executed (OpenVINO: precision, hint, streams), for the result's ``extra``."""
    details = execution_details(session)
    return {"execution": details} if details else {}


def run_bench(plan: BenchPlan, environment: dict, writer: ResultsWriter,
              log: Callable[[str], None] = print) -> list[BenchResult]:
    """Run every case of ``plan``; results go to ``writer`` as each case finishes."""
    cases = plan_cases(plan, log)
    log(f"Benchmarking {len(cases)} cases x {len(plan.batch_sizes)} batch sizes "
        f"({', '.join(map(str, plan.batch_sizes))}), >= {plan.min_time_s:g} s each, threads: "
        f"{environment.get('threads', {}).get('effective', plan.threads or 'all cores')}")
    results, inputs_cache, start = [], {}, time.perf_counter()
    for k, case in enumerate(cases, 1):
        t0 = time.perf_counter()
        try:
            case_results = run_case(case, plan, inputs_cache, log)
        except InferBenchError as exc:
            if case.device != "cuda":
                raise
            # A CUDA load refused by the runtime (e.g. it fell back to CPU): recorded, never relabelled.
            case_results = [BenchResult.skipped_case(model=case.entry.model, format=case.entry.format,
                                                     quantization=case.quantization, runtime=case.runtime,
                                                     device="cuda", batch_size=b, reason=str(exc))
                            for b in plan.batch_sizes]
        if stop_requested():  # a stop signal arrived during the case, whatever became of its KeyboardInterrupt
            raise KeyboardInterrupt
        for r in case_results:
            writer.add(r)
        results += case_results
        first = case_results[0]
        if first.skipped:
            summary = f"skipped: {first.skipped_reason}"
        else:
            summary = f"batch 1 p50 {first.per_row_ms['p50']:.3f} ms/row, load {first.load_ms:.0f} ms"
        log(f"[{k}/{len(cases)}] {case.label}: {summary} ({time.perf_counter() - t0:.1f} s; "
            f"{time.perf_counter() - start:.0f} s elapsed)")
    return results
