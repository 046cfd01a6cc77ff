"""The suite's vocabulary, defined once: formats, precisions, devices, the
reference runtime, and what an artifact file is.

Every other module takes these names from here, so adding a precision or a
format starts with one line in this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ArtifactError, InferBenchError

# Artifact formats, in the order the export table makes them.
FORMATS = ("keras", "savedmodel", "onnx", "tflite")
# Artifact precisions ("quantization" in the manifest and results files).
QUANTIZATIONS = ("fp32", "fp16", "dynamic_int8", "static_int8")
INT8_QUANTIZATIONS = ("dynamic_int8", "static_int8")
# Compute precisions: what the cost model and the machine ceilings count in.
COMPUTE_PRECISIONS = ("fp32", "fp16", "int8")
DEVICES = ("cpu", "cuda")

# The report's way of running a Keras model (model.predict): every speed table
# and the accuracy check compare against it.
REFERENCE_RUNTIME = "keras_predict"

# The shipped datasets by the per-image input shape of the models trained on them.
DATASET_BY_SHAPE = {(28, 28, 1): "fashion_mnist", (224, 224, 3): "cats_vs_dogs"}

SUFFIX_FORMATS = {".keras": "keras", ".onnx": "onnx", ".tflite": "tflite"}
SAVEDMODEL_MARKER = "saved_model.pb"


def compute_precision(quantization: str) -> str:
    """The compute precision an artifact precision runs in: both int8 kinds are "int8"."""
    return "int8" if quantization in INT8_QUANTIZATIONS else quantization


@dataclass(frozen=True)
class ArtifactIdentity:
    """What an artifact file is: its model name, format and precision."""

    model: str
    format: str
    quantization: str


def artifact_format(path: str | Path) -> str:
    """Format of an artifact from its path: .keras / .onnx / .tflite, or a SavedModel folder."""
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


def artifact_quantization(path: str | Path) -> str:
    """Precision from a file name: the first of fp16 / dynamic_int8 / static_int8 in it, else fp32."""
    name = Path(path).name
    return next((q for q in QUANTIZATIONS if q != "fp32" and q in name), "fp32")


def identify_artifact(path: str | Path, model: str | None = None) -> ArtifactIdentity:
    """Model name (``model``, else the file's stem), format and precision of an artifact path."""
    path = Path(path)
    return ArtifactIdentity(model=model or path.stem, format=artifact_format(path),
                            quantization=artifact_quantization(path))


def dataset_for_shape(shape, what: str = "a model") -> str:
    """The shipped dataset whose images fit a per-image ``shape`` (H, W, C); a clear error otherwise."""
    shape = tuple(int(d) for d in shape)
    try:
        return DATASET_BY_SHAPE[shape]
    except KeyError:
        known = ", ".join(f"{d} for {s}" for s, d in DATASET_BY_SHAPE.items())
        raise InferBenchError(f"{what} has input shape {shape}, which matches no shipped dataset ({known}).",
                              "use a model with one of those input shapes.") from None
