"""ONNX exports: fp32 via Keras 3's exporter, then fp16 and int8 variants of that file.

``tf2onnx.convert.from_keras`` fails on Keras 3 (KeyError ``keras_tensor_N``);
``keras.Model.export(format="onnx")`` (which drives tf2onnx from a traced
function) works, so fp32 goes through it and every other ONNX variant is
derived from the fp32 file with onnxruntime's own tools.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..fsutil import atomic_path

ONNX_OPSET = 17  # Keras' exporter default; supported by onnxruntime 1.31 and QDQ quantization


def export_onnx_fp32(model, path: Path) -> None:
    """Export the Keras model to an fp32 ONNX file with a dynamic batch dimension."""
    with atomic_path(path, suffix=".onnx") as tmp:
        model.export(str(tmp), format="onnx", verbose=False, opset_version=ONNX_OPSET)


def export_onnx_fp16(fp32_path: Path, path: Path) -> None:
    """Convert weights and compute to float16, keeping float32 inputs and outputs.

    Float32 I/O keeps every artifact fed by the same input pipeline; the casts
    at the edges are part of the fp16 model's cost (it is meant for CUDA).
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model16 = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    with atomic_path(path, suffix=".onnx") as tmp:
        onnx.save(model16, str(tmp))


def _preprocessed(fp32_path: Path, workdir: Path) -> Path:
    """onnxruntime's recommended pre-processing (shape inference, graph cleanup) before quantizing."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = workdir / "preprocessed.onnx"
    quant_pre_process(str(fp32_path), str(out), skip_symbolic_shape=False)
    return out


def export_onnx_dynamic_int8(fp32_path: Path, path: Path) -> None:
    """Dynamic quantization: int8 weights, activations quantized per call at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as work, atomic_path(path, suffix=".onnx") as tmp:
        quantize_dynamic(str(_preprocessed(fp32_path, Path(work))), str(tmp), weight_type=QuantType.QInt8)


def export_onnx_static_int8(fp32_path: Path, path: Path, calibration: np.ndarray, batch: int = 32) -> None:
    """Static QDQ quantization, per-channel int8 weights, calibrated on real images."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    import onnx

    input_name = onnx.load(str(fp32_path)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(calibration[i:i + batch] for i in range(0, len(calibration), batch))

        def get_next(self):
            nxt = next(self._batches, None)
            return None if nxt is None else {input_name: nxt}

    with tempfile.TemporaryDirectory() as work, atomic_path(path, suffix=".onnx") as tmp:
        quantize_static(str(_preprocessed(fp32_path, Path(work))), str(tmp), Reader(),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
