"""The held-out images one check feeds a Keras model and each of its artifacts, in one fixed order.

A check runs the same images through the reference and through every artifact
(a dozen per model). Small test sets are decoded once and held: the report's
largest, Cats vs Dogs' 1,000 images at 224x224x3, is 0.6 GB. A test split
bigger than ``HELD_BYTES`` is decoded again a batch at a time for each run
instead, so a user's 20,000-image folder costs a batch of memory, not 12 GB,
and a few seconds of decoding per artifact.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from ..errors import InferBenchError
from ..inputs import InputSpec

HELD_BYTES = 1 << 30  # test sets up to 1 GiB of float32 pixels are held; bigger ones stream


class TestImages:
    """One model's test images and labels (the first ``limit`` rows of its test split when given)."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, inputs: InputSpec, data_dir=None, limit: int | None = None, held_bytes: int | None = None):
        self.split, self.preprocess = inputs.test_split(data_dir)
        self.label = inputs.label
        self.limit = limit
        rows = len(self.split) if limit is None else min(limit, len(self.split))
        self.held = rows * 4 * int(np.prod(self.preprocess.shape)) <= (HELD_BYTES if held_bytes is None else held_bytes)
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """Per-image (H, W, C)."""
        return self.preprocess.shape

    @property
    def y(self) -> np.ndarray:
        """The labels of the images read (unreadable files skipped), known after the first full pass."""
        if self._y is None:
            raise InferBenchError(f"The {self.label} test labels were asked for before the images were read.",
                                  "iterate batches() once to the end first (the check's reference run does).")
        return self._y

    def batches(self, batch: int) -> Iterator[np.ndarray]:
        """The images in batches of at most ``batch`` rows, always in the same order."""
        if self._x is not None:
            for i in range(0, len(self._x), batch):
                yield self._x[i:i + batch]
            return
        xs, ys = [], []
        for x, y in self.split.batches(self.preprocess, batch, limit=self.limit):
            ys.append(y)
            if self.held:
                xs.append(x)
            yield x
        self._y = np.concatenate(ys)
        if self.held:
            self._x = np.concatenate(xs)

    def head(self, rows: int) -> np.ndarray:
        """The first ``rows`` images (for per-layer errors), decoding no more than that."""
        if self._x is not None:
            return self._x[:rows]
        limit = min(rows, self.limit or rows)
        return np.concatenate([x for x, _ in self.split.batches(self.preprocess, rows, limit=limit)])

    def run(self, session, batch: int) -> np.ndarray:
        """``session.run`` on every image, outputs stacked in the images' order."""
        return np.concatenate([session.run(np.ascontiguousarray(x)) for x in self.batches(batch)], axis=0)
