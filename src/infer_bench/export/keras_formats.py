"""Keras' own formats: the ``.keras`` file and a TensorFlow SavedModel."""

from __future__ import annotations

from pathlib import Path

from ..fsutil import atomic_path


def export_keras(model, path: Path) -> None:
    """Save the model as a ``.keras`` file (architecture + weights, no custom code).

    A compiled model would also carry its optimizer state (Adam's two moments:
    twice the weights again); deployment needs none of it, so an uncompiled
    copy with the same weights is saved. (``keras.models.clone_model`` is not
    enough: its clone still saved the optimizer variables.)
    """
    inference_copy = model.__class__.from_config(model.get_config())
    inference_copy.set_weights(model.get_weights())
    with atomic_path(path, suffix=".keras") as tmp:
        inference_copy.save(tmp)


def export_savedmodel(model, path: Path) -> None:
    """Export an inference-only SavedModel (``serve`` endpoint) with Keras 3's exporter."""
    with atomic_path(path) as tmp:
        model.export(str(tmp), format="tf_saved_model", verbose=False)
