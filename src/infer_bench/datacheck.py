"""Training data (and the model's training step) checked before ``model.fit``, with errors a user can act on.

The report's second error, ``ValueError: Attr 'Toutput_types' of 'OptionalFromValue'
Op passed list of length 0 less than minimum 1``, was traced on TensorFlow
2.21 / Keras 3.15 (tests/test_datacheck.py reproduces each case):

- Its exact trigger is a training step that returns an empty structure. Keras'
  TensorFlow trainer wraps each step's logs in ``tf.experimental.Optional.from_value``,
  and an OptionalFromValue op needs at least one tensor. A step returns nothing
  when a custom ``train_step`` returns ``None`` or ``{}``, or when the model's
  ``metrics`` property lists no metric (the default step returns one value per
  metric, the loss tracker included), e.g. a Keras 2 style subclass whose
  ``metrics`` returns its own, empty, list of trackers.
- A dataset whose elements have an empty structure does not get that far:
  TensorFlow refuses to build it (``from_tensors(())``, ``map(lambda x: ())``,
  ``zip(())``: "Length for attr 'Toutput_types' of 0 must be at least minimum 1"
  from TensorDataset/MapDataset), and a Python generator yielding ``()`` fails
  in ``Dataset.from_generator`` with "Unsupported return value".

Neighbouring data mistakes fail with messages that do not say what is wrong
with the data, or not at all: images without labels ("None values not
supported."), images of another shape than the model's input (a layer deep
inside reports "expected axis -1 of input shape to have value 3072, but
received input with shape (None, 784)"), an unbatched dataset, and an empty
dataset (``fit`` returns an empty history: nothing trained, no error).
``check_training_data`` refuses each before training starts;
``explained_fit_errors`` turns the OptionalFromValue error of a custom
training step, which cannot be seen beforehand, into the same kind of message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from .errors import DataError, InferBenchError
from .usermodel import shape_text

PAIRS_FIX = ("yield (images, labels) pairs, e.g. tf.data.Dataset.from_tensor_slices((x, y)).batch(32), "
             "or pass the arrays as fit(x, y).")
EMPTY_STEP_MARK = "'OptionalFromValue' Op passed list of length 0"
EMPTY_STEP_FIX = ("make train_step return a dict holding at least the loss, e.g. {'loss': loss}; if the model "
                  "overrides `metrics`, list a loss tracker there (keras.metrics.Mean(name='loss')) that train_step "
                  "updates; or train with the default train_step and model.compile(optimizer=..., loss=...).")


def _is_empty_structure(value) -> bool:
    """An empty tuple/list/dict, or nested ones holding no tensor at all."""
    if isinstance(value, (tuple, list)):
        return all(_is_empty_structure(v) for v in value)
    if isinstance(value, dict):
        return all(_is_empty_structure(v) for v in value.values())
    return False


def _describe(value) -> str:
    if isinstance(value, (tuple, list, dict)) and not value:
        return {tuple: "an empty tuple ()", list: "an empty list []", dict: "an empty dict {}"}[type(value)]
    if isinstance(value, (tuple, list, dict)):
        return f"a {type(value).__name__} of empty structures {value!r}"
    return f"one {type(value).__name__} of shape {shape_text(_shape_of(value))}"


def _shape_of(value) -> tuple:
    shape = getattr(value, "shape", None)
    if shape is None:  # nested Python lists
        return np.shape(value)
    return tuple(shape.as_list()) if hasattr(shape, "as_list") else tuple(shape)


def _parts(element, what: str):
    """(images, labels) of one element of the training data, or the error saying what is missing."""
    if isinstance(element, list):
        element = tuple(element)
    if _is_empty_structure(element):
        raise DataError(f"Each element of {what} is {_describe(element)}: it holds no images and no labels.",
                        PAIRS_FIX)
    if isinstance(element, dict):
        raise DataError(f"Each element of {what} is a dict (keys {sorted(element)}); the models here have one "
                        "image input and train on (images, labels) pairs.", PAIRS_FIX)
    if not isinstance(element, tuple) or len(element) == 1 or (len(element) > 1 and element[1] is None):
        images = element[0] if isinstance(element, tuple) else element
        raise DataError(f"{what.capitalize()} holds images but no labels: each element is {_describe(images)}.",
                        PAIRS_FIX)
    if len(element) > 3:
        raise DataError(f"Each element of {what} has {len(element)} parts; fit reads (images, labels) or "
                        "(images, labels, sample_weights).", PAIRS_FIX)
    for part, name in ((element[0], "images"), (element[1], "labels")):
        if _is_empty_structure(part):
            raise DataError(f"In each element of {what} the {name} are {_describe(part)}: it holds no {name}.",
                            PAIRS_FIX)
    return element[0], element[1]


def _check_batch_shape(batch_shape: tuple, model, what: str) -> None:
    """Images batched as (N, H, W, C) must match the model's input (None, H, W, C)."""
    expected = tuple(model.input_shape)
    row, expected_row = batch_shape[1:], expected[1:]
    fits = len(row) == len(expected_row) and all(e is None or g is None or e == g for g, e in zip(row, expected_row))
    if fits:
        return
    if len(batch_shape) == len(expected_row) and all(e is None or g == e for g, e in zip(batch_shape, expected_row)):
        raise DataError(f"{what.capitalize()} is not batched: each element is one image {shape_text(batch_shape)}, "
                        f"but model {model.name!r} takes batches {shape_text(expected)}.",
                        "batch the dataset, e.g. dataset.batch(32).")
    raise DataError(f"Input-shape mismatch: {what} has images of shape {shape_text((None,) + tuple(row))} but model "
                    f"{model.name!r} expects {shape_text(expected)}.",
                    "resize the images to the model's (H, W) and convert their channels to its C (grayscale <-> "
                    "RGB) in the input pipeline, or train a model built for this data's shape.")


