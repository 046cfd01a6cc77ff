"""``keras_call``: a .keras model called eagerly, ``model(x, training=False)``."""

from __future__ import annotations

import numpy as np

from .keras_predict import KerasFileRuntime


def call_run(model, tf, tf_device):
    """``model(x, training=False).numpy()``: no predict loop, no tf.data (``jit_compile`` does not apply: eager)."""

    def run(batch: np.ndarray) -> np.ndarray:
        with tf.device(tf_device):
            # .numpy() copies the result to the host, which waits for the device.
            return model(batch, training=False).numpy()

    return run


RUNTIME = KerasFileRuntime("keras_call", call_run)
