"""How static int8 artifacts are calibrated: which images, and which activation ranges.

Both static int8 routes (onnxruntime QDQ and TFLite full-integer) take each
activation's range from the same 256 real training images, clipped at the same
percentile. Why not the plain min/max both tools default to: one rare extreme
activation stretches a tensor's int8 grid so that ordinary values lose most of
their resolution. Top-1 agreement with fp32 on the held-out set
(`infer-bench check`, 256 calibration images):

    artifact                      min/max   percentile 99.998
    ONNX   alexnet_catsdogs       97.0%     98.8%
    TFLite alexnet_catsdogs       92.7%     99.2%
    TFLite alexnet_fashion        97.2%     99.1%
    TFLite simple_cnn             99.4%     99.5%

(min/max figures from the first trained alexnet_catsdogs; training that model is
not bit-repeatable, so its figures move by a few tenths between runs.)

How 99.998 was chosen: on the Cats vs Dogs *validation* split (400 training
images the check never sees), TFLite int8 agreement with fp32 was 97.5% with
min/max, then 98.0 / 98.75 / 99.25 / 97.5% at 99.999 / 99.998 / 99.995 / 99.99,
with the smallest max abs error at 99.998. onnxruntime's default, 99.999, left
the TFLite model of one trained alexnet_catsdogs at 97.5% on the test set.
"""

from __future__ import annotations

import numpy as np

CALIBRATION_IMAGES = 256  # real training images for static int8 (the issue asks for >= 200)
CALIBRATION_PERCENTILE = 99.998  # share of each activation's values kept inside its int8 range
CALIBRATION_SEED = 42  # the seed train-export draws its calibration images with


def sample_images(pool: np.ndarray, n: int, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """``n`` images of ``pool`` drawn without replacement with ``seed`` (all if it is smaller), in pool order."""
    idx = np.random.default_rng(seed).choice(len(pool), size=min(n, len(pool)), replace=False)
    return np.ascontiguousarray(pool[np.sort(idx)])


def percentile_range(values: np.ndarray, percentile: float = CALIBRATION_PERCENTILE) -> tuple[float, float]:
    """Activation range keeping ``percentile`` % of ``values``, cut equally from both tails.

    Same definition as onnxruntime's asymmetric Percentile calibrator, so the
    ONNX and TFLite int8 artifacts clip alike. The range always contains 0: int8
    quantization needs zero exactly representable (padding, ReLU).
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    values = np.asarray(values, dtype=np.float32).ravel()
    if values.size == 0:
        raise ValueError("no values to calibrate on")
    tail = (100.0 - percentile) / 2
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(min(lo, 0.0)), float(max(hi, 0.0))
