"""The main job: train each model on its real data (or reuse it) and export every artifact.

Progress is printed as "[step/total] what (elapsed, peak memory)". The peak
resident memory of the process so far says which step needs how much RAM: a
step that raises it is the one that took it. The manifest is saved after
each artifact, so an interrupted run keeps what finished and a rerun continues
from there; artifacts whose file and source model are unchanged are reused
unless ``force``.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .data import VALIDATION_SHARE, DataSource, open_data
from .export import ARTIFACTS, ExportContext, artifact_filename
from .environment import package_versions
from .export.calibration import CALIBRATION_IMAGES, calibration_images
from .errors import ArtifactError
from .fsutil import sha256_of
from .manifest import Manifest, entry_for, load_manifest
from .measure import peak_rss_mb, release_freed_heap
from .models import MODELS, get_spec
from .results.history import load_history, save_history
from .train import QUICK_EPOCHS, QUICK_ROWS, QUICK_VALIDATION_ROWS, SEED, input_preprocess, plot_history, train



@dataclass
class Plan:
    """What one ``train-export`` run does."""

    models: list[str] = field(default_factory=lambda: list(MODELS))
    out: Path = Path("exported")
    data_dir: str | None = None
    epochs: int | None = None
    quick: bool = False
    force: bool = False
    strategy: str = "default"  # train.STRATEGIES: "mirrored" trains on every local GPU / logical CPU device
    keras_only: bool = False  # train (or reuse) and save the .keras file only; the exports come in a later call
    seed: int = SEED  # training's seed (weights, shuffling, augmentation); a model trained with another is retrained
    # train.TRAINING_PRECISIONS: "auto" trains in mixed bf16 on CPUs with AMX-BF16, else float32;
    # a model trained in another precision than an explicit one is retrained.
    training_precision: str = "auto"
    # The CLI runs each model's steps in processes of their own (pipeline.train_export_isolated),
    # which set TensorFlow's threads themselves.
    needs_tensorflow = False


def library_versions() -> dict:
    """Installed versions of the libraries that shape an artifact (a change rebuilds the artifacts)."""
    return {name: v for name, v in package_versions().items() if name != "infer-bench"}


# Share of the training images held out for validation, per dataset (default VALIDATION_SHARE, 0.2).
# Validation only draws the stability figure and the per-epoch curve, and 6,000 Fashion-MNIST
# images measure its accuracy to about 0.35 points (std): the other 6,000 train. 54,000 instead
# of 48,000 training images took alexnet_fashion from 90.85% to 91.30% test accuracy on the
# same seed and recipe (2026-12-03, Xeon with AMX, bf16; fit 607 s instead of 586 s). Cats vs
# Dogs keeps 0.2: its int8 seed studies (docs/quantization.md) were measured on that split.
VALIDATION_SHARES = {"fashion_mnist": 0.1}


def validation_share(dataset: str) -> float:
    """The share of ``dataset``'s training images train-export holds out for validation."""
    return VALIDATION_SHARES.get(dataset, VALIDATION_SHARE)


def training_data(dataset: str, data_dir=None, quick: bool = False, share: float | None = None) -> DataSource:
    """A report model's dataset, opened lazily (nothing decoded); ``quick`` cuts each split to a seeded few hundred rows.

    ``share``: the validation share (None: ``validation_share(dataset)``, what train-export uses now).
    """
    source = open_data(dataset, data_dir, validation_share=validation_share(dataset) if share is None else share)
    if quick:
        source = source.subset({"train": QUICK_ROWS, "validation": QUICK_VALIDATION_ROWS, "test": QUICK_ROWS})
    return source


class Progress:
    """Prints "[k/N] message (elapsed, peak memory so far)" lines for the whole run."""

    def __init__(self, total: int, log: Callable[[str], None]):
        self.total, self.done, self.log, self.start = total, 0, log, time.perf_counter()

    def step(self, message: str) -> None:
        self.done += 1
        self.log(f"[{self.done}/{self.total}] {message} ({time.perf_counter() - self.start:.0f} s elapsed, "
                 f"peak memory {peak_rss_mb() / 1024:.1f} GiB)")

    def note(self, message: str) -> None:
        self.log(f"        {message}")


