"""The report's OptionalFromValue error and the neighbouring data mistakes: each reproduced with Keras 3's
real ``fit``, then refused first, with a clear message, by ``check_training_data``.

Data: real Fashion-MNIST test images from the shipped IDX files.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from infer_bench.datacheck import check_train_step, check_training_data, explained_fit_errors
from infer_bench.errors import DataError, InferBenchError
from infer_bench.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

REPORT_ERROR = "Attr 'Toutput_types' of 'OptionalFromValue' Op passed list of length 0 less than minimum 1"
ROWS = 64


@pytest.fixture(scope="module")
def fashion(data_root):
    """64 real Fashion-MNIST test images (N, 28, 28, 1) in [0, 1] and their labels."""
    folder = data_root / "fashion-mnist"
    x = read_idx(folder / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[:ROWS]
    y = read_idx(folder / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)[:ROWS]
    return (x[..., None] / 255.0).astype(np.float32), y.astype(np.int64)


def batches(x, y=None, batch=16):
    return tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).batch(batch)


def small_cnn(cls=keras.Sequential, input_shape=(28, 28, 1), compile_it=True):
    model = cls([keras.Input(input_shape), keras.layers.Conv2D(4, 3, activation="relu"),
                 keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
    if compile_it:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


class MetricsListsNothing(keras.Sequential):
    """The default train_step, but a `metrics` property that lists nothing (not even the loss tracker)."""

    @property
    def metrics(self):
        return []


class Keras2StyleStep(keras.Sequential):
    """A Keras 2 style subclass: its own tracker list (empty here) and a train_step returning their results."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trackers = []

    @property
    def metrics(self):
        return self.trackers

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(y, self(x, training=True))
        self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_weights), self.trainable_weights))
        return {m.name: m.result() for m in self.metrics}


class StepReturnsNone(keras.Sequential):
    """A custom train_step that trains but forgets to return its logs."""

    def train_step(self, data):
        super().train_step(data)


def test_metrics_listing_nothing_is_the_report_error_and_is_refused_first(fashion):
    x, y = fashion
    with pytest.raises(ValueError, match=re.escape(REPORT_ERROR)):
        small_cnn(MetricsListsNothing).fit(batches(x, y), epochs=1, verbose=0, shuffle=False)
    with pytest.raises(InferBenchError, match=r"`metrics` property lists no metric.*Fix: make train_step return"):
        check_training_data(batches(x, y), small_cnn(MetricsListsNothing))


@pytest.mark.parametrize("cls", [Keras2StyleStep, StepReturnsNone])
def test_custom_step_returning_nothing_is_explained_before_any_weight_changes(fashion, cls):
    x, y = fashion
    model = small_cnn(cls)
    with pytest.raises(ValueError, match=re.escape(REPORT_ERROR)):
        model.fit(batches(x, y), epochs=1, verbose=0, shuffle=False)
    model = small_cnn(cls)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(InferBenchError, match="training step returned no values.*The data is not the cause") as err:
        with explained_fit_errors(model.name):
            model.fit(batches(x, y), epochs=1, verbose=0, shuffle=False)
    assert "{'loss': loss}" in str(err.value)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_other_value_errors_pass_through_unchanged(fashion):
    x, y = fashion
    with pytest.raises(ValueError, match="None values not supported"):
        with explained_fit_errors():
            small_cnn().fit(batches(x), epochs=1, verbose=0, shuffle=False)


@pytest.mark.parametrize("build", [
    lambda: tf.data.Dataset.from_tensors(()),
    lambda: tf.data.Dataset.from_tensors({}),
    lambda: tf.data.Dataset.range(4).map(lambda i: ()),
    lambda: tf.data.Dataset.zip(()),
], ids=["from_tensors_tuple", "from_tensors_dict", "map_to_tuple", "zip_nothing"])
def test_tensorflow_refuses_to_build_a_dataset_of_empty_elements(build):
    # Why a dataset of empty elements is not what reaches OptionalFromValue in fit: it cannot be built.
    with pytest.raises(tf.errors.InvalidArgumentError, match="of 0 must be at least minimum 1"):
        build()


