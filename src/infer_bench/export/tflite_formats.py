"""TFLite exports, converted from the SavedModel (the converter's supported route for Keras 3).

All variants keep float32 inputs and outputs so every artifact is fed the same
way; ``static_int8`` still runs every op in int8 (``TFLITE_BUILTINS_INT8``:
conversion fails rather than silently keeping a float op).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..fsutil import write_bytes_atomic


def _converter(savedmodel: Path):
    import tensorflow as tf

    return tf, tf.lite.TFLiteConverter.from_saved_model(str(savedmodel))


def export_tflite(savedmodel: Path, path: Path, quantization: str, calibration: np.ndarray | None = None) -> None:
    """Convert ``savedmodel`` to a ``.tflite`` file at the given quantization."""
    tf, conv = _converter(savedmodel)
    if quantization == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic_int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic range
    elif quantization == "static_int8":
        if calibration is None:
            raise ValueError("static_int8 needs calibration images")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif quantization != "fp32":
        raise ValueError(f"unknown TFLite quantization {quantization!r}")
    write_bytes_atomic(path, conv.convert())
