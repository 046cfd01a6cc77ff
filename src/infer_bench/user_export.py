"""``infer-bench export``: a user's own Keras image classifier, exported like the report's models.

The model is checked first (one image input, one classification output), its
data opened as a stream, the class count and channels matched, and the
preprocessing declared (size, channels, scale) before any work starts. Then
every artifact of ``export.ARTIFACTS`` is written into ``DIR/<name>/`` and
listed in the same manifest as the report's models, with the same reuse,
checksum and atomic-write rules; static int8 is calibrated on N training
images of the user's data, the only images held at once besides one batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .data.preprocess import SCALES, Preprocess
from .data.sources import open_data
from .errors import InferBenchError
from .export import ARTIFACTS
from .export.calibration import CALIBRATION_IMAGES, calibration_images
from .fsutil import sha256_of
from .inputs import USER_BATCH, InputSpec
from .manifest import Manifest, load_manifest
from .metrics import accuracy_of_outputs
from .models import MODELS
from .train_export import Progress, export_artifacts, library_versions
from .usermodel import check_classes, inspect_model, load_user_model

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ExportPlan:
    """What one ``export`` run does, validated when it is built."""

    model_path: Path
    data: str
    name: str | None = None  # default: the model file's stem
    exported: Path = Path("exported")
    output: str | None = None  # softmax / sigmoid / logits; None: detected from the model
    scale: str | None = None  # None: "1/255", or "none" when the model rescales its input itself
    calibration_images: int = CALIBRATION_IMAGES
    data_dir: str | None = None
    unsafe_keras: bool = False
    force: bool = False
    needs_tensorflow = True

    def __post_init__(self):
        path = Path(self.model_path)
        if not path.exists():
            raise InferBenchError(f"The model {str(path)!r} does not exist.",
                                  "pass the path of a .keras file or a SavedModel folder.")
        if self.scale is not None and self.scale not in SCALES:
            raise InferBenchError(f"--scale {self.scale!r} is not one of {', '.join(SCALES)}.",
                                  "pass --scale 1/255 (pixels / 255), none (raw 0-255) or -1,1.")
        if self.calibration_images < 1:
            raise InferBenchError(f"--calibration-images {self.calibration_images} must be at least 1.",
                                  f"omit it for {CALIBRATION_IMAGES} images.")
        if not NAME_RE.match(self.model_name):
            raise InferBenchError(f"The model name {self.model_name!r} cannot be a folder name.",
                                  "pass --name with letters, digits, '_', '.' or '-'.")
        if self.model_name in MODELS:
            raise InferBenchError(f"The name {self.model_name!r} is one of the report's models.",
                                  "pass another --name, so its artifacts do not replace the report model's.")

    @property
    def model_name(self) -> str:
        """The name the model's artifacts and results go under."""
        return self.name or Path(self.model_path).stem


def keras_test_accuracy(model, inputs: InputSpec, output_kind: str, data_dir=None) -> tuple[float, int]:
    """The model's accuracy on the test split, streamed batch by batch: (accuracy, rows)."""
    outputs, labels = [], []
    for x, y in inputs.test_batches(USER_BATCH, data_dir):
        outputs.append(np.asarray(model.predict_on_batch(x)))
        labels.append(y)
    out, y = np.concatenate(outputs), np.concatenate(labels)
    return accuracy_of_outputs(out, y, output_kind == "sigmoid"), len(y)


def run_export(plan: ExportPlan, log: Callable[[str], None] = print) -> Manifest:
    """Check the model and data, then export every artifact of the model; return the manifest."""
    name = plan.model_name
    model = load_user_model(plan.model_path, plan.unsafe_keras)
    info = inspect_model(model, plan.output)
    source = open_data(plan.data, plan.data_dir)
    check_classes(info, source.class_names)
    height, width, channels = info.input_shape
    scale = plan.scale or info.default_scale()
    preprocess = Preprocess(height, width, channels, scale)
    if info.rescaling and plan.scale is None:
        log(f"{name} starts with {info.rescaling}: its images are fed unscaled (--scale none); "
            "pass --scale to choose otherwise.")
    inputs = InputSpec(str(plan.data) if source.kind == "shipped" else source.location, preprocess)
    log(f"{name}: {info.input_shape} input, {info.n_classes} classes ({info.output_kind} output); data "
        f"{source.describe()}; preprocessing: {preprocess.describe()}")

    manifest = load_manifest(plan.exported, missing_ok=True)
    manifest.versions = library_versions()
    progress = Progress(1 + len(ARTIFACTS), log)
    folder = Path(plan.exported) / name
    source_sha = sha256_of(plan.model_path)
    recorded = manifest.models.get(name, {})
    # Another --calibration-images count is another export: the int8 files must not be reused silently.
    same = (not plan.force and recorded.get("source_model_sha256") == source_sha
            and recorded.get("data") == inputs.data and recorded.get("preprocess") == preprocess.to_dict()
            and recorded.get("calibration_images", CALIBRATION_IMAGES) == plan.calibration_images)
    if same:
        progress.step(f"{name}: same model and data as the last export (test accuracy "
                      f"{recorded['test_accuracy']:.2%}); checking its artifacts")
    else:
        accuracy, rows = keras_test_accuracy(model, inputs, info.output_kind, plan.data_dir)
        # Stale exports of another model under this name must not survive.
        for key in [k for k in manifest.artifacts if k[0] == name]:
            manifest.remove(key)
        manifest.models[name] = {
            "dataset": None, **inputs.to_dict(), "class_names": list(source.class_names),
            "output_kind": info.output_kind, "binary": info.output_kind == "sigmoid", "model": info.to_dict(),
            "test_accuracy": accuracy, "target_accuracy": None, "test_rows": rows, "quick": False,
            "source_model": str(Path(plan.model_path).resolve()), "source_model_sha256": source_sha,
            "calibration_images": plan.calibration_images}
        manifest.save()
        progress.step(f"{name}: Keras test accuracy {accuracy:.2%} on {rows:,} test images")

    def calibration() -> np.ndarray:
        progress.note(f"calibrating static int8 on {plan.calibration_images} training images of {inputs.label}")
        return calibration_images(source, preprocess, plan.calibration_images)

    export_artifacts(model, name, folder, manifest, progress, calibration,
                     source_accuracy=manifest.models[name]["test_accuracy"], force=plan.force or not same,
                     calibration_images=plan.calibration_images)
    return manifest
