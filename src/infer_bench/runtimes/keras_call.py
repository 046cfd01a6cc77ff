"""``keras_call``: a .keras model called eagerly, ``model(x, training=False)``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import devices
from .base import BasicSession, LoadOptions
from .keras_predict import keras_input_spec, load_keras_model, tensorflow_session


class KerasCall:
    """``model(x, training=False).numpy()`` on a .keras model: no predict loop, no tf.data."""

    name = "keras_call"
    formats = ("keras",)
    engine = "tensorflow"

    def load(self, path: Path, options: LoadOptions) -> BasicSession:
        """Load a .keras file for ``options.device`` (``jit_compile`` does not apply: eager)."""
        tf, tf_device, threads = devices.prepare_tensorflow(options.device, options.threads)
        model = load_keras_model(path, self.name, tf, tf_device, options.unsafe_keras)

        def run(batch: np.ndarray) -> np.ndarray:
            with tf.device(tf_device):
                # .numpy() copies the result to the host, which waits for the device.
                return model(batch, training=False).numpy()

        return tensorflow_session(self.name, options, tf_device, threads, keras_input_spec(model), run)


RUNTIME = KerasCall()