def _is_current(manifest: Manifest, key, source_sha: str | None, recipe: str | None = None) -> bool:
    """The artifact is listed, intact, made from ``source_sha`` and (if given) by ``recipe``."""
    entry = manifest.artifacts.get(key)
    if entry is None or source_sha is None or entry.source_sha256 != source_sha:
        return False
    if recipe is not None and entry.recipe != recipe:
        return False
    path = manifest.folder / entry.path
    return path.exists() and sha256_of(path) == entry.sha256


def run_train_export(plan: Plan, log: Callable[[str], None] = print) -> Manifest:
    """Train (or reuse) and export every model in ``plan``; return the updated manifest."""
    for name in plan.models:
        get_spec(name)  # unknown names fail before any work
    manifest = load_manifest(plan.out, missing_ok=True)
    manifest.versions = library_versions()
    progress = Progress(len(plan.models) * (1 + (1 if plan.keras_only else len(ARTIFACTS))), log)
    for name in plan.models:
        _train_and_export_one(name, plan, manifest, progress)
        _forget_model_state()
    return manifest


def _forget_model_state() -> None:
    """Free what one model's training and exports left behind before the next model starts.

    Keras keeps global state (layer name counters, TensorFlow graphs and functions of the
    models built) until ``clear_session``; without it the second AlexNet's ONNX export
    started 0.5 GiB higher than in a fresh process and set the quick run's peak.
    """
    import keras

    keras.backend.clear_session()
    gc.collect()
    release_freed_heap()


def _train_and_export_one(name: str, plan: Plan, manifest: Manifest, progress: Progress) -> None:
    import keras

    spec = get_spec(name)
    folder = plan.out / name
    keras_path = folder / artifact_filename(name, "keras", "fp32")
    keras_key = (name, "keras", "fp32")
    info = manifest.models.get(name, {})
    reuse = (not plan.force and info.get("quick", False) == plan.quick and info.get("seed", SEED) == plan.seed
             and info.get("validation_share", VALIDATION_SHARE) == validation_share(spec.dataset)
             and plan.training_precision in ("auto", info.get("training_precision", "float32"))
             and keras_key in manifest.artifacts
             and _is_current(manifest, keras_key, manifest.artifacts[keras_key].source_sha256))
    preprocess = input_preprocess(spec)
    opened: list[DataSource] = []  # opened on first use: a rerun that reuses everything reads no data

    def get_source() -> DataSource:
        if not opened:
            opened.append(training_data(spec.dataset, plan.data_dir, plan.quick))
        return opened[0]

    def get_calibration():
        return calibration_images(get_source(), preprocess)

    if reuse:
        model = keras.saving.load_model(keras_path, compile=False, safe_mode=True)
        progress.step(f"{name}: reusing trained model {keras_path} (test accuracy "
                      f"{info['test_accuracy']:.2%}; --force retrains)")
    else:
        source = get_source()
        progress.note(f"training {name} on {len(source.train)} {spec.dataset} images from {source.location}, "
                      "read a batch at a time")
        result = train(spec, source, epochs=QUICK_EPOCHS if plan.quick else plan.epochs, log=progress.note,
                       strategy=plan.strategy, seed=plan.seed, precision=plan.training_precision)
        model, history = result.model, result.history
        history["quick"] = plan.quick
        folder.mkdir(parents=True, exist_ok=True)
        save_history(folder / "history.json", history)
        plot_history(history, folder / "training.png")
        # Stale exports of an earlier model must not survive under the new one.
        for key in [k for k in manifest.artifacts if k[0] == name]:
            manifest.remove(key)
        info = {"dataset": spec.dataset, "test_accuracy": history["test_accuracy"],
                "target_accuracy": spec.target_accuracy, "quick": plan.quick,
                "test_rows": history["rows"]["test"], "binary": spec.binary,
                "history": f"{name}/history.json", "curves": f"{name}/training.png",
                "stability": history["stability"], "seed": plan.seed,
                "validation_share": validation_share(spec.dataset),
                "training_precision": history["training_precision"]["ran"]}
        manifest.models[name] = info
        verdict = "meets" if history["test_accuracy"] >= spec.target_accuracy else "BELOW"
        progress.step(f"{name}: trained, test accuracy {history['test_accuracy']:.2%} ({verdict} the "
                      f"{spec.target_accuracy:.0%} target)")
        # Let training's graphs and optimizer state go before exporting: the ONNX export of
        # an AlexNet needs gigabytes of its own.
        del result
        gc.collect()
        release_freed_heap()

    export_artifacts(model, name, folder, manifest, progress, get_calibration,
                     source_accuracy=info["test_accuracy"], force=plan.force, quick=plan.quick,
                     kinds=ARTIFACTS[:1] if plan.keras_only else ARTIFACTS)


