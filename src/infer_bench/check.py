"""Check exported artifacts against their Keras model on the real held-out set.

For every artifact of an export folder (and any extra one given with its
reference ``.keras`` file) the Keras model and the artifact both run on the
full held-out set (10,000 Fashion-MNIST test images, 1,000 Cats-vs-Dogs
validation images) and on ``RANDOM_ROWS`` seeded random inputs uniform over
the pixel range [0, 1]. Reported per artifact:

- Keras and artifact accuracy, and the difference in percentage points;
- top-1 agreement: the share of rows with the same predicted class (argmax;
  for one sigmoid output, the same side of 0.5);
- max and mean absolute difference of the outputs. The max is also the
  smallest absolute tolerance under which every output would pass;
- max relative difference ``|a - k| / max(|k|, REL_DIFF_FLOOR)``; the floor
  (1e-3) keeps near-zero probabilities from turning rounding noise into huge ratios;
- the same differences on the random inputs.

The verdict (PASS / FAIL with reasons in plain words) applies the precision's
row of ``tolerances.DEFAULT_TOLERANCES`` (or the table passed in); see that
module for which limits count on random inputs. A checksum mismatch, a
missing file or an artifact that cannot be loaded or run is a FAIL with the
reason, and the other artifacts are still checked.

Each Keras model runs once per check (its outputs are kept for all of its
artifacts), each test set is loaded once, and every session is closed after use.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ArtifactError, InferBenchError, unknown_name
from .manifest import ArtifactEntry, Manifest, load_manifest, verify_entry
from .tolerances import DEFAULT_TOLERANCES, PRECISIONS, Tolerance, format_limit, tolerances_to_dict

SCHEMA_VERSION = 1
REFERENCE_RUNTIME = "keras_predict"  # the report's way of running the Keras model
RANDOM_ROWS = 256
RANDOM_SEED = 1234
RANDOM_RANGE = (0.0, 1.0)  # the valid pixel range after /255 scaling
REL_DIFF_FLOOR = 1e-3
DEFAULT_BATCH = 256
BATCH_SIZES = {"fashion_mnist": 256, "cats_vs_dogs": 32}  # 224x224x3 batches are kept small for memory
# Input shape (without batch) -> dataset, for an extra artifact checked against a given .keras file.
DATASET_BY_INPUT_SHAPE = {(28, 28, 1): "fashion_mnist", (224, 224, 3): "cats_vs_dogs"}
SAVEDMODEL_MARKER = "saved_model.pb"
SUFFIX_FORMATS = {".onnx": "onnx", ".tflite": "tflite", ".keras": "keras"}
PASS, FAIL = "PASS", "FAIL"
ACCURACY_NOTE_PTS = 0.1  # Keras accuracy further than this from the one recorded at training gets a note


# --- comparing outputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputComparison:
    """How far an artifact's outputs are from the Keras model's on the same rows."""

    rows: int
    max_abs_diff: float
    mean_abs_diff: float
    max_rel_diff: float  # |a - k| / max(|k|, REL_DIFF_FLOOR)
    top1_agreement: float  # share of rows with the same predicted class
    nonfinite: int = 0  # NaN / inf values in the artifact's outputs


def compare_outputs(reference: np.ndarray, outputs: np.ndarray, binary: bool) -> OutputComparison:
    """Compare artifact ``outputs`` with the Keras model's ``reference`` outputs, row for row."""
    from .train import predicted_classes

    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(outputs, dtype=np.float64)
    if out.shape != ref.shape:
        if out.size != ref.size:
            raise ArtifactError(f"The artifact's outputs have shape {out.shape}; the Keras model's have {ref.shape}.",
                                "export the artifact from this Keras model.")
        out = out.reshape(ref.shape)  # e.g. (n,) against (n, 1)
    nonfinite = int(np.count_nonzero(~np.isfinite(out)))
    diff = np.abs(out - ref)
    rel = diff / np.maximum(np.abs(ref), REL_DIFF_FLOOR)
    if nonfinite:  # NaN would hide in max(); report it as infinitely far off
        diff = np.where(np.isfinite(diff), diff, np.inf)
        rel = np.where(np.isfinite(rel), rel, np.inf)
    agree = predicted_classes(out, binary) == predicted_classes(ref, binary)
    return OutputComparison(rows=len(ref), max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
                            max_rel_diff=float(rel.max()), top1_agreement=float(agree.mean()), nonfinite=nonfinite)


# --- the verdict -------------------------------------------------------------------------------


