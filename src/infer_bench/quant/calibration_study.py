"""``infer-bench calibration-study``: how much a static int8 artifact depends on its calibration images.

For every static int8 artifact of an export folder (ONNX QDQ, TFLite
full-integer, OpenVINO NNCF IR) the study re-quantizes the artifact's float
source with the package's own exporters (``check.int8.requantize``: the same
percentile ranges, the same NNCF settings) on calibration sets of each size
(64, 256 and 1,024 training images by default), each drawn with several seeds
(42, 43, 44: 42 is the seed train-export draws its 256 images with). Every
re-quantized file then goes through ``check.run_check`` itself, against the
Keras original on the held-out split, so agreement, accuracy and the budget
verdict are exactly the check's. The files live in a temporary folder that is
removed afterwards: the manifest's artifacts are never touched.

Slow (one export per point, each with a full calibration pass), so it is its
own command and never part of ``run``; it prints "[k/n]" progress with the
time elapsed and an estimate of the time left.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from ..check.int8 import FLOAT_SOURCES, float_source, requantize
from ..check.runner import run_check
from ..check.tolerances import DEFAULT_TOLERANCES, tolerances_to_dict
from ..errors import InferBenchError
from ..export import artifact_filename
from ..data import ImageSplit, Preprocess, shipped_preprocess
from ..export.calibration import CALIBRATION_SEED
from ..manifest import Manifest, load_manifest, verify_entry
from ..plans import WritesResults, check_models, refuse_existing, require_exports
from ..results.calibration import CalibrationPoint, CalibrationStudy
from ..results.store import now_iso
from ..train_export import training_data

DEFAULT_SIZES = (64, 256, 1024)
DEFAULT_SEEDS = 3
FIRST_SEED = CALIBRATION_SEED  # train-export's own calibration sample uses this seed
MAX_SEEDS = 20
STUDY_FORMATS = tuple(FLOAT_SOURCES)  # onnx, tflite, openvino


def parse_sizes(text: str) -> tuple[int, ...]:
    """``--sizes 64,256,1024`` as a tuple of whole numbers >= 1 (an error names the bad part)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise InferBenchError(f"--sizes {text!r} is not a comma-separated list of whole numbers.",
                              "write e.g. --sizes 64,256,1024.") from None
    check_sizes(sizes)
    return sizes


def check_sizes(sizes) -> None:
    """Refuse an empty, repeated or non-positive list of calibration sizes."""
    if not sizes or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in sizes):
        raise InferBenchError(f"Calibration sizes (--sizes) {list(sizes)!r} are not allowed.",
                              "pass whole numbers of images >= 1, e.g. --sizes 64,256,1024.")
    if len(set(sizes)) != len(sizes):
        raise InferBenchError(f"Calibration sizes (--sizes) {list(sizes)!r} repeat a size.", "name each size once.")