def check_train_step(model) -> None:
    """Refuse a model whose default training step would return nothing (the OptionalFromValue error).

    A custom ``train_step`` cannot be judged before it runs; ``explained_fit_errors`` covers it.
    """
    import keras

    if not getattr(model, "compiled", False):
        raise InferBenchError(f"Model {model.name!r} is not compiled, so fit cannot train it.",
                              "call model.compile(optimizer=..., loss=...) first.")
    if type(model).train_step is keras.Model.train_step and not model.metrics:
        raise InferBenchError(
            f"Model {model.name!r} would return no values from its training step: its `metrics` property lists "
            "no metric, not even the loss tracker, and Keras 3's fit fails on that with \"Attr 'Toutput_types' "
            "of 'OptionalFromValue' Op passed list of length 0 less than minimum 1\".", EMPTY_STEP_FIX)


def _check_arrays(data: tuple, model, what: str) -> None:
    if _is_empty_structure(data):
        raise DataError(f"{what.capitalize()} is {_describe(data)}: it holds no images and no labels.", PAIRS_FIX)
    images, labels = _parts(data, what)
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) == 0:
        raise DataError(f"{what.capitalize()} holds no images (0 rows); fit would train nothing and say nothing.",
                        "check the data folder or file: it must hold labelled images.")
    if len(images) != len(labels):
        raise DataError(f"{what.capitalize()} has {len(images)} images but {len(labels)} labels.",
                        "give one label per image.")
    if model is not None:
        _check_batch_shape(images.shape, model, what)


def _check_dataset(ds, model, what: str) -> None:
    import tensorflow as tf

    images, _ = _parts(ds.element_spec, what)
    if int(ds.cardinality()) == 0:
        raise DataError(f"{what.capitalize()} holds no elements; Keras 3's fit would return an empty history, "
                        "having trained nothing.", "check the data folder or file: it must hold labelled images.")
    if model is not None and isinstance(images, tf.TensorSpec):
        _check_batch_shape(_shape_of(images), model, what)


def _restored(first, rest):
    """A generator (what Keras' fit accepts, unlike other iterators) yielding ``first`` and then ``rest``."""
    yield first
    yield from rest


def check_training_data(data, model=None, what: str = "the training data"):
    """Refuse training data that ``model.fit`` would fail on with an unclear error (or silently), before training.

    ``data`` is a ``tf.data.Dataset`` of (images, labels[, weights]) batches, a
    ``keras.utils.PyDataset``, a Python generator of such batches, or an
    ``(x, y)`` pair of arrays. With ``model``, the images must fit its input and
    its training step must return values (``check_train_step``). Returns the data
    to train on: ``data`` itself, or for a generator one that still yields the
    batch looked at.
    """
    import keras
    import tensorflow as tf

    if model is not None:
        check_train_step(model)
    if isinstance(data, tf.data.Dataset):
        _check_dataset(data, model, what)
        return data
    if isinstance(data, (tuple, list)):
        _check_arrays(tuple(data), model, what)
        return data
    if isinstance(data, np.ndarray):
        _parts(data, what)  # images without labels: refused with the message that says so
    if isinstance(data, keras.utils.PyDataset):
        first, rest = (data[0] if len(data) else None), data
    elif isinstance(data, Iterator):
        first = next(data, None)
        rest = data if first is None else _restored(first, data)
    else:
        raise DataError(f"{what.capitalize()} is a {type(data).__name__}, which infer-bench cannot check.",
                        "pass a tf.data.Dataset of (images, labels) batches, or the arrays as (x, y).")
    if first is None:
        raise DataError(f"{what.capitalize()} yields no batches; fit would train nothing.",
                        "check the data folder or file: it must hold labelled images.")
    images, _ = _parts(first, what)
    if model is not None:
        _check_batch_shape(_shape_of(images), model, what)
    return rest


@contextlib.contextmanager
def explained_fit_errors(model_name: str = "the model"):
    """Turn the OptionalFromValue error of a training step that returns nothing into a clear InferBenchError.

    It is raised while ``fit`` traces its first step, so no weight has changed yet.
    """
    try:
        yield
    except ValueError as exc:
        if EMPTY_STEP_MARK not in str(exc):
            raise
        raise InferBenchError(
            f"Training {model_name} stopped before its first step: the training step returned no values (None or "
            "an empty dict), and Keras 3's fit cannot carry an empty result (\"Attr 'Toutput_types' of "
            "'OptionalFromValue' Op passed list of length 0\"). The data is not the cause.", EMPTY_STEP_FIX,
        ) from exc