def judge(precision: str, tolerance: Tolerance, test: OutputComparison, random: OutputComparison | None,
          reference_accuracy: float, accuracy: float) -> tuple[str, ...]:
    """The reasons an artifact fails ``tolerance`` (empty: it passes). Pure: no I/O."""
    reasons = []
    if test.nonfinite:
        reasons.append(f"{test.nonfinite} output values are NaN or infinite on the test set")
    limit = tolerance.max_abs_diff
    if limit is not None and not test.max_abs_diff <= limit:
        reasons.append(f"max abs diff {test.max_abs_diff:.1e} > {format_limit(limit)} allowed for {precision}")
    if not test.top1_agreement >= tolerance.min_agreement:
        reasons.append(f"top-1 agreement {test.top1_agreement:.2%} < {tolerance.min_agreement:.2%}")
    drop_limit = tolerance.max_accuracy_drop_pts
    drop = (reference_accuracy - accuracy) * 100
    if drop_limit is not None and not drop <= drop_limit:
        reasons.append(f"accuracy dropped {drop:.1f} points (> {drop_limit:g} allowed)")
    if random is not None and tolerance.check_random_inputs:
        if random.nonfinite:
            reasons.append(f"{random.nonfinite} output values are NaN or infinite on random inputs")
        elif limit is not None and not random.max_abs_diff <= limit:
            reasons.append(f"max abs diff on random inputs {random.max_abs_diff:.1e} > {format_limit(limit)} "
                           f"allowed for {precision}")
    return tuple(reasons)


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One artifact checked against its Keras model. Metrics are None where it could not be run."""

    model: str
    format: str
    quantization: str
    path: str
    runtime: str | None
    reference_accuracy: float | None
    test_accuracy: float | None
    test: OutputComparison | None
    random: OutputComparison | None
    reasons: tuple[str, ...]
    seconds: float
    extra: bool = False  # given as an extra artifact, not listed in the export's manifest

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def verdict(self) -> str:
        return PASS if self.passed else FAIL

    @property
    def label(self) -> str:
        """e.g. "simple_cnn onnx/fp16"; an extra artifact adds its file name."""
        return f"{self.model} {self.format}/{self.quantization}" + (f" ({Path(self.path).name})" if self.extra else "")

    @property
    def accuracy_delta_pts(self) -> float | None:
        """Artifact accuracy minus Keras accuracy, in percentage points (negative: it lost accuracy)."""
        if self.test_accuracy is None or self.reference_accuracy is None:
            return None
        return (self.test_accuracy - self.reference_accuracy) * 100

    @property
    def rows(self) -> int:
        return self.test.rows if self.test else 0


@dataclass
class CheckReport:
    """All results of one check, with the tolerances they were judged by."""

    entries: list[CheckResult]
    tolerances: dict[str, Tolerance]
    exported: str | None
    created: str
    seconds: float = 0.0
    random_rows: int = RANDOM_ROWS

    @property
    def ok(self) -> bool:
        """True when every artifact passed."""
        return all(r.passed for r in self.entries)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.entries if not r.passed]


# --- what to check -----------------------------------------------------------------------------


def infer_format(path: Path) -> str:
    """Artifact format from a path: .onnx / .tflite / .keras, or a SavedModel folder."""
    path = Path(path)
    if path.is_dir():
        if (path / SAVEDMODEL_MARKER).exists():
            return "savedmodel"
        raise ArtifactError(f"{str(path)!r} is a folder without {SAVEDMODEL_MARKER}: not a SavedModel.",
                            "pass a SavedModel folder, or an .onnx, .tflite or .keras file.")
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ArtifactError(f"Cannot tell the format of {str(path)!r} from its suffix {path.suffix or '(none)'!r}.",
                            f"use one of: {', '.join(SUFFIX_FORMATS)}, or a SavedModel folder.")
    return fmt


def infer_quantization(path: Path) -> str:
    """Precision from the file name: the first of fp16 / dynamic_int8 / static_int8 in it, else fp32."""
    name = Path(path).name
    for precision in PRECISIONS:
        if precision != "fp32" and precision in name:
            return precision
    return "fp32"


def dataset_for_input_shape(shape) -> str:
    """The dataset a model with this input shape (batch dimension excluded) was trained on."""
    shape = tuple(int(d) for d in shape)
    try:
        return DATASET_BY_INPUT_SHAPE[shape]
    except KeyError:
        known = ", ".join(f"{s} -> {d}" for s, d in DATASET_BY_INPUT_SHAPE.items())
        raise InferBenchError(f"No dataset is known for a model with input shape {shape}.",
                              f"pass a reference model with one of these input shapes: {known}.") from None


@dataclass
class _Job:
    """One artifact to check and where it comes from."""

    model: str
    format: str
    quantization: str
    path: Path
    entry: ArtifactEntry | None = None  # manifest entry: verify its checksum first
    manifest: Manifest | None = None


@dataclass
class _Group:
    """The artifacts checked against one Keras model."""

    model: str
    reference: Path | None
    dataset: str | None  # None: inferred from the reference model's input shape
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
        group = _Group(name, None, info.get("dataset"), info.get("binary"))
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
        group.jobs.append(_Job(reference.stem, infer_format(p), infer_quantization(p), p))
    return group


# --- running -----------------------------------------------------------------------------------


def _run_batched(session, x: np.ndarray, batch: int) -> np.ndarray:
    parts = [session.run(np.ascontiguousarray(x[i:i + batch])) for i in range(0, len(x), batch)]
    return np.concatenate(parts, axis=0)


def _random_inputs(shape, rows: int) -> np.ndarray:
    low, high = RANDOM_RANGE
    return np.random.default_rng(RANDOM_SEED).uniform(low, high, size=(rows, *shape)).astype(np.float32)


@dataclass
class _ReferenceRun:
    """The Keras model's outputs, computed once and shared by all of its artifacts."""

    dataset: str
    binary: bool
    batch: int
    x: np.ndarray
    y: np.ndarray
    outputs: np.ndarray
    accuracy: float
    random_x: np.ndarray
    random_outputs: np.ndarray


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, InferBenchError):
        return exc.problem
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:300]}"


