"""``tf_function``: one ``tf.function`` over the model, traced once, optionally XLA-compiled.

Loads a .keras file (calls the Keras model) or a SavedModel folder (calls its
``serving_default`` signature). The input signature has a free batch dim, so
new batch sizes never retrace; with XLA (``LoadOptions.jit_compile``) each new
batch size is compiled on its first call, which the measurement's cold call
absorbs. With XLA the session reports runtime ``tf_function_xla``, so results
of the two never mix under one name; the registry row stays ``tf_function``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ArtifactError
from . import devices
from .base import BasicSession, LoadOptions
from .keras_predict import keras_input_spec, load_keras_model, tensorflow_session

XLA_SUFFIX = "_xla"
SERVING_SIGNATURE = "serving_default"


def _savedmodel_callable(path: Path, runtime: str, tf, tf_device: str):
    """(callable on one tensor, input shape, dtype name, object to keep alive) of a SavedModel."""
    path = devices.artifact_path(path, runtime, folder=True)
    try:
        with tf.device(tf_device):
            loaded = tf.saved_model.load(str(path))
    except Exception as exc:  # TF raises OSError, ValueError, its own errors...
        raise ArtifactError(f"TensorFlow could not load the SavedModel {str(path)!r}: {exc}") from exc
    signature = loaded.signatures.get(SERVING_SIGNATURE)
    if signature is None:
        raise ArtifactError(
            f"The SavedModel {str(path)!r} has no {SERVING_SIGNATURE!r} signature "
            f"(it has: {', '.join(loaded.signatures) or 'none'}).",
            "re-export it with `model.export(dir, format='tf_saved_model')`.",
        )
    inputs = signature.structured_input_signature[1]  # {name: TensorSpec}, called by keyword
    outputs = signature.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise ArtifactError(f"{runtime} runs single-input, single-output models; {str(path)!r} is not one.")
    (input_name, spec), (output_name,) = next(iter(inputs.items())), tuple(outputs)
    shape = (None,) + tuple(None if d is None else int(d) for d in spec.shape[1:])

    def call(x):
        return signature(**{input_name: x})[output_name]

    return call, shape, spec.dtype.name, loaded


class TfFunction:
    """A traced ``tf.function`` over a .keras model or a SavedModel's serving signature."""

    name = "tf_function"
    formats = ("keras", "savedmodel")
    engine = "tensorflow"

    def load(self, path: Path, options: LoadOptions) -> BasicSession:
        """Load ``path`` (.keras file or SavedModel folder) and trace it once on ``options.device``."""
        tf, tf_device, threads = devices.prepare_tensorflow(options.device, options.threads)
        path = Path(path)
        if path.is_dir():
            call, shape, dtype, keep = _savedmodel_callable(path, self.name, tf, tf_device)
        else:
            keep = load_keras_model(path, self.name, tf, tf_device, options.unsafe_keras)
            shape, dtype = keras_input_spec(keep)

            def call(x, model=keep):
                return model(x, training=False)

        fn = tf.function(
            call,
            input_signature=[tf.TensorSpec(shape, dtype)],
            jit_compile=options.jit_compile,
        )
        try:
            with tf.device(tf_device):
                fn.get_concrete_function()  # trace now, not in the first timed call
        except Exception as exc:
            raise ArtifactError(f"{self.name} could not trace {str(path)!r}: {exc}") from exc

        # `_keep` holds the model / loaded SavedModel: a signature whose loaded
        # object was garbage-collected loses its variables.
        def run(batch: np.ndarray, _keep=keep) -> np.ndarray:
            with tf.device(tf_device):
                return fn(batch).numpy()  # .numpy() copies to the host: synchronized

        return tensorflow_session(self.name + (XLA_SUFFIX if options.jit_compile else ""), options, tf_device,
                                  threads, (shape, dtype), run)


RUNTIME = TfFunction()
