"""The suite's vocabulary, defined once: formats, precisions, devices, the
reference runtime, and what an artifact file is.

Every other module takes these names from here, so adding a precision or a
format starts with one line in this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ArtifactError, InferBenchError

# Artifact formats, in the order the export table makes them. "openvino" is OpenVINO's IR
# (model.xml + model.bin), kept in a folder like the SavedModel.
FORMATS = ("keras", "savedmodel", "onnx", "tflite", "openvino")
# Artifact precisions: what an exported file is ("quantization" in the manifest). The
# export table makes one TFLite row per entry, so only exportable precisions belong here.
QUANTIZATIONS = ("fp32", "fp16", "dynamic_int8", "static_int8")
INT8_QUANTIZATIONS = ("dynamic_int8", "static_int8")
# Execution precisions: how a runtime may run an fp32 artifact other than in fp32 (OpenVINO
# with its bf16 hint). Nothing is exported at them: a bf16 variant is the fp32 file run in bf16.
EXECUTION_PRECISIONS = ("bf16",)
# Every precision a bench result or a check result may be labelled with.
PRECISIONS = QUANTIZATIONS + EXECUTION_PRECISIONS
# The precisions the cost model counts weight bytes in (explain.costrules iterates them).
COMPUTE_PRECISIONS = ("fp32", "fp16", "int8")
# A compute precision the cost model has no row for reads the weight bytes of one that
# stores as many bytes per weight: bf16 weights are 2 bytes, like fp16.
WEIGHT_PRECISIONS = {"bf16": "fp16"}
DEVICES = ("cpu", "cuda")

# The report's way of running a Keras model (model.predict): every speed table
# and the accuracy check compare against it.
REFERENCE_RUNTIME = "keras_predict"

# The shipped datasets by the per-image input shape of the models trained on them.
DATASET_BY_SHAPE = {(28, 28, 1): "fashion_mnist", (224, 224, 3): "cats_vs_dogs"}

SUFFIX_FORMATS = {".keras": "keras", ".onnx": "onnx", ".tflite": "tflite", ".xml": "openvino"}
SAVEDMODEL_MARKER = "saved_model.pb"
OPENVINO_MARKER = "model.xml"  # an OpenVINO IR folder holds model.xml and model.bin


def compute_precision(quantization: str) -> str:
    """The compute precision a result precision runs in: both int8 kinds are "int8"; fp32,
    fp16 and bf16 are themselves."""
    return "int8" if quantization in INT8_QUANTIZATIONS else quantization


def weight_precision(precision: str) -> str:
    """The cost model precision whose weight bytes a compute (or result) precision reads:
    bf16 reads fp16's (2 bytes per weight), the int8 kinds read "int8"."""
    compute = compute_precision(precision)
    return WEIGHT_PRECISIONS.get(compute, compute)


@dataclass(frozen=True)
class ArtifactIdentity:
    """What an artifact file is: its model name, format and precision."""

    model: str
    format: str
    quantization: str


def artifact_format(path: str | Path) -> str:
    """Format of an artifact from its path: .keras / .onnx / .tflite / .xml (OpenVINO IR), a
    SavedModel folder, or an OpenVINO IR folder (holding model.xml)."""
    path = Path(path)
    if path.is_dir():
        if (path / SAVEDMODEL_MARKER).exists():
            return "savedmodel"
        if (path / OPENVINO_MARKER).exists():
            return "openvino"
        raise ArtifactError(f"{str(path)!r} is a folder without {SAVEDMODEL_MARKER} or {OPENVINO_MARKER}: "
                            "neither a SavedModel nor an OpenVINO IR folder.",
                            "pass a SavedModel or OpenVINO IR folder, or an .onnx, .tflite, .xml or .keras file.")
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ArtifactError(f"Cannot tell the format of {str(path)!r} from its suffix {path.suffix or '(none)'!r}.",
                            f"use one of: {', '.join(SUFFIX_FORMATS)}, or a SavedModel or OpenVINO IR folder.")
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
