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


def calibration_images(source, preprocess, n: int = CALIBRATION_IMAGES) -> np.ndarray:
    """A seeded random sample (``CALIBRATION_SEED``) of ``n`` real images of ``source``'s train split, in row
    order, preprocessed as the model sees them (only those images are decoded).

    ``source`` is a ``data.DataSource`` and ``preprocess`` a ``data.Preprocess``. Every
    static int8 route, and every later re-quantization (repair, calibration study), draws
    through here, so the same data gives the same calibration set.
    """
    return source.train.sample(n, preprocess, seed=CALIBRATION_SEED)[0]


def percentile_range(values: np.ndarray, percentile: float = CALIBRATION_PERCENTILE) -> tuple[float, float]:
    """Activation range keeping ``percentile`` % of ``values``, cut equally from both tails.

    Same definition as onnxruntime's asymmetric Percentile calibrator, so the
    ONNX and TFLite int8 artifacts clip alike. The range always contains 0: int8
    quantization needs zero exactly representable (padding, ReLU).
    """
    values = np.asarray(values, dtype=np.float32).ravel()
    tails = TailPercentile(values.size, percentile)
    tails.add(values)
    return tails.range()


class TailPercentile:
    """``percentile_range`` of ``total`` values that arrive in chunks, holding only the two tails.

    At the percentile calibration uses (99.998), the range's ends are the values of
    rank 0.001% from each end: of the 72 million activations 256 images give one 224x224
    AlexNet tensor, ~720 per side. Those are all that need keeping, so calibration holds
    a few thousand floats per tensor instead of every value (which took 0.3-0.7 GiB for
    the Cats vs Dogs AlexNet). The result is ``np.percentile``'s (linear interpolation
    between the two values around the exact rank), computed from the kept tails.
    """

    def __init__(self, total: int, percentile: float = CALIBRATION_PERCENTILE):
        if not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        if total < 1:
            raise ValueError("no values to calibrate on")
        tail = (100.0 - percentile) / 2
        self.total, self.seen = int(total), 0
        # np.percentile's positions in the sorted values (0-based, linear method).
        self._low_at = (self.total - 1) * tail / 100.0
        self._high_at = (self.total - 1) * (1.0 - tail / 100.0)
        self._keep_low = min(self.total, int(np.floor(self._low_at)) + 2)
        self._keep_high = min(self.total, self.total - int(np.floor(self._high_at)) + 1)
        self._low = np.empty(0, np.float32)  # the smallest values so far (at most _keep_low)
        self._high = np.empty(0, np.float32)  # the largest values so far (at most _keep_high)

    def add(self, values: np.ndarray) -> None:
        """Take the next chunk of values (any shape)."""
        v = np.asarray(values, dtype=np.float32).ravel()
        self.seen += v.size
        if self.seen > self.total:
            raise ValueError(f"{self.seen} values given, more than the {self.total} announced")
        # Only values beyond the current tails can change them: a cheap comparison filters the rest.
        low = v if len(self._low) < self._keep_low else v[v < self._low.max()]
        high = v if len(self._high) < self._keep_high else v[v > self._high.min()]
        self._low = _smallest(np.concatenate([self._low, low]), self._keep_low)
        self._high = -_smallest(-np.concatenate([self._high, high]), self._keep_high)

    def range(self) -> tuple[float, float]:
        """(low, high) once all ``total`` values are in; widened to contain 0."""
        if self.seen != self.total:
            raise ValueError(f"{self.seen} of the {self.total} announced values were given")
        low = _at(np.sort(self._low), self._low_at)
        high_sorted = np.sort(self._high)
        high = _at(high_sorted, self._high_at - (self.total - len(high_sorted)))
        return float(min(low, 0.0)), float(max(high, 0.0))


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` smallest of ``values`` (all if there are no more), in no order."""
    return values if len(values) <= k else np.partition(values, k - 1)[:k]


def _at(sorted_values: np.ndarray, position: float) -> float:
    """The value at fractional ``position`` of ``sorted_values``, interpolated linearly as ``np.percentile`` does."""
    below = int(np.floor(position))
    above = min(below + 1, len(sorted_values) - 1)
    a, b = float(sorted_values[below]), float(sorted_values[above])
    return a + (b - a) * (position - below)