def seed_values(count: int) -> tuple[int, ...]:
    """The seeds of ``count`` calibration draws per size: 42, 43, ... (42 is train-export's own)."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_SEEDS:
        raise InferBenchError(f"--seeds {count!r} is not allowed.",
                              f"pass the number of calibration draws per size, 1 to {MAX_SEEDS} (default 3).")
    return tuple(range(FIRST_SEED, FIRST_SEED + count))


def eta_text(done: int, total: int, elapsed: float) -> str:
    """"(3 s elapsed, about 1 min left)": the mean time per finished step times the steps left."""
    if done <= 0:
        return f"({elapsed:.0f} s elapsed, estimating time left)"
    left = elapsed / done * (total - done)
    left_text = f"{left:.0f} s" if left < 90 else f"{left / 60:.0f} min"
    return f"({elapsed:.0f} s elapsed, about {left_text} left)"


@dataclass(frozen=True, kw_only=True)
class StudyPlan(WritesResults):
    """One study: which models, calibration sizes and seeds, the budget, and how many test rows."""

    exported: Path = Path("exported")
    models: tuple[str, ...] = ()
    sizes: tuple[int, ...] = DEFAULT_SIZES
    seeds: int = DEFAULT_SEEDS
    tolerances: dict = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    limit: int | None = None  # held-out rows per check (None: the whole split)
    data_dir: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(self.sizes))
        check_sizes(self.sizes)
        seed_values(self.seeds)
        if self.limit is not None and self.limit < 1:
            raise InferBenchError(f"--limit {self.limit} must be at least 1.", "omit it to check the full test set.")
        if "static_int8" not in self.tolerances:
            raise InferBenchError("The tolerance table has no static_int8 row to judge the study by.",
                                  "pass a table like check.DEFAULT_TOLERANCES.")
        refuse_existing(self.json_path, "calibration study")
        check_models(self.models, self.exported)
        require_exports(self.exported, self.models, "`infer-bench calibration-study`")


@dataclass(frozen=True)
class Target:
    """One static int8 artifact of the manifest: its model, format and float source."""

    model: str
    format: str
    source: Path


def study_targets(manifest: Manifest, models=()) -> list[Target]:
    """The manifest's static int8 artifacts the study can re-make (their float source is listed too)."""
    out = []
    for entry in manifest.entries(models=list(models) or None):
        if entry.quantization != "static_int8" or entry.format not in STUDY_FORMATS:
            continue
        source = float_source(manifest, entry.model, entry.format)
        if source is not None:
            out.append(Target(entry.model, entry.format, source))
    return out


def study_inputs(manifest: Manifest, model: str) -> tuple[str, Path]:
    """The shipped dataset ``model`` draws calibration images from, and its verified Keras file.

    Checked for every model before any work, so a refusal never comes after minutes of study.
    """
    info = manifest.models.get(model, {})
    if info.get("preprocess") is not None or "dataset" not in info:
        raise InferBenchError(f"{model} was exported from your own data (`infer-bench export`); the calibration "
                              "study draws from the shipped datasets only.",
                              "run it on the report's models (--models simple_cnn,...), or re-export your model "
                              "with `--calibration-images N` for each size you want to compare.")
    keras_entry = manifest.artifacts.get((model, "keras", "fp32"))
    if keras_entry is None:
        raise InferBenchError(f"{manifest.path} lists no Keras model for {model} to check the study against.",
                              f"run `infer-bench train-export --models {model}` again.")
    return info["dataset"], verify_entry(manifest, keras_entry)


def calibration_pool(dataset: str, data_dir) -> tuple[ImageSplit, Preprocess]:
    """The training images the study draws from (the dataset's whole shipped training split, read
    lazily: only the drawn images are decoded) and how the report's models see them.

    The whole split even for a ``--quick`` model (trained on a few hundred rows), so 1,024
    images can be drawn; calibration images need only come from the training distribution.
    Drawn as train-export draws (``calibration_images``), so size 256 with seed 42 is its own set.
    """
    return training_data(dataset, data_dir).train, shipped_preprocess(dataset)


class _Progress:
    """"[k/n] message (elapsed, about N left)" over every re-quantization and every check of the study."""

    def __init__(self, total: int, log: Callable[[str], None]):
        self.total, self.done, self.log, self.start = total, 0, log, time.perf_counter()

    def step(self, message: str) -> None:
        self.done += 1
        self.log(f"[{self.done}/{self.total}] {message} {eta_text(self.done, self.total, self.elapsed)}")

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def _make_points(targets: list[Target], pool: tuple[ImageSplit, Preprocess], plan: StudyPlan, work: Path,
                 progress: _Progress):
    """Re-quantize every (target, size, seed) into ``work``; {path: (target, size, seed, images)} and failures."""
    made, failed = {}, []
    for target in targets:
        for size in plan.sizes:
            for seed in seed_values(plan.seeds):
                images = pool[0].sample(size, pool[1], seed)[0]
                name = artifact_filename(f"{target.model}_n{size}_s{seed}", target.format, "static_int8")
                path, t0 = work / name, time.perf_counter()
                try:
                    requantize(target.format, target.source, path, images)
                    made[str(path)] = (target, size, seed, len(images))
                    what = "quantized"
                except Exception as exc:  # one failed calibration must not end the study
                    problem = getattr(exc, "problem", None) or f"{type(exc).__name__}: {exc}"
                    failed.append(CalibrationPoint(target.model, target.format, size, seed, len(images), None, None,
                                                   None, None, error=f"re-quantization failed: {problem}",
                                                   seconds=time.perf_counter() - t0))
                    what = "FAILED to quantize"
                progress.step(f"{target.model} {target.format}: {what} on {len(images)} images, seed {seed} "
                              f"({time.perf_counter() - t0:.1f} s)")
    return made, failed


