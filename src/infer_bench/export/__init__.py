"""Export a trained Keras model to every artifact of the suite, looked up in one table.

Adding a format or a precision is one function in a format module and one row
in ``ARTIFACTS``. Rows are in dependency order: the SavedModel feeds TFLite,
the fp32 ONNX file feeds the other ONNX variants and the OpenVINO int8 IR.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..catalog import QUANTIZATIONS
from .calibration import CALIBRATION_IMAGES, CALIBRATION_PERCENTILE
from .keras_formats import export_keras, export_savedmodel
from .onnx_formats import (ONNX_OPSET, export_onnx_dynamic_int8, export_onnx_fp16, export_onnx_fp32,
                           export_onnx_static_int8)
from .openvino_formats import export_openvino_static_int8
from .tflite_formats import export_tflite

CALIBRATION_COUNT = "{calibration_images}"  # placeholder in recipe texts, filled by ArtifactKind.recipe_for
_CALIBRATED = f"percentile {CALIBRATION_PERCENTILE} ranges from {CALIBRATION_COUNT} real training images"


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
    """One row of the export table: a format at a precision and how to make it.

    ``recipe`` says in words how the artifact is made and is stored in the
    manifest; an artifact made by another recipe (an older infer-bench) is
    rebuilt on the next run, so changing how an artifact is made means
    changing its recipe text.
    """

    format: str
    quantization: str
    make: Callable[[ExportContext, Path], None]
    recipe: str  # static int8 recipes hold CALIBRATION_COUNT where the number of images goes

    def recipe_for(self, calibration_images: int = CALIBRATION_IMAGES) -> str:
        """The recipe text of this artifact calibrated on ``calibration_images`` images (what the manifest keeps)."""
        return self.recipe.replace(CALIBRATION_COUNT, str(calibration_images))


def artifact_filename(model: str, fmt: str, quantization: str) -> str:
    """File (or folder) name of an artifact inside ``exported/<model>/``.

    An OpenVINO IR is a folder holding model.xml and model.bin (see ``openvino_formats``).
    """
    if fmt == "keras":
        return f"{model}.keras"
    if fmt == "savedmodel":
        return f"{model}_savedmodel"
    if fmt == "openvino":
        return f"{model}_{quantization}_openvino"
    return f"{model}_{quantization}.{fmt}"


_TFLITE_RECIPES = {
    "fp32": "TFLiteConverter from the SavedModel",
    "fp16": "TFLiteConverter from the SavedModel, float16 weights",
    "dynamic_int8": "TFLiteConverter from the SavedModel, dynamic-range int8 weights",
    "static_int8": f"TFLiteConverter from the SavedModel, full-integer int8 with float32 I/O, the final "
                   f"classifier layer and its activation float, {_CALIBRATED}",
}

ARTIFACTS: tuple[ArtifactKind, ...] = (
    ArtifactKind("keras", "fp32", lambda c, p: export_keras(c.model, p),
                 "keras .keras file without optimizer state"),
    ArtifactKind("savedmodel", "fp32", lambda c, p: export_savedmodel(c.model, p),
                 "keras Model.export(format='tf_saved_model')"),
    ArtifactKind("onnx", "fp32", lambda c, p: export_onnx_fp32(c.model, p),
                 f"keras Model.export(format='onnx'), opset {ONNX_OPSET}"),
    ArtifactKind("onnx", "fp16", lambda c, p: export_onnx_fp16(c.path("onnx", "fp32"), p),
                 "onnxruntime convert_float_to_float16 of the fp32 file, float32 I/O"),
    ArtifactKind("onnx", "dynamic_int8", lambda c, p: export_onnx_dynamic_int8(c.path("onnx", "fp32"), p),
                 "onnxruntime quantize_dynamic of MatMul/Gemm only, int8 weights"),
    ArtifactKind("onnx", "static_int8",
                 lambda c, p: export_onnx_static_int8(c.path("onnx", "fp32"), p, c.calibration),
                 f"onnxruntime quantize_static, QDQ on convolutions, matmuls, pooling and reshapes (element-wise "
                 f"Add/Mul, output activations and the final classifier layer float), per-channel int8 weights in 7 bits (reduce_range), {_CALIBRATED}"),
    ArtifactKind("openvino", "static_int8",
                 lambda c, p: export_openvino_static_int8(c.path("onnx", "fp32"), p, c.calibration),
                 f"nncf.quantize of the fp32 ONNX model read by OpenVINO, default preset, activation ranges "
                 f"min/max over all {CALIBRATION_COUNT} real training images; IR folder (model.xml + model.bin, float parts float32)"),
    *(ArtifactKind("tflite", q, (lambda q: lambda c, p: export_tflite(c.path("savedmodel", "fp32"), p, q,
                                                                       c.calibration))(q), _TFLITE_RECIPES[q])
      for q in QUANTIZATIONS),
)