def _default_runtime(fmt: str) -> str:
    from .runtimes import runtimes_for_format

    return runtimes_for_format(fmt)[0]


class _TestSets:
    """Test sets loaded once each and dropped when no later group needs them."""

    def __init__(self, data_dir, limit):
        self.data_dir, self.limit, self._cache = data_dir, limit, {}

    def get(self, name: str):
        if name not in self._cache:
            from .data import load_test_set

            x, y = load_test_set(name, self.data_dir, limit=self.limit)
            self._cache[name] = (np.ascontiguousarray(x, dtype=np.float32), np.asarray(y))
        return self._cache[name]

    def keep_only(self, names) -> None:
        for name in [n for n in self._cache if n not in names]:
            del self._cache[name]


def _run_reference(group: _Group, test_sets: _TestSets, random_rows: int, log) -> _ReferenceRun:
    from .runtimes import LoadOptions, get_runtime
    from .train import accuracy_of_outputs

    t0 = time.perf_counter()
    session = get_runtime(REFERENCE_RUNTIME).load(group.reference, LoadOptions(device="cpu"))
    try:
        shape = tuple(session.input_shape[1:])
        dataset = group.dataset or dataset_for_input_shape(shape)
        batch = BATCH_SIZES.get(dataset, DEFAULT_BATCH)
        x, y = test_sets.get(dataset)
        if tuple(x.shape[1:]) != shape:
            raise InferBenchError(f"{group.model} takes inputs of shape {shape}, but the {dataset} test images "
                                  f"are {tuple(x.shape[1:])}.", "check that the reference model matches its dataset.")
        outputs = _run_batched(session, x, batch)
        random_x = _random_inputs(shape, random_rows)
        random_outputs = _run_batched(session, random_x, batch)
    finally:
        session.close()
    binary = group.binary if group.binary is not None else int(np.prod(outputs.shape[1:])) == 1
    acc = accuracy_of_outputs(outputs, y, binary)
    log(f"reference {group.model}: {REFERENCE_RUNTIME} on {len(x):,} {dataset} test images, accuracy {acc:.2%} "
        f"({time.perf_counter() - t0:.1f} s)")
    if group.recorded and group.recorded[1] == len(y) and abs(group.recorded[0] - acc) * 100 > ACCURACY_NOTE_PTS:
        log(f"  note: training recorded {group.recorded[0]:.2%} on the same {len(y):,} rows; the test data or "
            "its preprocessing differ from training's")
    return _ReferenceRun(dataset, binary, batch, x, y, outputs, acc, random_x, random_outputs)


