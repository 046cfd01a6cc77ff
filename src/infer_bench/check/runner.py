"""Run the accuracy check: every exported artifact against its Keras model on the real held-out set.

For every artifact of an export folder (and any extra one given with its
reference ``.keras`` file) the Keras model and the artifact both run on the
full held-out set (10,000 Fashion-MNIST test images, 1,000 Cats-vs-Dogs
validation images) and on seeded random inputs uniform over the pixel range
[0, 1] (``analysis.random_inputs_spec``). The numbers and the verdict come
from ``analysis``; the result is a ``results.check.CheckReport``.

A checksum mismatch, a missing file or an artifact that cannot be loaded or
run is a FAIL with the reason, and the other artifacts are still checked.

An execution variant is checked like an artifact: an fp32 file run by a
runtime at another precision it offers (OpenVINO's bf16,
``runtimes.run_precisions``) is one more entry, labelled with that precision
and judged by its tolerance row. Where the runtime cannot execute that
precision on this machine, the variants are skipped and the log says why.
Each Keras model runs once per check (its outputs are kept for all of its
artifacts), each test set is decoded once (held in memory up to 1 GiB; a bigger
one is read again a batch at a time per artifact: ``testimages``), and every
session is closed after use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..catalog import REFERENCE_RUNTIME, artifact_format, artifact_quantization, dataset_for_shape
from ..inputs import InputSpec, input_spec_for
from ..environment import capture_environment
from ..errors import ArtifactError, InferBenchError, unknown_name
from ..manifest import ArtifactEntry, Manifest, load_manifest, verify_entry
from ..metrics import accuracy_of_outputs
from ..results.check import CheckReport, CheckResult
from ..results.store import now_iso
from ..runtimes import RUNTIMES, LoadOptions, get_runtime, run_precisions, runtimes_for_format, sets_precision
from .int8 import LAYER_FORMATS, Int8Job, calibration_loader, follow_up, layer_rows
from .analysis import (RANDOM_ROWS, REL_DIFF_FLOOR, compare_outputs, differs_from_training, judge, random_inputs,
                       random_inputs_spec)
from .table import format_layer_tables, progress_line, summary_line
from .testimages import TestImages
from .tolerances import DEFAULT_TOLERANCES, Tolerance, tolerances_to_dict

DEFAULT_BATCH = 256
# Input bytes per call at most: 32 images of 224x224x3 (batches of big images are kept small for memory).
BATCH_BYTES = 32 * 224 * 224 * 3 * 4


# --- what to check -----------------------------------------------------------------------------


@dataclass
class _Job:
    """One artifact to check and where it comes from."""

    model: str
    format: str
    quantization: str
    path: Path
    entry: ArtifactEntry | None = None  # manifest entry: verify its checksum first
    manifest: Manifest | None = None
    runtime: str | None = None  # None: the first runtime of its format
    precision: str | None = None  # what ``runtime`` is told to execute in (an execution variant: bf16)


@dataclass
class _Group:
    """The artifacts checked against one Keras model."""

    model: str
    reference: Path | None
    inputs: InputSpec | None  # None: matched to a shipped dataset by the reference model's input shape
    binary: bool | None  # None: inferred from the reference outputs (one output = sigmoid)
    recorded: tuple[float, int] | None = None  # (test accuracy, test rows) recorded at training
    reference_problem: str | None = None  # why the reference cannot be used
    jobs: list[_Job] = field(default_factory=list)


def _groups_from_manifest(exported: Path, models) -> list[_Group]:
    manifest = load_manifest(exported)
    known = list(dict.fromkeys(e.model for e in manifest.entries()))
    for name in models or ():
        if name not in known:
            raise unknown_name("model", name, known)
    groups = []
    for name in known:
        if models and name not in models:
            continue
        info = manifest.models.get(name, {})
        entries = manifest.entries(models=[name])
        keras = [e for e in entries if e.format == "keras"]
        inputs = input_spec_for(info, keras[0].input_shape, f"{name!r} in {manifest.path}") if keras else None
        group = _Group(name, None, inputs, info.get("binary"))
        if "test_accuracy" in info and "test_rows" in info:
            group.recorded = (float(info["test_accuracy"]), int(info["test_rows"]))
        if not keras:
            group.reference_problem = f"the manifest lists no Keras model for {name}"
        else:
            try:
                group.reference = verify_entry(manifest, keras[0])
            except ArtifactError as exc:
                group.reference_problem = f"the reference Keras model failed its check: {exc.problem}"
        for e in entries:
            if e.format != "keras":  # the Keras file is the reference itself
                group.jobs.append(_Job(e.model, e.format, e.quantization, manifest.folder / e.path, e, manifest))
        groups.append(group)
    return groups


def _group_for_extras(extra_artifacts, reference) -> _Group | None:
    if not extra_artifacts:
        return None
    if reference is None:
        raise InferBenchError("Extra artifacts were given without the Keras model to check them against.",
                              "pass reference=PATH to the .keras file they were exported from.")
    reference = Path(reference)
    if not reference.is_file() or reference.suffix != ".keras":
        raise ArtifactError(f"The reference {str(reference)!r} is not a .keras file.",
                            "pass the .keras file the artifacts were exported from.")
    group = _Group(reference.stem, reference, None, None)
    for p in extra_artifacts:
        p = Path(p)
        if not p.exists():
            raise ArtifactError(f"The artifact {str(p)!r} does not exist.", "check the path.")
        group.jobs.append(_Job(reference.stem, artifact_format(p), artifact_quantization(p), p))
    return group


def _execution_variants(groups: list[_Group]) -> list[str]:
    """Add a job for each extra precision a runtime runs an artifact in (an fp32 file as bf16 in
    OpenVINO); return one note per variant kind this machine cannot execute, saying why."""
    notes: dict[str, str] = {}
    for name, runtime in RUNTIMES.items():
        if not sets_precision(runtime):
            continue
        for group in groups:
            for job in [j for j in group.jobs if j.format in runtime.formats and j.precision is None]:
                for precision in run_precisions(runtime, job.quantization)[1:]:
                    reason = runtime.unavailable_reason(precision)
                    if reason:
                        notes.setdefault(f"{name}/{precision}", f"{precision} variants via {name}: skipped, {reason}")
                    else:
                        group.jobs.append(_Job(job.model, job.format, precision, job.path, job.entry, job.manifest,
                                               runtime=name, precision=precision))
    return list(notes.values())


def _plan(exported, models, extra_artifacts, reference) -> list[_Group]:
    """The groups to check; extra artifacts against a Keras model of the export join its group."""
    groups = _groups_from_manifest(Path(exported), models) if exported is not None else []
    extra = _group_for_extras(extra_artifacts, reference)
    if extra is not None:
        # Against a Keras model of the export folder: join its group, so the model runs once.
        same = [g for g in groups if g.reference is not None and g.reference.resolve() == extra.reference.resolve()]
        if same:
            same[0].jobs.extend(extra.jobs)
        else:
            groups.append(extra)
    return groups


# --- running -----------------------------------------------------------------------------------


def _run_batched(session, x: np.ndarray, batch: int) -> np.ndarray:
    """``session.run`` on ``x`` in batches of ``batch`` rows, outputs stacked."""
    parts = [session.run(np.ascontiguousarray(x[i:i + batch])) for i in range(0, len(x), batch)]
    return np.concatenate(parts, axis=0)


@dataclass
class _ReferenceRun:
    """The Keras model's outputs, computed once and shared by all of its artifacts."""

    dataset: str
    binary: bool
    batch: int
    images: TestImages
    outputs: np.ndarray
    accuracy: float
    random_x: np.ndarray
    random_outputs: np.ndarray


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, InferBenchError):
        return exc.problem
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:300]}"


