"""Input checks and the report's fix for shape mismatches (``--adapt``).

The report hit ``expected shape=(None, 224, 224, 3), found shape=(32, 28, 28, 1)``
when it fed Fashion-MNIST to the Cats-vs-Dogs AlexNet. Here a mismatch is a
clear error naming both shapes and the option that fixes it; ``--adapt``
applies the report's resolution: resize to the model's input size
(``tf.image.resize``, bilinear) and repeat a grayscale channel to three, or
average RGB to one.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError


def _fmt(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def shape_matches(given: tuple, expected: tuple) -> bool:
    """Whether per-row shapes agree (``None`` in ``expected`` matches any size)."""
    return len(given) == len(expected) and all(e is None or e == g for g, e in zip(given, expected))


def adapt_images(x: np.ndarray, expected_row_shape: tuple) -> np.ndarray:
    """Resize NHWC images to the expected (H, W, C) and convert 1 <-> 3 channels."""
    import tensorflow as tf

    h, w, c = expected_row_shape
    if x.ndim != 4:
        raise DataError(f"--adapt works on image batches (N, H, W, C); got shape {_fmt(x.shape)}.",
                        "feed images with a channel axis.")
    out = x
    if (h, w) != tuple(x.shape[1:3]):
        out = tf.image.resize(out, (h, w), method="bilinear").numpy()
    if out.shape[-1] != c:
        if out.shape[-1] == 1 and c == 3:
            out = np.repeat(out, 3, axis=-1)  # grayscale to RGB: the same value in each channel
        elif out.shape[-1] == 3 and c == 1:
            out = out.mean(axis=-1, keepdims=True)
        else:
            raise DataError(f"--adapt cannot turn {out.shape[-1]} channels into {c}.",
                            "feed 1-channel or 3-channel images.")
    return np.ascontiguousarray(out, dtype=np.float32)


def check_inputs(x: np.ndarray, expected_shape: tuple, what: str, adapt: bool = False) -> np.ndarray:
    """Refuse NaN/Inf and shape mismatches with a clear message; adapt the shape if asked.

    ``expected_shape`` includes the batch dimension, e.g. ``(None, 224, 224, 3)``.
    """
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise DataError(f"{what} contains {bad} NaN or Inf value(s); a model cannot be timed or checked on them.",
                        "clean the input data (pixels should be finite, e.g. in [0, 1]).")
    expected_row = tuple(expected_shape[1:])
    if shape_matches(tuple(x.shape[1:]), expected_row):
        return x
    if adapt and all(d is not None for d in expected_row) and len(expected_row) == 3:
        return adapt_images(x, expected_row)
    raise DataError(
        f"{what} has shape {_fmt((None,) + tuple(x.shape[1:]))} but the model expects {_fmt(expected_shape)}.",
        "pass --adapt to resize the images to the model's input size and convert grayscale/RGB channels "
        "(the report's fix), or feed data of the model's own dataset.",
    )