def _check_one(job: _Job, ref: _ReferenceRun, tolerances: dict[str, Tolerance]) -> CheckResult:
    from .runtimes import LoadOptions, get_runtime
    from .train import accuracy_of_outputs

    t0 = time.perf_counter()

    def failed(reason: str, runtime=None) -> CheckResult:
        return CheckResult(job.model, job.format, job.quantization, str(job.path), runtime, ref.accuracy,
                           None, None, None, (reason,), time.perf_counter() - t0, job.entry is None)

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
        runtime = _default_runtime(job.format)
        session = get_runtime(runtime).load(job.path, LoadOptions(device="cpu"))
        try:
            outputs = _run_batched(session, ref.x, ref.batch)
            random_outputs = _run_batched(session, ref.random_x, ref.batch)
        finally:
            session.close()
        test = compare_outputs(ref.outputs, outputs, ref.binary)
        random = compare_outputs(ref.random_outputs, random_outputs, ref.binary)
        acc = accuracy_of_outputs(outputs.reshape(ref.outputs.shape), ref.y, ref.binary)
    except Exception as exc:  # one broken artifact must not stop the others
        return failed(f"could not be loaded or run: {_error_text(exc)}", runtime)
    reasons = judge(job.quantization, tolerance, test, random, ref.accuracy, acc)
    return CheckResult(job.model, job.format, job.quantization, str(job.path), runtime, ref.accuracy, acc,
                       test, random, reasons, time.perf_counter() - t0, job.entry is None)


def _progress_line(k: int, n: int, r: CheckResult) -> str:
    head = f"[{k}/{n}] {r.label}: {r.verdict}"
    if r.test is not None:
        head += (f" (acc {r.reference_accuracy:.1%} → {r.test_accuracy:.1%}, agreement {r.test.top1_agreement:.1%},"
                 f" {r.seconds:.1f} s)")
    else:
        head += f" ({r.seconds:.1f} s)"
    return head + ("" if r.passed else ": " + "; ".join(r.reasons))


def run_check(exported: str | Path | None, models=None, data_dir=None, tolerances: dict[str, Tolerance] | None = None,
              extra_artifacts=(), reference: str | Path | None = None, limit: int | None = None,
              log: Callable[[str], None] = print, random_rows: int = RANDOM_ROWS) -> CheckReport:
    """Check every artifact of ``exported`` (and ``extra_artifacts`` against ``reference``).

    ``exported``: an export folder with ``manifest.json`` (None to check only
    extra artifacts). ``models``: only these models of the manifest.
    ``extra_artifacts``: paths of artifacts outside any manifest, checked
    against the ``.keras`` file ``reference``; format from the suffix (or a
    SavedModel folder), precision from the file name (fp16 / dynamic_int8 /
    static_int8, else fp32), dataset from the reference's input shape.
    ``tolerances``: a table like ``DEFAULT_TOLERANCES``. ``limit``: check on
    the first rows of the held-out set only (tests); the default is all of it.
    """
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tolerances = dict(DEFAULT_TOLERANCES if tolerances is None else tolerances)
    if limit is not None and limit < 1:
        raise InferBenchError(f"limit={limit!r} is not allowed.", "use a number of rows >= 1, or None for all.")
    if random_rows < 1:
        raise InferBenchError(f"random_rows={random_rows!r} is not allowed.", "use a number of rows >= 1.")
    groups = _groups_from_manifest(Path(exported), models) if exported is not None else []
    extra = _group_for_extras(extra_artifacts, reference)
    if extra is not None:
        # Against a Keras model of the export folder: join its group, so the model runs once.
        same = [g for g in groups if g.reference is not None and g.reference.resolve() == extra.reference.resolve()]
        if same:
            same[0].jobs.extend(extra.jobs)
        else:
            groups.append(extra)
    total = sum(len(g.jobs) for g in groups)
    if total == 0:
        raise InferBenchError("There is nothing to check: no artifacts were selected.",
                              "pass an export folder with exported models, or extra artifacts with a reference.")
    start = time.perf_counter()
    test_sets = _TestSets(data_dir, limit)
    results: list[CheckResult] = []
    for i, group in enumerate(groups):
        ref = None
        problem = group.reference_problem
        if problem is None:
            try:
                ref = _run_reference(group, test_sets, random_rows, log)
            except Exception as exc:
                problem = f"the reference Keras model could not be run: {_error_text(exc)}"
        # Keep only test sets a later group (by its known dataset) still needs.
        test_sets.keep_only({g.dataset for g in groups[i + 1:]} | {None})
        for job in group.jobs:
            if ref is None:
                result = CheckResult(job.model, job.format, job.quantization, str(job.path), None, None, None, None,
                                     None, (problem,), 0.0, job.entry is None)
            else:
                result = _check_one(job, ref, tolerances)
            results.append(result)
            log(_progress_line(len(results), total, result))
    report = CheckReport(results, tolerances, None if exported is None else str(exported), created,
                         time.perf_counter() - start, random_rows)
    passed = sum(r.passed for r in results)
    log(f"{passed}/{len(results)} artifacts pass ({report.seconds:.1f} s)")
    return report