class _TestSets:
    """Each model's test images opened once (held, when small: ``TestImages``), dropped when no later group needs them."""

    def __init__(self, data_dir, limit):
        self.data_dir, self.limit, self._cache = data_dir, limit, {}

    def get(self, inputs: InputSpec):
        if inputs not in self._cache:
            self._cache[inputs] = TestImages(inputs, self.data_dir, self.limit)
        return self._cache[inputs]

    def keep_only(self, names) -> None:
        for name in [n for n in self._cache if n not in names]:
            del self._cache[name]


def _run_reference(group: _Group, test_sets: _TestSets, random_spec, log) -> _ReferenceRun:
    t0 = time.perf_counter()
    session = get_runtime(REFERENCE_RUNTIME).load(group.reference, LoadOptions(device="cpu"))
    try:
        shape = tuple(session.input_shape[1:])
        inputs = group.inputs or InputSpec(dataset_for_shape(shape, f"The reference model {group.model}"))
        dataset = inputs.label
        batch = max(1, min(DEFAULT_BATCH, BATCH_BYTES // (4 * int(np.prod(shape)))))
        images = test_sets.get(inputs)
        if tuple(images.shape) != shape:
            raise InferBenchError(f"{group.model} takes inputs of shape {shape}, but the {dataset} test images "
                                  f"are {tuple(images.shape)}.", "check that the reference model matches its dataset.")
        outputs = images.run(session, batch)
        random_x = random_inputs(shape, random_spec)
        random_outputs = _run_batched(session, random_x, batch)
    finally:
        session.close()
    binary = group.binary if group.binary is not None else int(np.prod(outputs.shape[1:])) == 1
    y = images.y
    acc = accuracy_of_outputs(outputs, y, binary)
    how = "" if images.held else ", read again a batch at a time for each artifact"
    log(f"reference {group.model}: {REFERENCE_RUNTIME} on {len(y):,} {dataset} test images{how}, accuracy "
        f"{acc:.2%} ({time.perf_counter() - t0:.1f} s)")
    if differs_from_training(group.recorded, acc, len(y)):
        log(f"  note: training recorded {group.recorded[0]:.2%} on the same {len(y):,} rows; the test data or "
            "its preprocessing differ from training's")
    return _ReferenceRun(dataset, binary, batch, images, outputs, acc, random_x, random_outputs)


def _not_run(job: _Job, reason: str, reference_accuracy=None, runtime=None, seconds: float = 0.0) -> CheckResult:
    """The result of an artifact that could not be compared: a FAIL with ``reason``, no numbers."""
    return CheckResult(job.model, job.format, job.quantization, str(job.path), runtime, reference_accuracy,
                       None, None, None, (reason,), seconds, job.entry is None)


def _check_one(job: _Job, ref: _ReferenceRun, tolerances: dict[str, Tolerance]) -> CheckResult:
    t0 = time.perf_counter()

    def failed(reason: str, runtime=None) -> CheckResult:
        return _not_run(job, reason, ref.accuracy, runtime, time.perf_counter() - t0)

    tolerance = tolerances.get(job.quantization)
    if tolerance is None:
        return failed(f"no tolerance for precision {job.quantization!r} (the table has: {', '.join(tolerances)})")
    if job.entry is not None:
        try:
            verify_entry(job.manifest, job.entry)
        except ArtifactError as exc:
            kind = "checksum mismatch" if job.path.exists() else "artifact missing"
            return failed(f"{kind}: {exc.problem.removeprefix(job.entry.label + ': ')}")
    runtime = None
    try:
        runtime = job.runtime or runtimes_for_format(job.format)[0]
        session = get_runtime(runtime).load(job.path, LoadOptions(device="cpu", precision=job.precision))
        try:
            outputs = ref.images.run(session, ref.batch)
            random_outputs = _run_batched(session, ref.random_x, ref.batch)
        finally:
            session.close()
        test = compare_outputs(ref.outputs, outputs, ref.binary)
        random = compare_outputs(ref.random_outputs, random_outputs, ref.binary)
        acc = accuracy_of_outputs(outputs.reshape(ref.outputs.shape), ref.images.y, ref.binary)
    except Exception as exc:  # one broken artifact must not stop the others
        return failed(f"could not be loaded or run: {_error_text(exc)}", runtime)
    reasons = judge(job.quantization, tolerance, test, random, ref.accuracy, acc)
    return CheckResult(job.model, job.format, job.quantization, str(job.path), runtime, ref.accuracy, acc,
                       test, random, reasons, time.perf_counter() - t0, job.entry is None)


def _without_layer_errors(job: _Job, result: CheckResult) -> CheckResult:
    """A result whose per-layer int8 errors were switched off (``run --quick``): it says so."""
    if job.quantization != "static_int8" or job.precision is not None:
        return result
    return replace(result, layer_error_note="per-layer errors not measured and no repair tried (switched off: "
                                            "run --quick; run without it, or `infer-bench check`, for them)")


def _int8_follow_up(job: _Job, group: _Group, ref: _ReferenceRun, tolerances, result: CheckResult, data_dir,
                    log) -> CheckResult:
    """A static int8 result with its layer errors (and repaired if it failed): ``check.int8``."""
    if job.quantization != "static_int8" or job.precision is not None:
        return result
    note = ""
    int8_job = None
    if job.format not in LAYER_FORMATS:
        note = f"per-layer errors are measured for {' and '.join(LAYER_FORMATS)} static int8 only"
    elif job.entry is None:
        note = "an --artifact outside a manifest has no float source to compare with"
    else:
        int8_job = Int8Job(job.model, job.format, job.path, job.manifest, job.entry, group.reference,
                           calibration_loader(job.manifest, job.model, data_dir))

    def evaluate(path: Path) -> CheckResult:
        return _check_one(replace(job, entry=None, path=path), ref, tolerances)

    try:
        return follow_up(int8_job, result, tolerances[job.quantization], ref.images.head(layer_rows(ref.images.shape)),
                         evaluate, log, note)
    except Exception as exc:  # the layer errors are a diagnosis: their failure must not hide the verdict
        return replace(result, layer_error_note=f"per-layer errors could not be measured: {_error_text(exc)}")


def run_check(exported: str | Path | None, models=None, data_dir=None, tolerances: dict[str, Tolerance] | None = None,
              extra_artifacts=(), reference: str | Path | None = None, limit: int | None = None,
              log: Callable[[str], None] = print, random_rows: int = RANDOM_ROWS,
              layer_errors: bool = True) -> CheckReport:
    """Check every artifact of ``exported`` (and ``extra_artifacts`` against ``reference``).

    ``exported``: an export folder with ``manifest.json`` (None to check only
    extra artifacts). ``models``: only these models of the manifest.
    ``extra_artifacts``: paths of artifacts outside any manifest, checked
    against the ``.keras`` file ``reference``; format from the suffix (or a
    SavedModel folder), precision from the file name (fp16 / dynamic_int8 /
    static_int8, else fp32), dataset from the reference's input shape.
    ``tolerances``: a table like ``DEFAULT_TOLERANCES``. ``limit``: check on
    the first rows of the held-out set only (tests); the default is all of it.
    ``layer_errors``: measure each static int8 artifact's per-layer errors (and
    repair it if it fails); off, its result says they were not measured.
    TensorFlow is used as the caller configured it (``cli.main`` does that).
    """
    created = now_iso()
    tolerances = dict(DEFAULT_TOLERANCES if tolerances is None else tolerances)
    if limit is not None and limit < 1:
        raise InferBenchError(f"limit={limit!r} is not allowed.", "use a number of rows >= 1, or None for all.")
    if random_rows < 1:
        raise InferBenchError(f"random_rows={random_rows!r} is not allowed.", "use a number of rows >= 1.")
    groups = _plan(exported, models, extra_artifacts, reference)
    skipped_variants = _execution_variants(groups)
    total = sum(len(g.jobs) for g in groups)
    if total == 0:
        raise InferBenchError("There is nothing to check: no artifacts were selected.",
                              "pass an export folder with exported models, or extra artifacts with a reference.")
    environment = capture_environment(None)  # the runtimes are loaded with all cores (LoadOptions.threads None)
    random_spec = random_inputs_spec(random_rows)
    start = time.perf_counter()
    test_sets = _TestSets(data_dir, limit)
    results: list[CheckResult] = []
    for i, group in enumerate(groups):
        ref = None
        problem = group.reference_problem
        if problem is None:
            try:
                ref = _run_reference(group, test_sets, random_spec, log)
            except Exception as exc:
                problem = f"the reference Keras model could not be run: {_error_text(exc)}"
        # Keep only test sets a later group (by its known dataset) still needs.
        test_sets.keep_only({g.inputs for g in groups[i + 1:]} | {None})
        for job in group.jobs:
            if ref is None:
                results.append(_not_run(job, problem))
            elif layer_errors:
                results.append(_int8_follow_up(job, group, ref, tolerances, _check_one(job, ref, tolerances),
                                               data_dir, log))
            else:
                results.append(_without_layer_errors(job, _check_one(job, ref, tolerances)))
            log(progress_line(len(results), total, results[-1]))
    report = CheckReport(entries=tuple(results), tolerances=tolerances_to_dict(tolerances),
                         exported=None if exported is None else str(exported), created=created,
                         seconds=time.perf_counter() - start, random_inputs=random_spec,
                         rel_diff_floor=REL_DIFF_FLOOR, reference_runtime=REFERENCE_RUNTIME, environment=environment)
    for note in skipped_variants:  # said once, beside the summary, not between the progress lines
        log(note)
    layers = format_layer_tables(report)
    if layers:  # where each int8 artifact loses its accuracy, and what the repair did
        log(layers)
    log(summary_line(report))
    return report