def test_generator_of_empty_tuples(fashion):
    def empty_elements():
        while True:
            yield ()

    with pytest.raises(TypeError, match="Unsupported return value"):
        small_cnn().fit(empty_elements(), steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    with pytest.raises(DataError, match=r"is an empty tuple \(\): it holds no images and no labels.*Fix: yield "
                                        r"\(images, labels\) pairs"):
        check_training_data(empty_elements(), small_cnn())


def test_pydataset_of_empty_tuples():
    class EmptyBatches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return ()

    with pytest.raises(ValueError, match=r"must return a tuple or a dict.*Received: \(\)"):
        small_cnn().fit(EmptyBatches(), epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"is an empty tuple \(\): it holds no images and no labels"):
        check_training_data(EmptyBatches(), small_cnn())


def test_images_without_labels(fashion):
    x, _ = fashion
    with pytest.raises(ValueError, match="None values not supported"):
        small_cnn().fit(batches(x), epochs=1, verbose=0, shuffle=False)
    for data in (batches(x), x, (x,), (x, None)):
        with pytest.raises(DataError, match="holds images but no labels"):
            check_training_data(data, small_cnn())


def test_empty_dataset_trains_nothing_silently_and_is_refused(fashion):
    x, y = fashion
    history = small_cnn().fit(batches(x[:0], y[:0]), epochs=1, verbose=0, shuffle=False)
    assert history.history == {}  # no error, nothing trained
    with pytest.raises(DataError, match="holds no elements"):
        check_training_data(batches(x[:0], y[:0]), small_cnn())
    with pytest.raises(DataError, match="holds no images"):
        check_training_data((x[:0], y[:0]), small_cnn())


def test_input_shape_mismatch_names_both_shapes(fashion):
    x, y = fashion
    model = small_cnn(input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="incompatible with the layer"):
        model.fit(batches(x, y), epochs=1, verbose=0, shuffle=False)
    expected = re.escape("has images of shape (None, 28, 28, 1) but model ") + r".*" + re.escape("(None, 32, 32, 3)")
    for data in (batches(x, y), (x, y), iter([(x[:16], y[:16])])):
        with pytest.raises(DataError, match="Input-shape mismatch: .*" + expected):
            check_training_data(data, model)


def test_unbatched_dataset(fashion):
    x, y = fashion
    with pytest.raises(DataError, match=r"is not batched: each element is one image \(28, 28, 1\).*batch\(32\)"):
        check_training_data(tf.data.Dataset.from_tensor_slices((x, y)), small_cnn())


def test_arrays_with_other_mistakes(fashion):
    x, y = fashion
    with pytest.raises(DataError, match="64 images but 5 labels"):
        check_training_data((x, y[:5]), small_cnn())
    with pytest.raises(DataError, match=r"is an empty tuple \(\): it holds no images and no labels"):
        check_training_data((), small_cnn())
    with pytest.raises(DataError, match=r"the labels are an empty tuple"):
        check_training_data(iter([(x[:16], ())]), small_cnn())
    with pytest.raises(DataError, match="cannot check"):
        check_training_data("images/", small_cnn())


def test_uncompiled_model_is_refused():
    with pytest.raises(InferBenchError, match="not compiled.*model.compile"):
        check_train_step(small_cnn(compile_it=False))


def test_good_data_passes_and_a_checked_generator_still_yields_every_batch(fashion):
    x, y = fashion
    model = small_cnn()
    assert check_training_data(batches(x, y), model) is not None
    assert check_training_data((x, y), model) == (x, y)
    generator = ((x[i:i + 16], y[i:i + 16]) for i in range(0, ROWS, 16))
    checked = check_training_data(generator, model)
    history = model.fit(checked, epochs=1, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 1
    assert next(checked, None) is None  # fit consumed all 4 batches, the one looked at included
