"""What a model is fed, as one value: its data and its declared preprocessing.

The report's three models are fed their shipped dataset's test split as they were
trained on it (``preprocess`` None: ``data.shipped_preprocess``). A user's model (``infer-bench export``) records its data
(a folder of class folders, an ``.npz`` file or a shipped dataset's name) and
its ``Preprocess`` in the manifest; ``input_spec_for`` reads them back, so
bench, check and explain feed every model exactly what it was exported with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import dataset_for_shape
from .data import ImageSplit, Preprocess, open_data, shipped_preprocess
from .errors import ArtifactError

USER_BATCH = 64  # images decoded and preprocessed at a time from a user's data
SHIPPED_INPUT_ROWS = {"fashion_mnist": 512, "cats_vs_dogs": 256}  # real test images bench rotates through
USER_INPUT_ROWS = 256


@dataclass(frozen=True)
class InputSpec:
    """A model's data (shipped dataset name, folder or .npz path) and how its images are preprocessed."""

    data: str
    preprocess: Preprocess | None = None  # None: the shipped dataset's own preprocessing

    @property
    def label(self) -> str:
        """Short name for messages and result records."""
        return self.data if self.preprocess is None else f"{self.data} ({self.preprocess.describe()})"

    @property
    def rotation_rows(self) -> int:
        """How many real test images bench rotates through for this data."""
        return SHIPPED_INPUT_ROWS.get(self.data, USER_INPUT_ROWS) if self.preprocess is None else USER_INPUT_ROWS

    def test_split(self, data_dir=None) -> tuple[ImageSplit, Preprocess]:
        """The test split (read lazily, nothing decoded) and the preprocessing that feeds it to the model."""
        preprocess = self.preprocess if self.preprocess is not None else shipped_preprocess(self.data)
        return open_data(self.data, data_dir).test, preprocess

    def test_set(self, data_dir=None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The test images (float32, preprocessed) and labels, the first ``limit`` of them if given."""
        xs, ys = zip(*self.test_batches(USER_BATCH, data_dir, limit))
        return np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys)

    def test_batches(self, batch_size: int, data_dir=None, limit: int | None = None):
        """The test split in batches of ``batch_size`` (x float32, y): only one batch decoded at a time."""
        split, preprocess = self.test_split(data_dir)
        yield from split.batches(preprocess, batch_size, limit=limit)

    def to_dict(self) -> dict:
        """What the manifest records (``data``, and ``preprocess`` for a user's model)."""
        out = {"data": self.data}
        if self.preprocess is not None:
            out["preprocess"] = self.preprocess.to_dict()
        return out


def input_spec_for(info: dict, input_shape, what: str) -> InputSpec:
    """The InputSpec of a manifest model (``info`` = ``manifest.models[name]``; may be empty).

    A user's model has ``data`` and ``preprocess``; one of the report's models has
    its shipped ``dataset``; an entry with neither is matched to a shipped
    dataset by its input shape (``input_shape`` includes the batch dimension).
    """
    if info.get("preprocess") is not None:
        if not info.get("data"):
            raise ArtifactError(f"{what} records a preprocessing but no data.",
                                "rerun `infer-bench export MODEL.keras --data D` to rewrite its manifest entry.")
        return InputSpec(info["data"], Preprocess.from_dict(info["preprocess"]))
    return InputSpec(info.get("dataset") or dataset_for_shape(tuple(input_shape)[1:], what))
