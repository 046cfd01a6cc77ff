"""Export a trained Keras model to every artifact of the suite, looked up in one table.

Adding a format or a precision is one function in a format module and one row
in ``ARTIFACTS``. Rows are in dependency order: the SavedModel feeds TFLite,
the fp32 ONNX file feeds the other ONNX variants.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .keras_formats import export_keras, export_savedmodel
from .onnx_formats import export_onnx_dynamic_int8, export_onnx_fp16, export_onnx_fp32, export_onnx_static_int8
from .tflite_formats import export_tflite

FORMATS = ("keras", "savedmodel", "onnx", "tflite")
QUANTIZATIONS = ("fp32", "fp16", "dynamic_int8", "static_int8")
CALIBRATION_IMAGES = 256  # real training images for static int8 (the issue asks for >= 200)


@dataclass
class ExportContext:
    """What exporters of one model share: the model, its folder, calibration images.

    Calibration images are fetched on first use (``load_calibration``), so a run
    that only rebuilds a float artifact does not load the dataset.
    """

    model: object
    name: str
    folder: Path
    load_calibration: Callable[[], np.ndarray]
    _calibration: np.ndarray | None = None

    @property
    def calibration(self) -> np.ndarray:
        if self._calibration is None:
            self._calibration = self.load_calibration()
        return self._calibration

    def path(self, fmt: str, quantization: str) -> Path:
        return self.folder / artifact_filename(self.name, fmt, quantization)


@dataclass(frozen=True)
class ArtifactKind:
    """One row of the export table: a format at a precision and how to make it."""

    format: str
    quantization: str
    make: Callable[[ExportContext, Path], None]


def artifact_filename(model: str, fmt: str, quantization: str) -> str:
    """File (or folder) name of an artifact inside ``exported/<model>/``."""
    if fmt == "keras":
        return f"{model}.keras"
    if fmt == "savedmodel":
        return f"{model}_savedmodel"
    return f"{model}_{quantization}.{fmt}"


ARTIFACTS: tuple[ArtifactKind, ...] = (
    ArtifactKind("keras", "fp32", lambda c, p: export_keras(c.model, p)),
    ArtifactKind("savedmodel", "fp32", lambda c, p: export_savedmodel(c.model, p)),
    ArtifactKind("onnx", "fp32", lambda c, p: export_onnx_fp32(c.model, p)),
    ArtifactKind("onnx", "fp16", lambda c, p: export_onnx_fp16(c.path("onnx", "fp32"), p)),
    ArtifactKind("onnx", "dynamic_int8", lambda c, p: export_onnx_dynamic_int8(c.path("onnx", "fp32"), p)),
    ArtifactKind("onnx", "static_int8",
                 lambda c, p: export_onnx_static_int8(c.path("onnx", "fp32"), p, c.calibration)),
    *(ArtifactKind("tflite", q, (lambda q: lambda c, p: export_tflite(c.path("savedmodel", "fp32"), p, q,
                                                                       c.calibration))(q))
      for q in QUANTIZATIONS),
)
