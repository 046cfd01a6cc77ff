"""``keras_predict``: a .keras model run with ``model.predict`` (the report's way).

Also holds the Keras loading helpers that ``keras_call`` and ``tf_function``
share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ArtifactError
from . import devices
from .base import BasicSession, LoadOptions


def load_keras_model(path: Path, runtime: str, tf, tf_device: str, unsafe: bool = False):
    """Load a .keras file (safe mode unless ``unsafe``, not compiled) with its weights on ``tf_device``.

    Safe mode refuses to deserialize Python code stored in the file (a Lambda
    layer's bytecode): loading a model must not run code from it.
    """
    path = devices.artifact_path(path, runtime)
    if path.suffix != ".keras":
        raise ArtifactError(f"{runtime} loads .keras files; got {str(path)!r}.", "pass the model's .keras file.")
    keras = devices.import_runtime("keras")
    try:
        # Variables are created where the model is loaded: under the run device,
        # so a CPU run on a GPU machine does not copy weights from the GPU each call.
        with tf.device(tf_device):
            return keras.saving.load_model(path, safe_mode=not unsafe, compile=False)
    except Exception as exc:  # Keras raises ValueError, TypeError, OSError, zipfile errors...
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise ArtifactError(
                f"{str(path)!r} contains a Lambda layer, i.e. Python code stored in the model file; Keras safe "
                "mode refuses to run code from a model file, so it was not loaded.",
                "if you wrote this file or trust its source, pass --unsafe-keras to load it knowingly.",
            ) from exc
        raise ArtifactError(
            f"Keras could not load {str(path)!r}: {exc}", "re-save the model with this Keras version."
        ) from exc


def keras_input_spec(model) -> tuple[tuple, str]:
    """The model's input shape with a free batch dim, e.g. (None, 28, 28, 1), and dtype name."""
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        raise ArtifactError(
            f"The Keras model {model.name!r} has {len(inputs) if inputs else 'no defined'} inputs; "
            "the runtimes run single-input models built with keras.Input.",
        )
    tensor = inputs[0]
    shape = (None,) + tuple(None if d is None else int(d) for d in tensor.shape[1:])
    dtype = getattr(tensor.dtype, "name", tensor.dtype)
    return shape, str(dtype)


def tensorflow_session(runtime: str, options: LoadOptions, tf_device: str, threads: int, input_spec: tuple,
                       run) -> BasicSession:
    """The session every TensorFlow runtime returns: it ran on ``tf_device`` with ``threads``."""
    shape, dtype = input_spec
    return BasicSession(runtime=runtime, device=options.device, providers=(tf_device,), threads=threads,
                        input_shape=shape, input_dtype=dtype, run_fn=run)


def keras_file_session(runtime: str, path: Path, options: LoadOptions, make_run) -> BasicSession:
    """Load a .keras file under TensorFlow for ``options.device`` and wrap ``make_run(model, tf, tf_device)``.

    The one load path of the two runtimes that call a .keras model directly
    (``keras_predict`` and ``keras_call``); they differ only in how they run it.
    """
    tf, tf_device, threads = devices.prepare_tensorflow(options.device, options.threads)
    model = load_keras_model(path, runtime, tf, tf_device, options.unsafe_keras)
    return tensorflow_session(runtime, options, tf_device, threads, keras_input_spec(model),
                              make_run(model, tf, tf_device))


@dataclass(frozen=True)
class KerasFileRuntime:
    """A runtime that loads a .keras file under TensorFlow and runs it with ``make_run(model, tf, tf_device)``."""

    name: str
    make_run: Callable
    formats = ("keras",)
    engine = "tensorflow"

    def load(self, path: Path, options: LoadOptions) -> BasicSession:
        """Load a .keras file for ``options.device``."""
        return keras_file_session(self.name, path, options, self.make_run)


def predict_run(model, tf, tf_device):
    """``model.predict(x, verbose=0, batch_size=len(x))``: the report's way."""
    # Keras' default jit_compile="auto" turns XLA on whenever TensorFlow
    # sees a GPU, even for CPU runs: pin it off so predict means the same
    # thing on every machine. XLA is the tf_function runtime's option.
    model.jit_compile = False

    def run(batch: np.ndarray) -> np.ndarray:
        with tf.device(tf_device):
            return np.asarray(model.predict(batch, verbose=0, batch_size=len(batch)))

    return run


RUNTIME = KerasFileRuntime("keras_predict", predict_run)
