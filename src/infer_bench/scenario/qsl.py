"""The query sample library: real test images of the model's own data, held in memory.

LoadGen asks for samples by index; every index is a preprocessed test image, read
once through the model's ``InputSpec`` (the report's datasets, or a user's folder or
.npz as the manifest records it), so a query's batch is an array slice, not a decode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..adapt import check_inputs
from ..errors import InferBenchError
from ..inputs import InputSpec


@dataclass(frozen=True, eq=False)
class SampleLibrary:
    """Preprocessed images (float32, NHWC) and what they are (``label``: the data's name)."""

    images: np.ndarray
    label: str

    def __post_init__(self):
        if self.images.ndim < 2 or len(self.images) == 0:
            raise InferBenchError(f"The sample library of {self.label} has no images (shape {self.images.shape}).",
                                  "point --data-dir (or the model's data) at a folder with test images.")

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices) -> np.ndarray:
        """The images of ``indices`` as one contiguous batch."""
        return np.ascontiguousarray(self.images[np.asarray(indices, dtype=np.int64)])

    def construct(self, lg) -> int:
        """LoadGen's handle for this library (``lg``: the ``mlperf_loadgen`` module). Every sample
        is already in memory, so loading and unloading are nothing to do."""
        return lg.ConstructQSL(len(self), len(self), _nothing, _nothing)


def _nothing(_indices) -> None:
    return None


def sample_library(inputs: InputSpec, input_shape, data_dir=None, rows: int | None = None) -> SampleLibrary:
    """``rows`` test images of ``inputs`` (default: as many as bench rotates through),
    checked against the model's ``input_shape`` (batch dimension included)."""
    x, _ = inputs.test_set(data_dir, limit=rows or inputs.rotation_rows)
    x = check_inputs(x, tuple(input_shape), f"The {inputs.label} test set")
    return SampleLibrary(np.ascontiguousarray(x, dtype=np.float32), inputs.label)
