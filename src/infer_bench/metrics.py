"""Accuracy from model outputs: the predicted class of each row and the share that is right.

Shared by training (test accuracy at the end of a run) and the accuracy
check (Keras and artifact accuracy on the held-out set), so both count a
correct row the same way.
"""

from __future__ import annotations

import numpy as np


def predicted_classes(out: np.ndarray, binary: bool) -> np.ndarray:
    """Class per row: argmax of softmax outputs, or sigmoid output >= 0.5."""
    out = np.asarray(out)
    if binary:
        return (out.reshape(len(out), -1)[:, 0] >= 0.5).astype(np.int64)
    return np.argmax(out, axis=-1)


def accuracy_of_outputs(out: np.ndarray, y: np.ndarray, binary: bool) -> float:
    """Accuracy of model outputs against integer labels."""
    return float(np.mean(predicted_classes(out, binary) == y))