# --- output ------------------------------------------------------------------------------------

TABLE_HEADERS = ["model", "format", "quantization", "ref acc", "acc", "Δ pts", "agreement", "max abs diff",
                 "random max abs diff", "verdict"]


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.2%}"


def _sci(x: float | None) -> str:
    return "" if x is None else f"{x:.1e}"


def table_rows(report: CheckReport) -> list[list[str]]:
    """One row per artifact for ``TABLE_HEADERS``."""
    rows = []
    for r in report.entries:
        model = r.model + (f" ({Path(r.path).name})" if r.extra else "")
        delta = r.accuracy_delta_pts
        verdict = r.verdict if r.passed else f"{FAIL}: " + "; ".join(r.reasons)
        rows.append([model, r.format, r.quantization, _pct(r.reference_accuracy), _pct(r.test_accuracy),
                     "" if delta is None else f"{delta:+.2f}", _pct(r.test.top1_agreement if r.test else None),
                     _sci(r.test.max_abs_diff if r.test else None),
                     _sci(r.random.max_abs_diff if r.random else None), verdict])
    return rows


def format_table(report: CheckReport, tablefmt: str = "github") -> str:
    """The results as a table: what each precision costs in accuracy points, and the verdicts."""
    from tabulate import tabulate

    return tabulate(table_rows(report), headers=TABLE_HEADERS, tablefmt=tablefmt, disable_numparse=True)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def result_to_dict(r: CheckResult) -> dict:
    """JSON-ready form of one result (non-finite numbers become null)."""
    t, rnd = r.test, r.random
    return {
        "model": r.model, "format": r.format, "quantization": r.quantization, "path": r.path, "runtime": r.runtime,
        "reference_accuracy": r.reference_accuracy, "test_accuracy": r.test_accuracy,
        "accuracy_delta_pts": r.accuracy_delta_pts,
        "top1_agreement": t.top1_agreement if t else None,
        "max_abs_diff": _finite(t.max_abs_diff) if t else None,
        "mean_abs_diff": _finite(t.mean_abs_diff) if t else None,
        "max_rel_diff": _finite(t.max_rel_diff) if t else None,
        "nonfinite_outputs": t.nonfinite if t else None,
        "random_max_abs_diff": _finite(rnd.max_abs_diff) if rnd else None,
        "random_mean_abs_diff": _finite(rnd.mean_abs_diff) if rnd else None,
        "random_max_rel_diff": _finite(rnd.max_rel_diff) if rnd else None,
        "random_top1_agreement": rnd.top1_agreement if rnd else None,
        "rows": r.rows, "random_rows": rnd.rows if rnd else 0,
        "verdict": r.verdict, "reasons": list(r.reasons), "seconds": r.seconds, "extra": r.extra,
    }


def report_to_dict(report: CheckReport) -> dict:
    """The versioned JSON form of a check report."""
    return {
        "schema_version": SCHEMA_VERSION,
        "created": report.created,
        "exported": report.exported,
        "ok": report.ok,
        "seconds": report.seconds,
        "reference_runtime": REFERENCE_RUNTIME,
        "rel_diff_floor": REL_DIFF_FLOOR,
        "random_inputs": {"rows": report.random_rows, "seed": RANDOM_SEED, "low": RANDOM_RANGE[0],
                          "high": RANDOM_RANGE[1], "distribution": "uniform"},
        "tolerances": tolerances_to_dict(report.tolerances),
        "results": [result_to_dict(r) for r in report.entries],
    }


def save_report(report: CheckReport, path: str | Path, overwrite: bool = False) -> Path:
    """Write the report's JSON atomically; an existing file is kept unless ``overwrite``."""
    from .fsutil import write_json_atomic

    path = Path(path)
    if path.exists() and not overwrite:
        raise InferBenchError(f"{path} already exists; not overwriting it.",
                              "choose another path, or pass overwrite=True (--force).")
    write_json_atomic(path, report_to_dict(report))
    return path
