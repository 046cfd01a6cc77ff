"""The declared preprocessing: what a model's input pixels are made from raw images.

Nothing is guessed: a ``Preprocess`` names the input size, the channel count and the
pixel scale, and applies exactly that. Resizing is ``tf.image.resize`` (bilinear, no
antialias), as ``keras.utils.image_dataset_from_directory`` does, so a model trained
on Keras' loader sees the same pixels here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError

SCALES = ("1/255", "none", "-1,1")
# tf.image.rgb_to_grayscale's weights (ITU-R BT.601 luma), applied in float32.
GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)
SCALE_WORDS = {"1/255": "pixels / 255", "none": "pixels as they are (0 to 255)",
               "-1,1": "pixels / 127.5 - 1 (-1 to 1)"}
CHANNEL_WORDS = {1: "grayscale", 3: "RGB"}
FIELDS = ("height", "width", "channels", "scale")


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataError(f"Preprocess {what} must be a whole number >= 1; got {value!r}.",
                        f"give the model's input {what} in pixels (e.g. 224).")
    return int(value)


@dataclass(frozen=True)
class Preprocess:
    """Resize to ``height`` x ``width``, convert to ``channels`` (1 or 3), scale by ``scale``."""

    height: int
    width: int
    channels: int
    scale: str = "1/255"

    def __post_init__(self):
        object.__setattr__(self, "height", _positive_int(self.height, "height"))
        object.__setattr__(self, "width", _positive_int(self.width, "width"))
        if isinstance(self.channels, bool) or self.channels not in CHANNEL_WORDS:
            raise DataError(f"Preprocess channels must be 1 (grayscale) or 3 (RGB); got {self.channels!r}.",
                            "use a model whose input has 1 or 3 channels.")
        if self.scale not in SCALES:
            raise DataError(f"Unknown pixel scale {self.scale!r}.",
                            f"use one of: {', '.join(SCALES)} (--scale).")

    @property
    def shape(self) -> tuple[int, int, int]:
        """The per-image output shape (height, width, channels)."""
        return (self.height, self.width, self.channels)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Preprocess a batch (N, h, w, c) or (N, h, w) of uint8/float pixels to float32 (N, H, W, C)."""
        x = _as_nhwc(images)
        # Channel reduction before the resize and expansion after it: both are linear
        # per pixel, so the result is the same and the resize works on fewer values.
        if x.shape[-1] == 3 and self.channels == 1:
            x = (x @ GRAY_WEIGHTS)[..., np.newaxis]
        if tuple(x.shape[1:3]) != (self.height, self.width):
            import tensorflow as tf

            x = tf.image.resize(x, (self.height, self.width), method="bilinear", antialias=False).numpy()
        if x.shape[-1] == 1 and self.channels == 3:
            x = np.repeat(x, 3, axis=-1)  # grayscale to RGB: the same value in each channel
        if self.scale == "1/255":
            x = x / np.float32(255.0)
        elif self.scale == "-1,1":
            x = x / np.float32(127.5) - np.float32(1.0)
        return np.ascontiguousarray(x, dtype=np.float32)

    def to_dict(self) -> dict:
        """JSON-ready fields (what the manifest records)."""
        return {"height": self.height, "width": self.width, "channels": self.channels, "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        """Inverse of ``to_dict``; a missing or unknown field is an error naming it."""
        if not isinstance(d, dict):
            raise DataError(f"A preprocessing record must be a mapping; got {type(d).__name__}.",
                            "re-export the model so its manifest entry is rewritten.")
        missing = [k for k in FIELDS if k not in d]
        extra = sorted(set(d) - set(FIELDS))
        if missing or extra:
            raise DataError(f"Preprocessing record {d!r} has missing fields {missing} / unknown fields {extra}.",
                            f"give exactly {', '.join(FIELDS)}; re-export the model to rewrite it.")
        return cls(d["height"], d["width"], d["channels"], d["scale"])

    def describe(self) -> str:
        """In words, e.g. 'resized to 96x96 (bilinear), RGB, pixels / 255'."""
        return (f"resized to {self.height}x{self.width} (bilinear), {CHANNEL_WORDS[self.channels]}, "
                f"{SCALE_WORDS[self.scale]}")


def _as_nhwc(images) -> np.ndarray:
    """Float32 (N, h, w, c) with c in {1, 3}; anything else is refused with its shape and dtype."""
    x = np.asarray(images)
    if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"Images of dtype {x.dtype} cannot be preprocessed.",
                        "give uint8 pixels (0-255) or float pixels on the same 0-255 scale.")
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[-1] not in CHANNEL_WORDS:
        raise DataError(f"Images of shape {x.shape} cannot be preprocessed: expected (N, H, W, C) with C of 1 "
                        "(grayscale) or 3 (RGB), or (N, H, W).",
                        "convert the images to grayscale or RGB (drop an alpha channel) first.")
    return x.astype(np.float32, copy=False)