def _checked_points(made: dict, keras_path: Path, plan: StudyPlan, progress: _Progress) -> list[CalibrationPoint]:
    """Every re-quantized file checked against the Keras original by ``check.run_check``."""
    def log(message: str) -> None:  # the check's per-artifact lines count as steps; its notes are not repeated
        if message.startswith("[") and "/" in message.split("]", 1)[0]:
            progress.step("check " + message.split("] ", 1)[1])
        elif message.startswith("reference "):
            progress.log("        " + message)

    report = run_check(None, data_dir=plan.data_dir, tolerances=plan.tolerances, extra_artifacts=list(made),
                       reference=keras_path, limit=plan.limit, log=log)
    points = []
    for r in report.entries:
        target, size, seed, images = made[r.path]
        if r.test is None:
            points.append(CalibrationPoint(target.model, target.format, size, seed, images, r.runtime, None, None,
                                           None, error="; ".join(r.reasons) or "not run", seconds=r.seconds))
        else:
            points.append(CalibrationPoint(target.model, target.format, size, seed, images, r.runtime,
                                           r.reference_accuracy, r.test_accuracy, r.test.top1_agreement, r.reasons,
                                           seconds=r.seconds))
    return points


def run_calibration_study(plan: StudyPlan, environment: dict | None = None,
                          log: Callable[[str], None] = print) -> CalibrationStudy:
    """Re-quantize and check every static int8 artifact of ``plan.exported`` per size and seed (module docstring)."""
    created, start = now_iso(), time.perf_counter()
    manifest = load_manifest(plan.exported)
    targets = study_targets(manifest, plan.models)
    if not targets:
        raise InferBenchError(f"{plan.exported} lists no static int8 artifact with its float source.",
                              "run `infer-bench train-export` (it makes ONNX, TFLite and OpenVINO static int8).")
    per_target = len(plan.sizes) * plan.seeds
    progress = _Progress(2 * per_target * len(targets), log)  # a re-quantization and a check per point
    log(f"calibration study: {len(targets)} static int8 artifact(s) x sizes {', '.join(map(str, plan.sizes))} x "
        f"{plan.seeds} seed(s) = {per_target * len(targets)} re-quantizations, each checked against Keras")
    inputs = {model: study_inputs(manifest, model) for model in dict.fromkeys(t.model for t in targets)}
    points: list[CalibrationPoint] = []
    for model, (dataset, keras_path) in inputs.items():
        mine = [t for t in targets if t.model == model]
        pool = calibration_pool(dataset, plan.data_dir)
        short = [s for s in plan.sizes if s > len(pool[0])]
        if short:
            log(f"        note: {model}'s training split has {len(pool[0]):,} images; size(s) "
                f"{', '.join(map(str, short))} use all of them")
        with tempfile.TemporaryDirectory(prefix="infer-bench-calibration-") as work:
            made, failed = _make_points(mine, pool, plan, Path(work), progress)
            progress.total -= len(failed)  # no check for what could not be made
            points += failed
            if made:
                points += _checked_points(made, keras_path, plan, progress)
        del pool
    order = {(t.model, t.format): i for i, t in enumerate(targets)}
    points.sort(key=lambda p: (order[p.model, p.format], p.size, p.seed))
    return CalibrationStudy(created, str(plan.exported), plan.sizes, seed_values(plan.seeds), plan.limit,
                            time.perf_counter() - start, {"static_int8": tolerances_to_dict(plan.tolerances)[
                                "static_int8"]}, tuple(points), environment)
