"""Training data streamed a batch at a time (``data.stream``), the seeded cuts of ``--quick``, and training on them.

Real images only: Fashion-MNIST rows (an array split, as the shipped loader gives) and
Cats vs Dogs JPEGs copied from the shipped data (a folder split, decoded per batch).
"""

import shutil

import numpy as np
import pytest

from infer_bench.data import ArrayImages, ImageSplit, Preprocess, open_data, shipped_preprocess
from infer_bench.data.stream import split_batches
from infer_bench.errors import InferBenchError
from infer_bench.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from infer_bench.models import ModelSpec
from infer_bench.train import train, train_pipeline
from infer_bench.train_export import training_data

ROWS = 50


@pytest.fixture(scope="module")
def fashion_split(data_root):
    """The first ``ROWS`` Fashion-MNIST test images as an array split (uint8, as the shipped loader holds them)."""
    x = read_idx(data_root / "fashion-mnist" / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[:ROWS]
    y = read_idx(data_root / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)[:ROWS].astype(np.int64)
    return ImageSplit("train", tuple(str(i) for i in range(10)), ArrayImages(x, y), np.arange(ROWS))


def _rows_of(x: np.ndarray, reference: np.ndarray) -> list[int]:
    """Which reference row each image of ``x`` is (exact pixel match)."""
    flat = reference.reshape(len(reference), -1)
    return [int(np.flatnonzero((flat == img.ravel()).all(axis=1))[0]) for img in x]


def test_stream_gives_every_row_once_per_pass_reshuffled_with_the_readers_pixels(fashion_split):
    pre = shipped_preprocess("fashion_mnist")
    reference, labels = next(fashion_split.batches(pre, ROWS))
    ds = split_batches(fashion_split, pre, batch_size=8, shuffle_seed=42)
    passes = []
    for _ in range(2):
        batches = [(x.numpy(), y.numpy()) for x, y in ds]
        assert [len(y) for _, y in batches] == [8] * 6 + [2]
        x, y = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
        order = _rows_of(x, reference)
        assert sorted(order) == list(range(ROWS))  # every row once, pixels exactly the reader's
        assert np.array_equal(y, labels[order])  # each label travels with its image
        passes.append(order)
    assert passes[0] != passes[1]  # reshuffled each pass
    assert passes[0] == _rows_of(np.concatenate([x.numpy() for x, _ in
                                                 split_batches(fashion_split, pre, 8, shuffle_seed=42)]), reference)
    in_order = np.concatenate([x.numpy() for x, _ in split_batches(fashion_split, pre, 16)])
    assert np.array_equal(in_order, reference)
    # Autotuning off: its thread made model.fit wait up to 60 s on exit (split_batches' docstring).
    assert ds.options().autotune.enabled is False
    assert ds.element_spec[0].shape.as_list() == [None, 28, 28, 1]


def test_train_pipeline_augments_only_when_asked(fashion_split):
    pre = shipped_preprocess("fashion_mnist")
    plain = next(iter(train_pipeline(fashion_split, pre, ROWS, augment=False)))[0].numpy()
    augmented = next(iter(train_pipeline(fashion_split, pre, ROWS, augment=True)))[0].numpy()
    assert plain.shape == augmented.shape == (ROWS, 28, 28, 1)
    assert sorted(_rows_of(plain, next(fashion_split.batches(pre, ROWS))[0])) == list(range(ROWS))
    assert not np.allclose(plain, augmented)


def test_unreadable_files_are_skipped_by_name_and_an_empty_batch_is_dropped(tmp_path, data_root):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            shutil.copy(data_root / "cats-vs-dogs" / "train" / cls / f"{cls[:-1]}.{i}.jpg", tmp_path / cls)
    for i in range(3):
        (tmp_path / "cats" / f"cat.{i}.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    split = open_data(tmp_path, validation_share=0).train  # 80/20 per class: 2 cats (both broken), 2 dogs
    with pytest.warns(UserWarning, match="skipping unreadable image .*cat"):
        batches = [(x.numpy(), y.numpy()) for x, y in split_batches(split, Preprocess(32, 32, 3), batch_size=2)]
    assert [y.tolist() for _, y in batches] == [[1, 1]]  # the all-cat batch is gone, not an empty element


def test_seeded_cuts_are_repeatable_in_row_order_and_cut_only_what_is_named(data_root):
    source = open_data("cats_vs_dogs", data_root)
    cut = source.subset({"train": 100, "test": 30})
    again = source.subset({"train": 100, "test": 30})
    assert (len(cut.train), len(cut.test), len(cut.validation)) == (100, 30, len(source.validation))
    assert np.array_equal(cut.train.rows, again.train.rows) and list(cut.train.rows) == sorted(cut.train.rows)
    assert set(cut.train.rows) <= set(source.train.rows)
    assert 30 < cut.train.labels().sum() < 70  # a random cut holds both classes, not the first class's files
    assert source.train.subset(len(source.train) + 5) is source.train
    quick = training_data("cats_vs_dogs", data_root, quick=True)
    assert (len(quick.train), len(quick.validation), len(quick.test)) == (512, 128, 512)
    with pytest.raises(InferBenchError, match="Unknown split name"):
        source.subset({"val": 10})


def test_train_streams_the_source_and_needs_a_validation_split(data_root):
    import keras

    def tiny():
        return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                                 keras.layers.MaxPooling2D(4), keras.layers.Flatten(),
                                 keras.layers.Dense(10, activation="softmax")])

    spec = ModelSpec("tiny", tiny, "fashion_mnist", (28, 28, 1), False, epochs=2, batch_size=32, learning_rate=1e-2)
    source = open_data("fashion_mnist", data_root).subset({"train": 256, "validation": 64, "test": 128})
    result = train(spec, source, log=lambda line: None)
    history = result.history
    assert history["rows"] == {"train": 256, "val": 64, "test": 128}
    assert len(history["curves"]["val_accuracy"]) == 2 and history["test_accuracy"] > 0.3  # chance is 0.1
    with pytest.raises(InferBenchError, match="no validation split"):
        train(spec, open_data("fashion_mnist", data_root, validation_share=0), log=lambda line: None)