def export_artifacts(model, name: str, folder: Path, manifest: Manifest, progress: Progress,
                     load_calibration: Callable[[], np.ndarray], *, source_accuracy: float, force: bool = False,
                     quick: bool = False, kinds=ARTIFACTS, calibration_images: int = CALIBRATION_IMAGES) -> None:
    """Export ``model`` to every row of ``kinds`` (default ``ARTIFACTS``) into ``folder``, reusing what is up to date.

    An artifact is reused when the manifest lists it intact, made from the
    current ``.keras`` file by the current recipe (unless ``force``). The
    manifest is saved after each artifact, so an interrupted run keeps the
    finished ones. ``load_calibration`` is called only if a static int8
    artifact has to be made; ``calibration_images`` is how many images it
    gives, as the recipes record it.
    """
    keras_path = folder / artifact_filename(name, "keras", "fp32")
    ctx = None
    source_sha = None
    for kind in kinds:
        key = (name, kind.format, kind.quantization)
        path = folder / artifact_filename(name, kind.format, kind.quantization)
        label = f"{name}: {kind.format}/{kind.quantization}"
        if kind.format != "keras" and source_sha is None:
            source_sha = sha256_of(keras_path)
        expected_source = source_sha if kind.format != "keras" else (
            manifest.artifacts[key].source_sha256 if key in manifest.artifacts else None)
        recipe = kind.recipe_for(calibration_images)
        if not force and _is_current(manifest, key, expected_source, recipe):
            progress.step(f"{label} up to date, reused")
            continue
        if ctx is None:
            ctx = ExportContext(model, name, folder, load_calibration)
        t0 = time.perf_counter()
        info = manifest.models.setdefault(name, {})
        label_key = f"{kind.format}/{kind.quantization}"
        try:
            kind.make(ctx, path)
        except ArtifactError as exc:
            # One artifact that cannot be made (e.g. a calibration that fails on this model) must
            # not cost the others: it is recorded in the manifest, said, and the rest are exported.
            info.setdefault("export_failures", {})[label_key] = exc.problem
            manifest.remove(key)  # an earlier file of this artifact is not the current model's
            manifest.save()
            progress.step(f"{label} FAILED, left out: {exc}")
            continue
        finally:
            release_freed_heap()  # an export's gigabyte, freed, must not raise the next one's starting point
        failures = info.get("export_failures")
        if failures is not None:  # made now: an earlier failure of this artifact is over
            failures.pop(label_key, None)
            if not failures:
                del info["export_failures"]
        sha = sha256_of(path) if kind.format == "keras" else source_sha
        manifest.add(entry_for(manifest, path, model=name, format=kind.format, quantization=kind.quantization,
                               input_shape=list(model.input_shape), input_dtype="float32",
                               output_shape=list(model.output_shape), source_sha256=sha,
                               source_test_accuracy=source_accuracy, quick=quick, recipe=recipe))
        manifest.save()
        progress.step(f"{label} written ({manifest.artifacts[key].bytes / 1e6:.2f} MB, "
                      f"{time.perf_counter() - t0:.1f} s)")
    manifest.save()


def artifact_table(manifest: Manifest, models=None) -> list[list]:
    """Rows for the closing table: model, format, quantization, size, source test accuracy."""
    rows = []
    for e in manifest.entries(models=models):
        rows.append([e.model, e.format, e.quantization, f"{e.bytes / 1e6:.2f}",
                     f"{e.source_test_accuracy:.2%}" + (" (quick)" if e.quick else ""), e.path])
    return rows


def history_of(manifest: Manifest, model: str) -> dict:
    """The training history JSON of a model in this export folder."""
    return load_history(manifest.folder / manifest.models[model]["history"])
